package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Event types the bench plugin handles. typing_start and message_update are
// real gateway events for which the engine records no built-in metric, so
// the no-op figure is the dispatch path alone.
const (
	eventNoop = "typing_start"
	eventKV   = "message_update"
)

// benchScript is the plugin every figure runs: a no-op and a one-KV-write
// event handler, the same two as dashboard handlers, and a KV loop that
// times each host call from inside the plugin.
const benchScript = `import time

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_event("typing_start")
def on_noop(ctx, event):
    pass


@plugin.on_event("message_update")
def on_kv(ctx, event):
    ctx.kv.set("last", event.get("n", 0))


@plugin.on_dashboard("noop")
def noop(ctx, params):
    return {}


@plugin.on_dashboard("kv_set")
def kv_set(ctx, params):
    ctx.kv.set("last", params.get("n", 0))
    return {}


@plugin.on_dashboard("kv_loop")
def kv_loop(ctx, params):
    # Times each host call with the guest's monotonic clock: what plugin
    # code waits for one ctx.kv.get/set, host round trip included.
    n = int(params["n"])
    op = params["op"]
    keys = int(params.get("keys", 100))
    clock = time.perf_counter_ns
    kv = ctx.kv
    lat = []
    t0 = clock()
    for i in range(n):
        key = "k%d" % (i % keys)
        a = clock()
        if op == "set":
            kv.set(key, i)
        else:
            kv.get(key)
        lat.append(clock() - a)
    return {"total_ns": clock() - t0, "lat_ns": lat}


plugin.run()
`

// writePlugin writes the bench plugin with the given id into dir.
func writePlugin(dir, id string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write bench plugin: %w", err)
	}
	man, err := json.MarshalIndent(map[string]any{
		"id":           id,
		"name":         "Bench " + id,
		"version":      "1.0.0",
		"description":  "maid bench workload: no-op and one-KV-write handlers.",
		"script":       "__main__.py",
		"capabilities": []string{"storage:kv"},
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("write bench plugin: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), man, 0o644); err != nil {
		return fmt.Errorf("write bench plugin: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(benchScript), 0o644); err != nil {
		return fmt.Errorf("write bench plugin: %w", err)
	}
	return nil
}
