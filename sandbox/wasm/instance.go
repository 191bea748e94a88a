package wasm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	wsys "github.com/tetratelabs/wazero/sys"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/internal/pipe"
)

// instance is one interpreter: a wazero module instance whose maid_serve runs
// the maid runner on its own goroutine.
type instance struct {
	b                     *Backend
	stdin, stdout, stderr *pipe.Pipe
	out                   *guestStdout // the guest's end of stdout
	replyBytes            atomic.Int64 // LineConfig.ReplyBytes
	mem                   *limitedMemory
	plugin, tmp, pyc      *swapFS
	files                 *fileBudget // open handles across the mounts
	entropy               *entropy    // clocks and randomness (Spec.Entropy once bound)

	warm chan struct{} // closed when the runner first reads stdin
	quit chan struct{} // closed by stop (Kill, wall time)
	done chan struct{} // closed once exited and cleaned up

	cancel   context.CancelCauseFunc
	stopOnce sync.Once
	reason   error // why stop was called; written before quit closes

	mu        sync.Mutex
	exited    bool        // cleanup ran; nothing more may be bound
	pluginFS  *roFS       // the bound plugin dir, closed on exit
	timer     *time.Timer // wall-time limit
	startedAt time.Time

	exit sandbox.Exit // written before done closes
}

var _ sandbox.LineInstance = (*instance)(nil)

// defaultReplyBytes bounds replies queued on stdin before ServeLines gives
// a bound (rpc's default ReplyBytes, roughly).
const defaultReplyBytes = 8 << 20

