package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/internal/plugintest"
	"github.com/maidhq/maid/internal/testenv"
	"github.com/maidhq/maid/sandbox/wasm"
)

// rollPlugin: its events draw from random and fail (so they are recorded
// and kept); "draw" returns a random number; "predict" computes what a
// draw would be if random still ran on the given seed after one draw.
const rollPlugin = `import random, sys, time
from maid_sdk import Plugin
plugin = Plugin()

@plugin.on_event("message_create")
def on_message(ctx, event):
    random.random()
    raise ValueError("kept")

@plugin.on_dashboard("draw")
def draw(ctx, params):
    return {"value": random.randint(0, 10**12)}

@plugin.on_dashboard("predict")
def predict(ctx, params):
    r = random.Random(params["seed"])
    r.random()
    return {"value": r.randint(0, 10**12)}

@plugin.on_dashboard("spin")
def spin(ctx, params):
    print("spinning", file=sys.stderr, flush=True)
    end = time.monotonic() + params["seconds"]
    n = 0
    while time.monotonic() < end:
        n += 1
    return {"reads": n}

plugin.run()
`

func rollDir(t *testing.T) string {
	return plugintest.WriteFiles(t, map[string]string{
		"manifest.json": `{"id": "roll", "name": "Roll"}`,
		"__main__.py":   rollPlugin,
	})
}

// lastRecording returns the newest kept recording of roll on server.
func lastRecording(t *testing.T, env *enginetest.Env, server string) engine.Recording {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := env.Engine.Recordings(ctx, "roll", server)
	if err != nil || len(list) == 0 {
		t.Fatalf("recordings on %s: %v, %d", server, err, len(list))
	}
	_, raw, err := env.Engine.Recording(ctx, "roll", server, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var rec engine.Recording
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestRecordedSeedPredictsNothing: a manager of server 1 downloads the
// recording of a failed event, which holds the seed the plugin's random
// module ran on; a dashboard call on server 2, on the same shared
// instance, must not draw from that seed's stream (attack F3). It did when
// only recorded calls got a seed and the SDK kept the last one in effect.
func TestRecordedSeedPredictsNothing(t *testing.T) {
	b := processBackend(t)
	env := enginetest.Start(t, b, enginetest.Options{})
	env.Install(t, rollDir(t), "1", "2")
	for i := range 3 {
		env.Dispatch(t, enginetest.Message("1", "7", "go"))
		rec := lastRecording(t, env, "1")
		var params struct {
			Seed string `json:"seed"`
		}
		if err := json.Unmarshal(rec.Params, &params); err != nil || params.Seed == "" {
			t.Fatalf("recording params %s: %v (want a seed)", rec.Params, err)
		}
		got := env.Call(t, "roll", "2", "draw", nil)["value"]
		predicted := env.Call(t, "roll", "1", "predict", map[string]any{"seed": params.Seed})["value"]
		if got == predicted {
			t.Fatalf("round %d: server 2 drew %v, predicted from server 1's recorded seed", i, got)
		}
	}
}

// TestRecordingHoldsOnlyItsReads: the clock reads of a dashboard call
// still running on an instance (another server's) must not land in the
// recording of an event sent to it meanwhile (attack F3): a recorded call
// runs alone on its instance. wasm: the backend whose clock and random
// reads are recorded.
func TestRecordingHoldsOnlyItsReads(t *testing.T) {
	dir := os.Getenv("MAID_PYTHON_WASM_DIR")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", wasm.DefaultPythonDir)
	}
	if _, err := os.Stat(filepath.Join(dir, "python.wasm")); err != nil {
		testenv.Unavailable(t, "python.wasm in "+dir, "build it with `make python-wasm`, or set MAID_PYTHON_WASM_DIR", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := wasm.New(ctx, wasm.Config{PythonDir: dir, CacheDir: filepath.Join(cache, "maid", "wasm-test")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	env := enginetest.Start(t, b, enginetest.Options{})
	env.Install(t, rollDir(t), "1", "2")

	var wg sync.WaitGroup
	var spinReads float64
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, err := env.CallErr("roll", "1", "spin", map[string]any{"seconds": 3})
		if err != nil {
			t.Errorf("spin: %v", err)
			return
		}
		spinReads, _ = out["reads"].(float64)
	}()
	// Wait until the spin handler runs (its clock reads have begun).
	for {
		logs, err := env.Engine.Logs("roll", 50)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(logs, func(l engine.LogLine) bool { return strings.Contains(l.Text, "spinning") }) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the spin handler never started")
		case <-time.After(10 * time.Millisecond):
		}
	}
	env.Dispatch(t, enginetest.Message("2", "7", "go"))
	wg.Wait()
	rec := lastRecording(t, env, "2")
	// The event's own reads: random's reseed and a few of the SDK's; the
	// spin made thousands.
	if len(rec.Entropy) > 20 {
		t.Fatalf("the event's recording holds %d clock/random reads (the concurrent spin made %v): another call's reads leaked into it", len(rec.Entropy), spinReads)
	}
	t.Logf("event recording: %d reads; concurrent spin: %v", len(rec.Entropy), spinReads)
}
