package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/memtest"

	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/engine"
)

// Storage abuse from plugin code and from the dashboard bridge (issue 14,
// findings 3, 4, 7 and 8), through the real engine on every backend.

// memGrowth returns the peak growth of maid's heap and resident set while
// fn runs.
func memGrowth(fn func()) (heap, rss int64) {
	g := memtest.Peak(fn)
	return g.Heap, g.RSS
}

// hostileStorageSQL builds huge values, rows or results inside the database.
var hostileStorageSQL = map[string][]string{
	"sqlite": {
		"SELECT zeroblob(999999999) AS a",
		"SELECT printf('%.*c', 999999999, 'x') AS a",
		"SELECT " + strings.Repeat("zeroblob(4000000), ", 199) + "zeroblob(4000000)",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT randomblob(900000) AS a FROM c",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT json_group_array(printf('%0100d', x)) AS a FROM c",
		"WITH RECURSIVE c(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM c) SELECT s FROM c",
	},
	"postgres": {
		// Sizes the server builds well within the 2 s statement timeout,
		// so the result really is sent.
		"SELECT repeat('x', 60000000) AS a",
		"SELECT string_agg(repeat('x', 1000), '') AS a FROM generate_series(1, 60000)",
		"SELECT repeat('x', 30000000)::int AS a",
		"SELECT " + strings.Repeat("repeat('x', 400000), ", 99) + "repeat('x', 400000)",
		"SELECT repeat('x', 999999999) AS a",
	},
}

// sqlMemBound is the growth allowed for one hostile statement: MaxBytes
// (4 MiB) a few times over, with the runtime's slack.
const sqlMemBound = memFactor * 64 << 20

// checkSQLMemory runs each hostile statement through the plugin's code and
// through the dashboard bridge and bounds maid's memory growth.
func checkSQLMemory(t *testing.T, e *engine.Engine, db, id string) {
	ctx := context.Background()
	for i, q := range hostileStorageSQL[db] {
		var res json.RawMessage
		var err error
		heap, rss := memGrowth(func() {
			raw, _ := json.Marshal(map[string]any{"sql": q})
			res, err = e.CallDashboard(ctx, id, "1", "sql", raw)
		})
		t.Logf("plugin code %d: heap +%d MiB, rss +%d MiB: %.200s %v", i, heap>>20, rss>>20, res, err)
		if err != nil {
			t.Errorf("statement %d from plugin code: %v", i, err)
		}
		if heap > sqlMemBound || rss > sqlMemBound {
			t.Errorf("statement %d from plugin code grew maid by heap %d MiB, rss %d MiB (bound %d MiB): %.100s", i, heap>>20, rss>>20, sqlMemBound>>20, q)
		}
		var bres any
		heap, rss = memGrowth(func() {
			raw, _ := json.Marshal(map[string]any{"sql": q})
			bres, err = e.HostCall(ctx, id, "1", "sql.query", raw)
		})
		t.Logf("bridge %d: heap +%d MiB, rss +%d MiB: %T %.200v", i, heap>>20, rss>>20, bres, err)
		if err == nil {
			if b, _ := json.Marshal(bres); len(b) > int(engine.DefaultLimits.SQL.MaxBytes)+1<<10 {
				t.Errorf("statement %d through the bridge returned %d bytes", i, len(b))
			}
		}
		if heap > sqlMemBound || rss > sqlMemBound {
			t.Errorf("statement %d through the bridge grew maid by heap %d MiB, rss %d MiB (bound %d MiB): %.100s", i, heap>>20, rss>>20, sqlMemBound>>20, q)
		}
	}
}

// TestStorageSQLMemory: SQL that builds huge values or results inside the
// database, sent by plugin code or by a server manager through the
// dashboard bridge, fails or returns a bounded result without growing
// maid's memory past a few MiB per MaxBytes, on SQLite and PostgreSQL.
// Not parallel: memory is measured.
func TestStorageSQLMemory(t *testing.T) {
	for _, nb := range backends(t) {
		t.Run(nb.name+"/sqlite", func(t *testing.T) {
			w := startWorld(t, nb.b, storageLimits())
			id := w.Install(t, hostile("storage"), "1")
			w.Call(t, id, "1", "sql", map[string]any{"sql": "SELECT 1 AS warm"})
			checkSQLMemory(t, w.Engine, "sqlite", id)
			w.goodAnswers(t)
		})
	}
	t.Run("postgres", func(t *testing.T) {
		r, id := storagePostgres(t, "1")
		if _, err := r.eng.CallDashboard(context.Background(), id, "1", "sql", json.RawMessage(`{"sql": "SELECT 1 AS warm"}`)); err != nil {
			t.Fatal(err)
		}
		checkSQLMemory(t, r.eng, "postgres", id)
	})
}

