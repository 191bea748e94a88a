package reliability

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/memtest"

	"github.com/maidhq/maid/engine"
)

// TestSQLIsolation: a plugin with storage:sql cannot reach another plugin's
// database or maid's own tables, by ATTACH, PRAGMA, VACUUM INTO, extensions
// or stacked statements; runaway queries hit the row limit or the timeout.
func TestSQLIsolation(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		lim := testLimits()
		lim.DashboardTimeout = 10 * time.Second // two statements run into the 2 s statement timeout
		w := startWorld(t, nb.b, lim)
		const secret = "good's secret 91ad"
		w.Call(t, "good", "1", "secret_table", map[string]any{"secret": secret})
		id := w.Install(t, hostile("sqlsteal"), "1")
		goodDB := filepath.Join(w.dir, "plugin-sql", "good", "1.db")
		mainDB := filepath.Join(w.dir, "maid.db")
		escapes := map[string]string{
			"attach_good":      fmt.Sprintf("ATTACH DATABASE '%s' AS g", goodDB),
			"attach_main":      fmt.Sprintf("ATTACH DATABASE '%s' AS m", mainDB),
			"attach_uri":       fmt.Sprintf("ATTACH DATABASE 'file:%s?mode=ro' AS g", goodDB),
			"stacked":          fmt.Sprintf("SELECT 1; ATTACH DATABASE '%s' AS g", goodDB),
			"select_secrets":   "SELECT v FROM secrets",
			"select_kv":        "SELECT * FROM kv",
			"select_plugins":   "SELECT * FROM plugins",
			"pragma_list":      "PRAGMA database_list",
			"pragma_writable":  "PRAGMA writable_schema = ON",
			"vacuum_into":      "VACUUM INTO '/tmp/maid-stolen.db'",
			"load_extension":   "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0')",
			"readfile":         "SELECT readfile('/etc/passwd')",
			"temp_trigger":     "CREATE TEMP TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; END",
			"begin":            "BEGIN IMMEDIATE",
			"fts_module_other": "CREATE VIRTUAL TABLE v USING fts5vocab('main', 'secrets', 'row')",
		}
		runaway := map[string]string{
			"endless_rows":  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c",
			"endless_count": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
		}
		all := map[string]string{}
		for k, v := range escapes {
			all[k] = v
		}
		for k, v := range runaway {
			all[k] = v
		}
		res := w.Call(t, id, "1", "steal", map[string]any{"statements": all})
		checkRefused(t, res, all, secret)
		for _, name := range []string{"endless_rows", "endless_count"} {
			e := fmt.Sprint(res[name].(map[string]any)["error"])
			if !strings.Contains(e, "LimitError") && !strings.Contains(e, "TimeoutError") {
				t.Errorf("%s: %s, want LimitError or TimeoutError", name, e)
			}
		}
		w.logged(t, id, "denied: ")
		w.logged(t, id, "limit: ")
		// The other plugin's data is intact.
		got := w.Call(t, "good", "1", "secret_table", map[string]any{"secret": "second"})
		if fmt.Sprint(got["rows"]) != fmt.Sprint([]any{secret, "second"}) {
			t.Fatalf("good's table after the attack: %v", got)
		}
		w.goodAnswers(t)
	})
}

// checkRefused fails t for each statement of stmts that succeeded, or whose
// answer in res (the sqlsteal plugin's, by statement name) shows secret.
func checkRefused(t *testing.T, res map[string]any, stmts map[string]string, secret string) {
	t.Helper()
	for name := range stmts {
		r, _ := res[name].(map[string]any)
		if strings.Contains(fmt.Sprint(r), secret) {
			t.Errorf("%s read the other plugin's secret: %v", name, r)
		}
		if r["error"] == nil {
			t.Errorf("%s succeeded: %v", name, r)
		}
		t.Logf("%s: %.200v", name, r["error"])
	}
}

// TestKVQuota: huge values, long keys, oversized batches and floods past
// the key and byte quotas are LimitErrors; a batch that crosses the quota
// writes nothing; the bystander's own quota is untouched.
func TestKVQuota(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		lim := testLimits()
		lim.Quota = engine.Quota{MaxKeys: 200, MaxBytes: 1 << 20}
		lim.DashboardTimeout = 10 * time.Second // hundreds of host calls in one handler, under -race
		w := startWorld(t, nb.b, lim)
		id := w.Install(t, hostile("kvflood"), "1", "2")
		res := w.Call(t, id, "1", "flood", map[string]any{"keys": 300})
		want := map[string]any{
			"huge_value": "LimitError", "long_key": "LimitError", "huge_batch": "LimitError",
			"stored": 200.0, "flood_error": "LimitError",
			"crossing_batch": "LimitError", "count": 200.0, "cross_written": 0.0,
		}
		for k, v := range want {
			if res[k] != v {
				t.Errorf("%s = %v, want %v", k, res[k], v)
			}
		}
		res = w.Call(t, id, "2", "bytes", map[string]any{"keys": 100})
		if res["error"] != "LimitError" || res["stored"].(float64) > float64(1<<20)/60000 {
			t.Errorf("byte quota: %v", res)
		}
		ctx := context.Background()
		sc := engine.Scope{PluginID: id, ServerID: "2"}
		keys, err := w.Store.KVList(ctx, sc, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := w.Store.KVGetMany(ctx, sc, keys)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for k, v := range vals {
			total += len(k) + len(v)
		}
		if total > 1<<20 {
			t.Errorf("offender stored %d bytes on server 2, quota %d", total, 1<<20)
		}
		w.logged(t, id, "limit: ")
		w.goodAnswers(t)
	})
}

// TestDashboardResults: a 50 MiB handler result is refused by the line
// limit and deeply nested JSON by the decoder, never taking the host down.
func TestDashboardResults(t *testing.T) {
	oneByOne(t, backends(t), func(t *testing.T, nb namedBackend) {
		w := startWorld(t, nb.b, testLimits())
		id := w.Install(t, hostile("bigresult"), "1")
		w.Call(t, id, "1", "ping", nil)
		rss := memtest.RSS()
		res, err := w.callRaw(context.Background(), id, "1", "huge", nil)
		if err == nil {
			t.Fatalf("a %d-byte result was returned", len(res))
		}
		t.Logf("huge: %v", err)
		// A wasm guest's memory is this process's memory, bounded by
		// its limit; the host itself must not hold the 50 MiB.
		bound := int64(40 << 20)
		if nb.name == "wasm" {
			bound += int64(engine.DefaultLimits.MemoryMB) << 20
		}
		if grew := memtest.RSS() - rss; grew > memFactor*bound {
			t.Fatalf("host RSS grew by %d MiB (bound %d MiB)", grew>>20, bound>>20)
		}
		w.logged(t, id, "dashboard handler huge")
		w.Call(t, id, "1", "ping", nil)

		nested := w.Install(t, hostile("nested"), "1")
		w.Call(t, nested, "1", "ping", nil)
		for _, h := range []string{"deep", "deep_object"} {
			res, err := w.callRaw(context.Background(), nested, "1", h, nil)
			if err == nil {
				t.Fatalf("%s: a result nested past any decoder's depth was returned (%d bytes)", h, len(res))
			}
			t.Logf("%s: %v", h, err)
			w.logged(t, nested, "dashboard handler "+h)
			w.goodAnswers(t)
		}
	})
}

var _ = errors.Is