func newInstance(b *Backend) *instance {
	files := newFileBudget()
	empty := newEmptyFS(files)
	stdout := newPipe()
	in := &instance{
		b:       b,
		stdin:   newPipe(),
		stdout:  stdout,
		out:     &guestStdout{pipe: stdout},
		stderr:  newPipe(),
		mem:     newLimitedMemory(maxMemoryBytes),
		plugin:  newSwapFS(empty),
		tmp:     newSwapFS(empty),
		pyc:     newSwapFS(empty),
		files:   files,
		entropy: newEntropy(),
		warm:    make(chan struct{}),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	in.replyBytes.Store(defaultReplyBytes)
	return in
}

// start runs the module on a goroutine owned by the instance: it ends when
// the guest exits, which stop forces.
func (in *instance) start(cfg wazero.ModuleConfig, snap *snapshot) {
	ctx, cancel := context.WithCancelCause(context.Background())
	in.cancel = cancel
	in.out.ctx = ctx
	ctx = experimental.WithMemoryAllocator(ctx, in.mem.allocator())
	var once sync.Once
	in.stdin.OnFirstRead(func() { once.Do(func() { close(in.warm) }) })
	go in.run(ctx, cfg, snap)
}

func (in *instance) run(ctx context.Context, cfg wazero.ModuleConfig, snap *snapshot) {
	defer close(in.done)
	defer in.b.exited()
	// cfg runs no start function: the instance restores or starts the
	// interpreter itself (boot), unless it was stopped meanwhile.
	mod, err := in.b.rt.InstantiateModule(ctx, in.b.compiled, cfg)
	if err == nil {
		if !in.stopped() {
			err = in.boot(ctx, mod, snap)
		} else {
			err = errors.New("stopped before start")
		}
	}
	if mod != nil {
		// The runner returned without proc_exit, or never ran; free the
		// instance.
		_ = mod.Close(context.Background())
	}
	in.exit = in.classify(err)
	in.cancel(nil)
	// EOF for the caller after the buffered output; writers to stdin fail.
	in.stdout.CloseWrite(nil)
	in.out.exit()
	in.stderr.CloseWrite(nil)
	in.stdin.CloseRead()
	in.mu.Lock()
	in.exited = true
	if in.timer != nil {
		in.timer.Stop()
	}
	pluginFS := in.pluginFS
	in.mu.Unlock()
	if pluginFS != nil {
		_ = pluginFS.close()
	}
	// Drop the scratch memFS now, not when the caller drops the instance:
	// it may hold Limits.ScratchBytes of memory.
	in.tmp.bind(in.b.empty)
	in.plugin.bind(in.b.empty)
	in.pyc.bind(in.b.empty)
}

// boot brings the interpreter to its boot line, from snap or (nil) by
// starting CPython, then runs the runner until the guest exits.
func (in *instance) boot(ctx context.Context, mod api.Module, snap *snapshot) error {
	if snap != nil {
		if err := snap.restore(mod, in.mem.imageMapped(), in.mem.prefault); err != nil {
			return err
		}
	} else {
		if err := in.b.initData(mod); err != nil {
			return err
		}
		if _, err := mod.ExportedFunction("_initialize").Call(ctx); err != nil {
			return err
		}
		if _, err := mod.ExportedFunction("maid_prepare").Call(ctx, 0); err != nil {
			return err
		}
	}
	_, err := mod.ExportedFunction("maid_serve").Call(ctx)
	return err
}

// stopped reports whether stop was called.
func (in *instance) stopped() bool {
	select {
	case <-in.quit:
		return true
	default:
		return false
	}
}

// classify turns InstantiateModule's result into an Exit.
func (in *instance) classify(err error) sandbox.Exit {
	select {
	case <-in.quit:
		return sandbox.Exit{Code: -1, Err: fmt.Errorf("wasm guest stopped: %w", in.reason)}
	default:
	}
	var exitErr *wsys.ExitError
	switch {
	case err == nil:
		return sandbox.Exit{Code: 0}
	case errors.As(err, &exitErr):
		code := int(exitErr.ExitCode())
		if code != 0 && in.mem.refused.Load() {
			return sandbox.Exit{Code: code, Err: fmt.Errorf("wasm guest exited with code %d: %w", code, sandbox.ErrMemoryLimit)}
		}
		// A plain exit status, like a process's: the guest chose it.
		return sandbox.Exit{Code: code}
	case in.mem.refused.Load():
		// CPython aborts (a wasm trap) on some allocation failures.
		return sandbox.Exit{Code: -1, Err: fmt.Errorf("wasm guest trapped: %w (%v)", sandbox.ErrMemoryLimit, err)}
	default:
		return sandbox.Exit{Code: -1, Err: fmt.Errorf("wasm guest trapped: %w", err)}
	}
}

// bind gives a started interpreter its plugin: files, scratch, limits, and
// with withPyc its files' compiled code.
func (in *instance) bind(spec sandbox.Spec, memLimit uint64, withPyc bool) error {
	in.mem.limit.Store(memLimit)
	in.entropy.bind(spec.Entropy)
	pluginFS, err := openRoFS(spec.Dir)
	if err != nil {
		return fmt.Errorf("open plugin dir: %w", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.exited {
		_ = pluginFS.close()
		return fmt.Errorf("interpreter exited before boot: %v", in.exit)
	}
	in.pluginFS = pluginFS
	in.plugin.bind(pluginFS.withBudget(in.files, in.b.hostFiles))
	if withPyc {
		in.pyc.bind(&pycFS{
			FS:     newEmptyFS(in.files),
			b:      in.b,
			plugin: pluginFS,
			sdk:    in.b.sdkFS.withBudget(in.files, in.b.hostFiles),
			files:  in.files,
			held:   newPycHeld(),
			asker:  pycAsker{quit: in.quit, owner: spec.PluginID, quota: newPycQuota()},
		})
	}
	if spec.Limits.ScratchBytes > 0 {
		in.tmp.bind(newMemFS(spec.Limits.ScratchBytes, in.files))
	}
	in.startedAt = time.Now()
	if spec.Limits.WallTime > 0 {
		in.timer = time.AfterFunc(spec.Limits.WallTime, func() { in.stop(sandbox.ErrTimeLimit) })
	}
	return nil
}

// stop ends the guest for reason. Cancelling the context stops it at its
// next yield, even in a busy loop (see yield);
// closing the pipes and quit unblock a guest waiting in a host read, write
// or sleep, which the context cannot reach.
func (in *instance) stop(reason error) {
	in.stopOnce.Do(func() {
		in.reason = reason
		close(in.quit)
		in.cancel(reason)
		in.stdin.CloseRead()
		in.stdout.CloseRead()
		in.out.stopped.Store(true)
		in.stderr.CloseRead()
	})
}

// nanosleep is the guest's sleep (time.sleep, poll_oneoff timeouts); it
// returns early when the instance is stopped.
func (in *instance) nanosleep(ns int64) {
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-in.quit:
	}
}

// Stdin implements sandbox.Instance.
func (in *instance) Stdin() io.WriteCloser { return stdinWriter{in.stdin} }

// Stdout implements sandbox.Instance.
func (in *instance) Stdout() io.Reader { return in.out.reader() }

// ServeLines implements sandbox.LineInstance.
func (in *instance) ServeLines(cfg sandbox.LineConfig) error {
	if err := in.out.serveLines(cfg); err != nil {
		return err
	}
	in.replyBytes.Store(int64(cfg.ReplyBytes))
	return nil
}

// SendLine implements sandbox.LineInstance: the line goes into the stdin
// pipe, bounded like any write to it, which the guest's fd_read and
// poll_oneoff read as before.
func (in *instance) SendLine(ctx context.Context, line []byte, reply bool) error {
	over := int(in.replyBytes.Load())
	err := in.stdin.Put(ctx, line, !reply, over)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pipe.ErrFull):
		// The guest is not reading the answers to its own requests: a
		// host must not hold more of them for it.
		err = fmt.Errorf("guest left more than %d bytes of replies unread on stdin", over)
		in.stop(err)
		return fmt.Errorf("send line: %w", err)
	case errors.Is(err, io.ErrClosedPipe):
		return fmt.Errorf("send line: stdin closed: %w", err)
	default:
		return fmt.Errorf("send line: %w", err)
	}
}

