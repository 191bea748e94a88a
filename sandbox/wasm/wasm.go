// Package wasm is maid's WebAssembly sandbox backend: plugins run in CPython
// compiled to wasm32-wasi (scripts/build-python-wasm.sh, `make python-wasm`)
// inside wazero, in-process, with no container engine.
//
// Each plugin instance is its own module instance with its own linear memory,
// file mounts and stdio pipes. The guest sees only:
//
//	/usr/local   the interpreter's stdlib (read-only)
//	/maid/sdk    the maid_sdk package this host embeds, with bytecode (read-only)
//	/plugin      the plugin's files (read-only)
//	/tmp         a private scratch dir in memory, only if Limits.ScratchBytes > 0
//	/maid/pyc    compiled code for the plugin's and the SDK's files (read-only; pyc.go)
//
// No guest path is resolved by the host: the read-only mounts are walked
// beneath their dir by an os.Root (roFS), and /tmp exists only in Go memory
// (memFS), where symbolic and hard links cannot be made.
//
// and an environment of PYTHONHOME, PYTHONPATH, PYTHONDONTWRITEBYTECODE plus
// Spec.Env.
//
// The interpreter is maid-python.wasm, a WASI reactor build of CPython
// (scripts/wasm/maid_entry.c). New starts it once up to the point where the
// runner waits for its boot line and snapshots its memory and globals;
// every instance then starts from that snapshot instead of from CPython's
// start-up. A warm pool keeps instances restored and waiting as well.
package wasm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	wsys "github.com/tetratelabs/wazero/sys"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/internal/pool"
	"github.com/maidhq/maid/sandbox/wasm/internal/wasmbin"
)

// Guest paths.
const (
	guestPrefix = "/usr/local" // PYTHONHOME
	guestSDK    = "/maid/sdk"  // PYTHONPATH
	guestPlugin = "/plugin"    // Boot.Dir
	guestTmp    = "/tmp"
)

const (
	wasmPageSize = 64 << 10
	// maxMemoryBytes is wasm32's address space: 65536 pages.
	maxMemoryBytes = 4 << 30
	// interpreterFile is the reactor build the backend runs, in PythonDir.
	interpreterFile = "maid-python.wasm"
	// globalPrefix names the interpreter's mutable globals once exported for
	// snapshots (wasmbin.ExportGlobals).
	globalPrefix = "maid_global_"
	// yieldImport is the interpreter's import that AddYield calls; see
	// scripts/wasm/maid_entry.c.
	yieldImport = "maid.yield"
	// yieldBudget is how many loop iterations a guest runs between calls
	// to yield: a few tens of microseconds of CPython, so a stop or Go's
	// preemption waits no longer than that, and the call's cost (a round
	// trip to Go) is lost in the noise.
	yieldBudget = 1 << 14
	// DefaultPythonDir is where `make python-wasm` puts the interpreter,
	// relative to the repository root.
	DefaultPythonDir = "build/python-wasi"
	// refillDelay is how long the pool waits after a take before warming a
	// replacement (see pool.Config.Delay).
	refillDelay = 50 * time.Millisecond
)

// Config configures a Backend.
type Config struct {
	// PythonDir is the output of `make python-wasm` (maid-python.wasm and
	// usr/local/lib/...). Default: build/python-wasi. (Flags and the
	// environment are cmd/maid's: its --python-wasm defaults to
	// $MAID_PYTHON_WASM_DIR.)
	PythonDir string
	// CacheDir holds wazero's compilation cache, which cuts compiling
	// python.wasm from seconds to ~0.1 s after the first run, and the
	// SDK's bytecode. Default: os.UserCacheDir()/maid/wasm.
	CacheDir string
	// PoolSize is how many warm interpreters to keep ready; 0 disables the
	// pool.
	PoolSize int
	// FreshStarts starts every interpreter from scratch instead of from the
	// snapshot New takes: each start then pays CPython's start-up (tens of
	// milliseconds) but gets its own string-hash secret, which instances
	// restored from one snapshot share.
	FreshStarts bool
	// DefaultMemoryBytes caps an instance whose Limits.MemoryBytes is 0.
	// Default: sandbox.DefaultLimits.MemoryBytes.
	DefaultMemoryBytes int64
	// Logger receives pool refill failures. Default: slog.Default().
	Logger *slog.Logger
}

