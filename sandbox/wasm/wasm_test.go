package wasm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/internal/testenv"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// pythonDir finds the interpreter built by `make python-wasm`. Without it
// the tests fail under CI=true and skip elsewhere.
func pythonDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MAID_PYTHON_WASM_DIR")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", DefaultPythonDir)
	}
	if _, err := os.Stat(filepath.Join(dir, "python.wasm")); err != nil {
		testenv.Unavailable(t, "python.wasm in "+dir, "build it with `make python-wasm`, or set MAID_PYTHON_WASM_DIR", err)
	}
	return dir
}

// cacheDir is shared by every test and benchmark so python.wasm is compiled
// once per machine, not once per test.
func cacheDir(t testing.TB) string {
	t.Helper()
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "maid", "wasm-test")
}

func newBackend(t testing.TB, pool int) *Backend {
	t.Helper()
	b, err := New(context.Background(), Config{PythonDir: pythonDir(t), CacheDir: cacheDir(t), PoolSize: pool})
	if err != nil {
		t.Fatalf("new backend: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pool  int
		fresh bool
	}{
		{name: "snapshot", pool: 0},
		{name: "snapshot+pool", pool: 2},
		{name: "fresh starts", pool: 0, fresh: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sandboxtest.Run(t, func(t *testing.T) sandbox.Backend {
				b, err := New(context.Background(), Config{PythonDir: pythonDir(t), CacheDir: cacheDir(t), PoolSize: tc.pool, FreshStarts: tc.fresh})
				if err != nil {
					t.Fatalf("new backend: %v", err)
				}
				return b
			}, sandboxtest.Options{Isolated: true})
		})
	}
}

// TestEngine runs the spec's example plugins and the engine's behaviour
// tests on this backend, as on every other.
func TestEngine(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) sandbox.Backend {
		return newBackend(t, 2)
	})
}

func TestMissingInterpreter(t *testing.T) {
	_, err := New(context.Background(), Config{PythonDir: t.TempDir(), CacheDir: t.TempDir()})
	if !errors.Is(err, sandbox.ErrUnavailable) || !strings.Contains(err.Error(), "make python-wasm") {
		t.Fatalf("err = %v, want ErrUnavailable naming `make python-wasm`", err)
	}
}

func TestNewBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "negative pool", cfg: Config{PoolSize: -1}, want: "pool size"},
		{name: "memory above 4 GiB", cfg: Config{DefaultMemoryBytes: 5 << 30}, want: "default memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.CacheDir = t.TempDir()
			_, err := New(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// run starts script (with the conformance prelude: say() writes a protocol
// line), closes stdin, and returns stdout, stderr and the exit.
func run(t *testing.T, b *Backend, script string, mod func(*sandbox.Spec)) (string, string, sandbox.Exit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return sandboxtest.Output(t, ctx, b, script, mod)
}

func TestGuest(t *testing.T) {
	b := newBackend(t, 1)
	tests := []struct {
		name   string
		script string
		mod    func(*sandbox.Spec)
		want   string // exact stdout
	}{
		{
			name:   "sqlite3 and zlib are built in",
			script: "import sqlite3, zlib\ndb = sqlite3.connect(':memory:')\ndb.execute('create table t(x)')\ndb.execute('insert into t values (?)', (zlib.crc32(b'maid'),))\nsay(str(db.execute('select x from t').fetchone()[0] == zlib.crc32(b'maid')))",
			want:   "True\n",
		},
		{
			name:   "sqlite3 file database in scratch",
			script: "import sqlite3\ndb = sqlite3.connect('/tmp/x.db')\ndb.execute('create table t(x)')\ndb.execute('insert into t values (42)')\ndb.commit()\ndb.close()\nsay(str(sqlite3.connect('/tmp/x.db').execute('select x from t').fetchone()[0]))",
			want:   "42\n",
		},
		{
			name:   "clocks and sleep are real",
			script: "import time\nt0 = time.monotonic()\ntime.sleep(0.05)\nsay(str(time.monotonic() - t0 >= 0.05) + ' ' + str(time.time() > 1.7e9))",
			want:   "True True\n",
		},
		{
			name:   "randomness",
			script: "say(str(os.urandom(16) != os.urandom(16)))",
			want:   "True\n",
		},
		{
			name:   "path escapes rejected",
			script: "for p in ['/plugin/../../etc/passwd', '../../../../etc/passwd', '/usr/local/../../etc/hostname']:\n    try:\n        open(p).read(); say('open ' + p)\n    except OSError:\n        say('no')",
			want:   "no\nno\nno\n",
		},
		{
			name:   "root shows only the mounts",
			script: "import os\nfor p in ['/etc', '/home', '/proc']:\n    say(str(os.path.exists(p)))",
			want:   "False\nFalse\nFalse\n",
		},
		{
			name:   "no scratch unless asked",
			script: "try:\n    open('/tmp/f', 'w').write('x'); say('wrote')\nexcept OSError:\n    say('no scratch')",
			mod:    func(s *sandbox.Spec) { s.Limits.ScratchBytes = 0 },
			want:   "no scratch\n",
		},
		{
			name:   "scratch quota",
			script: "try:\n    with open('/tmp/big', 'wb') as f:\n        for _ in range(64):\n            f.write(b'x' * (64 << 10))\n    say('wrote 4 MiB')\nexcept OSError:\n    say('quota')",
			mod:    func(s *sandbox.Spec) { s.Limits.ScratchBytes = 1 << 20 },
			want:   "quota\n",
		},
		{
			name:   "missing module names the sandbox",
			script: "import sys\ntry:\n    import _ssl\nexcept ImportError:\n    say('no ssl')",
			want:   "no ssl\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errText, ex := run(t, b, tc.script, tc.mod)
			if out != tc.want || ex.Code != 0 {
				t.Fatalf("stdout = %q, want %q (%v)\nstderr: %s", out, tc.want, ex, errText)
			}
		})
	}
}

func TestMemoryLimitReported(t *testing.T) {
	b := newBackend(t, 0)
	_, errText, ex := run(t, b, "x = bytearray(200 << 20)\nsay('allocated')", func(s *sandbox.Spec) { s.Limits.MemoryBytes = 64 << 20 })
	if !errors.Is(ex.Err, sandbox.ErrMemoryLimit) {
		t.Fatalf("exit = %v, want ErrMemoryLimit\nstderr: %s", ex, errText)
	}
	if !strings.Contains(errText, "MemoryError") {
		t.Fatalf("stderr lacks MemoryError:\n%s", errText)
	}
}

func TestMemoryLimitBelowInterpreter(t *testing.T) {
	b := newBackend(t, 0)
	_, err := b.Start(context.Background(), sandbox.Spec{Dir: t.TempDir(), Entry: "__main__.py", Limits: sandbox.Limits{MemoryBytes: 1 << 20}})
	if !errors.Is(err, sandbox.ErrBadSpec) {
		t.Fatalf("err = %v, want ErrBadSpec", err)
	}
}

// TestSnapshotInstancesIndependent: instances restored from one snapshot
// share nothing that start-up seeded: random streams differ, and state one
// instance changes is invisible to the next.
func TestSnapshotInstancesIndependent(t *testing.T) {
	b := newBackend(t, 0)
	if b.snap == nil {
		t.Fatal("backend took no snapshot")
	}
	script := `
import random, maid_sdk
say(repr(getattr(maid_sdk, "_touched", None)))
maid_sdk._touched = True
say(repr(random.getrandbits(64)))
`
	seen := map[string]bool{}
	for i := range 3 {
		out, errText, ex := run(t, b, script, nil)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if ex.Code != 0 || len(lines) != 2 {
			t.Fatalf("instance %d: stdout %q, exit %v\nstderr: %s", i, out, ex, errText)
		}
		if lines[0] != "None" {
			t.Fatalf("instance %d sees state a previous instance set: %s", i, lines[0])
		}
		if seen[lines[1]] {
			t.Fatalf("instance %d repeats random stream %s: the snapshot's seed is shared", i, lines[1])
		}
		seen[lines[1]] = true
	}
}

// TestRunawayStopped: the wall-time limit stops a guest spinning in Python
// and in C loops that never return to the eval loop.
func TestRunawayStopped(t *testing.T) {
	b := newBackend(t, 0)
	for _, tc := range []struct {
		name   string
		script string
	}{
		{name: "python loop", script: "while True:\n    pass"},
		{name: "builtin sum", script: "sum(range(10**18))"},
		{name: "bigint power", script: "x = 7 ** (10 ** 7)"},
		{name: "regex backtracking", script: "import re\nre.match(r'(a*)*b', 'a' * 64)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errText, ex := run(t, b, "say('spinning')\n"+tc.script, func(s *sandbox.Spec) { s.Limits.WallTime = time.Second })
			if !errors.Is(ex.Err, sandbox.ErrTimeLimit) {
				t.Fatalf("exit = %v, want ErrTimeLimit\nstderr: %s", ex, errText)
			}
		})
	}
}

