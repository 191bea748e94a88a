// Package sandboxtest is the conformance suite every sandbox backend must
// pass. A backend's test calls Run with a constructor; the suite starts real
// plugin scripts through the backend and checks the sandbox contract.
package sandboxtest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/sandbox"
)

// Options declares what the backend under test promises.
type Options struct {
	// Isolated backends must hide host files, keep the plugin dir read-only
	// and enforce memory limits; the process backend promises none of this
	// (it is the unsandboxed baseline), so those cases assert nothing for it.
	Isolated bool
	// Timeout bounds each case; default 60 s (containers start slowly).
	Timeout time.Duration
}

// prelude gives scripts the protocol streams (the SDK points sys.stdout at
// stderr, so plain print() never reaches the host's stdout reader).
const prelude = `import sys, os
from maid_sdk import _transport
out = _transport.stdout()
inp = _transport.stdin()
def say(s):
    out.write((s + "\n").encode()); out.flush()
`

// Run runs the suite. newBackend is called once; the suite closes it.
func Run(t *testing.T, newBackend func(t *testing.T) sandbox.Backend, opt Options) {
	t.Helper()
	if opt.Timeout == 0 {
		opt.Timeout = 60 * time.Second
	}
	b := newBackend(t)
	t.Cleanup(func() { _ = b.Close() })

	cases := []struct {
		name     string
		isolated bool // runs only for isolated backends
		run      func(t *testing.T, ctx context.Context, b sandbox.Backend)
	}{
		{name: "echo", run: testEcho},
		{name: "exit code", run: testExitCode},
		{name: "stderr and crash", run: testCrash},
		{name: "stdin eof", run: testStdinEOF},
		{name: "kill", run: testKill},
		{name: "wall time", run: testWallTime},
		{name: "env", run: testEnv},
		{name: "concurrent", run: testConcurrent},
		{name: "bad spec", run: testBadSpec},
		{name: "memory limit", isolated: true, run: testMemoryLimit},
		{name: "host files hidden", isolated: true, run: testHostFiles},
		{name: "plugin dir read-only", isolated: true, run: testReadOnly},
		{name: "scratch space", run: testScratch},
		{name: "lines", run: testLines},
	}
	for _, tc := range cases {
		if tc.isolated && !opt.Isolated {
			continue // not a promise of this backend; see Options.Isolated
		}
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), opt.Timeout)
			defer cancel()
			tc.run(t, ctx, b)
		})
	}
}

// PluginDir writes a plugin directory with the given __main__.py.
func PluginDir(t testing.TB, script string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(prelude+script), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Start starts script and registers cleanup that kills it.
func Start(t testing.TB, ctx context.Context, b sandbox.Backend, script string, mod func(*sandbox.Spec)) sandbox.Instance {
	t.Helper()
	spec := sandbox.Spec{
		Name:     "conformance",
		PluginID: "conformance",
		Dir:      PluginDir(t, script),
		Entry:    "__main__.py",
		Limits:   sandbox.Limits{MemoryBytes: 256 << 20, ScratchBytes: 8 << 20},
	}
	if mod != nil {
		mod(&spec)
	}
	inst, err := b.Start(ctx, spec)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = inst.Kill() })
	return inst
}

// FirstLine discards inst's stderr and reads its first stdout line, which
// must be want (any line if want is ""); it returns the reader for the rest.
func FirstLine(t testing.TB, inst sandbox.Instance, want string) *bufio.Reader {
	t.Helper()
	go io.Copy(io.Discard, inst.Stderr())
	r := bufio.NewReader(inst.Stdout())
	if line, err := r.ReadString('\n'); err != nil || (want != "" && line != want+"\n") {
		t.Fatalf("first line %q, %v; want %q", line, err, want)
	}
	return r
}

// Finish closes inst's stdin, reads its stdout and stderr to the end and
// waits for its exit: for a script that runs to completion. If ctx ends
// first it kills inst, so the output returned is what came until then, with
// Wait's error.
func Finish(ctx context.Context, inst sandbox.Instance) (stdout, stderr string, ex sandbox.Exit, err error) {
	_ = inst.Stdin().Close()
	out, errOut := collect(inst.Stdout()), collect(inst.Stderr())
	if ex, err = inst.Wait(ctx); err != nil {
		_ = inst.Kill()
	}
	return out(), errOut(), ex, err
}

