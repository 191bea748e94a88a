package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"time"

	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/rpc"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sdk"
)

// ReplayReport is what ReplayExact found.
type ReplayReport struct {
	// Same: the plugin made the recorded host calls, read the recorded
	// clock and randomness, and ended with the recorded outcome (the same
	// result, or the same traceback).
	Same     bool            `json:"same"`
	Outcome  RecordedOutcome `json:"outcome"`
	Recorded RecordedOutcome `json:"recorded_outcome"`
	// Divergence is the first point where the plugin did something the
	// recording does not hold (nil when Same).
	Divergence *Divergence `json:"divergence,omitempty"`
	// HostCalls and EntropyReads count what was answered from the recording.
	HostCalls    int    `json:"host_calls"`
	EntropyReads int    `json:"entropy_reads"`
	Backend      string `json:"backend"`
	// Exactness says what this backend replays (see docs/plugin-authoring.md).
	Exactness string `json:"exactness"`
	// Stderr is the plugin's output during the replay (its traceback),
	// bounded.
	Stderr string `json:"stderr,omitempty"`
}

// Divergence is where a replay first left the recording.
type Divergence struct {
	At   string `json:"at"`   // "host call 3", "entropy read 5", "outcome"
	Want string `json:"want"` // what the recording holds there
	Got  string `json:"got"`  // what the plugin did
}

func (d *Divergence) String() string {
	return fmt.Sprintf("%s: the recording has %s; the plugin did %s", d.At, d.Want, d.Got)
}

const replayStderrMax = 64 << 10

