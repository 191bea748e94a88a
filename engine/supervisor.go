package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/rpc"
)

// host supervises one installed plugin: its event queue, its (at most one)
// running instance, restarts with backoff, and idle stops. Its run loop is
// the only reader of queue, so one plugin's events are handled in order.
type host struct {
	e      *Engine
	id     string
	pkg    *plugin.Package
	limits plugin.Limits // effective (requests capped by the host)
	logs   *logRing
	queue  chan queued
	starts atomic.Uint64

	cancel context.CancelFunc // set when Run spawns the loop
	done   chan struct{}      // closed when the loop ended

	mu        sync.Mutex // serializes starts; guards the fields below
	inst      *instance
	crashes   int
	nextStart time.Time
	known     *hello // handlers of the last handshake, for routing
}

type queued struct {
	ev      Event
	barrier chan struct{} // non-nil: a Drain marker, closed when reached
}

func (e *Engine) newHost(pkg *plugin.Package) *host {
	def := plugin.Limits{
		MemoryMB:           e.limits.MemoryMB,
		EventTimeoutMS:     int(e.limits.EventTimeout / time.Millisecond),
		DashboardTimeoutMS: int(e.limits.DashboardTimeout / time.Millisecond),
	}
	max := plugin.Limits{
		MemoryMB:           e.limits.MaxMemoryMB,
		EventTimeoutMS:     int(e.limits.MaxEventTimeout / time.Millisecond),
		DashboardTimeoutMS: int(e.limits.DashboardTimeout / time.Millisecond), // spec: 10 s at most
	}
	return &host{
		e:      e,
		id:     pkg.Manifest.ID,
		pkg:    pkg,
		limits: pkg.Manifest.Limits.Effective(def, max),
		logs:   newLogRing(e.limits.LogLines, e.limits.LogRate, e.limits.LogLineLen),
		queue:  make(chan queued, e.limits.QueueSize),
		done:   make(chan struct{}),
	}
}

func (h *host) eventTimeout() time.Duration {
	return time.Duration(h.limits.EventTimeoutMS) * time.Millisecond
}

func (h *host) dashboardTimeout() time.Duration {
	return time.Duration(h.limits.DashboardTimeoutMS) * time.Millisecond
}

// run is the plugin's loop; it returns after stopping the instance.
func (h *host) run(ctx context.Context) {
	defer close(h.done)
	var idle <-chan time.Time
	if it := h.e.limits.IdleTimeout; it > 0 {
		t := time.NewTicker(max(it/4, 50*time.Millisecond))
		defer t.Stop()
		idle = t.C
	}
	for {
		select {
		case <-ctx.Done():
			h.stopInstance(context.WithoutCancel(ctx), true)
			// Events still queued are reported, not silently lost.
			for {
				select {
				case q := <-h.queue:
					if q.barrier != nil {
						close(q.barrier)
					} else {
						h.e.overflow.Add(1)
						h.e.observer.EventOverflow(h.id)
					}
				default:
					return
				}
			}
		case q := <-h.queue:
			if q.barrier != nil {
				close(q.barrier)
				continue
			}
			// select picks at random when both are ready: an event taken
			// after shutdown began is reported, not half-delivered and lost.
			if ctx.Err() != nil {
				h.e.overflow.Add(1)
				h.e.observer.EventOverflow(h.id)
				continue
			}
			h.deliver(ctx, q.ev)
		case <-idle:
			h.stopIfIdle(ctx)
		}
	}
}

// wants reports whether the plugin handles events of type t, as far as is
// known before starting it (unknown: yes).
func (h *host) wants(t string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.known == nil || slices.Contains(h.known.Events, t)
}

func (h *host) deliver(ctx context.Context, ev Event) {
	e := h.e
	inst, err := h.ensure(ctx)
	if err != nil {
		h.logs.add(e.now(), "error", "host", "event "+ev.Type+" not delivered: "+err.Error())
		e.observer.CallDone("event", h.id, 0, err)
		return
	}
	if !slices.Contains(inst.hello.Events, ev.Type) {
		return
	}
	opts := e.optionsFor(ctx, ev.ServerID, h)
	cctx, cancel := context.WithTimeout(ctx, h.eventTimeout())
	defer cancel()
	start := time.Now()
	err = inst.call(cctx, "plugin.event", ev.ServerID, map[string]any{
		"ctx":   callCtx(ev.ServerID, h.id, opts),
		"type":  ev.Type,
		"event": ev.Data,
	}, nil)
	err = h.callError("event "+ev.Type, inst, err)
	e.routed.Add(1)
	e.observer.CallDone("event", h.id, time.Since(start), err)
	if err != nil {
		h.logs.add(e.now(), "error", "host", err.Error())
	}
}

