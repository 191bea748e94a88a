package engine

import (
	"context"
	"encoding/json"
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
	instances   string // the operator's instance mode (Config.Instances)
	// denyPerServer, maxInstances: Config.DenyPerServer, MaxInstances;
	// starting counts the starts in progress under maxInstances.
	denyPerServer bool
	maxInstances  int
	startMu       sync.Mutex
	starting      int
	logSink       func(pluginID string, l LogLine)
	noRecording   bool // Config.NoRecording
	stats         counters
	recAll        recordAllCache // recording.go
	// builtin counts built-in event metrics until Run's flusher writes
	// them; builtinFull wakes the flusher when they reach their bound.
	builtin      *builtinCounters
	builtinFull  chan struct{}
	metricsFlush time.Duration
	versions     dataVersions // DataVersion
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

// supervisor runs one installed plugin: its event queue, its running
// instances (one, or one per server when the plugin runs per_server),
// restarts with backoff, and idle stops. Its run loop is the only reader of
// queue, so one plugin's events are handled in order.
type supervisor struct {
	d         *deps
	id        string
	pkg       *plugin.Package
	limits    plugin.Limits // effective (requests capped by the host)
	perServer bool          // one instance per (plugin, server)
	logs      *logRing
	queue     chan queued
	starts    atomic.Uint64
	// version is the package's effective version and hash its canonical
	// hash (hex): one supervisor runs one version.
	version, hash string

	cancel context.CancelFunc // set when Run spawns the loop
	done   chan struct{}      // closed when the loop ended
	// gate, if set, holds the loop back from the queue until closed: a
	// reloaded version waits for its predecessor's events (Reload).
	gate chan struct{}

	mu     sync.Mutex       // guards the fields below (never held while starting)
	slots  map[string]*slot // by server id; "" when one instance serves all
	closed bool             // stopped: no new slot, so no instance outlives the loop
	known  *hello           // handlers of the last handshake, for routing
}

// slot is where one instance of the plugin runs: the only one, or the one
// of a server. Its lock serializes the slot's starts, so a start on one
// server never waits for another's.
type slot struct {
	key       string
	mu        sync.Mutex // guards the fields below
	inst      *instance
	crashes   int
	nextStart time.Time
	gone      bool // removed from the supervisor (idle or stopped): look it up again
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
		d:         d,
		id:        pkg.Manifest.ID,
		pkg:       pkg,
		limits:    pkg.Manifest.Limits.Effective(def, max),
		perServer: d.instances == plugin.InstancesPerServer || pkg.Manifest.Instances == plugin.InstancesPerServer && !d.denyPerServer,
		logs:      newLogRing(d.limits.LogLines, d.limits.LogRate, d.limits.LogLineLen),
		queue:     make(chan queued, d.limits.QueueSize),
		done:      make(chan struct{}),
		slots:     make(map[string]*slot),
	}
	// Host warnings also reach the operator's log, which no plugin can evict.
	s.logs.toLog(d.log, s.id)
	if d.logSink != nil {
		id := s.id
		s.logs.sink = func(l LogLine) { d.logSink(id, l) }
	}
	if pkg.Manifest.Instances == plugin.InstancesPerServer && !s.perServer {
		s.logs.add(d.now(), "warning", "host", `the manifest asks for one instance per server ("instances": "per_server"); this host runs one instance for all servers (maid serve --per-server deny)`)
	}
	return s
}