// ReplayExact runs one recorded call of a plugin offline, in a fresh
// instance of pkg on backend: the plugin's host calls are answered from
// the recording (nothing reaches a store or Discord), and on a backend that
// supplies the guest's clock and randomness (wasm) those come from the
// recording too. It reports whether the plugin did the same again, and
// where it first diverged: after a code change, that is the first host
// call, clock read or random read the new code does differently, or else
// its different outcome.
func ReplayExact(ctx context.Context, backend sandbox.Backend, pkg *plugin.Package, rec Recording) (ReplayReport, error) {
	rep := ReplayReport{Recorded: rec.Outcome, Backend: backend.Name(), Exactness: exactness(backend.Name())}
	if rec.Format != RecordingFormat {
		return rep, fmt.Errorf("replay: %w: recording format %d, this maid reads %d", ErrInvalid, rec.Format, RecordingFormat)
	}
	var params map[string]any
	if err := json.Unmarshal(rec.Params, &params); err != nil || params == nil {
		return rep, fmt.Errorf("replay: %w: recording params must be an object", ErrInvalid)
	}
	if err := pkg.Manifest.SupportedBy(sdk.Version); err != nil {
		return rep, fmt.Errorf("replay: %w: %w", ErrInvalid, err)
	}
	r := &replayer{rec: rec, ready: make(chan struct{})}
	r.ent = &replayEntropy{reads: rec.Entropy, diverge: r.diverge}
	sb, err := backend.Start(ctx, sandbox.Spec{
		Name: "replay-" + newToken()[:8], PluginID: pkg.Manifest.ID, Dir: pkg.Dir, Entry: pkg.Manifest.Script,
		Limits: sandbox.Limits{MemoryBytes: int64(DefaultLimits.MemoryMB) << 20}, Entropy: r.ent,
	})
	if err != nil {
		return rep, fmt.Errorf("replay: start plugin: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn := rpc.NewConn(sb.Stdout(), sb.Stdin(), r.handle, rpc.Options{MaxLineBytes: DefaultLimits.MaxLineBytes, MaxInFlight: DefaultLimits.MaxInFlight})
	var wg sync.WaitGroup
	var stderr bytes.Buffer
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = conn.Run(rctx)
		_ = sb.Stdin().Close()
		_, _ = io.Copy(io.Discard, sb.Stdout())
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(&stderr, io.LimitReader(sb.Stderr(), replayStderrMax))
		_, _ = io.Copy(io.Discard, sb.Stderr())
	}()
	defer func() {
		_ = sb.Kill()
		_, _ = sb.Wait(context.WithoutCancel(ctx))
		cancel()
		wg.Wait()
		rep.Stderr = stderr.String()
	}()
	select {
	case <-r.ready:
	case <-time.After(DefaultLimits.HandshakeTimeout):
		return rep, fmt.Errorf("replay: %w: no maid.hello within %v", ErrTimeout, DefaultLimits.HandshakeTimeout)
	case <-ctx.Done():
		return rep, fmt.Errorf("replay: %w", ctx.Err())
	}
	params["call"] = "replay"
	cctx, ccancel := context.WithTimeout(ctx, DefaultLimits.MaxEventTimeout)
	defer ccancel()
	r.ent.arm()
	var out json.RawMessage
	cerr := conn.Call(cctx, rec.Method, params, &out)
	r.ent.disarm()
	if cerr != nil {
		var re *rpc.Error
		if !errors.As(cerr, &re) {
			re = &rpc.Error{Code: rpc.CodeOf(cerr), Message: cerr.Error()}
		}
		rep.Outcome.Error = re
	} else {
		rep.Outcome.Result = out
		if rec.Method == "plugin.event" {
			rep.Outcome.Result = json.RawMessage("{}") // the host ignores an event's result
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.HostCalls = r.next
	rep.EntropyReads = r.ent.used()
	if r.div == nil && !rec.Truncated {
		if r.next < len(rec.HostCalls) {
			c := rec.HostCalls[r.next]
			r.div = &Divergence{At: fmt.Sprintf("host call %d", r.next+1), Want: describeCall(c.Method, c.Params), Got: "no further host call"}
		}
	}
	if r.div == nil && !sameOutcome(rec.Outcome, rep.Outcome) {
		r.div = &Divergence{At: "outcome", Want: describeOutcome(rec.Outcome), Got: describeOutcome(rep.Outcome)}
	}
	rep.Divergence = r.div
	rep.Same = r.div == nil
	return rep, nil
}

func exactness(backend string) string {
	if backend == "wasm" {
		return "exact: host calls, the clock, all randomness and the random module's seed come from the recording"
	}
	return "host calls and the random module's seed come from the recording; time.time(), os.urandom() and uuid4 read this machine's kernel, and string hashing is seeded per process"
}

// replayer answers the plugin's host calls from a recording.
type replayer struct {
	rec   Recording
	ent   *replayEntropy
	ready chan struct{}
	once  sync.Once

	mu   sync.Mutex
	next int         // next recorded host call
	div  *Divergence // the first divergence
}

func (r *replayer) diverge(d Divergence) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.div == nil {
		r.div = &d
	}
}

func (r *replayer) handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	if method == "maid.hello" {
		var h hello
		if err := json.Unmarshal(params, &h); err != nil {
			return nil, rpc.Errorf(rpc.ErrInvalidParams, "maid.hello: %v", err)
		}
		if h.Protocol != ProtocolVersion {
			return nil, rpc.Errorf(rpc.ErrIncompatible, "plugin speaks protocol %d, host speaks %d", h.Protocol, ProtocolVersion)
		}
		r.once.Do(func() { close(r.ready) })
		lim := DefaultLimits
		return map[string]any{
			"protocol": ProtocolVersion, "plugin_id": r.rec.PluginID, "host_version": "replay",
			"limits": map[string]any{
				"max_line_bytes": lim.MaxLineBytes, "max_in_flight": lim.MaxInFlight,
				"dashboard_timeout_ms": lim.DashboardTimeout.Milliseconds(), "event_timeout_ms": lim.EventTimeout.Milliseconds(),
			},
		}, nil
	}
	got := withoutCall(params)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next + 1
	if r.div != nil {
		return nil, rpc.Errorf(rpc.ErrInternal, "replay: the plugin left the recording at %s", r.div.At)
	}
	if r.next >= len(r.rec.HostCalls) {
		want := "no further host call"
		if r.rec.Truncated {
			want += " (the recording was truncated at its size bound)"
		}
		r.div = &Divergence{At: fmt.Sprintf("host call %d", n), Want: want, Got: describeCall(method, got)}
		return nil, rpc.Errorf(rpc.ErrInternal, "replay: host call %d is not in the recording", n)
	}
	c := r.rec.HostCalls[r.next]
	if c.Method != method || !sameJSON(c.Params, got) {
		r.div = &Divergence{At: fmt.Sprintf("host call %d", n), Want: describeCall(c.Method, c.Params), Got: describeCall(method, got)}
		return nil, rpc.Errorf(rpc.ErrInternal, "replay: host call %d differs from the recording", n)
	}
	r.next++
	if c.Error != nil {
		return nil, c.Error
	}
	if len(c.Result) == 0 {
		return struct{}{}, nil
	}
	return c.Result, nil
}

// replayEntropy serves recorded clock and random reads once armed; a read
// of another kind, or past the recording, is a divergence, after which the
// machine's own clock and randomness are served.
type replayEntropy struct {
	mu      sync.Mutex
	reads   []EntropyRead
	i       int
	armed   bool
	diverge func(Divergence)
	tap     entropyTap // the real sources
}

func (e *replayEntropy) arm()    { e.mu.Lock(); e.armed = true; e.mu.Unlock() }
func (e *replayEntropy) disarm() { e.mu.Lock(); e.armed = false; e.mu.Unlock() }
func (e *replayEntropy) used() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.i
}

