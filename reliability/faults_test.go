package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/testenv"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/store"
)

var ackedRe = regexp.MustCompile(`^acked (\d+)$`)

// maxAcked is the last batch the plugin logged as acknowledged, or -1.
func maxAcked(t *testing.T, e *engine.Engine, plugin string) int {
	logs, err := e.Logs(plugin, 0)
	if err != nil {
		t.Fatal(err)
	}
	max := -1
	for _, l := range logs {
		if m := ackedRe.FindStringSubmatch(l.Text); m != nil {
			n, _ := strconv.Atoi(m[1])
			if n > max {
				max = n
			}
		}
	}
	return max
}

// TestKillMidCall kills an instance while it writes KV batches: kill -9
// (process), docker kill (docker), a trap (os.abort on wasm, which is
// wasm's unreachable instruction). The caller gets an error, the instance
// restarts, every acknowledged batch is stored and no batch is half
// written.
func TestKillMidCall(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		lim := testLimits()
		lim.DashboardTimeout = 10 * time.Second // the kill, not the deadline, ends the call
		w := startWorld(t, nb.b, lim)
		id := w.Install(t, hostile("crashy"), "1")
		who := w.Call(t, id, "1", "whoami", nil)
		restarts := w.Engine.Stats().Restarts
		params := map[string]any{}
		if nb.name == "wasm" {
			params["abort_after"] = 5
		}
		errc := make(chan error, 1)
		go func() {
			_, err := w.call(id, "1", "write_forever", params)
			errc <- err
		}()
		// Let some batches be acknowledged first.
		deadline := time.Now().Add(60 * time.Second)
		for maxAcked(t, w.Engine, id) < 3 {
			if time.Now().After(deadline) {
				logs, _ := w.Engine.Logs(id, 0)
				t.Fatalf("no batch acknowledged:\n%s", dumpLogs(logs))
			}
			time.Sleep(20 * time.Millisecond)
		}
		switch nb.name {
		case "process":
			pid := int(who["pid"].(float64))
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill -9 %d: %v", pid, err)
			}
		case "docker":
			host, _ := who["hostname"].(string)
			if out, err := exec.Command("docker", "kill", host).CombinedOutput(); err != nil {
				t.Fatalf("docker kill %s: %v: %s", host, err, out)
			}
		case "wasm":
			// os.abort traps the guest after abort_after batches.
		}
		err := <-errc
		if err == nil || !isErr(err, engine.ErrPlugin) {
			t.Fatalf("call on a killed instance: err = %v, want ErrPlugin", err)
		}
		t.Logf("caller got: %v", err)
		acked := maxAcked(t, w.Engine, id)
		checkBatches(t, w, id, acked)
		// Restarted on next use, and the restart is logged.
		w.Call(t, id, "1", "ping", nil)
		if got := w.Engine.Stats().Restarts; got <= restarts {
			t.Fatalf("restarts = %d, want > %d", got, restarts)
		}
		w.logged(t, id, "restarting")
		w.goodAnswers(t)
	})
}

// checkBatches: every batch up to acked is complete; any batch at all is
// complete or absent (kv.set_many is atomic).
// TestDeadlineMidWrite: the call deadline stops an instance that writes KV
// back to back, so the stop lands while a write is being served (on wasm,
// on the guest's own goroutine: rpc.Options.Inline). The caller gets the
// timeout, every acknowledged batch is stored whole, and the plugin
// restarts.
func TestDeadlineMidWrite(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		lim := testLimits()
		lim.DashboardTimeout = 2 * time.Second
		w := startWorld(t, nb.b, lim)
		id := w.Install(t, hostile("crashy"), "1")
		w.Call(t, id, "1", "ping", nil)
		restarts := w.Engine.Stats().Restarts
		const wrap = 50 // batches rewritten in turn: the quota never ends the call
		_, err := w.call(id, "1", "write_forever", map[string]any{"pause": 0, "wrap": wrap})
		if !errors.Is(err, engine.ErrTimeout) {
			t.Fatalf("writing past the deadline: err = %v, want ErrTimeout", err)
		}
		acked := maxAcked(t, w.Engine, id)
		if acked < 0 {
			t.Fatal("no batch acknowledged before the deadline")
		}
		checkBatches(t, w, id, min(acked, wrap-1))
		w.Call(t, id, "1", "ping", nil)
		if got := w.Engine.Stats().Restarts; got <= restarts {
			t.Fatalf("restarts = %d, want > %d", got, restarts)
		}
		w.goodAnswers(t)
	})
}