// Backend runs plugins in CPython on wazero. It is safe for concurrent use.
type Backend struct {
	cfg       Config
	rt        wazero.Runtime
	cache     wazero.CompilationCache
	compiled  wazero.CompiledModule
	minMemory uint64             // the module's minimum memory, bytes
	globals   []string           // the module's exported mutable globals
	segments  []wasmbin.Segment  // data segments, stripped from the module
	snap      *snapshot          // nil with Config.FreshStarts
	stdlib    string             // host dir mounted at guestPrefix
	stdlibFS  *roFS              // stdlib, opened
	sdkFS     *roFS              // sdkDir, opened
	hostFiles *fileBudget        // host descriptors all guests hold (newHostFiles)
	empty     experimentalsys.FS // read-only empty dir: the snapshot's unbound mounts
	sdkDir    string             // host dir mounted at guestSDK
	sdkUsed   sdkTouch           // keeps sdkDir from being pruned
	pycc      pycCompiler        // the SDK's compiler script (pyc.go)
	pycs      *pycCache          // compiled plugin files

	pool *pool.Pool[*instance] // warm interpreters, waiting for a boot line
	stop chan struct{}         // closed by Close: Start refuses

	closeOnce sync.Once
	closeErr  error

	// The runtime outlives Close while started instances still run (closing
	// it would kill them and race with their exits): the last one to exit
	// after Close releases it.
	mu       sync.Mutex
	live     int  // instances whose guest has not exited
	closed   bool // Close was called
	released bool // runtime and cache closed
}

var _ sandbox.Backend = (*Backend)(nil)

