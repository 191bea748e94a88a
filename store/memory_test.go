package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/internal/memtest"
)

// hostileSQL are statements that build huge values, rows or results in the
// database; each must fail (or return a bounded result) without maid's
// memory growing by more than a few MiB per MaxBytes.
var hostileSQL = map[string][]struct{ name, sql string }{
	"sqlite": {
		{"zeroblob", "SELECT zeroblob(999999999) AS a"},
		{"randomblob", "SELECT randomblob(999999999) AS a"},
		{"printf", "SELECT printf('%.*c', 999999999, 'x') AS a"},
		{"replace", "SELECT replace(hex(zeroblob(1000000)), '0', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') AS a"},
		{"group_concat", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT group_concat(printf('%0100d', x)) AS a FROM c"},
		{"doubling", "WITH RECURSIVE c(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM c) SELECT length(s) AS n, s FROM c"},
		{"wide row", "SELECT " + wideSelect("zeroblob(4000000)", 200)},
		{"many big rows", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT randomblob(900000) AS a FROM c"},
		{"sort", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3000000) SELECT randomblob(1000) AS b FROM c ORDER BY b LIMIT 1"},
		{"json_group_array", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT json_group_array(printf('%0100d', x)) AS a FROM c"},
		{"json_group_object", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT json_group_object(x, printf('%0100d', x)) AS a FROM c"},
		{"jsonb_group_array window", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT x, jsonb_group_array(printf('%0100d', x)) OVER () AS a FROM c LIMIT 1"},
		{"string_agg", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT string_agg(printf('%0100d', x), ',') AS a FROM c"},
		{"nul text", "SELECT CAST(zeroblob(1000000) AS TEXT) AS a, CAST(zeroblob(1000000) AS TEXT) AS b"},
	},
	"postgres": {
		{"repeat", "SELECT repeat('x', 999999999) AS a"},
		{"two columns", "SELECT repeat('x', 100000000) AS a, repeat('y', 100000000) AS b"},
		{"string_agg", "SELECT string_agg(repeat('x', 1000), '') AS a FROM generate_series(1, 1000000)"},
		{"huge error", "SELECT repeat('x', 200000000)::int AS a"},
		{"many big rows", "SELECT g, repeat('x', 1000000) AS a FROM generate_series(1, 100000) g"},
		{"array_agg", "SELECT array_agg(g) AS a FROM generate_series(1, 50000000) g"},
		{"jsonb_agg", "SELECT jsonb_agg(repeat('x', 1000)) AS a FROM generate_series(1, 1000000)"},
		{"wide row", "SELECT " + wideSelect("repeat('x', 4000000)", 100)},
		// Sizes the server builds well within the statement timeout, so the
		// result really is sent.
		{"repeat sent", "SELECT repeat('x', 60000000) AS a"},
		{"string_agg sent", "SELECT string_agg(repeat('x', 1000), '') AS a FROM generate_series(1, 60000)"},
		{"huge error sent", "SELECT repeat('x', 30000000)::int AS a"},
		{"wide row sent", "SELECT " + wideSelect("repeat('x', 400000)", 100)},
	},
}

func wideSelect(expr string, n int) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = fmt.Sprintf("%s AS c%d", expr, i)
	}
	return strings.Join(cols, ", ")
}

// TestSQLMemoryBounded: whatever a plugin's SQL builds inside the database,
// maid's own memory grows by a bounded amount: values are bounded inside
// SQLite (SQLITE_LIMIT_LENGTH of MaxBytes over the columns) and on the wire
// from PostgreSQL (no message over MaxBytes reaches lib/pq), and results
// stop at the row and byte caps.
func TestSQLMemoryBounded(t *testing.T) {
	const bound = memFactor * 48 << 20 // 4 MiB MaxBytes, its copies, and the runtime's slack
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		id := "memhog"
		install(t, ctx, s, id)
		lim := engine.DefaultLimits.SQL
		// Warm up: the first statement opens the database.
		_, err := s.SQLQuery(ctx, sqlScope(id), "SELECT 1 AS one", nil, lim)
		must(t, err)
		for _, tc := range hostileSQL[s.d.String()] {
			t.Run(tc.name, func(t *testing.T) {
				var res engine.SQLResult
				var err error
				g := memtest.Peak(func() {
					res, err = s.SQLQuery(context.Background(), sqlScope(id), tc.sql, nil, lim)
				})
				heap, rss := g.Heap, g.RSS
				t.Logf("heap +%d MiB, rss +%d MiB: rows %d, err %.150v", heap>>20, rss>>20, len(res.Rows), err)
				if heap > bound || rss > bound {
					t.Errorf("memory grew by heap %d MiB, rss %d MiB; the bound is %d MiB", heap>>20, rss>>20, bound>>20)
				}
			})
		}
		// The database still answers: at once, or (PostgreSQL) once the
		// sessions ended past their timeout (pg_terminate_backend returns
		// before the backend exits; on a loaded machine that takes a
		// while) no longer count against the plugin's pgMaxStuck.
		var r engine.SQLResult
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			r, err = s.SQLQuery(ctx, sqlScope(id), "SELECT 1 AS one", nil, lim)
			if !errors.Is(err, engine.ErrSQLLimit) || time.Now().After(deadline) {
				break
			}
		}
		must(t, err)
		if len(r.Rows) != 1 {
			t.Fatalf("after the hostile statements: %v", r.Rows)
		}
	})
}