func checkBatches(t *testing.T, w *world, plugin string, acked int) {
	t.Helper()
	keys, err := w.Store.KVList(context.Background(), engine.Scope{PluginID: plugin, ServerID: "1"}, "batch-", 100000)
	if err != nil {
		t.Fatal(err)
	}
	per := map[int]int{}
	for _, k := range keys {
		n, _ := strconv.Atoi(strings.Split(k, "-")[1])
		per[n]++
	}
	for i := 0; i <= acked; i++ {
		if per[i] != 20 {
			t.Errorf("acknowledged batch %d has %d of 20 keys", i, per[i])
		}
	}
	for i, n := range per {
		if n != 20 {
			t.Errorf("batch %d half written: %d of 20 keys", i, n)
		}
	}
	t.Logf("acknowledged batches 0..%d; %d batches stored", acked, len(per))
}

// countObserver counts successful event calls per plugin.
type countObserver struct {
	mu sync.Mutex
	ok map[string]int
	// latencies of successful event calls, for the load test.
	lat []time.Duration
}

func (o *countObserver) CallDone(kind, plugin string, d time.Duration, err error) {
	if kind != "event" || err != nil {
		return
	}
	o.mu.Lock()
	if o.ok == nil {
		o.ok = map[string]int{}
	}
	o.ok[plugin]++
	o.lat = append(o.lat, d)
	o.mu.Unlock()
}
func (o *countObserver) InstanceStarted(string, bool)         {}
func (o *countObserver) InstanceStopped(string, sandbox.Exit) {}
func (o *countObserver) EventOverflow(string)                 {}

func (o *countObserver) count(plugin string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ok[plugin]
}

// running is an engine started by startEngine on a store the test owns.
type running struct {
	eng  *engine.Engine
	st   *store.Store
	obs  *countObserver
	stop func()
	dsn  string
	dir  string
}

