package engine_test

// The engine's own tests of its supervision: backoff after crashes, the
// settings cache's TTL, Drain, queue overflow and idle stops. They run real
// plugins on the process backend (the fastest real backend); the reliability
// suite repeats the behaviour on every backend.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/store"
)

// clock is a settable Config.Now.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type rig struct {
	eng     *engine.Engine
	st      *store.Store
	obs     *countingObserver
	backend *countingBackend
	stop    func() // stops the engine (also at the test's end)
}

// countingBackend counts instance starts, including those that fail
// before the handshake (which the Observer never sees).
type countingBackend struct {
	sandbox.Backend
	mu    sync.Mutex
	times []time.Time
}

func (b *countingBackend) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	b.mu.Lock()
	b.times = append(b.times, time.Now())
	b.mu.Unlock()
	return b.Backend.Start(ctx, spec)
}

func (b *countingBackend) startTimes() []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Time(nil), b.times...)
}

// startEngine runs an engine on the process backend with a fresh SQLite
// store until the test ends.
func startEngine(t *testing.T, lim engine.Limits, now func() time.Time) *rig {
	t.Helper()
	return startEngineWith(t, func(c *engine.Config) { c.Limits, c.Now = lim, now })
}

// startEngineWith is startEngine with the Config as set by configure.
func startEngineWith(t *testing.T, configure func(*engine.Config)) *rig {
	t.Helper()
	p := processBackend(t)
	b := &countingBackend{Backend: p}
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "maid.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{}
	cfg := engine.Config{Store: st, Backend: b, DataDir: dir, Discord: &enginetest.Recorder{}, Observer: obs}
	configure(&cfg)
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	stop := enginetest.Serve(t, eng)
	return &rig{eng: eng, st: st, obs: obs, backend: b, stop: stop}
}

