package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/rpc"
	"github.com/maidhq/maid/sandbox"
)

// deps is what supervisors, their instances and the host methods need from
// the engine: its ports, its limits, its clock and where they report. New
// builds one and every supervisor shares it; no field changes afterwards
// (the settings cache and the counters are safe for concurrent use).
// Supervisors hold this small value rather than *Engine, so that running
// one plugin cannot reach the plugin table, installs or spawning: those
// stay the Engine's.
type deps struct {
	store       Store
	backend     sandbox.Backend
	discord     Discord // nil: discord.* calls fail as unavailable
	limits      Limits  // with defaults applied
	settings    *settingsCache
	clock       func() time.Time
	log         *slog.Logger
	observer    Observer
	hostVersion string // told to plugins in the handshake
	stats       counters
}

// counters are the engine's Stats.
type counters struct {
	routed, overflow, restarts, running atomic.Int64
}

// now is the engine's clock (Config.Now): tests age instances and cache
// entries without sleeping.
func (d *deps) now() time.Time { return d.clock() }

// overflowed records an event that pluginID's queue did not take (full, or
// the supervisor stopped): counted in Stats and reported to the observer,
// never lost silently.
func (d *deps) overflowed(pluginID string) {
	d.stats.overflow.Add(1)
	d.observer.EventOverflow(pluginID)
}

