package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maidhq/maid/rpc"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sdk"
)

// ProtocolVersion is the plugin protocol this host speaks (docs/protocol.md).
const ProtocolVersion = 1

// hello is the plugin's handshake (maid.hello params).
type hello struct {
	Protocol   int      `json:"protocol"`
	SDKVersion string   `json:"sdk_version"`
	Events     []string `json:"events"`
	Dashboard  []string `json:"dashboard"`
	Commands   []string `json:"commands"`
}

// maxHelloNames bounds each list of a maid.hello (events, dashboard
// handlers, commands) once duplicates are dropped: the supervisor keeps the
// lists for as long as it runs and looks an event up in them for every
// event, so a hello of 200,000 names in a 1 MiB line must not be kept
// (attack Q1). A manifest declares at most 25 commands; no plugin has
// hundreds of handlers.
const maxHelloNames = 256

// maxHelloName bounds one name of a maid.hello, in bytes.
const maxHelloName = 256

// normalize drops duplicate names from the hello's lists and refuses a
// list with more than maxHelloNames distinct names or a name over
// maxHelloName bytes.
func (h *hello) normalize() error {
	for _, l := range []struct {
		field string
		names *[]string
	}{{"events", &h.Events}, {"dashboard", &h.Dashboard}, {"commands", &h.Commands}} {
		seen := make(map[string]bool, min(len(*l.names), maxHelloNames))
		out := (*l.names)[:0]
		for _, n := range *l.names {
			if len(n) > maxHelloName {
				return rpc.Errorf(rpc.ErrInvalidParams, "maid.hello: %s: a name over %d bytes", l.field, maxHelloName)
			}
			if seen[n] {
				continue
			}
			if len(seen) == maxHelloNames {
				return rpc.Errorf(rpc.ErrInvalidParams, "maid.hello: %s: more than %d distinct names", l.field, maxHelloNames)
			}
			seen[n] = true
			out = append(out, n)
		}
		*l.names = slices.Clone(out) // not the decoded list's array
	}
	return nil
}

// callScope is what a host call made while serving one host→plugin call may
// touch: the server of that call.
type callScope struct {
	serverID string
	// readOnly: a read-only dashboard bridge call; SQL runs in a read-only
	// session.
	readOnly bool
	// fence: the call handles an event delivered under a shard lease
	// (cluster mode); writes counts the KV writes made for it, so each
	// gets its ordinal (engine.Fence).
	fence  *Fence
	writes *atomic.Int32
	// rec, if set, records the call's host calls and the guest's clock and
	// random reads (recording.go).
	rec *recorder
}