// New compiles the interpreter (through the on-disk compilation cache),
// takes the start-up snapshot and, if cfg.PoolSize > 0, starts filling the
// warm pool in the background. A missing interpreter is an error wrapping
// sandbox.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.PythonDir == "" {
		cfg.PythonDir = DefaultPythonDir
	}
	if cfg.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("wasm backend: find cache dir (set Config.CacheDir): %w", err)
		}
		cfg.CacheDir = filepath.Join(dir, "maid", "wasm")
	}
	switch {
	case cfg.PoolSize < 0:
		return nil, fmt.Errorf("wasm backend: pool size must not be negative, got %d", cfg.PoolSize)
	case cfg.DefaultMemoryBytes < 0 || cfg.DefaultMemoryBytes > maxMemoryBytes:
		return nil, fmt.Errorf("wasm backend: default memory bytes must be between 0 and 4 GiB, got %d", cfg.DefaultMemoryBytes)
	case cfg.DefaultMemoryBytes == 0:
		cfg.DefaultMemoryBytes = sandbox.DefaultLimits.MemoryBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	wasmPath := filepath.Join(cfg.PythonDir, interpreterFile)
	stdlib := filepath.Join(cfg.PythonDir, "usr", "local")
	bin, err := os.ReadFile(wasmPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("wasm backend: %s not found (build it with `make python-wasm`): %w", wasmPath, sandbox.ErrUnavailable)
	} else if err != nil {
		return nil, fmt.Errorf("wasm backend: read interpreter: %w", err)
	}
	if _, err := os.Stat(filepath.Join(stdlib, "lib", "python3.11", "os.pyc")); err != nil {
		return nil, fmt.Errorf("wasm backend: stdlib missing under %s (rebuild with `make python-wasm`): %w", stdlib, sandbox.ErrUnavailable)
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("wasm backend: create cache dir: %w", err)
	}
	// Every loop calls maid.yield now and then, where the host can stop
	// the guest and Go can preempt it.
	bin, err = wasmbin.AddYield(bin, yieldImport, yieldBudget)
	if err != nil {
		return nil, fmt.Errorf("wasm backend: %s (rebuild it with `make python-wasm`): %w", wasmPath, err)
	}
	// The snapshot restores the interpreter's globals: export them.
	bin, globals, err := wasmbin.ExportGlobals(bin, globalPrefix)
	if err != nil {
		return nil, fmt.Errorf("wasm backend: read %s: %w", wasmPath, err)
	}
	// Instances start from the snapshot, which holds memory as start-up
	// left it: initializing memory from the data segments first (3.4 MB for
	// CPython, most of the cost of instantiating) would be undone at once.
	// So the module carries none; instances that really start (the snapshot
	// itself, fresh starts) are given them by initData.
	bin, segments, err := wasmbin.SplitData(bin)
	if err != nil {
		return nil, fmt.Errorf("wasm backend: read %s: %w", wasmPath, err)
	}
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(cfg.CacheDir, "wazero"))
	if err != nil {
		return nil, fmt.Errorf("wasm backend: open compilation cache: %w", err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithMemoryLimitPages(maxMemoryBytes/wasmPageSize))
	b := &Backend{
		cfg:    cfg,
		rt:     rt,
		cache:  cache,
		stdlib: stdlib,
		empty:  newEmptyFS(nil),
		stop:   make(chan struct{}),

		hostFiles: newHostFiles(),
	}
	fail := func(err error) (*Backend, error) {
		_ = rt.Close(context.Background())
		_ = cache.Close(context.Background())
		b.closeRoots()
		return nil, err
	}
	if b.stdlibFS, err = openRoFS(stdlib); err != nil {
		return fail(fmt.Errorf("wasm backend: open stdlib: %w", err))
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("wasm backend: instantiate wasi: %w", err))
	}
	if _, err := rt.NewHostModuleBuilder("maid").NewFunctionBuilder().
		WithGoFunction(api.GoFunc(yield), nil, []api.ValueType{api.ValueTypeI32}).
		Export("yield").Instantiate(ctx); err != nil {
		return fail(fmt.Errorf("wasm backend: instantiate host module: %w", err))
	}
	compiled, err := rt.CompileModule(ctx, bin)
	if err != nil {
		return fail(fmt.Errorf("wasm backend: compile %s: %w", wasmPath, err))
	}
	for fn, params := range map[string]int{"_initialize": 0, "maid_main": 0, "maid_prepare": 1, "maid_serve": 0} {
		def, ok := compiled.ExportedFunctions()[fn]
		if !ok || len(def.ParamTypes()) != params {
			return fail(fmt.Errorf("wasm backend: %s lacks the export %s with %d parameters (rebuild it with `make python-wasm`): %w", wasmPath, fn, params, sandbox.ErrUnavailable))
		}
	}
	var minMemory uint64
	for _, m := range compiled.ExportedMemories() {
		minMemory = uint64(m.Min()) * wasmPageSize
	}
	b.compiled = compiled
	b.minMemory = minMemory
	b.globals = globals
	b.segments = segments
	if b.sdkDir, err = b.prepareSDK(ctx, bin); err != nil {
		return fail(fmt.Errorf("wasm backend: %w", err))
	}
	if b.sdkFS, err = openRoFS(b.sdkDir); err != nil {
		return fail(fmt.Errorf("wasm backend: open sdk: %w", err))
	}
	if b.pycc, err = findPycCompiler(b.sdkDir); err != nil {
		return fail(fmt.Errorf("wasm backend: %w", err))
	}
	b.pycs = newPycCache(pycCacheBytes, pycCacheEntries, pycCompilers, b.compilePyc)
	b.sdkUsed.dir = b.sdkDir
	b.sdkUsed.mark(time.Now())
	pruneCache(cfg.CacheDir, b.sdkDir, time.Now())
	removeStaleScratch(cfg.CacheDir, time.Now())
	if !cfg.FreshStarts {
		if b.snap, err = b.takeSnapshot(ctx); err != nil {
			return fail(fmt.Errorf("wasm backend: %w", err))
		}
		b.minMemory = max(b.minMemory, uint64(b.snap.pages)*wasmPageSize)
	}
	b.pool = pool.New(pool.Config[*instance]{
		Size: cfg.PoolSize,
		Warm: b.warm,
		Discard: func(in *instance) {
			in.stop(sandbox.ErrKilled)
			<-in.done
		},
		Delay:   refillDelay,
		OnError: func(err error) { b.cfg.Logger.Warn("wasm pool refill failed", "err", err) },
	})
	return b, nil
}

// Name implements sandbox.Backend.
func (b *Backend) Name() string { return "wasm" }

// Start implements sandbox.Backend.
func (b *Backend) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	return b.start(ctx, spec, true)
}