// reserveStart admits one instance start under Config.MaxInstances; done
// ends the reservation once the instance is counted running (or failed).
func (d *deps) reserveStart() (done func(), err error) {
	if d.maxInstances <= 0 {
		return func() {}, nil
	}
	d.startMu.Lock()
	defer d.startMu.Unlock()
	if int(d.stats.running.Load())+d.starting >= d.maxInstances {
		return nil, fmt.Errorf("%w: the host already runs its maximum of %d plugin instances (maid serve --max-instances); an idle one stops after the idle timeout", ErrLimit, d.maxInstances)
	}
	d.starting++
	return func() {
		d.startMu.Lock()
		d.starting--
		d.startMu.Unlock()
	}, nil
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
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done(): // the loop below reports what is queued
		}
	}
	for {
		select {
		case <-ctx.Done():
			s.stopAll(context.WithoutCancel(ctx))
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
	inst, err := s.ensure(ctx, ev.ServerID)
	if err != nil {
		s.logs.addFor(s.d.now(), ev.ServerID, "error", "host", "event "+ev.Type+" not delivered: "+err.Error())
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
	params := map[string]any{
		"ctx":   callCtx(ev.ServerID, s.id, opts),
		"type":  ev.Type,
		"event": rpc.CompactJSON(ev.Data), // compacted by Dispatch
		// The seed of the plugin's random module for this call (the SDK
		// reseeds with it): a recording then holds all the randomness the
		// handler used, on every backend.
		"seed": newToken(),
	}
	// Every event is recorded while it runs (within bounds); the recording
	// is kept when the event fails, or always when an operator asked.
	var rec *recorder
	if !s.d.noRecording {
		rec = s.newEventRecorder(ev.ServerID, params)
		scope.rec = rec
	}
	callErr := inst.callScoped(cctx, "plugin.event", scope, params, nil)
	err = s.callError("event "+ev.Type, inst, callErr)
	s.d.stats.routed.Add(1)
	s.d.observer.CallDone("event", s.id, time.Since(start), err)
	switch {
	case rec != nil && (err != nil || s.d.recordAll(ctx, s.id, ev.ServerID)):
		id := s.keepRecording(ctx, rec.finish(json.RawMessage("{}"), callErr), err != nil)
		if err != nil {
			s.logs.addRecorded(s.d.now(), ev.ServerID, "error", "host", err.Error(), id)
		}
	case err != nil:
		s.logs.addFor(s.d.now(), ev.ServerID, "error", "host", err.Error())
	}
}

// newEventRecorder starts the recording of one plugin.event call.
func (s *supervisor) newEventRecorder(serverID string, params map[string]any) *recorder {
	return s.newCallRecorder("plugin.event", serverID, params)
}

// newCallRecorder starts the recording of one host→plugin call (params
// without its call token, which is added later).
func (s *supervisor) newCallRecorder(method, serverID string, params map[string]any) *recorder {
	return newCallRecorderFor(Recording{
		ID: newToken(), PluginID: s.id, PluginVersion: s.pkg.Manifest.Version, Backend: s.d.backend.Name(),
		ServerID: serverID, Time: s.d.now().UTC(), Method: method,
	}, params)
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

// slotKey is the slot serving serverID.
func (s *supervisor) slotKey(serverID string) string {
	if s.perServer {
		return serverID
	}
	return ""
}

// slotFor returns the slot serving serverID, creating it.
func (s *supervisor) slotFor(serverID string) (*slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("start plugin %s: %w: the plugin is stopping", s.id, ErrUnavailable)
	}
	key := s.slotKey(serverID)
	sl := s.slots[key]
	if sl == nil {
		sl = &slot{key: key}
		s.slots[key] = sl
	}
	return sl, nil
}

// ensure returns the instance serving serverID, starting one if needed
// (after the crash backoff, if the last one died).
func (s *supervisor) ensure(ctx context.Context, serverID string) (*instance, error) {
	for {
		sl, err := s.slotFor(serverID)
		if err != nil {
			return nil, err
		}
		sl.mu.Lock()
		if sl.gone { // dropped while we waited for it: take the new one
			sl.mu.Unlock()
			continue
		}
		inst, err := s.ensureIn(ctx, sl)
		sl.mu.Unlock()
		return inst, err
	}
}

// ensureIn is ensure with sl locked.
func (s *supervisor) ensureIn(ctx context.Context, sl *slot) (*instance, error) {
	if sl.inst != nil && sl.inst.alive() {
		return sl.inst, nil
	}
	restart := false
	if sl.inst != nil {
		restart = true
		died := sl.inst
		sl.inst = nil
		died.kill() // its conn may have ended before the process did
		<-died.dead
		if s.d.now().Sub(died.start) > time.Minute {
			sl.crashes = 0 // it ran fine for a while: not a crash loop
		}
		sl.crashes++
		sl.nextStart = s.d.now().Add(s.backoff(sl.crashes))
		s.d.stats.restarts.Add(1)
		s.logs.add(s.d.now(), "warning", "host", fmt.Sprintf("instance%s ended (%v); restarting", s.serverNote(sl), died.exit))
	}
	if wait := sl.nextStart.Sub(s.d.now()); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("start plugin %s: waiting for restart backoff: %w", s.id, ctx.Err())
		}
	}
	done, err := s.d.reserveStart()
	if err != nil {
		err = fmt.Errorf("start plugin %s%s: %w", s.id, s.serverNote(sl), err)
		s.logs.add(s.d.now(), "error", "host", err.Error())
		return nil, err
	}
	defer done() // after countRunning below
	inst, err := s.startInstance(ctx)
	if err != nil {
		sl.crashes++
		sl.nextStart = s.d.now().Add(s.backoff(sl.crashes))
		s.logs.add(s.d.now(), "error", "host", err.Error())
		return nil, err
	}
	sl.inst = inst
	known := inst.hello
	s.mu.Lock()
	s.known = &known
	s.mu.Unlock()
	inst.countRunning()
	s.d.observer.InstanceStarted(s.id, restart)
	s.logs.add(s.d.now(), "info", "host", fmt.Sprintf("instance%s started on %s (sdk %s)", s.serverNote(sl), s.d.backend.Name(), inst.hello.SDKVersion))
	return inst, nil
}

