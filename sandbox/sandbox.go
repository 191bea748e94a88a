// Package sandbox is the contract between maid's engine and the places plugin
// code runs. A Backend starts an Instance from a Spec and hands back the
// instance's standard streams; it moves bytes and knows nothing of JSON-RPC.
//
// Backends live in sub-packages (process, wasm, docker) and import this
// package; this package imports only the standard library.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors every backend reports through (wrapped with %w).
var (
	// ErrUnavailable: the backend cannot start anything (engine unreachable,
	// interpreter or image missing). The message names the fix.
	ErrUnavailable = errors.New("sandbox backend unavailable")
	// ErrMemoryLimit: the instance was stopped for exceeding its memory limit.
	ErrMemoryLimit = errors.New("memory limit exceeded")
	// ErrTimeLimit: the instance ran past its wall-time limit.
	ErrTimeLimit = errors.New("time limit exceeded")
	// ErrKilled: the instance was stopped by Kill.
	ErrKilled = errors.New("instance killed")
	// ErrBadSpec: the Spec is invalid (missing entry, bad limits, ...).
	ErrBadSpec = errors.New("invalid sandbox spec")
)

// Limits bound what one instance may use. A zero field means the
// default: DefaultLimits' value, which a backend applies where it enforces
// that field (WithDefaults), except where the field says otherwise.
type Limits struct {
	MemoryBytes int64   // address space / cgroup memory, hard cap
	CPUs        float64 // CPU quota in cores (docker); ignored where unsupported
	// WallTime bounds the whole instance's lifetime; 0 = unlimited.
	WallTime time.Duration
	// ScratchBytes is private writable scratch space (/tmp). docker always
	// gives one (0: the default size); wasm gives none for 0.
	ScratchBytes int64
	Pids         int // max processes/threads (docker)
}

// DefaultLimits are maid's one set of default instance limits. The
// engine's defaults (engine.DefaultLimits) derive from them and the
// backends fill a Spec's zero fields from them, so a plugin gets the same
// limits whether the engine or a backend picked them. (Before, the engine
// always sent 128 MiB while the backends' own defaults said 256 MiB.)
var DefaultLimits = Limits{
	MemoryBytes:  128 << 20,
	CPUs:         1,
	ScratchBytes: 16 << 20,
	Pids:         64,
}

// WithDefaults returns l with its zero fields taken from DefaultLimits
// (WallTime stays 0: unlimited).
func (l Limits) WithDefaults() Limits { return l.Or(DefaultLimits) }

// Or returns l with its zero fields taken from d.
func (l Limits) Or(d Limits) Limits {
	if l.MemoryBytes == 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.CPUs == 0 {
		l.CPUs = d.CPUs
	}
	if l.WallTime == 0 {
		l.WallTime = d.WallTime
	}
	if l.ScratchBytes == 0 {
		l.ScratchBytes = d.ScratchBytes
	}
	if l.Pids == 0 {
		l.Pids = d.Pids
	}
	return l
}

// Validate reports limits no backend can apply.
func (l Limits) Validate() error {
	if l.MemoryBytes < 0 || l.WallTime < 0 || l.ScratchBytes < 0 || l.Pids < 0 || l.CPUs < 0 {
		return fmt.Errorf("%w: limits must not be negative", ErrBadSpec)
	}
	return nil
}

// Spec describes one plugin instance to start.
type Spec struct {
	// Name labels the instance in logs and container names. Unique per start.
	Name string
	// PluginID is the plugin's manifest id (for labels and logs).
	PluginID string
	// Dir is a host directory holding the unpacked plugin files. Backends
	// expose it read-only to the guest (mount, copy or stream, as they can).
	Dir string
	// Entry is the script to run, relative to Dir (e.g. "__main__.py").
	Entry string
	// Env is passed to the guest on top of the backend's minimal environment;
	// the host's own environment never leaks in.
	Env    map[string]string
	Limits Limits
	// Entropy, if set, is the guest's clock and randomness where the
	// backend is their only source (wasm: every clock read and random byte
	// of the guest goes through it), so a run can be recorded and replayed
	// exactly. Backends whose guests read the kernel directly (process,
	// docker) ignore it. nil: the host's own clock and randomness.
	Entropy Entropy
}

// Entropy supplies a guest's clock and randomness. Calls come from the
// instance's own goroutine, one at a time; implementations must not block.
type Entropy interface {
	// Walltime is the guest's wall clock (time.time, datetime.now).
	Walltime() (sec int64, nsec int32)
	// Nanotime is the guest's monotonic clock (time.monotonic,
	// time.perf_counter), in nanoseconds from an arbitrary origin.
	Nanotime() int64
	// Read fills p with random bytes (os.urandom, random's seeding,
	// secrets, uuid4); it returns len(p), nil.
	Read(p []byte) (int, error)
}

