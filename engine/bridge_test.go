package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/internal/plugintest"
)

// bridgePlugin writes a plugin package: iframe mode when iframe is set,
// with extra manifest keys.
func bridgePlugin(t *testing.T, id string, iframe bool, extra string) string {
	t.Helper()
	files := map[string]string{
		"manifest.json": `{"id": "` + id + `", "name": "` + id + `", "capabilities": ["storage:kv", "storage:sql"]` + extra + `}`,
		"__main__.py": `from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("note")
def note(ctx, params):
    ctx.sql.execute("CREATE TABLE IF NOT EXISTS notes (v TEXT)")
    if params.get("add"):
        ctx.sql.execute("INSERT INTO notes (v) VALUES (?)", [params["add"]])
    if params.get("sql"):
        try:
            ctx.sql.execute(params["sql"])
        except Exception as e:
            pass
    return {"rows": [r["v"] for r in ctx.sql.query("SELECT v FROM notes ORDER BY v")]}


plugin.run()
`,
	}
	if iframe {
		files["dashboard/index.html"] = "<!doctype html><p>bridge test</p>"
	}
	return plugintest.WriteFiles(t, files)
}

func bridgeEnv(t *testing.T) *enginetest.Env {
	b := processBackend(t)
	return enginetest.Start(t, b, enginetest.Options{})
}

// TestBridgeIframeOnly: the direct kv/metrics/sql bridge exists only for
// iframe-mode plugins; a plugin without a dashboard/ directory never calls
// it, so none of its data is reachable through it.
func TestBridgeIframeOnly(t *testing.T) {
	env := bridgeEnv(t)
	plain := env.Install(t, bridgePlugin(t, "plain", false, ""), "1")
	iframe := env.Install(t, bridgePlugin(t, "iframe", true, ""), "1")
	ctx := context.Background()
	for _, tc := range []struct {
		name, plugin, method, params string
		wantErr                      error
	}{
		{"no dashboard kv.set", plain, "kv.set", `{"key": "k", "value": 1}`, engine.ErrCapability},
		{"no dashboard kv.get", plain, "kv.get", `{"key": "k"}`, engine.ErrCapability},
		{"no dashboard sql.query", plain, "sql.query", `{"sql": "SELECT 1"}`, engine.ErrCapability},
		{"no dashboard metrics.total", plain, "metrics.total", `{"name": "messages"}`, engine.ErrCapability},
		{"iframe kv.set", iframe, "kv.set", `{"key": "k", "value": 1}`, nil},
		{"iframe kv.get", iframe, "kv.get", `{"key": "k"}`, nil},
		{"iframe sql.query", iframe, "sql.query", `{"sql": "SELECT 1 AS one"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Engine.HostCall(ctx, tc.plugin, "1", tc.method, json.RawMessage(tc.params))
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("%s: %v, want %v", tc.method, err, tc.wantErr)
			}
		})
	}
	if _, found, _ := env.Store.KVGet(ctx, engine.Scope{PluginID: plain, ServerID: "1"}, "k"); found {
		t.Fatal("the bridge wrote a dashboard-less plugin's KV")
	}
}

// TestBridgeReadOnly: a plugin declaring "dashboard_bridge": "read_only"
// gets the reading methods only, and its sql.query cannot write, whatever
// the statement.
func TestBridgeReadOnly(t *testing.T) {
	env := bridgeEnv(t)
	id := env.Install(t, bridgePlugin(t, "ro", true, `, "dashboard_bridge": "read_only"`), "1")
	env.Call(t, id, "1", "note", map[string]any{"add": "kept"})
	ctx := context.Background()
	for _, tc := range []struct {
		name, method, params string
		wantErr              error
	}{
		{"kv.set", "kv.set", `{"key": "k", "value": 1}`, engine.ErrCapability},
		{"kv.delete", "kv.delete", `{"key": "k"}`, engine.ErrCapability},
		{"kv.set_many", "kv.set_many", `{"values": {"k": 1}}`, engine.ErrCapability},
		{"sql.execute", "sql.execute", `{"sql": "DELETE FROM notes"}`, engine.ErrCapability},
		{"insert returning", "sql.query", `{"sql": "INSERT INTO notes (v) VALUES ('x') RETURNING v"}`, engine.ErrSQLDenied},
		{"delete returning", "sql.query", `{"sql": "DELETE FROM notes RETURNING v"}`, engine.ErrSQLDenied},
		{"drop", "sql.query", `{"sql": "DROP TABLE notes"}`, engine.ErrSQLDenied},
		{"kv.get", "kv.get", `{"key": "k"}`, nil},
		{"kv.list", "kv.list", `{}`, nil},
		{"metrics.total", "metrics.total", `{"name": "messages"}`, nil},
		{"select", "sql.query", `{"sql": "SELECT v FROM notes"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Engine.HostCall(ctx, id, "1", tc.method, json.RawMessage(tc.params))
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("%s: %v, want %v", tc.method, err, tc.wantErr)
			}
		})
	}
	// The plugin's own code still writes (read-only is the bridge's mode).
	got := env.Call(t, id, "1", "note", map[string]any{"add": "second"})
	if fmt.Sprint(got["rows"]) != "[kept second]" {
		t.Fatalf("rows after the read-only bridge calls: %v", got["rows"])
	}
}

// TestSQLCrossServer: a plugin's code for server A writes a row; its code
// for server B, and the dashboard bridge for server B, can neither see nor
// change it.
func TestSQLCrossServer(t *testing.T) {
	env := bridgeEnv(t)
	id := env.Install(t, bridgePlugin(t, "shared", true, ""), "A", "B")
	ctx := context.Background()
	env.Call(t, id, "A", "note", map[string]any{"add": "A's secret"})
	// Plugin code for B.
	got := env.Call(t, id, "B", "note", map[string]any{"sql": "UPDATE notes SET v = 'rewritten by B'"})
	if len(got["rows"].([]any)) != 0 {
		t.Fatalf("plugin code for B sees %v", got["rows"])
	}
	env.Call(t, id, "B", "note", map[string]any{"sql": "DELETE FROM notes"})
	// The bridge for B.
	res, err := env.Engine.HostCall(ctx, id, "B", "sql.query", json.RawMessage(`{"sql": "SELECT v FROM notes"}`))
	if err != nil {
		t.Fatal(err)
	}
	if rows := res.(engine.SQLResult).Rows; len(rows) != 0 {
		t.Fatalf("the bridge for B sees %v", rows)
	}
	for _, q := range []string{"UPDATE notes SET v = 'rewritten'", "DELETE FROM notes", "DROP TABLE notes"} {
		if _, err := env.Engine.HostCall(ctx, id, "B", "sql.execute", json.RawMessage(`{"sql": "`+q+`"}`)); err != nil {
			t.Fatalf("bridge %s: %v", q, err)
		}
	}
	got = env.Call(t, id, "A", "note", nil)
	if fmt.Sprint(got["rows"]) != "[A's secret]" {
		t.Fatalf("A's rows after B's statements: %v", got["rows"])
	}
	res, err = env.Engine.HostCall(ctx, id, "A", "sql.query", json.RawMessage(`{"sql": "SELECT v FROM notes"}`))
	if err != nil || !strings.Contains(fmt.Sprint(res), "A's secret") {
		t.Fatalf("the bridge for A: %v %v", res, err)
	}
}
