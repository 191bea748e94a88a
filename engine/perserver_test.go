package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/store"
)

// pidPlugin answers "pid" with its process id and a module-global count of
// the calls it served.
const pidPlugin = `
import os
from maid_sdk import Plugin
plugin = Plugin()
served = 0

@plugin.on_dashboard("pid")
def pid(ctx, params):
    global served
    served += 1
    return {"pid": os.getpid(), "served": served}

plugin.run()
`

// TestIdleStopPerServer: scale to zero per (plugin, server). Each server's
// instance is stopped once it, not the plugin, has been idle for
// IdleTimeout on the engine's clock; a busy server keeps its instance, and
// the next call of an idle one starts a fresh instance.
func TestIdleStopPerServer(t *testing.T) {
	c := newClock()
	r := startEngineWith(t, func(cfg *engine.Config) {
		cfg.Limits, cfg.Now, cfg.Instances = engine.Limits{IdleTimeout: 200 * time.Millisecond}, c.Now, plugin.InstancesPerServer
	})
	id := r.install(t, writePlugin(t, "pid_idle", pidPlugin), "1", "2")
	type answer struct{ PID, Served int }
	call := func(srv string) answer {
		t.Helper()
		out, err := r.eng.CallDashboard(withTimeout(t, time.Minute), id, srv, "pid", nil)
		if err != nil {
			t.Fatal(err)
		}
		var a answer
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	waitInstances := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for r.eng.Stats().Instances != want {
			if time.Now().After(deadline) {
				t.Fatalf("running instances = %d after 10 s, want %d", r.eng.Stats().Instances, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	one, two := call("1"), call("2")
	if one.PID == two.PID {
		t.Fatalf("servers 1 and 2 share process %d; want one instance each", one.PID)
	}
	waitInstances(2)
	c.Advance(150 * time.Millisecond)
	two = call("2") // server 2 stays in use
	c.Advance(100 * time.Millisecond)
	waitInstances(1) // server 1 idle 250 ms: stopped; server 2 idle 100 ms: kept
	if again := call("2"); again.PID != two.PID || again.Served != 3 {
		t.Fatalf("server 2 answered %+v, want its running instance %d with its global at 3", again, two.PID)
	}
	restarted := call("1")
	if restarted.PID == one.PID || restarted.Served != 1 {
		t.Fatalf("server 1 answered %+v after its idle stop, want a fresh instance (not %d) with a fresh global", restarted, one.PID)
	}
	waitInstances(2)
	if got := r.obs.starts(id); got != 4 {
		t.Fatalf("starts = %d, want 4 (the install check, two servers, one restart after the idle stop)", got)
	}
}

// TestInstancesConfig: the engine refuses an unknown instance mode.
func TestInstancesConfig(t *testing.T) {
	p := processBackend(t)
	dir := t.TempDir()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "maid.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = engine.New(engine.Config{Store: st, Backend: p, DataDir: dir, Instances: "per_guild"})
	if !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("engine.New with instances \"per_guild\": %v, want ErrInvalid", err)
	}
}

// TestBuiltinMetricsBatched: the built-in messages metric is counted in
// memory and written in batches: with a flush interval longer than the
// test, the store holds nothing while every query already counts all
// messages; stopping the engine writes them.
func TestBuiltinMetricsBatched(t *testing.T) {
	r := startEngineWith(t, func(cfg *engine.Config) { cfg.MetricsFlush = time.Hour })
	id := r.install(t, writePlugin(t, "count_batch", counter), "1")
	ctx := withTimeout(t, time.Minute)
	for i := range 25 {
		if err := r.eng.Dispatch(ctx, enginetest.Message("1", "7", fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Now().UTC().Format("2006-01-02")
	stored, err := r.st.MetricRange(ctx, "1", "", "messages", day, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 0 {
		t.Fatalf("store has %v before any flush, want nothing (no write per message)", stored)
	}
	q, err := r.eng.QueryMetric(ctx, "1", id, "messages", "1d")
	if err != nil {
		t.Fatal(err)
	}
	if q.Total != 25 {
		t.Fatalf("query counts %v messages, want 25 (the unflushed ones count)", q.Total)
	}
	r.stop()
	stored, err = r.st.MetricRange(ctx, "1", "", "messages", day, day)
	if err != nil {
		t.Fatal(err)
	}
	if stored[day] != 25 {
		t.Fatalf("store has %v after the engine stopped, want %s = 25 (flushed on stop)", stored, day)
	}
}

// blocker's handler waits until the file named by the event's content
// exists: the test decides when it returns.
const blocker = `
import os, time
from maid_sdk import Plugin
plugin = Plugin()

@plugin.on_event("message_create")
def wait(ctx, event):
    while not os.path.exists(event.get("content", "")):
        time.sleep(0.01)

plugin.run()
`

// TestOverflowErrorBounded: an event that every one of many plugins' full
// queues refuses fails with ErrOverflow naming a few plugins and how many
// more, not every id.
func TestOverflowErrorBounded(t *testing.T) {
	r := startEngine(t, engine.Limits{QueueSize: 1}, nil)
	release := filepath.Join(t.TempDir(), "release")
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) }) // before the engine stops
	const plugins = 14
	for i := range plugins {
		r.install(t, writePlugin(t, fmt.Sprintf("block_%02d", i), blocker), "1")
	}
	ctx := withTimeout(t, 2*time.Minute)
	// The first event is taken by every supervisor, whose handler then
	// waits; the second fills every queue (Dispatch waits for room).
	for range 2 {
		if err := r.eng.Dispatch(ctx, enginetest.Message("1", "7", release)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := r.eng.Dispatch(short, enginetest.Message("1", "7", release))
	if !errors.Is(err, engine.ErrOverflow) {
		t.Fatalf("third event: %v, want ErrOverflow", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "and 4 more") || strings.Count(msg, "block_") != 10 {
		t.Fatalf("error names %d plugins: %s; want 10 and \"and 4 more\"", strings.Count(msg, "block_"), msg)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}