// writePlugin writes a plugin directory whose __main__.py is body.
func writePlugin(t *testing.T, id, body string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := `{"id": "` + id + `", "name": "` + id + `", "version": "1.0.0", "script": "__main__.py", "capabilities": ["storage:kv"]}`
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const counter = `
import time
from maid_sdk import Plugin
plugin = Plugin()

@plugin.on_event("message_create")
def count(ctx, event):
    if event.get("content") == "slow":
        time.sleep(0.3)
    ctx.kv.set("n", ctx.kv.get("n", 0) + 1)

@plugin.on_dashboard("n")
def n(ctx, params):
    return {"n": ctx.kv.get("n", 0)}

plugin.run()
`

func (r *rig) install(t *testing.T, dir string, servers ...string) string {
	t.Helper()
	ctx := context.Background()
	pkg, err := r.eng.InstallPath(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if err := r.eng.SetEnabled(ctx, s, pkg.Manifest.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	return pkg.Manifest.ID
}

// count reads the counter plugin's KV straight from the store.
func (r *rig) count(t *testing.T, pluginID, server string) int {
	t.Helper()
	v, found, err := r.st.KVGet(context.Background(), engine.Scope{PluginID: pluginID, ServerID: server}, "n")
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return 0
	}
	var n int
	if err := json.Unmarshal(v, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestDrain: Drain returns only once every event queued before it has been
// handled, on every plugin.
func TestDrain(t *testing.T) {
	r := startEngine(t, engine.Limits{}, nil)
	a := r.install(t, writePlugin(t, "count_a", counter), "1")
	b := r.install(t, writePlugin(t, "count_b", counter), "1")
	ctx := withTimeout(t, time.Minute)
	const n = 25
	for i := 0; i < n; i++ {
		content := "hi"
		if i == 0 {
			content = "slow" // the first event holds the queue up
		}
		if err := r.eng.Dispatch(ctx, enginetest.Message("1", "7", content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.eng.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		if got := r.count(t, id, "1"); got != n {
			t.Errorf("%s handled %d events when Drain returned, want %d", id, got, n)
		}
	}
}

// TestOverflow: when a plugin's queue stays full past the dispatcher's
// deadline, the event is reported as ErrOverflow and counted, never lost
// silently: handled + overflowed = dispatched.
func TestOverflow(t *testing.T) {
	r := startEngine(t, engine.Limits{QueueSize: 1}, nil)
	id := r.install(t, writePlugin(t, "count_slow", counter), "1")
	// Start the instance first so the slow events are what fills the queue.
	if err := r.eng.Dispatch(withTimeout(t, time.Minute), enginetest.Message("1", "7", "hi")); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.Drain(withTimeout(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	const n = 6
	overflowed := 0
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := r.eng.Dispatch(ctx, enginetest.Message("1", "7", "slow"))
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, engine.ErrOverflow):
			overflowed++
		default:
			t.Fatalf("dispatch %d: %v", i, err)
		}
	}
	if overflowed == 0 {
		t.Fatal("no dispatch overflowed a queue of 1 behind 0.3 s handlers")
	}
	if err := r.eng.Drain(withTimeout(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := r.eng.Stats().Overflow; got != int64(overflowed) {
		t.Errorf("Stats().Overflow = %d, want %d", got, overflowed)
	}
	if got := r.obs.overflow.Load(); got != int64(overflowed) {
		t.Errorf("observer saw %d overflows, want %d", got, overflowed)
	}
	if handled := r.count(t, id, "1") - 1; handled+overflowed != n {
		t.Errorf("handled %d + overflowed %d != dispatched %d", handled, overflowed, n)
	}
}

// TestSettingsTTL: settings written behind the engine's back (another node
// sharing the database) are used until the cache's TTL passes on the
// engine's clock, then re-read; writes through the engine apply at once.
func TestSettingsTTL(t *testing.T) {
	c := newClock()
	r := startEngine(t, engine.Limits{SettingsTTL: 10 * time.Second}, c.Now)
	id := r.install(t, writePlugin(t, "count_ttl", counter), "1")
	ctx := withTimeout(t, time.Minute)
	send := func() {
		t.Helper()
		if err := r.eng.Dispatch(ctx, enginetest.Message("1", "7", "hi")); err != nil {
			t.Fatal(err)
		}
		if err := r.eng.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	send()
	if got := r.count(t, id, "1"); got != 1 {
		t.Fatalf("count = %d, want 1", got)
	}
	// Another node disables the plugin: this node's cache still says enabled.
	if err := r.st.SetEnabled(ctx, "1", id, false); err != nil {
		t.Fatal(err)
	}
	c.Advance(9 * time.Second)
	send()
	if got := r.count(t, id, "1"); got != 2 {
		t.Fatalf("within the TTL: count = %d, want 2 (cached: enabled)", got)
	}
	c.Advance(2 * time.Second)
	send()
	if got := r.count(t, id, "1"); got != 2 {
		t.Fatalf("after the TTL: count = %d, want 2 (re-read: disabled)", got)
	}
	// A write through the engine invalidates at once, whatever the clock.
	if err := r.eng.SetEnabled(ctx, "1", id, true); err != nil {
		t.Fatal(err)
	}
	send()
	if got := r.count(t, id, "1"); got != 3 {
		t.Fatalf("after enabling through the engine: count = %d, want 3", got)
	}
}

// TestBackoff: a plugin that dies at start is restarted after delays that
// double from BackoffMin up to BackoffMax, not in a tight loop, while events
// keep arriving; each refused event leaves a log line saying why.
func TestBackoff(t *testing.T) {
	const minDelay, maxDelay = 200 * time.Millisecond, 800 * time.Millisecond
	// InstallTimeout -1: Install would refuse a plugin that dies at start.
	r := startEngine(t, engine.Limits{BackoffMin: minDelay, BackoffMax: maxDelay, InstallTimeout: -1}, nil)
	id := r.install(t, writePlugin(t, "crasher", "import sys\nsys.exit(3)\n"), "1")
	ctx := withTimeout(t, time.Minute)
	for len(r.backend.startTimes()) < 5 {
		if ctx.Err() != nil {
			t.Fatal("the crashing plugin was not started 5 times within a minute")
		}
		_ = r.eng.Dispatch(ctx, enginetest.Message("1", "7", "hi"))
		time.Sleep(5 * time.Millisecond)
	}
	// Gaps are lower bounds only: a slow machine may stretch them, never
	// shorten them. Start k+1 waits for the k-th crash's delay.
	times := r.backend.startTimes()
	want := []time.Duration{minDelay, 2 * minDelay, maxDelay, maxDelay}
	for i, w := range want {
		if gap := times[i+1].Sub(times[i]); gap < w-20*time.Millisecond {
			t.Errorf("start %d came %v after start %d, want at least %v", i+2, gap, i+1, w)
		}
	}
	logs, _ := r.eng.Logs(id, 50)
	if len(logs) == 0 {
		t.Fatal("no log line says why the plugin is not running")
	}
}

// TestIdleStop: an instance unused for IdleTimeout on the engine's clock is
// stopped, and the next call starts it again.
func TestIdleStop(t *testing.T) {
	c := newClock()
	r := startEngine(t, engine.Limits{IdleTimeout: 200 * time.Millisecond}, c.Now)
	id := r.install(t, writePlugin(t, "count_idle", counter), "1")
	call := func() {
		t.Helper()
		if _, err := r.eng.CallDashboard(withTimeout(t, time.Minute), id, "1", "n", nil); err != nil {
			t.Fatal(err)
		}
	}
	call()
	// Real time passes, the engine's clock does not: the instance stays.
	time.Sleep(500 * time.Millisecond)
	if got := r.eng.Stats().Instances; got != 1 {
		t.Fatalf("instances = %d after 0.5 s of real time on a frozen clock, want 1", got)
	}
	c.Advance(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for r.eng.Stats().Instances != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle instance not stopped within 10 s of passing IdleTimeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	call()
	if got := r.obs.starts(id); got != 3 {
		t.Fatalf("starts = %d, want 3 (the install check, the first call, and the call after the idle stop restarts it)", got)
	}
}

// countingObserver counts what the engine reports.
type countingObserver struct {
	mu       sync.Mutex
	started  map[string]int
	overflow atomic.Int64
}

func (o *countingObserver) CallDone(kind, pluginID string, d time.Duration, err error) {}
func (o *countingObserver) InstanceStarted(pluginID string, restart bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started == nil {
		o.started = map[string]int{}
	}
	o.started[pluginID]++
}
func (o *countingObserver) InstanceStopped(pluginID string, exit sandbox.Exit) {}
func (o *countingObserver) EventOverflow(pluginID string)                      { o.overflow.Add(1) }
func (o *countingObserver) starts(id string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.started[id]
}

// TestInstallRules: Engine.Install refuses what `maid plugin validate`
// refuses, whoever calls it.
func TestInstallRules(t *testing.T) {
	r := startEngine(t, engine.Limits{}, nil)
	tests := []struct {
		name     string
		manifest string
		wantErr  string // "" = installs
	}{
		{name: "current sdk", manifest: `{"id": "sdk_ok", "name": "x", "script": "__main__.py", "sdk": "0.5.0"}`},
		{name: "newer sdk", manifest: `{"id": "sdk_new", "name": "x", "script": "__main__.py", "sdk": "99.0.0"}`, wantErr: "needs SDK 99.0.0"},
		{name: "bad manifest", manifest: `{"id": "Bad Id", "name": "x", "script": "__main__.py"}`, wantErr: "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePlugin(t, "x", "from maid_sdk import Plugin\nPlugin().run()\n")
			if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(tc.manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := r.eng.InstallPath(withTimeout(t, time.Minute), dir)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("install: %v, want ErrInvalid mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestHostVersion: plugins are told the maid build's version.
func TestHostVersion(t *testing.T) {
	for _, tc := range []struct{ name, version, want string }{
		{name: "build version", version: "1.2.3", want: "1.2.3"},
		{name: "unset", want: "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startEngineWith(t, func(c *engine.Config) { c.HostVersion = tc.version })
			id := r.install(t, writePlugin(t, "version", `from maid_sdk import Plugin
plugin = Plugin()

@plugin.on_dashboard("version")
def version(ctx, params):
    return {"v": plugin.host_version}

plugin.run()
`), "1")
			out, err := r.eng.CallDashboard(withTimeout(t, time.Minute), id, "1", "version", nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"v":"` + tc.want + `"}`; string(out) != want {
				t.Fatalf("got %s, want %s", out, want)
			}
		})
	}
}