// Validate reports a Spec that no backend can start.
func (s Spec) Validate() error {
	switch {
	case s.Dir == "":
		return fmt.Errorf("%w: dir is empty", ErrBadSpec)
	case s.Entry == "":
		return fmt.Errorf("%w: entry is empty", ErrBadSpec)
	}
	return s.Limits.Validate()
}

// Backend starts instances. Implementations must be safe for concurrent use.
type Backend interface {
	// Name is the backend's registry name: "process", "wasm", "docker".
	Name() string
	// Start launches an instance and returns once its streams are usable.
	// ctx bounds the start only; the instance then lives until it exits, is
	// killed, or passes Limits.WallTime.
	// The instance has already been told which plugin to run (see Boot): the
	// first bytes the caller reads from Stdout are the plugin's own.
	Start(ctx context.Context, spec Spec) (Instance, error)
	// Close stops pools and releases backend resources. Instances already
	// started are not affected; callers stop them first.
	Close() error
}

// Instance is one running plugin.
type Instance interface {
	// Stdin is the guest's standard input. Closing it signals EOF.
	Stdin() io.WriteCloser
	// Stdout is the guest's standard output (the protocol stream).
	Stdout() io.Reader
	// Stderr is the guest's standard error (plugin logs).
	Stderr() io.Reader
	// Wait blocks until the instance has exited and its resources are
	// released, or ctx ends. It may be called more than once.
	Wait(ctx context.Context) (Exit, error)
	// Kill stops the instance now. Safe to call more than once, and after exit.
	Kill() error
	// Stats reports resource use so far (best effort; zero where unknown).
	Stats() Stats
}

// LineInstance is an Instance that can also carry the protocol as whole
// lines, for a backend whose guest runs inside the host (wasm): the host
// queues each message straight into the guest's stdin, and each line the
// guest writes reaches the host on the guest's own goroutine, with no byte
// pipe and no reader goroutine in between. The engine uses it when an
// instance offers it; Stdin, Stdout and Stderr keep working (stderr is
// always a stream). Backends whose guests are processes (process, docker)
// do not offer it.
type LineInstance interface {
	Instance
	// ServeLines switches stdout to lines: every complete line the guest
	// writes from now on goes to cfg.Line, and Stdout reads EOF. Lines the
	// guest wrote before go to cfg.Line on the caller's goroutine, before
	// ServeLines returns. It fails if Stdout was called first, or if
	// ServeLines already was.
	ServeLines(cfg LineConfig) error
	// SendLine queues line and a newline on the guest's stdin, whole or not
	// at all; line is not retained. A request (reply false) waits while the
	// queue is at its bound (the backend's pipe size; a line longer than
	// the bound goes alone into an empty queue), until ctx ends, the
	// instance stops or stdin is closed. A reply (the answer to one of the
	// guest's requests) never waits: a guest may be blocked in cfg.Line
	// until it is queued. Replies may take cfg.ReplyBytes past the bound;
	// a guest that leaves more unread is stopped and SendLine fails.
	SendLine(ctx context.Context, line []byte, reply bool) error
}

// LineConfig is how a LineInstance hands over the guest's stdout.
type LineConfig struct {
	// MaxLineBytes bounds a line the guest writes (without its newline):
	// the instance holds at most this much of an unfinished line, and ends
	// the stream (End) when a line grows past it.
	MaxLineBytes int
	// ReplyBytes is how far replies may fill stdin's queue past its bound
	// (see SendLine). It must be positive.
	ReplyBytes int
	// Line gets each complete line without its newline, in order, one call
	// at a time, on the guest's goroutine (so it blocks the guest: the
	// backpressure a pipe gives). line is valid only during the call. Line
	// must not wait for the guest to read its stdin (no SendLine request),
	// and must return soon once ctx ends: the instance was stopped, and its
	// guest cannot exit while Line runs. If it returns an error, no more
	// lines come and the guest's writes fail.
	Line func(ctx context.Context, line []byte) error
	// End is called once, after the last Line: with nil when the guest
	// exited having finished its last line, else with why the stream
	// broke (a line over MaxLineBytes, an unfinished last line, Line's
	// error).
	End func(err error)
}

// Exit describes how an instance ended.
type Exit struct {
	Code int // exit code; -1 if the guest did not exit by itself
	// Err is nil when the guest exited by itself (whatever Code); otherwise
	// it says why it was stopped, wrapping ErrKilled, ErrTimeLimit,
	// ErrMemoryLimit or a backend failure.
	Err error
}

func (e Exit) String() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return fmt.Sprintf("exit %d: %v", e.Code, e.Err)
}

// Stats is a snapshot of an instance's resource use.
type Stats struct {
	MemoryBytes int64         // resident memory now (or guest linear memory for wasm)
	CPUTime     time.Duration // CPU consumed so far, where known
	StartedAt   time.Time
}