// Output starts script, runs it to its end as Finish does and returns its
// stdout, stderr and exit; a Wait error fails the test.
func Output(t testing.TB, ctx context.Context, b sandbox.Backend, script string, mod func(*sandbox.Spec)) (stdout, stderr string, ex sandbox.Exit) {
	t.Helper()
	stdout, stderr, ex, err := Finish(ctx, Start(t, ctx, b, script, mod))
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return stdout, stderr, ex
}

// collect drains r in the background; the returned func waits for EOF.
func collect(r io.Reader) func() string {
	var buf strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&buf, r)
	}()
	return func() string { <-done; return buf.String() }
}

func wait(t *testing.T, ctx context.Context, inst sandbox.Instance) sandbox.Exit {
	t.Helper()
	ex, err := inst.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return ex
}

// echoLines says ready, then echoes each stdin line prefixed "echo:".
const echoLines = `
say("ready")
for line in inp:
    say("echo:" + line.decode().rstrip("\n"))
`

func testEcho(t *testing.T, ctx context.Context, b sandbox.Backend) {
	inst := Start(t, ctx, b, echoLines, nil)
	stderr := collect(inst.Stderr())
	r := bufio.NewReader(inst.Stdout())
	if got := readLine(t, r); got != "ready" {
		t.Fatalf("first line = %q, want ready (stderr: %s)", got, stderr())
	}
	for _, msg := range []string{"a", `{"json": [1, 2]}`, strings.Repeat("x", 100_000), "ünïcødé"} {
		if _, err := io.WriteString(inst.Stdin(), msg+"\n"); err != nil {
			t.Fatalf("write: %v", err)
		}
		if got := readLine(t, r); got != "echo:"+msg {
			t.Fatalf("echo of %.20q = %.40q", msg, got)
		}
	}
	_ = inst.Stdin().Close()
	if ex := wait(t, ctx, inst); ex.Code != 0 || ex.Err != nil {
		t.Fatalf("exit = %v, want exit 0 (stderr: %s)", ex, stderr())
	}
}

// testLines: a backend that offers sandbox.LineInstance carries the echo
// as whole lines, ends the line stream cleanly at the guest's exit, and
// leaves Stdout at EOF. (Not a promise of every backend: others pass.)
func testLines(t *testing.T, ctx context.Context, b sandbox.Backend) {
	inst := Start(t, ctx, b, echoLines, nil)
	li, ok := inst.(sandbox.LineInstance)
	if !ok {
		return
	}
	stderr := collect(inst.Stderr())
	lines, ended := make(chan string, 16), make(chan error, 1)
	if err := li.ServeLines(sandbox.LineConfig{
		MaxLineBytes: 1 << 20,
		ReplyBytes:   1 << 20,
		Line:         func(_ context.Context, line []byte) error { lines <- string(line); return nil },
		End:          func(err error) { ended <- err },
	}); err != nil {
		t.Fatal(err)
	}
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(lineTimeout):
			t.Fatalf("no line from the instance within %v (stderr: %s)", lineTimeout, stderr())
			return ""
		}
	}
	if got := next(); got != "ready" {
		t.Fatalf("first line = %q, want ready", got)
	}
	for _, msg := range []string{"a", strings.Repeat("x", 100_000), "ünïcødé"} {
		if err := li.SendLine(ctx, []byte(msg), false); err != nil {
			t.Fatalf("send: %v", err)
		}
		if got := next(); got != "echo:"+msg {
			t.Fatalf("echo of %.20q = %.40q", msg, got)
		}
	}
	_ = inst.Stdin().Close()
	if ex := wait(t, ctx, inst); ex.Code != 0 || ex.Err != nil {
		t.Fatalf("exit = %v, want exit 0 (stderr: %s)", ex, stderr())
	}
	if err := <-ended; err != nil {
		t.Fatalf("End(%v), want a clean end", err)
	}
	if n, err := inst.Stdout().Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Stdout after ServeLines read %d, %v; want EOF", n, err)
	}
}