// instance is one running plugin: a sandbox instance and its protocol conn.
// Its goroutines (conn, stderr, waiter) end when the sandbox exits; stop
// makes it exit.
type instance struct {
	s     *supervisor
	sb    sandbox.Instance
	conn  *rpc.Conn
	hello hello
	ready chan struct{} // closed when the handshake succeeded
	// refused is closed when the plugin's maid.hello was refused (refusal
	// says why): the start fails at once, and its caller stops the instance.
	refused chan struct{}
	refusal error
	dead    chan struct{} // closed when the sandbox exited and goroutines ended
	exit    sandbox.Exit
	start   time.Time

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	lastUsed atomic.Int64 // unix nanos
	doomed   atomic.Bool  // being killed: never hand it out again

	mu      sync.Mutex
	tap     *entropyTap // the guest's clock and randomness (Spec.Entropy)
	gate    callGate    // a recorded call runs alone (its reads are its own)
	calls   map[string]callScope
	greeted bool // a maid.hello was taken (accepted or refused)
	counted bool // counted in Stats.Instances (countRunning)
	exited  bool // the waiter is done: never counted again
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startInstance starts the plugin in the backend and completes the handshake.
func (s *supervisor) startInstance(ctx context.Context) (*instance, error) {
	lim := s.limits
	tap := &entropyTap{}
	spec := sandbox.Spec{
		Name:     fmt.Sprintf("%s-%d", s.id, s.starts.Add(1)),
		PluginID: s.id,
		Dir:      s.pkg.Dir,
		Entry:    s.pkg.Manifest.Script,
		// No Env: the plugin learns its id from the handshake reply, and an
		// env-less spec can be served by a backend's warm pool.
		Limits: sandbox.Limits{
			MemoryBytes:  int64(lim.MemoryMB) << 20,
			ScratchBytes: s.d.limits.ScratchBytes,
			Pids:         s.d.limits.Pids,
			CPUs:         s.d.limits.CPUs,
		},
		Entropy: tap,
	}
	sb, err := s.d.backend.Start(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("start plugin %s: %w", s.id, err)
	}
	// The instance's goroutines outlive this call (a request's ctx may be
	// short); stop() ends them by killing the sandbox and cancelling.
	ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	inst := &instance{
		s: s, sb: sb, ready: make(chan struct{}), refused: make(chan struct{}), dead: make(chan struct{}),
		start: s.d.now(), cancel: cancel, calls: make(map[string]callScope), tap: tap,
	}
	inst.touch()
	opts := rpc.Options{
		MaxLineBytes: s.d.limits.MaxLineBytes,
		MaxInFlight:  s.d.limits.MaxInFlight,
	}
	// A backend that runs its guest in-process hands over whole lines: the
	// guest reads the conn's messages from its stdin queue and its answers
	// complete their calls on its own goroutine, with no pipe and reader
	// goroutine in between (see sandbox.LineInstance).
	li, lines := sb.(sandbox.LineInstance)
	if lines {
		opts.Inline = inlineMethod
		inst.conn = rpc.NewLineConn(li.SendLine, inst.handle, opts)
	} else {
		inst.conn = rpc.NewConn(sb.Stdout(), sb.Stdin(), inst.handle, opts)
	}
	inst.wg.Add(2)
	go func() {
		defer inst.wg.Done()
		err := inst.conn.Run(ictx)
		killed := make(chan struct{})
		if err != nil && !errors.Is(err, context.Canceled) {
			s.logs.add(s.d.now(), "error", "host", "protocol error, stopping instance: "+err.Error())
			// Kill while draining stdout below: docker's daemon finishes a
			// kill only once the container's output has been read.
			go func() {
				defer close(killed)
				_ = sb.Kill()
			}()
		} else {
			close(killed)
		}
		// Without a working conn the instance is useless; make sure it ends.
		_ = sb.Stdin().Close()
		if !lines {
			// Read what the guest still writes until it ends: a backend may
			// not finish an exit while output is unread (docker's daemon
			// holds the exit until the attach stream drains), so after a
			// protocol error an unread stdout would wedge the instance and
			// every later call. (Lines need no draining: once the conn has
			// ended, the guest's writes fail.)
			_, _ = io.Copy(io.Discard, sb.Stdout())
		}
		<-killed
	}()
	go func() {
		defer inst.wg.Done()
		s.logs.drain(sb.Stderr(), s.d.now)
	}()
	if lines {
		maxLine := opts.MaxLineBytes
		if maxLine <= 0 {
			maxLine = rpc.DefaultMaxLineBytes
		}
		// After Run has started: lines the guest already wrote are fed here.
		if err := li.ServeLines(sandbox.LineConfig{
			MaxLineBytes: maxLine,
			ReplyBytes:   opts.ReplyBytes(),
			Line:         inst.conn.Feed,
			End:          inst.conn.EndFeed,
		}); err != nil {
			// No End will come: end the conn here, and the instance with it.
			inst.conn.EndFeed(err)
		}
	}
	// The waiter owns the exit: it records it once the sandbox has ended
	// and the conn and stderr goroutines have drained.
	go func() {
		ex, err := sb.Wait(context.WithoutCancel(ictx))
		if err != nil {
			ex = sandbox.Exit{Code: -1, Err: err}
		}
		inst.wg.Wait()
		inst.exit = ex
		cancel()
		// The running count drops here, in the goroutine that owns the
		// exit, before anyone can see dead closed or hear InstanceStopped.
		inst.mu.Lock()
		inst.exited = true
		if inst.counted {
			s.d.stats.running.Add(-1)
		}
		inst.mu.Unlock()
		close(inst.dead)
		s.d.observer.InstanceStopped(s.id, ex)
	}()
	if err := inst.awaitHello(ctx); err != nil {
		inst.stop(context.WithoutCancel(ctx), false)
		return nil, fmt.Errorf("start plugin %s: %w", s.id, err)
	}
	return inst, nil
}

// awaitHello waits for the plugin's maid.hello.
func (inst *instance) awaitHello(ctx context.Context) error {
	t := time.NewTimer(inst.s.d.limits.HandshakeTimeout)
	defer t.Stop()
	select {
	case <-inst.ready:
		return nil
	case <-inst.refused:
		return fmt.Errorf("handshake: %w", inst.refusal)
	case <-inst.dead:
		return fmt.Errorf("plugin exited before the handshake (%v); see its logs", inst.exit)
	case <-t.C:
		return fmt.Errorf("handshake: %w: no maid.hello within %v", ErrTimeout, inst.s.d.limits.HandshakeTimeout)
	case <-ctx.Done():
		return fmt.Errorf("handshake: %w", ctx.Err())
	}
}

// countRunning counts the instance in Stats.Instances until it exits; the
// waiter, which owns the exit, uncounts it. An instance that already exited
// is not counted.
func (inst *instance) countRunning() {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if !inst.exited && !inst.counted {
		inst.counted = true
		inst.s.d.stats.running.Add(1)
	}
}

// touch records a use on the engine's clock (Config.Now), which stopIfIdle
// reads, so tests can age an instance without sleeping.
func (inst *instance) touch() { inst.lastUsed.Store(inst.s.d.now().UnixNano()) }

// busy reports whether a host→plugin call is in progress.
func (inst *instance) busy() bool {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return len(inst.calls) > 0
}

func (inst *instance) alive() bool {
	if inst.doomed.Load() {
		return false
	}
	select {
	case <-inst.dead:
		return false
	case <-inst.conn.Done():
		return false
	default:
		return true
	}
}

// callScoped makes one host→plugin call whose host calls get scope.
func (inst *instance) callScoped(ctx context.Context, method string, scope callScope, params map[string]any, result any) error {
	inst.touch()
	leave, err := inst.gate.enter(ctx, scope.rec != nil)
	if err != nil {
		return fmt.Errorf("%s: wait for the instance's other calls (a recorded call runs alone): %w", method, err)
	}
	defer leave()
	token := newToken()
	inst.mu.Lock()
	inst.calls[token] = scope
	inst.mu.Unlock()
	defer func() {
		inst.mu.Lock()
		delete(inst.calls, token)
		inst.mu.Unlock()
	}()
	params["call"] = token
	if scope.rec != nil {
		// The guest's clock and random reads during the call go to its
		// recording (the gate keeps every other call out meanwhile).
		inst.tap.cur.Store(scope.rec)
		defer inst.tap.cur.Store(nil)
	}
	// A guest that stops reading its stdin blocks our write past any
	// deadline; once the deadline passes, stop the instance, which fails the
	// write (a timed-out call stops the instance anyway, in callError).
	stop := afterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			inst.kill()
		}
	})
	defer stop()
	err = inst.conn.Call(ctx, method, params, result)
	inst.touch()
	return err
}