// start is Start; withPyc gives the instance compiled code for its plugin's
// files, which the pyc compiler's own instances must not have (pyc.go).
func (b *Backend) start(ctx context.Context, spec sandbox.Spec, withPyc bool) (sandbox.Instance, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("wasm start %q: %w", spec.Name, err)
	}
	if st, err := os.Stat(spec.Dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("wasm start %q: %w: dir %q is not a readable directory", spec.Name, sandbox.ErrBadSpec, spec.Dir)
	}
	limit := spec.Limits.MemoryBytes
	if limit == 0 {
		limit = b.cfg.DefaultMemoryBytes
	}
	switch {
	case limit > maxMemoryBytes:
		return nil, fmt.Errorf("wasm start %q: %w: memory limit %d is above wasm32's 4 GiB", spec.Name, sandbox.ErrBadSpec, limit)
	case uint64(limit) < b.minMemory:
		return nil, fmt.Errorf("wasm start %q: %w: memory limit %d is below the interpreter's minimum of %d bytes", spec.Name, sandbox.ErrBadSpec, limit, b.minMemory)
	}
	select {
	case <-b.stop:
		return nil, fmt.Errorf("wasm start %q: backend closed: %w", spec.Name, sandbox.ErrUnavailable)
	default:
	}

	b.sdkUsed.mark(time.Now())
	// Pooled interpreters were started with the base environment, so a spec
	// with its own Env needs a fresh one.
	in := b.take(len(spec.Env) == 0)
	if in == nil {
		var err error
		if in, err = b.spawn(spec.Env); err != nil {
			return nil, fmt.Errorf("wasm start %q: %w", spec.Name, err)
		}
	}
	if err := in.bind(spec, uint64(limit), withPyc); err != nil {
		in.stop(sandbox.ErrKilled)
		return nil, fmt.Errorf("wasm start %q: %w", spec.Name, err)
	}
	// The backend sends the boot line itself so the caller's first stdout
	// bytes are the plugin's. The stdin pipe is buffered, so this does not
	// wait for the guest; a guest that dies first shows up in Wait.
	if err := sandbox.WriteBoot(stdinWriter{in.stdin}, sandbox.Boot{Entry: spec.Entry, Dir: guestPlugin}); err != nil {
		in.stop(sandbox.ErrKilled)
		return nil, fmt.Errorf("wasm start %q: %w", spec.Name, err)
	}
	if err := ctx.Err(); err != nil {
		in.stop(sandbox.ErrKilled)
		return nil, fmt.Errorf("wasm start %q: %w", spec.Name, err)
	}
	return in, nil
}

// take returns a live warm instance, or nil.
func (b *Backend) take(allowed bool) *instance {
	if !allowed {
		return nil
	}
	for {
		in, ok := b.pool.Take()
		if !ok {
			return nil
		}
		select {
		case <-in.done: // died while waiting; try the next
		default:
			return in
		}
	}
}

// warm starts an interpreter for the pool and waits until its runner blocks
// on the boot line. Close (ctx) kills one still warming.
func (b *Backend) warm(ctx context.Context) (*instance, error) {
	in, err := b.spawn(nil)
	if err != nil {
		return nil, err
	}
	select {
	case <-in.warm:
		return in, nil
	case <-in.done:
		return nil, fmt.Errorf("warm interpreter exited before its boot line: %v", in.exit)
	case <-ctx.Done():
		in.stop(sandbox.ErrKilled)
		<-in.done
		return nil, ctx.Err()
	}
}

// Close implements sandbox.Backend: it stops the pool and releases the
// runtime. Instances already started keep running; the runtime is released
// when the last of them exits.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		b.pool.Close()
		b.mu.Lock()
		b.closed = true
		b.closeErr = b.releaseLocked()
		b.mu.Unlock()
	})
	return b.closeErr
}

// acquire counts a new instance; it fails once Close was called.
func (b *Backend) acquire() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("backend closed: %w", sandbox.ErrUnavailable)
	}
	b.live++
	return nil
}

// exited uncounts an instance whose guest has stopped.
func (b *Backend) exited() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.live--
	_ = b.releaseLocked()
}

// releaseLocked closes the runtime once closed and idle; callers hold mu.
func (b *Backend) releaseLocked() error {
	if !b.closed || b.live > 0 || b.released {
		return nil
	}
	b.released = true
	ctx := context.Background()
	err := errors.Join(b.rt.Close(ctx), b.cache.Close(ctx))
	b.closeRoots()
	return err
}