// serverNote names the slot's server in log lines of per-server plugins.
func (s *supervisor) serverNote(sl *slot) string {
	if sl.key == "" {
		return ""
	}
	return " for server " + sl.key
}

func (s *supervisor) backoff(crashes int) time.Duration {
	d := s.d.limits.BackoffMin
	for i := 1; i < crashes && d < s.d.limits.BackoffMax; i++ {
		d *= 2
	}
	return min(d, s.d.limits.BackoffMax)
}

// stopIfIdle stops every instance unused for IdleTimeout (scale to zero:
// the next event or call starts it again) and forgets slots with nothing
// running, so a per-server plugin holds state only for active servers. A
// slot busy starting is left for the next tick.
func (s *supervisor) stopIfIdle(ctx context.Context) {
	now := s.d.now()
	var idle []*instance
	s.mu.Lock()
	for key, sl := range s.slots {
		if !sl.mu.TryLock() {
			continue
		}
		inst := sl.inst
		drop := false
		switch {
		case inst == nil:
			// Never started, or stopped: keep a crash backoff until it passed.
			drop = now.Sub(sl.nextStart) >= s.d.limits.IdleTimeout
		case !inst.alive():
			drop = now.Sub(time.Unix(0, inst.lastUsed.Load())) >= s.d.limits.IdleTimeout
			if drop {
				idle = append(idle, inst) // reaped below
			}
		case now.Sub(time.Unix(0, inst.lastUsed.Load())) >= s.d.limits.IdleTimeout && !inst.busy():
			drop = true
			idle = append(idle, inst)
		}
		if drop {
			sl.inst, sl.gone = nil, true
			delete(s.slots, key)
		}
		sl.mu.Unlock()
	}
	s.mu.Unlock()
	if len(idle) > 0 {
		s.logs.add(s.d.now(), "info", "host", fmt.Sprintf("%d idle instance%s stopped", len(idle), plural(len(idle))))
	}
	stopEach(ctx, idle, true)
}

// stopAll stops every instance and refuses new ones: the plugin is stopping.
func (s *supervisor) stopAll(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	slots := make([]*slot, 0, len(s.slots))
	for key, sl := range s.slots {
		slots = append(slots, sl)
		delete(s.slots, key)
	}
	s.mu.Unlock()
	var insts []*instance
	for _, sl := range slots {
		sl.mu.Lock() // waits for a start in progress, which then is ours to stop
		if sl.inst != nil {
			insts = append(insts, sl.inst)
		}
		sl.inst, sl.gone = nil, true
		sl.mu.Unlock()
	}
	stopEach(ctx, insts, true)
}

// stopEach stops instances, a few at a time (a graceful stop waits for the
// plugin's shutdown handler; thousands of per-server instances must not
// take thousands of grace periods one after another).
func stopEach(ctx context.Context, insts []*instance, graceful bool) {
	if len(insts) == 1 {
		insts[0].stop(ctx, graceful)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, inst := range insts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			inst.stop(ctx, graceful)
		}()
	}
	wg.Wait()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
