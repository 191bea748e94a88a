// Package enginetest runs the spec's example plugins and maid's behaviour
// tests through a real engine (SQLite store, real Python) on any sandbox
// backend. Every backend's tests call Run, so the plugin-visible behaviour
// is the same whichever sandbox runs it.
package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/store"
)

// Env is a running engine for one test.
type Env struct {
	Engine  *engine.Engine
	Store   *store.Store
	Discord *Recorder
}

// Options tune the engine for tests.
type Options struct {
	Limits engine.Limits
	Logger *slog.Logger // nil: slog.Default()
	// Instances is engine.Config.Instances (the operator's instance mode).
	Instances string
	// DenyPerServer, MaxInstances: engine.Config's.
	DenyPerServer bool
	MaxInstances  int
}

// Start runs an engine on backend with a fresh SQLite store; everything
// stops when the test ends.
func Start(t testing.TB, backend sandbox.Backend, opt Options) *Env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "maid.db"), store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	rec := &Recorder{}
	eng, err := engine.New(engine.Config{Store: st, Backend: backend, DataDir: dir, Discord: rec, Limits: opt.Limits, Logger: opt.Logger, Instances: opt.Instances,
		DenyPerServer: opt.DenyPerServer, MaxInstances: opt.MaxInstances})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after Serve's stop: cleanups run last first
	Serve(t, eng)
	return &Env{Engine: eng, Store: st, Discord: rec}
}

// Serve runs eng until the returned stop is called or the test ends, and
// returns once it is ready (its installed plugins loaded). stop waits for
// Run to return and reports its error; calling it again does nothing.
func Serve(t testing.TB, eng *engine.Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("engine run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-eng.Ready():
	case err := <-done:
		done <- err // for stop
		t.Fatalf("engine stopped before it was ready: %v", err)
	}
	return stop
}

// Examples is the directory of the SDK's example plugins.
func Examples() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "sdk", "examples")
}