// afterFunc is context.AfterFunc whose stop also waits for f if f has
// started, so no goroutine running f outlives the caller (a kill racing the
// instance's next start would otherwise be nobody's).
func afterFunc(ctx context.Context, f func()) (stop func()) {
	done := make(chan struct{})
	stopf := context.AfterFunc(ctx, func() {
		defer close(done)
		f()
	})
	return func() {
		if !stopf() {
			<-done
		}
	}
}

// kill stops the instance without waiting for its exit; alive reports
// false at once.
func (inst *instance) kill() {
	inst.doomed.Store(true)
	_ = inst.sb.Kill()
}

// stop ends the instance: politely (plugin.shutdown, then EOF) if graceful,
// then by kill after the grace period. It returns when all goroutines ended.
func (inst *instance) stop(ctx context.Context, graceful bool) {
	if graceful && inst.alive() {
		grace := inst.s.d.limits.ShutdownGrace
		sctx, cancel := context.WithTimeout(ctx, grace)
		// The polite call can block writing to a guest that stopped reading
		// (or behind a call that does): the grace period ends it by kill.
		stopKill := afterFunc(sctx, func() { _ = inst.sb.Kill() })
		_ = inst.conn.Call(sctx, "plugin.shutdown", struct{}{}, nil)
		_ = inst.sb.Stdin().Close()
		select {
		case <-inst.dead:
		case <-sctx.Done():
		}
		stopKill()
		cancel()
	}
	_ = inst.sb.Kill()
	<-inst.dead
}

