// Package process is the unsandboxed development backend: each plugin is a
// plain host python3 subprocess. It isolates nothing beyond a minimal
// environment, an address-space rlimit and a process group; it exists for
// development and as the benchmark baseline. Never use it for untrusted code.
package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sdk"
)

// Config configures the backend.
type Config struct {
	// Python is the interpreter; default "python3" from PATH. It is
	// resolved once to the executable it runs (ResolvePython).
	Python string
	// TempDir holds each Backend's own dir (see rootPrefix) with the
	// extracted SDK and per-instance scratch dirs; default os.TempDir().
	TempDir string
}

// Backend runs plugins as host subprocesses.
type Backend struct {
	python string
	sdkDir string
	tmp    string
	lock   *os.File // tmp itself, flock-ed for the Backend's life (see newRoot)
}

var _ sandbox.Backend = (*Backend)(nil)

// New extracts the SDK and resolves the interpreter.
func New(cfg Config) (*Backend, error) {
	path, err := ResolvePython(cfg.Python)
	if err != nil {
		return nil, fmt.Errorf("process backend: %w", err)
	}
	parent := cfg.TempDir
	if parent == "" {
		parent = os.TempDir()
	}
	tmp, lock, err := newRoot(parent)
	if err != nil {
		return nil, fmt.Errorf("process backend: %w", err)
	}
	// Only after our own dir is locked: the sweep must see it as live.
	SweepStale(parent)
	sdkDir := filepath.Join(tmp, "sdk")
	if err := sdk.Extract(sdkDir); err != nil {
		os.RemoveAll(tmp)
		lock.Close()
		return nil, fmt.Errorf("process backend: %w", err)
	}
	return &Backend{python: path, sdkDir: sdkDir, tmp: tmp, lock: lock}, nil
}

// ResolvePython finds name (default "python3") in PATH and returns the
// interpreter it runs, as its sys.executable says. Version managers (pyenv,
// asdf) put shell-script shims first in PATH: on the development VM
// pyenv's shim made every plugin start 300 ms slower than the 15 ms the
// interpreter itself takes. If the interpreter cannot say, the PATH entry
// is used as is. Errors wrap sandbox.ErrUnavailable.
func ResolvePython(name string) (string, error) {
	if name == "" {
		name = "python3"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("find %s: %w: %w", name, sandbox.ErrUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-s", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return path, nil
	}
	exe := strings.TrimSpace(string(out))
	if st, err := os.Stat(exe); err != nil || !filepath.IsAbs(exe) || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return path, nil
	}
	return exe, nil
}

// Python is the interpreter the backend runs.
func (b *Backend) Python() string { return b.python }

// Name implements sandbox.Backend.
func (b *Backend) Name() string { return "process" }

// Close removes the Backend's dir (extracted SDK and scratch dirs), then
// releases its lock.
func (b *Backend) Close() error {
	err := os.RemoveAll(b.tmp)
	b.lock.Close()
	return err
}

// Start implements sandbox.Backend.
func (b *Backend) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("process start: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("process start: %w", err)
	}
	scratch, err := os.MkdirTemp(b.tmp, "scratch-")
	if err != nil {
		return nil, fmt.Errorf("process start: %w", err)
	}
	// -s: no user site-packages; -B: no .pyc writes into the plugin dir.
	cmd := exec.Command(b.python, "-s", "-B", "-m", "maid_sdk")
	cmd.Dir = spec.Dir
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
		"HOME=" + scratch,
		"TMPDIR=" + scratch,
		"PYTHONPATH=" + b.sdkDir,
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUNBUFFERED=1",
	}
	for k, v := range spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Own process group, so Kill reaches every child the plugin forked.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	// os.Pipe, not cmd.StdoutPipe: Wait must not close our read ends while
	// the host is still reading buffered output.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("process start: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, fmt.Errorf("process start: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, fmt.Errorf("process start: %w", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	if err := cmd.Start(); err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, fmt.Errorf("process start: %w", err)
	}
	closeAll(inR, outW, errW)

	inst := &instance{
		cmd: cmd, stdin: inW, stdout: outR, stderr: errR,
		scratch: scratch, done: make(chan struct{}), started: time.Now(),
	}
	// The limit is set before the boot line is written, so no plugin code
	// runs without it.
	if spec.Limits.MemoryBytes > 0 {
		lim := &unix.Rlimit{Cur: uint64(spec.Limits.MemoryBytes), Max: uint64(spec.Limits.MemoryBytes)}
		if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_AS, lim, nil); err != nil {
			inst.kill(sandbox.ErrKilled)
			go inst.reap()
			return nil, fmt.Errorf("process start: set memory limit: %w", err)
		}
	}
	if spec.Limits.WallTime > 0 {
		inst.timer = time.AfterFunc(spec.Limits.WallTime, func() { inst.kill(sandbox.ErrTimeLimit) })
	}
	go inst.reap() // owned by the instance: ends when the process exits
	if err := sandbox.WriteBoot(inW, sandbox.Boot{Entry: spec.Entry, Dir: spec.Dir}); err != nil {
		inst.Kill()
		return nil, fmt.Errorf("process start: %w", err)
	}
	return inst, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

type instance struct {
	cmd            *exec.Cmd
	stdin          *os.File
	stdout, stderr *os.File
	scratch        string
	started        time.Time
	timer          *time.Timer

	mu     sync.Mutex
	reason error // why we stopped it, if we did
	exit   sandbox.Exit
	done   chan struct{}
}

func (i *instance) Stdin() io.WriteCloser { return i.stdin }
func (i *instance) Stdout() io.Reader     { return i.stdout }
func (i *instance) Stderr() io.Reader     { return i.stderr }

func (i *instance) reap() {
	err := i.cmd.Wait()
	if i.timer != nil {
		i.timer.Stop()
	}
	i.stdin.Close()
	os.RemoveAll(i.scratch)
	i.mu.Lock()
	defer i.mu.Unlock()
	code := i.cmd.ProcessState.ExitCode()
	switch {
	case i.reason != nil:
		i.exit = sandbox.Exit{Code: code, Err: i.reason}
	case code >= 0:
		i.exit = sandbox.Exit{Code: code}
	default:
		i.exit = sandbox.Exit{Code: code, Err: fmt.Errorf("process ended: %w", err)}
	}
	close(i.done)
}

func (i *instance) Wait(ctx context.Context) (sandbox.Exit, error) {
	select {
	case <-i.done:
		i.mu.Lock()
		defer i.mu.Unlock()
		return i.exit, nil
	case <-ctx.Done():
		return sandbox.Exit{}, fmt.Errorf("process wait: %w", ctx.Err())
	}
}

func (i *instance) kill(reason error) {
	i.mu.Lock()
	select {
	case <-i.done:
		i.mu.Unlock()
		return
	default:
	}
	if i.reason == nil {
		i.reason = reason
	}
	i.mu.Unlock()
	// Negative pid: the whole process group.
	if err := syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = i.cmd.Process.Kill()
	}
}

func (i *instance) Kill() error {
	i.kill(sandbox.ErrKilled)
	return nil
}

func (i *instance) Stats() sandbox.Stats {
	st := sandbox.Stats{StartedAt: i.started}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(i.cmd.Process.Pid) + "/status")
	if err != nil {
		return st
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			st.MemoryBytes = kb << 10
		}
	}
	return st
}