// supervisor runs one installed plugin: its event queue, its (at most one)
// running instance, restarts with backoff, and idle stops. Its run loop is
// the only reader of queue, so one plugin's events are handled in order.
type supervisor struct {
	d      *deps
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

func newSupervisor(d *deps, pkg *plugin.Package) *supervisor {
	def := plugin.Limits{
		MemoryMB:           d.limits.MemoryMB,
		EventTimeoutMS:     int(d.limits.EventTimeout / time.Millisecond),
		DashboardTimeoutMS: int(d.limits.DashboardTimeout / time.Millisecond),
	}
	max := plugin.Limits{
		MemoryMB:           d.limits.MaxMemoryMB,
		EventTimeoutMS:     int(d.limits.MaxEventTimeout / time.Millisecond),
		DashboardTimeoutMS: int(d.limits.DashboardTimeout / time.Millisecond), // spec: 10 s at most
	}
	s := &supervisor{
		d:      d,
		id:     pkg.Manifest.ID,
		pkg:    pkg,
		limits: pkg.Manifest.Limits.Effective(def, max),
		logs:   newLogRing(d.limits.LogLines, d.limits.LogRate, d.limits.LogLineLen),
		queue:  make(chan queued, d.limits.QueueSize),
		done:   make(chan struct{}),
	}
	// Host warnings also reach the operator's log, which no plugin can evict.
	s.logs.toLog(d.log, s.id)
	return s
}

func (s *supervisor) eventTimeout() time.Duration {
	return time.Duration(s.limits.EventTimeoutMS) * time.Millisecond
}

func (s *supervisor) dashboardTimeout() time.Duration {
	return time.Duration(s.limits.DashboardTimeoutMS) * time.Millisecond
}

// run is the plugin's loop; it returns after stopping the instance.
func (s *supervisor) run(ctx context.Context) {
	defer close(s.done)
	var idle <-chan time.Time
	if it := s.d.limits.IdleTimeout; it > 0 {
		t := time.NewTicker(max(it/4, 50*time.Millisecond))
		defer t.Stop()
		idle = t.C
	}
	for {
		select {
		case <-ctx.Done():
			s.stopInstance(context.WithoutCancel(ctx), true)
			// Events still queued are reported, not silently lost.
			for {
				select {
				case q := <-s.queue:
					if q.barrier != nil {
						close(q.barrier)
					} else {
						s.d.overflowed(s.id)
					}
				default:
					return
				}
			}
		case q := <-s.queue:
			if q.barrier != nil {
				close(q.barrier)
				continue
			}
			// select picks at random when both are ready: an event taken
			// after shutdown began is reported, not half-delivered and lost.
			if ctx.Err() != nil {
				s.d.overflowed(s.id)
				continue
			}
			s.deliver(ctx, q.ev)
		case <-idle:
			s.stopIfIdle(ctx)
		}
	}
}

// wants reports whether the plugin handles events of type t, as far as is
// known before starting it (unknown: yes).
func (s *supervisor) wants(t string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known == nil || slices.Contains(s.known.Events, t)
}

func (s *supervisor) deliver(ctx context.Context, ev Event) {
	inst, err := s.ensure(ctx)
	if err != nil {
		s.logs.add(s.d.now(), "error", "host", "event "+ev.Type+" not delivered: "+err.Error())
		s.d.observer.CallDone("event", s.id, 0, err)
		return
	}
	if !slices.Contains(inst.hello.Events, ev.Type) {
		return
	}
	opts := s.d.optionsFor(ctx, ev.ServerID, s)
	cctx, cancel := context.WithTimeout(ctx, s.eventTimeout())
	defer cancel()
	start := time.Now()
	scope := callScope{serverID: ev.ServerID}
	if ev.Fence != nil {
		scope.fence, scope.writes = ev.Fence, new(atomic.Int32)
	}
	err = inst.callScoped(cctx, "plugin.event", scope, map[string]any{
		"ctx":   callCtx(ev.ServerID, s.id, opts),
		"type":  ev.Type,
		"event": ev.Data,
	}, nil)
	err = s.callError("event "+ev.Type, inst, err)
	s.d.stats.routed.Add(1)
	s.d.observer.CallDone("event", s.id, time.Since(start), err)
	if err != nil {
		s.logs.add(s.d.now(), "error", "host", err.Error())
	}
}

// callError maps a failed host→plugin call to an engine error. A call that
// timed out means the single-threaded plugin is stuck: its instance is
// killed and restarted on next use.
func (s *supervisor) callError(what string, inst *instance, err error) error {
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
func (s *supervisor) ensure(ctx context.Context) (*instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inst != nil && s.inst.alive() {
		return s.inst, nil
	}
	restart := false
	if s.inst != nil {
		restart = true
		died := s.inst
		s.inst = nil
		died.kill() // its conn may have ended before the process did
		<-died.dead
		if s.d.now().Sub(died.start) > time.Minute {
			s.crashes = 0 // it ran fine for a while: not a crash loop
		}
		s.crashes++
		s.nextStart = s.d.now().Add(s.backoff())
		s.d.stats.restarts.Add(1)
		s.logs.add(s.d.now(), "warning", "host", fmt.Sprintf("instance ended (%v); restarting", died.exit))
	}
	if wait := s.nextStart.Sub(s.d.now()); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("start plugin %s: waiting for restart backoff: %w", s.id, ctx.Err())
		}
	}
	inst, err := s.startInstance(ctx)
	if err != nil {
		s.crashes++
		s.nextStart = s.d.now().Add(s.backoff())
		s.logs.add(s.d.now(), "error", "host", err.Error())
		return nil, err
	}
	s.inst = inst
	known := inst.hello
	s.known = &known
	inst.countRunning()
	s.d.observer.InstanceStarted(s.id, restart)
	s.logs.add(s.d.now(), "info", "host", fmt.Sprintf("instance started on %s (sdk %s)", s.d.backend.Name(), inst.hello.SDKVersion))
	return inst, nil
}

func (s *supervisor) backoff() time.Duration {
	d := s.d.limits.BackoffMin
	for i := 1; i < s.crashes && d < s.d.limits.BackoffMax; i++ {
		d *= 2
	}
	return min(d, s.d.limits.BackoffMax)
}

func (s *supervisor) stopIfIdle(ctx context.Context) {
	s.mu.Lock()
	inst := s.inst
	if inst == nil || !inst.alive() {
		s.mu.Unlock()
		return
	}
	last := time.Unix(0, inst.lastUsed.Load())
	if s.d.now().Sub(last) < s.d.limits.IdleTimeout {
		s.mu.Unlock()
		return
	}
	inst.mu.Lock()
	busy := len(inst.calls) > 0
	inst.mu.Unlock()
	if busy {
		s.mu.Unlock()
		return
	}
	s.inst = nil
	s.mu.Unlock()
	s.logs.add(s.d.now(), "info", "host", "instance idle; stopped")
	inst.stop(ctx, true)
}

// stopInstance stops the running instance, if any.
func (s *supervisor) stopInstance(ctx context.Context, graceful bool) {
	s.mu.Lock()
	inst := s.inst
	s.inst = nil
	s.mu.Unlock()
	if inst != nil {
		inst.stop(ctx, graceful)
	}
}
