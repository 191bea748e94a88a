package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/internal/testenv"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/docker"
	"github.com/maidhq/maid/sandbox/process"
	"github.com/maidhq/maid/sandbox/wasm"
)

// stress reports whether the long forms run (MAID_STRESS=1, `make stress`).
func stress() bool { return os.Getenv("MAID_STRESS") == "1" }

// repoRoot is the module root, found from this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// backendKind says what a backend can promise.
type backendKind struct {
	name string
	// isolated: the guest cannot see host files, the network, or write
	// outside its scratch space (wasm, docker). The process backend is
	// not: it promises only what a plain subprocess with RLIMIT_AS and its
	// own process group gives.
	isolated bool
}

var (
	backendsOnce sync.Once
	backendsList []namedBackend
	backendsErrs []string
)

type namedBackend struct {
	backendKind
	b sandbox.Backend
}

// backends yields every backend available here, shared by the whole test
// binary (python.wasm compiles once; the Docker image is checked once).
// Under CI=true a missing wasm interpreter or Docker engine fails the test;
// elsewhere it is logged and the backend left out.
func backends(t *testing.T) []namedBackend {
	t.Helper()
	backendsOnce.Do(func() {
		p, err := process.New(process.Config{})
		if err != nil {
			backendsErrs = append(backendsErrs, "process: "+err.Error())
		} else {
			backendsList = append(backendsList, namedBackend{backendKind{name: "process"}, p})
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a first compile of python.wasm under -race; bounds a hang only
		defer cancel()
		w, err := wasm.New(ctx, wasm.Config{
			PythonDir: filepath.Join(repoRoot(), wasm.DefaultPythonDir),
			CacheDir:  filepath.Join(cache, "maid", "wasm-test"),
		})
		if err != nil {
			backendsErrs = append(backendsErrs, "wasm (make python-wasm): "+err.Error())
		} else {
			backendsList = append(backendsList, namedBackend{backendKind{name: "wasm", isolated: true}, w})
		}
		// MAID_RELIABILITY_DOCKER_DATA_PATH=attach runs the suite over the
		// engine's attach stream; by default a local engine gets the
		// socket path (docs/backends.md, "Data paths").
		d, err := docker.New(ctx, docker.Options{DataPath: os.Getenv("MAID_RELIABILITY_DOCKER_DATA_PATH")})
		if err != nil {
			backendsErrs = append(backendsErrs, "docker (start dockerd, make docker-image): "+err.Error())
		} else {
			backendsList = append(backendsList, namedBackend{backendKind{name: "docker", isolated: true}, d})
		}
	})
	if len(backendsErrs) > 0 {
		msg := "backends unavailable: " + strings.Join(backendsErrs, "; ")
		if testenv.CI() {
			t.Fatal(msg)
		}
		t.Log(msg)
	}
	list, err := selectBackends(backendsList, os.Getenv("MAID_RELIABILITY_BACKENDS"))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// selectBackends filters the started backends by a comma-separated list of
// names (all of them when only is empty). A name that is not a backend, a
// named backend that did not start, or an empty result is an error: a loop
// over zero backends would pass while testing nothing.
func selectBackends(started []namedBackend, only string) ([]namedBackend, error) {
	if strings.TrimSpace(only) == "" {
		if len(started) == 0 {
			return nil, fmt.Errorf("select backends: no backend started (see the log above)")
		}
		return started, nil
	}
	known := map[string]bool{"process": true, "wasm": true, "docker": true}
	var out []namedBackend
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		if !known[name] {
			return nil, fmt.Errorf("select backends: MAID_RELIABILITY_BACKENDS names %q; known backends are process, wasm and docker", name)
		}
		found := false
		for _, nb := range started {
			if nb.name == name {
				out = append(out, nb)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("select backends: MAID_RELIABILITY_BACKENDS names %q, which did not start (see the log above)", name)
		}
	}
	return out, nil
}

// isolatedBackends is backends without the unsandboxed process backend.
func isolatedBackends(t *testing.T) []namedBackend {
	var out []namedBackend
	for _, nb := range backends(t) {
		if nb.isolated {
			out = append(out, nb)
		}
	}
	if len(out) == 0 {
		testenv.Unavailable(t, "an isolated backend (wasm, docker)", "make python-wasm, or a Docker engine; see the log above", nil)
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, nb := range backendsList {
		_ = nb.b.Close()
	}
	os.Exit(code)
}

// testLimits are short enough for tests, long enough for a cold wasm or
// docker start under -race on a 2-core machine.
func testLimits() engine.Limits {
	return engine.Limits{
		DashboardTimeout: 4 * time.Second,
		EventTimeout:     4 * time.Second,
		HandshakeTimeout: 60 * time.Second,
		BackoffMin:       50 * time.Millisecond,
		BackoffMax:       time.Second,
		ShutdownGrace:    time.Second,
	}
}

// world is one engine with the well-behaved bystander installed on server 1.
type world struct {
	*enginetest.Env
	dir string // the engine's data dir (holds maid.db and plugins/)
}

// goodPlugin is the well-behaved bystander's dir.
var goodPlugin = filepath.Join("testdata", "good")

func hostile(name string) string { return filepath.Join("testdata", "hostile", name) }

// installEnabled installs the plugin dir on an engine the test started
// itself (startEngine) and enables it on servers, as enginetest's Install
// does for its own; it returns the plugin's id.
func installEnabled(t *testing.T, e *engine.Engine, dir string, servers ...string) string {
	t.Helper()
	return (&enginetest.Env{Engine: e}).Install(t, dir, servers...)
}

// callEngine is enginetest's Call for an engine the test started itself.
func callEngine(t *testing.T, e *engine.Engine, plugin, server, handler string, params any) map[string]any {
	t.Helper()
	return (&enginetest.Env{Engine: e}).Call(t, plugin, server, handler, params)
}

func startWorld(t *testing.T, b sandbox.Backend, lim engine.Limits) *world {
	t.Helper()
	env := enginetest.Start(t, b, enginetest.Options{Limits: lim})
	w := &world{Env: env}
	// enginetest.Start keeps its dir private; find it through the plugin.
	env.Install(t, goodPlugin, "1", "2")
	pkg, _ := env.Engine.Plugin("good")
	w.dir = filepath.Dir(filepath.Dir(pkg.Dir))
	// The bystander is warm before the hostile plugin starts.
	w.goodAnswers(t)
	// Whatever the test does, the bystander's data and files are the same
	// at the end (checked before the engine stops).
	for _, srv := range []string{"1", "2"} {
		w.Call(t, "good", srv, "put", map[string]any{"key": "sentinel", "value": "untouched " + srv})
	}
	files := snapshot(t, w.dir)
	t.Cleanup(func() {
		for _, srv := range []string{"1", "2"} {
			if v, _ := w.kv(t, "good", srv, "sentinel"); v != `"untouched `+srv+`"` {
				t.Errorf("the bystander's data on server %s changed: %s", srv, v)
			}
		}
		if now := snapshot(t, w.dir); !strings.Contains(now, goodFiles(files)) {
			t.Errorf("the bystander's files changed:\nbefore %s\nafter  %s", files, now)
		}
	})
	return w
}

// sideBySide runs f on each backend of bs as a parallel subtest: the
// backends run side by side, so f must measure no memory bound (memtest.RSS
// would count the other backends' use).
func sideBySide(t *testing.T, bs []namedBackend, f func(t *testing.T, nb namedBackend)) {
	for _, nb := range bs {
		t.Run(nb.name, func(t *testing.T) {
			t.Parallel()
			f(t, nb)
		})
	}
}

// oneByOne runs f on each backend of bs as a subtest, one after another,
// as a test that measures the host's memory must.
func oneByOne(t *testing.T, bs []namedBackend, f func(t *testing.T, nb namedBackend)) {
	for _, nb := range bs {
		t.Run(nb.name, func(t *testing.T) { f(t, nb) })
	}
}

// hostileWorld starts a world on nb with testLimits, changed by tune if not
// nil, and installs the hostile plugin name on server 1; it returns the
// plugin's id.
func hostileWorld(t *testing.T, nb namedBackend, name string, tune func(*engine.Limits)) (*world, string) {
	t.Helper()
	lim := testLimits()
	if tune != nil {
		tune(&lim)
	}
	w := startWorld(t, nb.b, lim)
	return w, w.Install(t, hostile(name), "1")
}

// goodFiles is the bystander's part of a snapshot.
func goodFiles(snap string) string {
	var out []string
	for _, f := range strings.Fields(snap) {
		if strings.Contains(f, "/good-") {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// goodAnswers checks the bystander still serves a dashboard call and a KV
// round trip.
func (w *world) goodAnswers(t *testing.T) {
	t.Helper()
	key := "alive-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	w.Call(t, "good", "1", "put", map[string]any{"key": key, "value": key})
	if got := w.Call(t, "good", "1", "get", map[string]any{"key": key}); got["value"] != key {
		t.Fatalf("bystander lost its write: %v", got)
	}
}

// kv reads a key straight from the store.
func (w *world) kv(t *testing.T, plugin, server, key string) (string, bool) {
	t.Helper()
	v, found, err := w.Store.KVGet(context.Background(), engine.Scope{PluginID: plugin, ServerID: server}, key)
	if err != nil {
		t.Fatalf("kv get %s/%s/%s: %v", plugin, server, key, err)
	}
	return string(v), found
}

// logged waits until a plugin's logs contain want, and fails otherwise.
func (w *world) logged(t *testing.T, plugin, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		logs, err := w.Engine.Logs(plugin, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range logs {
			if strings.Contains(l.Text, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs of %s lack %q:\n%s", plugin, want, dumpLogs(logs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dumpLogs(logs []engine.LogLine) string {
	var b strings.Builder
	for _, l := range logs {
		fmt.Fprintf(&b, "  [%s %s] %.300s\n", l.Level, l.Source, l.Text)
	}
	return b.String()
}

// call calls a dashboard handler with a generous outer deadline.
func (w *world) call(plugin, server, handler string, params any) (map[string]any, error) {
	return w.CallErr(plugin, server, handler, params)
}

// callRaw returns the raw result.
func (w *world) callRaw(ctx context.Context, plugin, server, handler string, params any) (json.RawMessage, error) {
	raw, _ := json.Marshal(params)
	return w.Engine.CallDashboard(ctx, plugin, server, handler, raw)
}

func isErr(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
