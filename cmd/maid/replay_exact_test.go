package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCallRecordReplayExact: maid call --record writes a recording of a
// failing dashboard call; maid replay --exact reruns it against the same
// code to the same traceback (exit 0), and against changed code reports
// the first divergence (exit 1). On every backend this machine has.
func TestCallRecordReplayExact(t *testing.T) {
	for _, backend := range backendsForTest(t) {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			main := `import random, time
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("roll")
def roll(ctx, params):
    n = (ctx.kv.get("rolls") or 0) + 1
    ctx.kv.set("rolls", n)
    face = random.randint(1, 6)
    ctx.kv.set("last", {"face": face, "at": int(time.time() * 1000) if params.get("clock") else 0})
    if params.get("fail"):
        raise RuntimeError("rolled %d on roll %d" % (face, n))
    return {"face": face}


plugin.run()
`
			os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"id": "dice", "name": "Dice", "capabilities": ["storage:kv"]}`), 0o644)
			os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(main), 0o644)
			rec := filepath.Join(t.TempDir(), "roll.json")
			params := `{"fail": true}`
			if backend == "wasm" {
				params = `{"fail": true, "clock": true}` // the host's clock is replayed only there
			}
			var out, errOut bytes.Buffer
			code := run([]string{"call", "--backend", backend, "--record", rec, dir, "dashboard.roll", params}, &out, &errOut)
			if code != 1 || !strings.Contains(out.String(), "RuntimeError: rolled") {
				t.Fatalf("call: exit %d, stdout %s, stderr %s", code, out.String(), errOut.String())
			}
			if _, err := os.Stat(rec); err != nil {
				t.Fatalf("no recording: %v", err)
			}
			replay := func(pluginDir string) (int, map[string]any) {
				t.Helper()
				var out, errOut bytes.Buffer
				code := run([]string{"replay", "--exact", "--backend", backend, "--plugin", pluginDir, rec}, &out, &errOut)
				var rep map[string]any
				if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
					t.Fatalf("replay: exit %d, stdout %q, stderr %s", code, out.String(), errOut.String())
				}
				return code, rep
			}
			code, rep := replay(dir)
			if code != 0 || rep["same"] != true {
				t.Fatalf("replay of the same code: exit %d, report %v", code, rep)
			}
			tb := rep["outcome"].(map[string]any)["error"].(map[string]any)["data"].(map[string]any)["traceback"].(string)
			if !strings.Contains(tb, `File "__main__.py", line 14, in roll`) {
				t.Errorf("traceback lacks the plugin's line:\n%s", tb)
			}

			changed := t.TempDir()
			os.WriteFile(filepath.Join(changed, "manifest.json"), []byte(`{"id": "dice", "name": "Dice", "capabilities": ["storage:kv"]}`), 0o644)
			os.WriteFile(filepath.Join(changed, "__main__.py"), []byte(strings.Replace(main, `ctx.kv.set("rolls", n)`, `ctx.kv.set("rolls", n * 10)`, 1)), 0o644)
			code, rep = replay(changed)
			div, _ := rep["divergence"].(map[string]any)
			if code != 1 || div == nil || div["at"] != "host call 2" || !strings.Contains(div["got"].(string), `"value":10`) {
				t.Fatalf("replay of changed code: exit %d, report %v", code, rep)
			}
		})
	}
}