func storageLimits() engine.Limits {
	lim := testLimits()
	lim.DashboardTimeout = 10 * time.Second // statements run into the 2 s statement timeout
	return lim
}

// storagePostgres starts an engine over a fresh PostgreSQL database with
// the hostile storage plugin enabled on servers, and returns it and the
// plugin's id. One backend is enough: the store, not the sandbox, is under
// test.
func storagePostgres(t *testing.T, servers ...string) (*running, string) {
	t.Helper()
	dsn := freshPostgres(t)
	nb := backends(t)[0]
	r := startEngine(t, nb.b, dsn, t.TempDir(), storageLimits())
	return r, installEnabled(t, r.eng, hostile("storage"), servers...)
}

// crossServer: the plugin's code for server 1 stores a secret; its code
// for server 2 and the bridge for server 2 try to read and rewrite it.
func crossServer(t *testing.T, e *engine.Engine, id string, attacks []string) {
	ctx := context.Background()
	call := func(server string, params any) map[string]any {
		t.Helper()
		return callEngine(t, e, id, server, "note", params)
	}
	const secret = "server 1's secret 7f3c"
	call("1", map[string]any{"add": secret})
	got := call("2", map[string]any{"attacks": attacks})
	if strings.Contains(fmt.Sprint(got), secret) {
		t.Fatalf("plugin code for server 2 read server 1's rows: %v", got)
	}
	t.Logf("plugin code for server 2: %v", got)
	for _, q := range append([]string{"SELECT v FROM notes"}, attacks...) {
		raw, _ := json.Marshal(map[string]any{"sql": q})
		for _, m := range []string{"sql.query", "sql.execute"} {
			res, err := e.HostCall(ctx, id, "2", m, raw)
			if strings.Contains(fmt.Sprint(res), secret) {
				t.Fatalf("the bridge for server 2 read server 1's rows with %s %q: %v", m, q, res)
			}
			t.Logf("bridge %s %.60q: %.80v %.120v", m, q, res, err)
		}
	}
	if rows := fmt.Sprint(call("1", nil)["rows"]); rows != "["+secret+"]" {
		t.Fatalf("server 1's rows after server 2's attacks: %s", rows)
	}
}

// TestStorageCrossServer: a plugin's SQL is scoped to (plugin, server):
// its code for another server, and that server's dashboard bridge, can
// neither read nor change the first server's rows, by any statement.
func TestStorageCrossServer(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		w := startWorld(t, nb.b, storageLimits())
		id := w.Install(t, hostile("storage"), "1", "2")
		shared := filepath.Join(w.dir, "plugin-sql", id, "1.db")
		crossServer(t, w.Engine, id, []string{
			"UPDATE notes SET v = 'rewritten'",
			"DELETE FROM notes",
			"DROP TABLE notes",
			"ATTACH DATABASE '" + shared + "' AS one",
			"INSERT INTO one.notes (v) VALUES ('planted')",
		})
		w.goodAnswers(t)
	})
	t.Run("postgres", func(t *testing.T) {
		r, id := storagePostgres(t, "1", "2")
		crossServer(t, r.eng, id, []string{
			"UPDATE notes SET v = 'rewritten'",
			"DELETE FROM notes",
			"DROP TABLE notes",
			`UPDATE "maid_p_h-storage.1".notes SET v = 'rewritten'`,
			`DELETE FROM "maid_p_h-storage.1".notes`,
		})
	})
}

// TestStorageMetricNames: a plugin recording a new metric name per call is
// stopped at the per-(plugin, server) name quota with a LimitError naming
// the limit; names it already has keep counting.
func TestStorageMetricNames(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		lim := storageLimits()
		lim.MetricNames = 40
		w := startWorld(t, nb.b, lim)
		id := w.Install(t, hostile("storage"), "1", "2")
		res := w.Call(t, id, "1", "metric_names", map[string]any{"n": 300})
		if res["ok"] != float64(40) {
			t.Fatalf("%v names accepted, want 40: %v", res["ok"], res)
		}
		if e := fmt.Sprint(res["error"]); !strings.Contains(e, "LimitError") || !strings.Contains(e, "40 distinct metric names") {
			t.Fatalf("past the quota: %s, want a LimitError naming the limit", e)
		}
		// Known names still count; another server has its own quota.
		if res := w.Call(t, id, "1", "metric_names", map[string]any{"n": 40}); res["ok"] != float64(40) {
			t.Fatalf("known names after the quota: %v", res)
		}
		if res := w.Call(t, id, "2", "metric_names", map[string]any{"n": 40, "offset": 1000}); res["ok"] != float64(40) {
			t.Fatalf("another server: %v", res)
		}
		ctx := context.Background()
		day := time.Now().UTC().Format("2006-01-02")
		for name, want := range map[string]float64{"m0": 2, "m39": 2, "m40": 0, "m299": 0} {
			got, err := w.Store.MetricRange(ctx, "1", id, name, day, day)
			if err != nil {
				t.Fatal(err)
			}
			if got[day] != want {
				t.Errorf("metric %s: %v, want %v", name, got[day], want)
			}
		}
		w.logged(t, id, "limit: ")
		w.goodAnswers(t)
	})
}