// readLine reads one stdout line, failing the test (instead of hanging it
// until the package timeout) if none comes within lineTimeout.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() { // ends when the instance writes or is killed by Start's cleanup
		line, err := r.ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("read stdout: %v (got %q)", res.err, res.line)
		}
		return strings.TrimSuffix(res.line, "\n")
	case <-time.After(lineTimeout):
		t.Fatalf("no stdout line from the instance within %v", lineTimeout)
		return ""
	}
}

// lineTimeout bounds readLine; far above any healthy start on a loaded
// machine.
const lineTimeout = 2 * time.Minute

func testExitCode(t *testing.T, ctx context.Context, b sandbox.Backend) {
	inst := Start(t, ctx, b, `sys.exit(3)`, nil)
	go io.Copy(io.Discard, inst.Stdout())
	go io.Copy(io.Discard, inst.Stderr())
	ex := wait(t, ctx, inst)
	if ex.Code != 3 || ex.Err != nil {
		t.Fatalf("exit = %v, want exit 3 with no error", ex)
	}
	// Wait may be called again and reports the same.
	if again := wait(t, ctx, inst); again.Code != 3 {
		t.Fatalf("second wait = %v", again)
	}
}

func testCrash(t *testing.T, ctx context.Context, b sandbox.Backend) {
	_, errText, ex := Output(t, ctx, b, `
sys.stderr.write("plugin-log-line\n"); sys.stderr.flush()
print("print goes to stderr")
raise RuntimeError("boom-in-plugin")
`, nil)
	if ex.Code == 0 {
		t.Fatalf("exit = %v, want non-zero", ex)
	}
	for _, want := range []string{"plugin-log-line", "print goes to stderr", "boom-in-plugin", "Traceback"} {
		if !strings.Contains(errText, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errText)
		}
	}
}

func testStdinEOF(t *testing.T, ctx context.Context, b sandbox.Backend) {
	inst := Start(t, ctx, b, `
data = inp.read()
say("got %d" % len(data))
`, nil)
	stderr := collect(inst.Stderr())
	stdout := collect(inst.Stdout())
	io.WriteString(inst.Stdin(), "12345")
	inst.Stdin().Close()
	ex := wait(t, ctx, inst)
	if got := stdout(); got != "got 5\n" || ex.Code != 0 {
		t.Fatalf("stdout %q, %v (stderr: %s)", got, ex, stderr())
	}
}

func testKill(t *testing.T, ctx context.Context, b sandbox.Backend) {
	inst := Start(t, ctx, b, `
say("ready")
while True:
    pass
`, nil)
	go io.Copy(io.Discard, inst.Stderr())
	r := bufio.NewReader(inst.Stdout())
	if got := readLine(t, r); got != "ready" {
		t.Fatalf("got %q", got)
	}
	if err := inst.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	ex := wait(t, ctx, inst)
	if !errors.Is(ex.Err, sandbox.ErrKilled) {
		t.Fatalf("exit = %v, want ErrKilled", ex)
	}
	if err := inst.Kill(); err != nil {
		t.Fatalf("second kill: %v", err)
	}
}

func testWallTime(t *testing.T, ctx context.Context, b sandbox.Backend) {
	inst := Start(t, ctx, b, `
import time
say("ready")
while True:
    time.sleep(0.01)
`, func(s *sandbox.Spec) { s.Limits.WallTime = 2 * time.Second })
	go io.Copy(io.Discard, inst.Stderr())
	go io.Copy(io.Discard, inst.Stdout())
	ex := wait(t, ctx, inst)
	if !errors.Is(ex.Err, sandbox.ErrTimeLimit) {
		t.Fatalf("exit = %v, want ErrTimeLimit", ex)
	}
}

func testEnv(t *testing.T, ctx context.Context, b sandbox.Backend) {
	t.Setenv("MAID_HOST_SECRET", "host-secret-value")
	got, stderr, ex := Output(t, ctx, b, `
say(os.environ.get("MAID_PLUGIN_VAR", "missing"))
say(os.environ.get("MAID_HOST_SECRET", "absent"))
`, func(s *sandbox.Spec) { s.Env = map[string]string{"MAID_PLUGIN_VAR": "given"} })
	if got != "given\nabsent\n" {
		t.Fatalf("stdout = %q, want the spec's env and none of the host's (%v, stderr: %s)", got, ex, stderr)
	}
}

