package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/internal/syncbuf"
)

// devPlugin is version v of a plugin that records which version handled
// each event, and in which order.
func devPlugin(v string, k int) string {
	return fmt.Sprintf(`# version %s%s
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx, event):
    n = ctx.kv.get("n") or 0
    ctx.kv.set("e:%%06d" %% int(event["content"]), [n, %q])
    ctx.kv.set("n", n + 1)
    if %q == "v4" and int(event["content"]) %% 10 == 0:
        raise ValueError("v4 fails on " + event["content"])


@plugin.on_dashboard("version")
def version(ctx, params):
    return {"version": %q}


@plugin.on_dashboard("dump")
def dump(ctx, params):
    keys = ["e:%%06d" %% i for i in range(params["n"])]
    got = ctx.kv.get_many(keys)
    return {"events": [got.get(k) for k in keys]}


plugin.run()
`, v, strings.Repeat(" ", k), v, v, v)
}

// TestDevReloadUnderStream: `maid dev` reloads the plugin when its file
// changes while simulated messages stream in: every event is handled once,
// in order, by a version no older than the one before; a version that
// fails at import keeps the old one running and its traceback (file and
// line) is printed.
func TestDevReloadUnderStream(t *testing.T) {
	for _, backend := range backendsForTest(t) {
		if backend == "docker" {
			continue // reloads start containers; process and wasm cover the loop
		}
		t.Run(backend, func(t *testing.T) { testDevReload(t, backend) })
	}
}

func testDevReload(t *testing.T, backend string) {
	dir := t.TempDir()
	// --record on wasm only: on process, dev runs as without the flag
	// (which once ended at once: the group stops when an actor returns).
	recDir := ""
	if backend == "wasm" {
		recDir = t.TempDir()
	}
	write := func(body string) {
		t.Helper()
		// Write then rename: the watcher never packs a half-written file.
		tmp := filepath.Join(dir, ".__main__.py.tmp")
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "__main__.py")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"id": "devtest", "name": "Dev test", "capabilities": ["storage:kv"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	write(devPlugin("v1", 1))

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, term syncbuf.Buffer
	sessions := make(chan devSession, 1)
	done := make(chan error, 1)
	go func() {
		done <- dev(ctx, devArgs{backend: backendFlags{name: backend, pythonWasm: os.Getenv("MAID_PYTHON_WASM_DIR")}, addr: "127.0.0.1:0", poll: 20 * time.Millisecond, dir: dir, record: recDir, log: discardLog()},
			&out, &term, func(s devSession) { sessions <- s })
	}()
	var s devSession
	select {
	case s = <-sessions:
	case err := <-done:
		t.Fatalf("dev ended: %v\n%s", err, term.String())
	}
	call := func(handler string, params any) (map[string]any, error) {
		raw, _ := json.Marshal(params)
		res, err := s.eng.CallDashboard(ctx, "devtest", discord.SimServerID, handler, raw)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		return m, json.Unmarshal(res, &m)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v\nterminal:\n%s", what, ctx.Err(), term.String())
			case <-time.After(20 * time.Millisecond): // polling a condition, not synchronizing
			}
		}
	}

	// A steady stream, paced so that it is still running through every
	// reload (each takes an interpreter start), until stopped.
	progress := make(chan int, 1<<16)
	stop := make(chan struct{})
	streamDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				streamDone <- nil
				return
			case <-tick.C:
			}
			if err := s.sim.Post(ctx, discord.SimServerID, discord.SimGeneral, "100000000000000301", strconv.Itoa(i)); err != nil {
				streamDone <- fmt.Errorf("post %d: %w", i, err)
				return
			}
			progress <- i
		}
	}()
	posted := 0
	until := func(n int) {
		for posted < n {
			select {
			case i := <-progress:
				posted = i + 1
			case err := <-streamDone:
				t.Fatalf("stream ended: %v", err)
			}
		}
	}
	steps := []struct {
		version, body string
	}{
		{"v2", devPlugin("v2", 2)},
		{"broken", "import os\n\nraise RuntimeError('broken at import')\n"},
		{"v3", devPlugin("v3", 3)},
		{"v4", devPlugin("v4", 4)},
	}
	for _, st := range steps {
		until(posted + 20)
		write(st.body)
		if st.version == "broken" {
			waitFor("the failed reload", func() bool {
				return strings.Contains(term.String(), "reload failed (the running version is kept)")
			})
			continue
		}
		waitFor("version "+st.version, func() bool {
			m, err := call("version", nil)
			return err == nil && m["version"] == st.version
		})
	}
	// Events posted while v4 started are queued for v3; count from now, so
	// that 20 events go to v4 (two of which it fails).
	for len(progress) > 0 {
		posted = <-progress + 1
	}
	until(posted + 20)
	close(stop)
	if err := <-streamDone; err != nil {
		t.Fatal(err)
	}
	for len(progress) > 0 {
		posted = <-progress + 1
	}
	events := posted
	if err := s.eng.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := call("dump", map[string]any{"n": events})
	if err != nil {
		t.Fatal(err)
	}
	rank := map[string]int{"v1": 1, "v2": 2, "v3": 3, "v4": 4}
	last := 0
	for i, e := range m["events"].([]any) {
		pair, ok := e.([]any)
		if !ok {
			t.Fatalf("event %d was never handled", i)
		}
		if n := int(pair[0].(float64)); n != i {
			t.Fatalf("event %d was handled as number %d: out of order or twice", i, n)
		}
		v := pair[1].(string)
		if rank[v] < last {
			t.Fatalf("event %d handled by %s after a newer version", i, v)
		}
		last = rank[v]
	}
	if last != 4 {
		t.Errorf("the last events were handled by rank %d, want v4", last)
	}
	text := term.String()
	for _, want := range []string{
		"devtest loaded (#1)",
		`__main__.py", line 3, in <module>`, // the broken version's traceback, with file and line
		"RuntimeError: broken at import",
		"devtest loaded (#4)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("terminal lacks %q:\n%s", want, text)
		}
	}
	// v4's failures were recorded into --record, with the replay command.
	if recDir != "" {
		waitFor("a recording of v4's failure", func() bool {
			files, _ := filepath.Glob(filepath.Join(recDir, "*.json"))
			return len(files) > 0 && strings.Contains(term.String(), "replay: maid replay --exact --plugin")
		})
	}
	if !strings.Contains(out.String(), "http://") {
		t.Errorf("no sign-in link printed: %q", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev: %v", err)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