func TestSleepingGuestKilled(t *testing.T) {
	b := newBackend(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inst := sandboxtest.Start(t, ctx, b, "import time\nsay('sleeping')\ntime.sleep(3600)", nil)
	sandboxtest.FirstLine(t, inst, "sleeping")
	_ = inst.Kill()
	ex, err := inst.Wait(ctx)
	if err != nil || !errors.Is(ex.Err, sandbox.ErrKilled) {
		t.Fatalf("exit = %v, %v; want ErrKilled", ex, err)
	}
}

func TestStats(t *testing.T) {
	b := newBackend(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inst := sandboxtest.Start(t, ctx, b, "say('up')\ninp.read()", nil)
	sandboxtest.FirstLine(t, inst, "")
	st := inst.Stats()
	if st.MemoryBytes < int64(b.minMemory) || st.StartedAt.IsZero() {
		t.Fatalf("stats = %+v, want guest memory >= %d and a start time", st, b.minMemory)
	}
}

// TestManyInstances runs more instances at once than the conformance suite.
func TestManyInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	b := newBackend(t, 0)
	const n = 30
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	insts := make([]sandbox.Instance, n)
	readers := make([]*bufio.Reader, n)
	for i := range insts {
		insts[i] = sandboxtest.Start(t, ctx, b, "for line in inp:\n    say('echo:' + line.decode().strip())", nil)
		go io.Copy(io.Discard, insts[i].Stderr())
		readers[i] = bufio.NewReader(insts[i].Stdout())
	}
	// All alive at once: every instance answers while the others wait.
	for round := range 3 {
		for i, in := range insts {
			msg := fmt.Sprintf("%d-%d", i, round)
			if _, err := io.WriteString(in.Stdin(), msg+"\n"); err != nil {
				t.Fatal(err)
			}
			if line, err := readers[i].ReadString('\n'); err != nil || line != "echo:"+msg+"\n" {
				t.Fatalf("instance %d: %q, %v", i, line, err)
			}
		}
	}
	for _, in := range insts {
		_ = in.Stdin().Close()
		if ex, err := in.Wait(ctx); err != nil || ex.Code != 0 {
			t.Fatalf("exit %v, %v", ex, err)
		}
	}
}

func TestCloseStopsPool(t *testing.T) {
	b, err := New(context.Background(), Config{PythonDir: pythonDir(t), CacheDir: cacheDir(t), PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	_, err = b.Start(context.Background(), sandbox.Spec{Dir: t.TempDir(), Entry: "__main__.py"})
	if !errors.Is(err, sandbox.ErrUnavailable) {
		t.Fatalf("start after close: %v, want ErrUnavailable", err)
	}
}

// Close leaves started instances running; the runtime goes with the last.
func TestCloseKeepsRunningInstances(t *testing.T) {
	b, err := New(context.Background(), Config{PythonDir: pythonDir(t), CacheDir: cacheDir(t), PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inst := sandboxtest.Start(t, ctx, b, "for line in inp:\n    say('echo:' + line.decode().strip())", nil)
	go io.Copy(io.Discard, inst.Stderr())
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	r := bufio.NewReader(inst.Stdout())
	if _, err := io.WriteString(inst.Stdin(), "after close\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "echo:after close\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	_ = inst.Stdin().Close()
	if ex, err := inst.Wait(ctx); err != nil || ex.Code != 0 || ex.Err != nil {
		t.Fatalf("exit %v, %v", ex, err)
	}
	b.mu.Lock()
	released := b.released
	b.mu.Unlock()
	if !released {
		t.Fatal("runtime not released after the last instance exited")
	}
}

// TestPruneCache: entries unused for cacheMaxAge go, recent ones and the
// SDK dir in use stay, and a Backend marks its SDK dir as used.
func TestPruneCache(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ancient := now.Add(-cacheMaxAge - time.Hour)
	mk := func(path string, mtime time.Time) string {
		path = filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return path
	}
	oldSDK := mk("sdk/aaaa/.complete", ancient)
	recentSDK := mk("sdk/bbbb/.complete", now.Add(-time.Hour))
	keptSDK := mk("sdk/cccc/.complete", ancient) // in use by this Backend
	staleTmp := mk("sdk/tmp-1/x", ancient)
	if err := os.Chtimes(filepath.Dir(staleTmp), ancient, ancient); err != nil {
		t.Fatal(err)
	}
	freshTmp := mk("sdk/tmp-2/x", now)
	oldModule := mk("wazero/wazero-dev-amd64-linux/old", ancient)
	newModule := mk("wazero/wazero-dev-amd64-linux/new", now)
	emptied := mk("wazero/wazero-old-version/only", ancient)

	pruneCache(dir, filepath.Dir(keptSDK), now)
	for _, tc := range []struct {
		name string
		path string
		kept bool
	}{
		{name: "unused SDK dir", path: filepath.Dir(oldSDK)},
		{name: "recently used SDK dir", path: recentSDK, kept: true},
		{name: "SDK dir in use", path: keptSDK, kept: true},
		{name: "abandoned tmp dir", path: filepath.Dir(staleTmp)},
		{name: "tmp dir being prepared", path: freshTmp, kept: true},
		{name: "old compiled module", path: oldModule},
		{name: "new compiled module", path: newModule, kept: true},
		{name: "emptied wazero version dir", path: filepath.Dir(emptied), kept: true}, // another maid may have just opened it
		{name: "its old module", path: emptied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := os.Stat(tc.path)
			if kept := err == nil; kept != tc.kept {
				t.Fatalf("%s: kept = %v, want %v", tc.path, kept, tc.kept)
			}
		})
	}

	var touch sdkTouch
	touch.dir = filepath.Dir(keptSDK)
	touch.mark(now)
	touch.mark(now.Add(time.Minute)) // within touchEvery: no second write
	st, err := os.Stat(keptSDK)
	if err != nil || st.ModTime().Sub(now).Abs() > time.Second {
		t.Fatalf("marked .complete: %v; want mtime %v (the first mark only)", err, now)
	}
}