func testConcurrent(t *testing.T, ctx context.Context, b sandbox.Backend) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := Start(t, ctx, b, `
for line in inp:
    say(line.decode().strip().upper())
`, nil)
			go io.Copy(io.Discard, inst.Stderr())
			r := bufio.NewReader(inst.Stdout())
			msg := strings.Repeat(string(rune('a'+i)), 10)
			io.WriteString(inst.Stdin(), msg+"\n")
			line, err := r.ReadString('\n')
			if err != nil || line != strings.ToUpper(msg)+"\n" {
				errs <- errors.New("instance " + msg + " answered " + line)
			}
			inst.Stdin().Close()
			if _, err := inst.Wait(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testBadSpec(t *testing.T, ctx context.Context, b sandbox.Backend) {
	tests := []struct {
		name string
		spec sandbox.Spec
	}{
		{name: "no dir", spec: sandbox.Spec{Entry: "__main__.py"}},
		{name: "no entry", spec: sandbox.Spec{Dir: t.TempDir()}},
		{name: "negative memory", spec: sandbox.Spec{Dir: t.TempDir(), Entry: "x.py", Limits: sandbox.Limits{MemoryBytes: -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := b.Start(ctx, tc.spec)
			if err == nil {
				inst.Kill()
				t.Fatal("start succeeded")
			}
			if !errors.Is(err, sandbox.ErrBadSpec) {
				t.Fatalf("err = %v, want ErrBadSpec", err)
			}
		})
	}
}

func testMemoryLimit(t *testing.T, ctx context.Context, b sandbox.Backend) {
	out, stderr, ex := Output(t, ctx, b, `
blocks = []
for i in range(64):
    blocks.append(bytearray(16 << 20))  # 1 GiB in all, touched
    blocks[-1][::4096] = b"x" * len(blocks[-1][::4096])
say("allocated")
`, func(s *sandbox.Spec) { s.Limits.MemoryBytes = 128 << 20 })
	if strings.Contains(out, "allocated") {
		t.Fatalf("allocated 1 GiB under a 128 MiB limit (%v)", ex)
	}
	if ex.Code == 0 && ex.Err == nil {
		t.Fatalf("exit = %v, want a failure (stderr: %s)", ex, stderr)
	}
}

func testHostFiles(t *testing.T, ctx context.Context, b sandbox.Backend) {
	secret := filepath.Join(t.TempDir(), "host-secret.txt")
	if err := os.WriteFile(secret, []byte("top secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, stderr, _ := Output(t, ctx, b, `
for p in [os.environ["SECRET_PATH"], "/etc/shadow", "/root", "/proc/1/environ"]:
    try:
        with open(p, "rb") as f:
            data = f.read()
        say("visible " + p + " " + repr(data[:20]))
    except Exception as e:
        say("hidden " + p)
`, func(s *sandbox.Spec) { s.Env = map[string]string{"SECRET_PATH": secret} })
	if strings.Contains(got, "top secret") || !strings.Contains(got, "hidden "+secret) {
		t.Fatalf("host file reachable from the sandbox:\n%s\nstderr: %s", got, stderr)
	}
	if strings.Contains(got, "visible /etc/shadow") {
		t.Fatalf("/etc/shadow readable:\n%s", got)
	}
}

func testReadOnly(t *testing.T, ctx context.Context, b sandbox.Backend) {
	got, stderr, _ := Output(t, ctx, b, `
for p in ["__main__.py", "new_file.txt"]:
    try:
        with open(p, "a") as f:
            f.write("tampered")
        say("wrote " + p)
    except Exception as e:
        say("denied " + p)
`, nil)
	if got != "denied __main__.py\ndenied new_file.txt\n" {
		t.Fatalf("plugin dir writable:\n%s\nstderr: %s", got, stderr)
	}
}

func testScratch(t *testing.T, ctx context.Context, b sandbox.Backend) {
	got, stderr, _ := Output(t, ctx, b, `
import tempfile
with tempfile.NamedTemporaryFile("w+") as f:
    f.write("scratch works"); f.flush(); f.seek(0)
    say(f.read())
`, nil)
	if got != "scratch works\n" {
		t.Fatalf("scratch: %q\nstderr: %s", got, stderr)
	}
}