// Stderr implements sandbox.Instance.
func (in *instance) Stderr() io.Reader { return reader{in.stderr} }

// Wait implements sandbox.Instance.
func (in *instance) Wait(ctx context.Context) (sandbox.Exit, error) {
	select {
	case <-in.done:
		return in.exit, nil
	case <-ctx.Done():
		return sandbox.Exit{}, fmt.Errorf("wait for wasm instance: %w", ctx.Err())
	}
}

// Kill implements sandbox.Instance. It returns at once; Wait reports the
// exit once the guest has stopped.
func (in *instance) Kill() error {
	in.stop(sandbox.ErrKilled)
	return nil
}

// Stats implements sandbox.Instance: MemoryBytes is the guest's linear
// memory (what its limit counts), not host RSS.
func (in *instance) Stats() sandbox.Stats {
	in.mu.Lock()
	started := in.startedAt
	in.mu.Unlock()
	return sandbox.Stats{MemoryBytes: int64(in.mem.size.Load()), StartedAt: started}
}

// PrivateMemory reports the bytes of linear memory the host holds for this
// instance alone: the pages it wrote since it started from the snapshot
// image, not the image's pages every instance shares. (Stats().MemoryBytes
// is the linear memory's size, which the memory limit counts.) maid bench
// reads it, through an interface of its own, for the pages-dirtied figures.
func (in *instance) PrivateMemory() (int64, error) { return in.mem.private() }

// withSysFSMount mounts a wazero experimental FS (which, unlike fs.FS, can
// be swapped and can write).
func withSysFSMount(c wazero.FSConfig, f experimentalsys.FS, guestPath string) wazero.FSConfig {
	return c.(sysfs.FSConfig).WithSysFSMount(f, guestPath)
}