// closeRoots releases the read-only mounts' dirs and the snapshot image.
// Only mappings of the image outlive it, and Free unmaps those.
func (b *Backend) closeRoots() {
	if b.snap != nil && b.snap.image != nil {
		_ = b.snap.image.close() // runs once: release or a failed New
	}
	for _, r := range []*roFS{b.stdlibFS, b.sdkFS} {
		if r != nil {
			_ = r.close()
		}
	}
}

// spawn starts an interpreter running the runner, with memory at the
// backend-wide ceiling and no plugin bound yet: from the snapshot, or from
// scratch when there is none or env differs from the snapshot's.
func (b *Backend) spawn(env map[string]string) (*instance, error) {
	in := newInstance(b)
	cfg := b.moduleConfig(guestStdin{in.stdin}, in.out, in.stderr, in.files, in.plugin, in.tmp, in.pyc, in.nanosleep, in.entropy, env)
	snap := b.snap
	if len(env) > 0 {
		snap = nil
	}
	if snap != nil {
		in.mem.image = snap.image
	}
	if err := b.acquire(); err != nil {
		return nil, err
	}
	in.start(cfg, snap)
	return in, nil
}

// initData writes the module's data segments into a new instance's
// memory: what instantiating does for a module that has them.
func (b *Backend) initData(mod api.Module) error {
	mem := mod.Memory()
	for _, seg := range b.segments {
		if !mem.Write(seg.Offset, seg.Data) {
			return fmt.Errorf("initialize memory: data segment at %d (%d bytes) out of range", seg.Offset, len(seg.Data))
		}
	}
	return nil
}

// moduleConfig is what every interpreter instance is given. The mounts'
// order fixes their WASI descriptor numbers, which a snapshot's libc has
// recorded, so snapshot and restored instances must get the same order.
//
// Every mount is one of this package's file systems (roFS, memFS), never a
// wazero host-directory mount: no guest path is resolved by the host's
// open(2). files counts the instance's open handles across all of them.
func (b *Backend) moduleConfig(stdin io.Reader, stdout, stderr io.Writer, files *fileBudget, plugin, tmp, pyc experimentalsys.FS, sleep wsys.Nanosleep, clk *entropy, env map[string]string) wazero.ModuleConfig {
	fsCfg := withSysFSMount(wazero.NewFSConfig(), b.stdlibFS.withBudget(files, b.hostFiles), guestPrefix)
	fsCfg = withSysFSMount(fsCfg, b.sdkFS.withBudget(files, b.hostFiles), guestSDK)
	fsCfg = withSysFSMount(fsCfg, plugin, guestPlugin)
	fsCfg = withSysFSMount(fsCfg, tmp, guestTmp)
	fsCfg = withSysFSMount(fsCfg, pyc, guestPyc)
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module at once
		WithArgs("python").
		WithEnv("PYTHONHOME", guestPrefix).
		WithEnv("PYTHONPATH", guestSDK).
		WithEnv("PYTHONDONTWRITEBYTECODE", "1").
		WithFSConfig(fsCfg).
		WithStdin(stdin).
		WithStdout(stdout).
		WithStderr(stderr).
		// The clocks and randomness go through the instance, which hands
		// them to the Spec's Entropy once one is bound (sandbox.Entropy).
		WithWalltime(clk.walltime, wsys.ClockResolution(time.Microsecond)).
		WithNanotime(clk.nanotime, wsys.ClockResolution(1)).
		// Not WithSysNanosleep: a plain time.Sleep could not be cut short,
		// so time.sleep(1e9) would outlive Kill and the wall-time limit.
		WithNanosleep(sleep).
		WithRandSource(clk).
		// The instance calls the reactor's exports itself (instance.boot).
		WithStartFunctions()
	for k, v := range env {
		cfg = cfg.WithEnv(k, v)
	}
	return cfg
}

// yield is the guest's maid.yield: AddYield's loops call it every
// yieldBudget iterations. A stopped instance's context is cancelled
// (instance.stop); panicking ends the guest's call with that cause. Just
// returning to Go lets the scheduler preempt a busy guest.
func yield(ctx context.Context, stack []uint64) {
	if ctx.Err() != nil {
		panic(context.Cause(ctx))
	}
	stack[0] = yieldBudget
}