// TestStorageLogEvidence: a plugin cannot wipe its own log lines by making
// the host write a line per refused call: its earlier lines survive 2,000
// refusals, the host's lines about it are rate limited (50 a second), and
// what was suppressed is counted.
func TestStorageLogEvidence(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		w := startWorld(t, nb.b, storageLimits())
		id := w.Install(t, hostile("storage"), "1")
		start := time.Now()
		res := w.Call(t, id, "1", "wipe_logs", map[string]any{"n": 2000})
		took := time.Since(start)
		if res["refused"] != float64(2000) {
			t.Fatalf("refused calls: %v", res)
		}
		time.Sleep(1100 * time.Millisecond) // the next window writes the summary
		w.Call(t, id, "1", "wipe_logs", map[string]any{"n": 0})
		logs, err := w.Engine.Logs(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		var evidence, denied int
		suppressed := false
		for _, l := range logs {
			switch {
			case strings.HasPrefix(l.Text, "evidence:"):
				evidence++
			case strings.HasPrefix(l.Text, "denied: "):
				denied++
				// Repeats of one refusal fold into its line with a count
				// (TestHostCallRefusalRecord); other floods are summarized.
				suppressed = suppressed || strings.Contains(l.Text, "more like it")
			case strings.Contains(l.Text, "host log lines suppressed"):
				suppressed = true
			}
		}
		if evidence != 2 {
			t.Errorf("%d of the plugin's 2 evidence lines survive:\n%s", evidence, dumpLogs(logs))
		}
		// One window of host lines per second the refusals took.
		if max := engine.DefaultLimits.LogRate * (int(took/time.Second) + 2); denied > max {
			t.Errorf("%d host lines kept from %v of refusals, want at most %d", denied, took, max)
		}
		t.Logf("%d denied lines kept from 2,000 refusals in %v", denied, took)
		if !suppressed {
			t.Errorf("no suppression summary:\n%s", dumpLogs(logs))
		}
		w.goodAnswers(t)
	})
}

var csrfRe = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// TestStorageBridgeHTTP: through the real dashboard HTTP server, as a
// signed-in manager's browser sends them, each hostile SQL statement is one
// bridge request that fails without growing maid's heap by more than a few
// MiB per MaxBytes; a dashboard-less plugin's KV cannot be written through
// the bridge.
func TestStorageBridgeHTTP(t *testing.T) {
	nb := backends(t)[0] // the bridge does not run plugin code
	w := startWorld(t, nb.b, storageLimits())
	id := w.Install(t, hostile("storage"), "1")
	// The bridge answers only where the iframe is served (not before an
	// admin's approval, the default mode): serve them all here.
	srv, c := dashSite(t, w, dashboard.Config{IframeDashboards: dashboard.IframeOn})
	_, page := get(t, c, srv.URL+"/s/1")
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the server page: %.300s", page)
	}
	post := func(path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", m[1])
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := post("/p/"+id+"/dashboard/host/sql.query?discord_srv_id=1", `{"sql": "SELECT 1 AS one"}`); status != http.StatusOK {
		t.Fatalf("a plain bridge query: %d %.300s", status, body)
	}
	for i, q := range hostileStorageSQL["sqlite"] {
		raw, _ := json.Marshal(map[string]any{"sql": q})
		var status int
		var body string
		heap, rss := memGrowth(func() {
			status, body = post("/p/"+id+"/dashboard/host/sql.query?discord_srv_id=1", string(raw))
		})
		t.Logf("bridge %d: %d, heap +%d MiB, rss +%d MiB: %.160s", i, status, heap>>20, rss>>20, body)
		if status == http.StatusOK && len(body) > int(engine.DefaultLimits.SQL.MaxBytes)+1<<10 {
			t.Errorf("statement %d answered %d bytes", i, len(body))
		}
		if heap > sqlMemBound || rss > sqlMemBound {
			t.Errorf("statement %d grew maid by heap %d MiB, rss %d MiB (bound %d MiB)", i, heap>>20, rss>>20, sqlMemBound>>20)
		}
	}
	// "good" has no dashboard/ directory: no bridge, so its KV is out of
	// reach of any manager.
	if status, body := post("/p/good/dashboard/host/kv.set?discord_srv_id=1", `{"key": "sentinel", "value": "overwritten"}`); status != http.StatusForbidden {
		t.Fatalf("kv.set on a dashboard-less plugin: %d %.300s", status, body)
	}
	if v, _ := w.kv(t, "good", "1", "sentinel"); v != `"untouched 1"` {
		t.Fatalf("good's KV after the bridge call: %s", v)
	}
}