// take returns the next recorded read if it is of kind (and n bytes).
func (e *replayEntropy) take(kind string, n int) (EntropyRead, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.armed {
		return EntropyRead{}, false
	}
	at := fmt.Sprintf("clock or random read %d", e.i+1)
	if e.i >= len(e.reads) {
		e.armed = false
		e.diverge(Divergence{At: at, Want: "no further read", Got: describeRead(kind, n)})
		return EntropyRead{}, false
	}
	r := e.reads[e.i]
	if r.Kind != kind || (kind == "rand" && len(r.Bytes) != n) {
		e.armed = false
		e.diverge(Divergence{At: at, Want: describeRead(r.Kind, len(r.Bytes)), Got: describeRead(kind, n)})
		return EntropyRead{}, false
	}
	e.i++
	return r, true
}

func describeRead(kind string, n int) string {
	switch kind {
	case "wall":
		return "a wall clock read"
	case "mono":
		return "a monotonic clock read"
	}
	return fmt.Sprintf("a read of %d random bytes", n)
}

func (e *replayEntropy) Walltime() (int64, int32) {
	if r, ok := e.take("wall", 0); ok {
		return r.Value / 1e9, int32(r.Value % 1e9)
	}
	return e.tap.Walltime()
}

func (e *replayEntropy) Nanotime() int64 {
	if r, ok := e.take("mono", 0); ok {
		return r.Value
	}
	return e.tap.Nanotime()
}

func (e *replayEntropy) Read(p []byte) (int, error) {
	if r, ok := e.take("rand", len(p)); ok {
		return copy(p, r.Bytes), nil
	}
	return e.tap.Read(p)
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// sameOutcome compares outcomes: results as JSON; errors by code and, for a
// handler that raised, by traceback (else message).
func sameOutcome(a, b RecordedOutcome) bool {
	if (a.Error == nil) != (b.Error == nil) {
		return false
	}
	if a.Error == nil {
		return sameJSON(a.Result, b.Result)
	}
	if a.Error.Code != b.Error.Code {
		return false
	}
	ta, tb := traceback(a.Error), traceback(b.Error)
	if ta != "" || tb != "" {
		return ta == tb
	}
	return a.Error.Message == b.Error.Message
}

func traceback(e *rpc.Error) string {
	var d struct {
		Traceback string `json:"traceback"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Traceback
}

func describeCall(method string, params json.RawMessage) string {
	p := string(params)
	if len(p) > 300 {
		p = p[:300] + "…"
	}
	return method + " " + p
}

func describeOutcome(o RecordedOutcome) string {
	if o.Error == nil {
		s := string(o.Result)
		if len(s) > 300 {
			s = s[:300] + "…"
		}
		return "result " + s
	}
	if tb := traceback(o.Error); tb != "" {
		return "traceback:\n" + tb
	}
	return fmt.Sprintf("error %d: %s", o.Error.Code, o.Error.Message)
}