// inlineMethod reports whether a line conn serves method on the guest's
// goroutine (hostMethod.inline).
func inlineMethod(method string) bool { return hostMethods[method].inline }

// handle serves the plugin's requests to the host.
func (inst *instance) handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	if method == "maid.hello" {
		return inst.handleHello(params)
	}
	select {
	case <-inst.ready:
	default:
		return nil, rpc.Errorf(rpc.ErrInvalidRequest, "%s before maid.hello", method)
	}
	var base struct {
		Call string `json:"call"`
	}
	if len(params) > 0 {
		if err := json.Unmarshal(params, &base); err != nil {
			return nil, rpc.Errorf(rpc.ErrInvalidParams, "params must be an object: %v", err)
		}
	}
	inst.mu.Lock()
	scope, ok := inst.calls[base.Call]
	inst.mu.Unlock()
	if m, known := hostMethods[method]; known && m.anytime {
		res, err := inst.s.serve(ctx, callScope{}, method, params)
		if ok && scope.rec != nil {
			scope.rec.hostCall(method, params, res, err)
		}
		return res, err
	}
	if !ok {
		return nil, rpc.Errorf(rpc.ErrScope, "call %q is not a host call in progress (host calls are only allowed while serving an event, dashboard or command call, with its call token)", base.Call)
	}
	res, err := inst.s.serve(ctx, scope, method, params)
	if scope.rec != nil {
		scope.rec.hostCall(method, params, res, err)
	}
	return res, err
}

func (inst *instance) handleHello(params json.RawMessage) (any, error) {
	// Handlers run concurrently: a plugin that pipelines several maid.hello
	// requests must get one answer and "sent twice" for the rest, not two
	// closes of ready (a panic that would take maid down with it).
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.greeted {
		return nil, rpc.Errorf(rpc.ErrInvalidRequest, "maid.hello sent twice")
	}
	var h hello
	if err := json.Unmarshal(params, &h); err != nil {
		return nil, rpc.Errorf(rpc.ErrInvalidParams, "maid.hello: %v", err)
	}
	inst.greeted = true
	err := h.normalize()
	if err == nil && h.Protocol != ProtocolVersion {
		err = rpc.Errorf(rpc.ErrIncompatible, "plugin speaks protocol %d, host speaks %d: rebuild the plugin against maid_sdk %s", h.Protocol, ProtocolVersion, sdk.Version)
	}
	if err != nil {
		inst.s.logs.add(inst.s.d.now(), "error", "host", err.Error())
		// The start waiting in awaitHello fails with this and stops the
		// instance itself, so no kill runs here without an owner.
		inst.refusal = err
		close(inst.refused)
		return nil, err
	}
	inst.hello = h
	close(inst.ready)
	lim := inst.s.limits
	return map[string]any{
		"protocol":     ProtocolVersion,
		"plugin_id":    inst.s.id,
		"host_version": inst.s.d.hostVersion,
		"limits": map[string]any{
			"max_line_bytes":       inst.s.d.limits.MaxLineBytes,
			"max_in_flight":        inst.s.d.limits.MaxInFlight,
			"dashboard_timeout_ms": lim.DashboardTimeoutMS,
			"event_timeout_ms":     lim.EventTimeoutMS,
		},
	}, nil
}