func startEngine(t *testing.T, b sandbox.Backend, dsn, dir string, lim engine.Limits) *running {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	obs := &countObserver{}
	eng, err := engine.New(engine.Config{Store: st, Backend: b, DataDir: dir, Discord: &enginetest.Recorder{}, Limits: lim, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	closeStore := sync.OnceFunc(func() { st.Close() })
	t.Cleanup(closeStore)
	stopEngine := enginetest.Serve(t, eng)
	return &running{eng: eng, st: st, obs: obs, dsn: dsn, dir: dir, stop: func() { stopEngine(); closeStore() }}
}

func (r *running) events(t *testing.T, plugin, server string) int {
	t.Helper()
	v, _, err := r.st.KVGet(context.Background(), engine.Scope{PluginID: plugin, ServerID: server}, "events")
	if err != nil {
		t.Fatal(err)
	}
	return atoi(string(v))
}

// TestEngineRestart stops the engine with events queued and in flight,
// then starts a new engine on the same store: every event the plugin
// acknowledged is counted in its KV, every event not handled was reported
// as overflow, none was handled twice.
func TestEngineRestart(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		dir := t.TempDir()
		dsn := "sqlite://" + filepath.Join(dir, "maid.db")
		r1 := startEngine(t, nb.b, dsn, dir, testLimits())
		ctx := context.Background()
		installEnabled(t, r1.eng, goodPlugin, "1")
		const n = 200
		for i := range n {
			if err := r1.eng.Dispatch(ctx, enginetest.Message("1", "5", fmt.Sprint(i))); err != nil {
				t.Fatalf("dispatch %d: %v", i, err)
			}
		}
		for r1.obs.count("good") < 10 {
			time.Sleep(5 * time.Millisecond)
		}
		r1.stop() // with up to n-10 events still queued
		acked := r1.obs.count("good")
		overflow := r1.eng.Stats().Overflow

		r2 := startEngine(t, nb.b, dsn, dir, testLimits())
		stored := r2.events(t, "good", "1")
		t.Logf("%s: %d dispatched, %d acknowledged, %d stored, %d reported lost at shutdown", nb.name, n, acked, stored, overflow)
		if stored < acked {
			t.Fatalf("%d acknowledged events, %d stored: acknowledged work lost", acked, stored)
		}
		// One event may have been in flight when the engine stopped: handled
		// by the plugin, its acknowledgement cut short.
		if stored > acked+1 {
			t.Fatalf("%d stored, %d acknowledged", stored, acked)
		}
		if stored+int(overflow) < n-1 || stored+int(overflow) > n {
			t.Fatalf("%d stored + %d reported lost != %d dispatched (±1 in flight)", stored, overflow, n)
		}
		// The new engine serves the same plugin and data.
		for i := range 5 {
			if err := r2.eng.Dispatch(ctx, enginetest.Message("1", "5", fmt.Sprint("after", i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := r2.eng.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := r2.events(t, "good", "1"); got != stored+5 {
			t.Fatalf("after restart: %d events, want %d", got, stored+5)
		}
	})
}

// TestStoreDiskFull puts the database on a tiny tmpfs and fills it: host
// calls fail with a clear error, the engine and other plugins keep
// running, and once space is freed writes succeed again with no restart.
func TestStoreDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "root (to mount a tmpfs)", "run as root", nil)
	}
	nb := backends(t)[0] // the store, not the sandbox, is under test
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "a tmpfs mount", "mount -t tmpfs must work here", fmt.Errorf("%v: %s", err, out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	// Plugin files live elsewhere: only the database runs out of space.
	dataDir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "maid.db")
	r := startEngine(t, nb.b, dsn, dataDir, testLimits())
	ctx := context.Background()
	installEnabled(t, r.eng, goodPlugin, "1")
	put := func(key string, size int) error {
		raw, _ := json.Marshal(map[string]any{"key": key, "value": strings.Repeat("d", size)})
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		_, err := r.eng.CallDashboard(cctx, "good", "1", "put", raw)
		return err
	}
	if err := put("before", 10); err != nil {
		t.Fatal(err)
	}
	// Fill the filesystem, leaving a little room.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			break
		}
	}
	f.Close()
	var full error
	for i := range 400 {
		if full = put(fmt.Sprintf("fill-%d", i), 60000); full != nil {
			break
		}
	}
	if full == nil {
		t.Fatal("writes never failed on a full disk")
	}
	t.Logf("full disk: %v", full)
	if !strings.Contains(full.Error(), "full") {
		t.Fatalf("error does not say the disk is full: %v", full)
	}
	// Reads and the engine still work.
	raw, _ := json.Marshal(map[string]any{"key": "before"})
	if _, err := r.eng.CallDashboard(ctx, "good", "1", "get", raw); err != nil {
		t.Fatalf("read on a full disk: %v", err)
	}
	logs, _ := r.eng.Logs("good", 0)
	if !strings.Contains(dumpLogs(logs), "full") {
		t.Fatalf("full disk not logged:\n%s", dumpLogs(logs))
	}
	// Free space: writes work again, without any restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := put("after", 1000); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
	if v, found, err := r.st.KVGet(ctx, engine.Scope{PluginID: "good", ServerID: "1"}, "after"); err != nil || !found || len(v) < 1000 {
		t.Fatalf("after: %d bytes, %v, %v", len(v), found, err)
	}
}

var _ = errors.Is
