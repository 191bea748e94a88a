package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/plugin"
)

// reloadPlugin is a plugin version that records, per event, which version
// handled it and in which order.
func reloadPlugin(version string) string {
	return `
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx, event):
    n = ctx.kv.get("n") or 0
    ctx.kv.set("e:%06d" % int(event["content"]), [n, "` + version + `"])
    ctx.kv.set("n", n + 1)


@plugin.on_dashboard("version")
def version(ctx, params):
    return {"version": "` + version + `"}


plugin.run()
`
}

func packPlugin(t *testing.T, dir, main string) []byte {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"id": "reloader", "name": "Reloader", "capabilities": ["storage:kv"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := plugin.Pack(dir, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReloadKeepsEvents: reloading a plugin while events stream in loses
// none and keeps their order; each is handled by exactly one version, new
// versions only after old ones; a version that fails to start leaves the
// old one running. (With Install in place of Reload, the events queued for
// the old version at the switch are lost as overflow.)
func TestReloadKeepsEvents(t *testing.T) {
	b := processBackend(t)
	// A small queue, so events are queued for the old version at each switch.
	env := enginetest.Start(t, b, enginetest.Options{Limits: engine.Limits{QueueSize: 4}})
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pkg, err := env.Engine.Install(ctx, packPlugin(t, dir, reloadPlugin("v1")))
	if err != nil {
		t.Fatal(err)
	}
	id := pkg.Manifest.ID
	if err := env.Engine.SetEnabled(ctx, "1", id, true); err != nil {
		t.Fatal(err)
	}

	// The stream runs until stopped, so it goes on through every reload
	// (each waits for an interpreter start) and past the last one.
	dispatched := make(chan int, 1<<16)
	stop := make(chan struct{})
	streamDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				streamDone <- nil
				return
			default:
			}
			ev := engine.Event{Type: "message_create", ServerID: "1", Data: json.RawMessage(fmt.Sprintf(`{"content": "%d"}`, i))}
			if err := env.Engine.Dispatch(ctx, ev); err != nil {
				streamDone <- fmt.Errorf("dispatch %d: %w", i, err)
				return
			}
			dispatched <- i
		}
	}()
	events := 0
	until := func(n int) {
		for events < n {
			select {
			case i := <-dispatched:
				events = i + 1
			case err := <-streamDone:
				t.Fatalf("stream ended: %v", err)
			}
		}
	}
	// Reload at points spread over the stream; the third version does not
	// even compile.
	versions := []string{"v2", "broken", "v3", "v4"}
	for _, v := range versions {
		until(events + 40)
		main := reloadPlugin(v)
		if v == "broken" {
			main = "def broken(:\n"
		}
		_, err := env.Engine.Reload(ctx, packPlugin(t, dir, main))
		if v == "broken" {
			if err == nil || !strings.Contains(err.Error(), "reload reloader") {
				t.Fatalf("broken reload: err = %v, want a failed start", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("reload %s: %v", v, err)
		}
		if got := env.Call(t, id, "1", "version", nil)["version"]; got != v {
			t.Fatalf("after reload %s the dashboard talks to %v", v, got)
		}
	}
	until(events + 40)
	close(stop)
	if err := <-streamDone; err != nil {
		t.Fatal(err)
	}
	for len(dispatched) > 0 {
		events = <-dispatched + 1
	}
	if err := env.Engine.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if st := env.Engine.Stats(); st.Overflow != 0 {
		t.Fatalf("%d events overflowed", st.Overflow)
	}
	s := engine.Scope{PluginID: id, ServerID: "1"}
	rank := map[string]int{"v1": 1, "v2": 2, "v3": 3, "v4": 4}
	last, seen := 0, map[string]bool{}
	for i := range events {
		raw, found, err := env.Store.KVGet(ctx, s, fmt.Sprintf("e:%06d", i))
		if err != nil || !found {
			t.Fatalf("event %d was never handled (found %v, err %v)", i, found, err)
		}
		var got [2]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if n := int(got[0].(float64)); n != i {
			t.Fatalf("event %d was handled as number %d: out of order or twice", i, n)
		}
		v := got[1].(string)
		if rank[v] < last {
			t.Fatalf("event %d handled by %s after a newer version", i, v)
		}
		last = rank[v]
		seen[v] = true
	}
	if !seen["v1"] || !seen["v4"] {
		t.Errorf("versions seen: %v", seen)
	}
	logs, _ := env.Engine.Logs(id, 0)
	var failed bool
	for _, l := range logs {
		failed = failed || strings.Contains(l.Text, "reload failed; the previous version keeps running")
	}
	if !failed {
		t.Errorf("the failed reload is not in the plugin's log: %v", logs)
	}
}