// callError maps a failed host→plugin call to an engine error. A call that
// timed out means the single-threaded plugin is stuck: its instance is
// killed and restarted on next use.
func (h *host) callError(what string, inst *instance, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rpc.ErrTimeout):
		inst.kill()
		return fmt.Errorf("%s: %w; instance stopped and will restart", what, ErrTimeout)
	case errors.Is(err, rpc.ErrClosed):
		return fmt.Errorf("%s: %w: instance exited", what, ErrPlugin)
	case errors.Is(err, rpc.ErrMethodNotFound):
		return fmt.Errorf("%s: %w: %v", what, ErrNotFound, err)
	default:
		return fmt.Errorf("%s: %w: %v", what, ErrPlugin, messageOf(err))
	}
}

func messageOf(err error) string {
	var re *rpc.Error
	if errors.As(err, &re) {
		return re.Message
	}
	return err.Error()
}

func callCtx(serverID, pluginID string, opts map[string]any) map[string]any {
	return map[string]any{"discord_srv_id": serverID, "plugin_id": pluginID, "options": opts}
}

// ensure returns the running instance, starting one if needed (after the
// crash backoff, if the last one died).
func (h *host) ensure(ctx context.Context) (*instance, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.inst != nil && h.inst.alive() {
		return h.inst, nil
	}
	e := h.e
	restart := false
	if h.inst != nil {
		restart = true
		died := h.inst
		h.inst = nil
		died.kill() // its conn may have ended before the process did
		<-died.dead
		if e.now().Sub(died.start) > time.Minute {
			h.crashes = 0 // it ran fine for a while: not a crash loop
		}
		h.crashes++
		h.nextStart = e.now().Add(h.backoff())
		e.restarts.Add(1)
		h.logs.add(e.now(), "warning", "host", fmt.Sprintf("instance ended (%v); restarting", died.exit))
	}
	if wait := h.nextStart.Sub(e.now()); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("start plugin %s: waiting for restart backoff: %w", h.id, ctx.Err())
		}
	}
	inst, err := h.startInstance(ctx)
	if err != nil {
		h.crashes++
		h.nextStart = e.now().Add(h.backoff())
		h.logs.add(e.now(), "error", "host", err.Error())
		return nil, err
	}
	h.inst = inst
	known := inst.hello
	h.known = &known
	e.running.Add(1)
	go func() { <-inst.dead; e.running.Add(-1) }()
	e.observer.InstanceStarted(h.id, restart)
	h.logs.add(e.now(), "info", "host", fmt.Sprintf("instance started on %s (sdk %s)", e.cfg.Backend.Name(), inst.hello.SDKVersion))
	return inst, nil
}

func (h *host) backoff() time.Duration {
	d := h.e.limits.BackoffMin
	for i := 1; i < h.crashes && d < h.e.limits.BackoffMax; i++ {
		d *= 2
	}
	return min(d, h.e.limits.BackoffMax)
}

func (h *host) stopIfIdle(ctx context.Context) {
	h.mu.Lock()
	inst := h.inst
	if inst == nil || !inst.alive() {
		h.mu.Unlock()
		return
	}
	last := time.Unix(0, inst.lastUsed.Load())
	if h.e.now().Sub(last) < h.e.limits.IdleTimeout {
		h.mu.Unlock()
		return
	}
	inst.mu.Lock()
	busy := len(inst.calls) > 0
	inst.mu.Unlock()
	if busy {
		h.mu.Unlock()
		return
	}
	h.inst = nil
	h.mu.Unlock()
	h.logs.add(h.e.now(), "info", "host", "instance idle; stopped")
	inst.stop(ctx, true)
}

// stopInstance stops the running instance, if any.
func (h *host) stopInstance(ctx context.Context, graceful bool) {
	h.mu.Lock()
	inst := h.inst
	h.inst = nil
	h.mu.Unlock()
	if inst != nil {
		inst.stop(ctx, graceful)
	}
}