func testdata(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

// Install installs a plugin dir and enables it on the servers.
func (env *Env) Install(t testing.TB, dir string, servers ...string) string {
	t.Helper()
	ctx := context.Background()
	pkg, err := env.Engine.InstallPath(ctx, dir)
	if err != nil {
		t.Fatalf("install %s: %v", dir, err)
	}
	for _, s := range servers {
		if err := env.Engine.SetEnabled(ctx, s, pkg.Manifest.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	return pkg.Manifest.ID
}

// Call calls a dashboard handler and decodes the result into a map.
func (env *Env) Call(t testing.TB, plugin, server, handler string, params any) map[string]any {
	t.Helper()
	out, err := env.CallErr(plugin, server, handler, params)
	if err != nil {
		logs, _ := env.Engine.Logs(plugin, 30)
		t.Fatalf("call %s.%s: %v\nplugin logs: %v", plugin, handler, err, logs)
	}
	return out
}

// CallErr is Call returning the error.
func (env *Env) CallErr(plugin, server, handler string, params any) (map[string]any, error) {
	raw, _ := json.Marshal(params)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := env.Engine.CallDashboard(ctx, plugin, server, handler, raw)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(res, &out); err != nil {
		return nil, fmt.Errorf("result %s: %w", res, err)
	}
	return out, nil
}

// Dispatch sends events and waits until plugins handled them.
func (env *Env) Dispatch(t testing.TB, evs ...engine.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, ev := range evs {
		if err := env.Engine.Dispatch(ctx, ev); err != nil {
			t.Fatalf("dispatch %s: %v", ev.Type, err)
		}
	}
	if err := env.Engine.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// Message returns a message_create event.
func Message(server, userID, content string) engine.Event {
	data, _ := json.Marshal(map[string]any{
		"id": "9" + userID, "channel_id": "500", "guild_id": server, "content": content,
		"author": map[string]any{"id": userID, "username": "user" + userID},
	})
	return engine.Event{Type: "message_create", ServerID: server, Data: data}
}

// Join returns a guild_member_add event.
func Join(server, userID string) engine.Event {
	data, _ := json.Marshal(map[string]any{"guild_id": server, "user": map[string]any{"id": userID, "username": "new" + userID}})
	return engine.Event{Type: "guild_member_add", ServerID: server, Data: data}
}

// Recorder is an engine.Discord that records actions instead of sending
// them (the discord package tests the real REST side).
type Recorder struct {
	mu   sync.Mutex
	Sent []engine.OutMessage
	// Servers of each action, in order.
	ServerIDs []string
}

var _ engine.Discord = (*Recorder)(nil)

func (r *Recorder) record(server string) {
	r.mu.Lock()
	r.ServerIDs = append(r.ServerIDs, server)
	r.mu.Unlock()
}

// Messages returns the messages sent so far.
func (r *Recorder) Messages() []engine.OutMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.OutMessage(nil), r.Sent...)
}

func (r *Recorder) SendMessage(ctx context.Context, server string, m engine.OutMessage) (string, error) {
	r.mu.Lock()
	r.Sent = append(r.Sent, m)
	n := len(r.Sent)
	r.mu.Unlock()
	r.record(server)
	return fmt.Sprintf("msg-%d", n), nil
}
func (r *Recorder) EditMessage(ctx context.Context, s, c, m, content string) error {
	r.record(s)
	return nil
}
func (r *Recorder) DeleteMessage(ctx context.Context, s, c, m string) error  { r.record(s); return nil }
func (r *Recorder) AddReaction(ctx context.Context, s, c, m, e string) error { r.record(s); return nil }
func (r *Recorder) RemoveReaction(ctx context.Context, s, c, m, e string) error {
	r.record(s)
	return nil
}
func (r *Recorder) AddRole(ctx context.Context, s, u, role string) error    { r.record(s); return nil }
func (r *Recorder) RemoveRole(ctx context.Context, s, u, role string) error { r.record(s); return nil }
func (r *Recorder) GetMember(ctx context.Context, s, u string) (json.RawMessage, error) {
	r.record(s)
	return json.RawMessage(`{"user":{"id":"` + u + `"}}`), nil
}

// Run runs the suite on a backend. newBackend is called once.
func Run(t *testing.T, newBackend func(t *testing.T) sandbox.Backend) {
	b := newBackend(t)
	t.Cleanup(func() { b.Close() })
	tests := []struct {
		name string
		run  func(t *testing.T, b sandbox.Backend)
	}{
		{name: "welcome example", run: testWelcome},
		{name: "iframe example backend", run: testIframeExample},
		{name: "capabilities", run: testCapabilities},
		{name: "server scoping and options", run: testScoping},
		{name: "handler errors and recovery", run: testMisbehave},
		{name: "vendored packages in lib", run: Vendored},
		{name: "exact replay of a failed event", run: ExactReplay},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
	}
}

// Vendored checks that a plugin's lib/ folder is on sys.path: a module and
// a package (with a submodule, importing the module) import from it, ahead
// of the interpreter's own copy: lib/colorsys.py shadows the standard
// library's, which every backend's Python has. Backends whose tests do not
// call Run (docker) call it directly.
func Vendored(t *testing.T, b sandbox.Backend) {
	env := Start(t, b, Options{})
	id := env.Install(t, testdata("vendored"), "1")
	got := env.Call(t, id, "1", "probe", nil)
	want := map[string]any{"colorsys_from_lib": true, "greeting": "hello, maid from lib"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("probe = %v, want %v", got, want)
	}
}

// ExactReplay records a failed event (host calls, the random module's
// seed, and on wasm the clock and random bytes), replays it to the same
// traceback, and after code changes to the first divergence: a different
// host call, then (same calls) a different outcome.
func ExactReplay(t *testing.T, b sandbox.Backend) {
	env := Start(t, b, Options{})
	src := testdata("replayer")
	id := env.Install(t, src, "1")
	env.Dispatch(t, Message("1", "7", "ok"), Message("1", "7", "ok"), Message("1", "7", "fail"), Message("1", "7", "ok"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var recID string
	logs, _ := env.Engine.Logs(id, 0)
	for _, l := range logs {
		if l.Recording != "" {
			recID = l.Recording
		}
	}
	if recID == "" {
		t.Fatalf("no log line names a recording: %v", logs)
	}
	_, body, err := env.Engine.Recording(ctx, id, "1", recID)
	if err != nil {
		t.Fatal(err)
	}
	var rec engine.Recording
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.HostCalls) != 3 || rec.Outcome.Error == nil || (b.Name() == "wasm") != (len(rec.Entropy) > 0) {
		t.Fatalf("recording: %d host calls, outcome %+v, %d entropy reads on %s", len(rec.HostCalls), rec.Outcome, len(rec.Entropy), b.Name())
	}
	replay := func(dir string) engine.ReplayReport {
		t.Helper()
		pkg, err := plugin.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := engine.ReplayExact(ctx, b, pkg, rec)
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		return rep
	}
	rep := replay(src)
	tb := func(o engine.RecordedOutcome) string {
		if o.Error == nil {
			return ""
		}
		var d struct{ Traceback string }
		_ = json.Unmarshal(o.Error.Data, &d)
		return d.Traceback
	}
	want := tb(rec.Outcome)
	if !rep.Same || tb(rep.Outcome) != want || !strings.Contains(want, `File "__main__.py", line 25, in on_message`) || !strings.Contains(want, "ValueError: failed at count 2") {
		t.Fatalf("replay of the same code: same %v, divergence %v\nrecorded traceback:\n%s\nreplayed:\n%s\nstderr: %s", rep.Same, rep.Divergence, want, tb(rep.Outcome), rep.Stderr)
	}
	if rep.HostCalls != 3 || rep.EntropyReads != len(rec.Entropy) {
		t.Errorf("answered %d host calls and %d entropy reads, recording has %d and %d", rep.HostCalls, rep.EntropyReads, len(rec.HostCalls), len(rec.Entropy))
	}

	main, err := os.ReadFile(filepath.Join(src, "__main__.py"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new, at, got string
	}{
		{"another host call", `ctx.kv.set("last", seen)`, `ctx.kv.set("latest", seen)`, "host call 3", `kv.set {"key":"latest"`},
		{"same calls, other outcome", `raise ValueError("failed at count %d`, `raise KeyError("failed at count %d`, "outcome", "KeyError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"manifest.json"} {
				data, err := os.ReadFile(filepath.Join(src, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			changed := strings.Replace(string(main), tc.old, tc.new, 1)
			if changed == string(main) {
				t.Fatalf("%q not in the plugin", tc.old)
			}
			if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(changed), 0o644); err != nil {
				t.Fatal(err)
			}
			rep := replay(dir)
			if rep.Same || rep.Divergence == nil || rep.Divergence.At != tc.at || !strings.Contains(rep.Divergence.Got, tc.got) {
				t.Fatalf("divergence %+v, want at %q with %q", rep.Divergence, tc.at, tc.got)
			}
		})
	}
}

func testWelcome(t *testing.T, b sandbox.Backend) {
	env := Start(t, b, Options{})
	id := env.Install(t, filepath.Join(Examples(), "welcome"), "1")
	env.Dispatch(t,
		Message("1", "11", "hello"), Message("1", "12", "hi"), Message("1", "11", "again"),
		Join("1", "13"), // no welcome channel yet: no greeting
	)
	if got := env.Discord.Messages(); len(got) != 0 {
		t.Fatalf("greeted without a channel: %v", got)
	}
	// The spec's widget shapes.
	// Nobody wrote last week: the change is not shown (no made-up "+12%").
	if got := env.Call(t, id, "1", "get_active_users", nil); !reflect.DeepEqual(got, map[string]any{"value": 2.0}) {
		t.Errorf("stat_card = %v", got)
	}
	chart := env.Call(t, id, "1", "get_messages_chart", nil)
	labels, _ := chart["labels"].([]any)
	series, _ := chart["series"].([]any)
	if len(labels) != 7 || len(series) != 1 {
		t.Fatalf("chart = %v", chart)
	}
	s0 := series[0].(map[string]any)
	data := s0["data"].([]any)
	if s0["name"] != "Messages" || len(data) != 7 || data[6] != 3.0 {
		t.Errorf("chart series = %v, want 3 messages today", s0)
	}
	if got := env.Call(t, id, "1", "get_settings", nil); !reflect.DeepEqual(got, map[string]any{"values": map[string]any{"channel_id": "", "message": "Welcome!"}}) {
		t.Errorf("get_settings = %v", got)
	}
	save := map[string]any{"values": map[string]any{"channel_id": "777", "message": "Glad you are here"}}
	if got := env.Call(t, id, "1", "save_settings", save); got["ok"] != true {
		t.Errorf("save_settings = %v", got)
	}
	if got := env.Call(t, id, "1", "get_settings", nil); !reflect.DeepEqual(got["values"], save["values"]) {
		t.Errorf("after save, get_settings = %v", got)
	}
	env.Dispatch(t, Join("1", "14"))
	sent := env.Discord.Messages()
	if len(sent) != 1 || sent[0].ChannelID != "777" || sent[0].Content != "<@14> Glad you are here" {
		t.Fatalf("greeting = %+v", sent)
	}
	// Options say no greeting: none is sent.
	ctx := context.Background()
	if _, err := env.Engine.SetOptions(ctx, "1", id, map[string]json.RawMessage{"greet_new_members": json.RawMessage("false")}); err != nil {
		t.Fatal(err)
	}
	env.Dispatch(t, Join("1", "15"))
	if n := len(env.Discord.Messages()); n != 1 {
		t.Fatalf("greeted with greet_new_members=false: %d messages", n)
	}
	// Invalid option values are refused with the field named.
	_, err := env.Engine.SetOptions(ctx, "1", id, map[string]json.RawMessage{"greet_new_members": json.RawMessage(`"yes"`)})
	if !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), "greet_new_members") {
		t.Fatalf("bad option value: %v", err)
	}
}

func testIframeExample(t *testing.T, b sandbox.Backend) {
	env := Start(t, b, Options{})
	id := env.Install(t, filepath.Join(Examples(), "iframe_stats"), "7")
	env.Dispatch(t, Message("7", "1", "a"), Message("7", "2", "b"))
	got := env.Call(t, id, "7", "summary", nil)
	if got["server"] != "7" || got["messages_30d"] != 2.0 {
		t.Fatalf("summary = %v", got)
	}
	// The bridge's direct metrics call, as MaidSDK.metrics.total does.
	res, err := env.Engine.HostCall(context.Background(), id, "7", "metrics.total", json.RawMessage(`{"name":"messages_sent","period":"30d"}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := res.(map[string]any); m["total"] != 2.0 {
		t.Fatalf("metrics.total = %v", res)
	}
	// kv needs storage:kv, which this plugin has; sql needs storage:sql, which it lacks.
	if _, err := env.Engine.HostCall(context.Background(), id, "7", "sql.query", json.RawMessage(`{"sql":"select 1"}`)); !errors.Is(err, engine.ErrCapability) {
		t.Fatalf("sql without storage:sql: %v", err)
	}
}

func testCapabilities(t *testing.T, b sandbox.Backend) {
	env := Start(t, b, Options{})
	id := env.Install(t, testdata("nocap"), "1")
	tests := []struct {
		name    string
		handler string
	}{
		{name: "kv without storage:kv", handler: "try_kv"},
		{name: "send without discord:send_messages", handler: "try_send"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := env.Call(t, id, "1", tc.handler, nil); got["denied"] != true {
				t.Fatalf("%s = %v, want denied", tc.handler, got)
			}
		})
	}
	if n := len(env.Discord.Messages()); n != 0 {
		t.Fatalf("a denied action reached Discord: %d messages", n)
	}
	logs, _ := env.Engine.Logs(id, 0)
	if !strings.Contains(fmt.Sprint(logs), "denied") {
		t.Errorf("denials not logged: %v", logs)
	}
}

func testScoping(t *testing.T, b sandbox.Backend) {
	env := Start(t, b, Options{})
	id := env.Install(t, testdata("scoped"), "1", "2")
	ctx := context.Background()
	if _, err := env.Engine.SetOptions(ctx, "2", id, map[string]json.RawMessage{"color": json.RawMessage(`"blue"`)}); err != nil {
		t.Fatal(err)
	}
	env.Dispatch(t, Message("1", "5", "one"), Message("2", "5", "two"), Message("3", "5", "not enabled here"))
	s1 := env.Call(t, id, "1", "state", map[string]any{"discord_srv_id": "2"}) // a forged id in params is overwritten
	s2 := env.Call(t, id, "2", "state", nil)
	tests := []struct {
		name      string
		got, want any
	}{
		{name: "server of the call", got: s1["server"], want: "1"},
		{name: "params discord_srv_id is the call's", got: s1["params_server"], want: "1"},
		{name: "kv of server 1", got: s1["last"], want: "one"},
		{name: "kv of server 2", got: s2["last"], want: "two"},
		{name: "events of server 1 only", got: s1["seen"], want: []any{"one"}},
		{name: "defaults on server 1", got: s1["options"], want: map[string]any{"word": "hello", "color": "red"}},
		{name: "saved options on server 2", got: s2["options"], want: map[string]any{"word": "hello", "color": "blue"}},
		{name: "plugin metric per server", got: s1["hits"], want: 1.0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Fatalf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
	// Not enabled on server 3: dashboard calls are refused.
	if _, err := env.CallErr(id, "3", "state", nil); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("call on a server where the plugin is disabled: %v", err)
	}
	// Reinstalling the same id keeps data and settings (spec 004).
	env.Install(t, testdata("scoped"))
	if got := env.Call(t, id, "2", "state", nil); got["last"] != "two" || got["options"].(map[string]any)["color"] != "blue" {
		t.Fatalf("after reinstall: %v", got)
	}
}

func testMisbehave(t *testing.T, b sandbox.Backend) {
	env := Start(t, b, Options{Limits: engine.Limits{DashboardTimeout: 2 * time.Second, BackoffMin: 50 * time.Millisecond}})
	id := env.Install(t, testdata("misbehave"), "1")
	first := env.Call(t, id, "1", "ping", nil)

	if _, err := env.CallErr(id, "1", "raise", nil); !errors.Is(err, engine.ErrPlugin) || !strings.Contains(err.Error(), "handler exploded") {
		t.Fatalf("raising handler: %v", err)
	}
	if got := env.Call(t, id, "1", "ping", nil); got["pid"] != first["pid"] {
		t.Fatalf("instance restarted after a handler exception")
	}
	if got := env.Call(t, id, "1", "big_value", nil); got["error"] != "LimitError" {
		t.Fatalf("70 KiB value: %v, want LimitError", got)
	}
	if _, err := env.CallErr(id, "1", "nope", nil); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("unknown handler: %v", err)
	}
	if _, err := env.CallErr(id, "1", "sleep", nil); !errors.Is(err, engine.ErrTimeout) {
		t.Fatalf("endless handler: %v, want ErrTimeout", err)
	}
	// The stuck instance was stopped; the next call gets a fresh one.
	env.Call(t, id, "1", "ping", nil)
	if _, err := env.CallErr(id, "1", "crash", nil); !errors.Is(err, engine.ErrPlugin) {
		t.Fatalf("crashing handler: %v", err)
	}
	env.Call(t, id, "1", "ping", nil)
	if st := env.Engine.Stats(); st.Restarts < 1 {
		t.Fatalf("restarts = %d", st.Restarts)
	}
}
