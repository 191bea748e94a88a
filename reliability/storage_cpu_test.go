package reliability

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// cpuSQL: statements whose single function call cost the product of its
// arguments' lengths, which the statement timeout could not stop (the
// attack on issue 14's result: 17 s of maid's CPU for the ltrim, 113 s for
// an instr of 2 MB by 500 KB; 5 minutes of PostgreSQL's for its ltrim).
var cpuSQL = map[string][]string{
	"sqlite": {
		"SELECT length(ltrim(printf('%.*c', 50000, 'a'), printf('%.*c', 50000, 'b') || 'a')) AS x",
		"SELECT instr(printf('%.*c', 2000000, 'a'), printf('%.*c', 500000, 'a') || 'b') AS x",
		"SELECT length(replace(printf('%.*c', 2000000, 'a'), printf('%.*c', 500000, 'a') || 'b', 'x')) AS x",
		"SELECT printf('%.*c', 4000000, 'a') LIKE '%' || printf('%.*c', 10000, 'a') || 'b%' AS x",
	},
	// About 10 s of the server's CPU, which PostgreSQL cannot interrupt.
	"postgres": {"SELECT length(ltrim(repeat('a', 45000), repeat('b', 45000) || 'a')) AS x"},
}

// cpuBound is how long one such call may keep its caller: the 2 s
// statement timeout, one bounded function call or PostgreSQL's 2 s grace,
// and slack for a loaded machine.
const cpuBound = 8 * time.Second

// TestStorageSQLCPU: those statements, from plugin code on every backend
// and through the dashboard bridge, return to their caller within a few
// seconds (a result or a limit error), on SQLite and PostgreSQL; the
// bystander keeps answering.
func TestStorageSQLCPU(t *testing.T) {
	check := func(t *testing.T, call func(raw json.RawMessage) (any, error), db string) {
		for i, q := range cpuSQL[db] {
			raw, _ := json.Marshal(map[string]any{"sql": q})
			start := time.Now()
			res, err := call(raw)
			took := time.Since(start)
			t.Logf("statement %d: %v: %.200v %v", i, took.Round(time.Millisecond), res, err)
			if took > cpuBound {
				t.Errorf("statement %d kept its caller %v (bound %v): %.100s", i, took, cpuBound, q)
			}
		}
	}
	for _, nb := range backends(t) {
		t.Run(nb.name+"/sqlite", func(t *testing.T) {
			w := startWorld(t, nb.b, storageLimits())
			id := w.Install(t, hostile("storage"), "1")
			ctx := context.Background()
			w.Call(t, id, "1", "sql", map[string]any{"sql": "SELECT 1 AS warm"})
			t.Run("plugin code", func(t *testing.T) {
				check(t, func(raw json.RawMessage) (any, error) {
					r, err := w.Engine.CallDashboard(ctx, id, "1", "sql", raw)
					return string(r), err
				}, "sqlite")
			})
			t.Run("bridge", func(t *testing.T) {
				check(t, func(raw json.RawMessage) (any, error) { return w.Engine.HostCall(ctx, id, "1", "sql.query", raw) }, "sqlite")
			})
			w.goodAnswers(t)
		})
	}
	t.Run("postgres", func(t *testing.T) {
		r, id := storagePostgres(t, "1")
		ctx := context.Background()
		check(t, func(raw json.RawMessage) (any, error) { return r.eng.HostCall(ctx, id, "1", "sql.query", raw) }, "postgres")
		check(t, func(raw json.RawMessage) (any, error) {
			res, err := r.eng.CallDashboard(ctx, id, "1", "sql", raw)
			return string(res), err
		}, "postgres")
		// The server finishes the backends maid gave up on (they hold the
		// test database open until then).
		db, err := sql.Open("postgres", r.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		eventually(t, "the abandoned backends end", func() error {
			var n int
			if err := db.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%ltrim%'").Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%d still running", n)
			}
			return nil
		})
	})
}
