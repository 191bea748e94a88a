package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/sandbox"
)

// observer counts what the engine reports and wakes a waiting measurement
// when an event call completes.
type observer struct {
	events  atomic.Int64
	errs    atomic.Int64
	lastErr atomic.Pointer[string]
	// notify, when set, receives each event call's outcome (non-blocking).
	notify atomic.Pointer[chan error]
	// started, when set, receives the time each instance finished its handshake.
	started atomic.Pointer[chan time.Time]
}

var _ engine.Observer = (*observer)(nil)

func (o *observer) CallDone(kind, pluginID string, d time.Duration, err error) {
	if err != nil {
		o.errs.Add(1)
		msg := kind + " " + pluginID + ": " + err.Error()
		o.lastErr.Store(&msg)
	}
	if kind != "event" {
		return
	}
	o.events.Add(1)
	if ch := o.notify.Load(); ch != nil {
		select {
		case *ch <- err:
		default:
		}
	}
}

func (o *observer) InstanceStarted(pluginID string, restart bool) {
	if ch := o.started.Load(); ch != nil {
		select {
		case *ch <- time.Now():
		default:
		}
	}
}

func (o *observer) InstanceStopped(string, sandbox.Exit) {}
func (o *observer) EventOverflow(string)                 {}

func (o *observer) lastError() string {
	if p := o.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// recBackend wraps a backend to see the instances the engine starts: how
// long Start took, and which are alive (for memory figures).
type recBackend struct {
	sandbox.Backend
	lastStart atomic.Int64 // duration of the latest Start, ns

	mu   sync.Mutex
	live map[*recInstance]struct{}
}

func newRecBackend(b sandbox.Backend) *recBackend {
	return &recBackend{Backend: b, live: map[*recInstance]struct{}{}}
}

func (b *recBackend) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	t0 := time.Now()
	inst, err := b.Backend.Start(ctx, spec)
	b.lastStart.Store(int64(time.Since(t0)))
	if err != nil {
		return nil, err
	}
	ri := &recInstance{Instance: inst, b: b, pluginID: spec.PluginID}
	b.mu.Lock()
	b.live[ri] = struct{}{}
	b.mu.Unlock()
	if li, ok := inst.(sandbox.LineInstance); ok {
		// The wrapper must not hide the line transport: the engine would
		// fall back to the byte streams and the bench would measure a path
		// maid serve does not take.
		return recLineInstance{ri, li}, nil
	}
	return ri, nil
}

// recLineInstance is a recInstance of a backend that offers lines.
type recLineInstance struct {
	*recInstance
	lines sandbox.LineInstance
}

func (i recLineInstance) ServeLines(cfg sandbox.LineConfig) error { return i.lines.ServeLines(cfg) }

func (i recLineInstance) SendLine(ctx context.Context, line []byte, reply bool) error {
	return i.lines.SendLine(ctx, line, reply)
}

// instances returns the instances that have not been seen to exit.
func (b *recBackend) instances() []sandbox.Instance {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]sandbox.Instance, 0, len(b.live))
	for ri := range b.live {
		out = append(out, ri.Instance)
	}
	return out
}

// instancesOf returns the live instances of one plugin.
func (b *recBackend) instancesOf(pluginID string) []sandbox.Instance {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []sandbox.Instance
	for ri := range b.live {
		if ri.pluginID == pluginID {
			out = append(out, ri.Instance)
		}
	}
	return out
}

type recInstance struct {
	sandbox.Instance
	b        *recBackend
	pluginID string
}

func (i *recInstance) Wait(ctx context.Context) (sandbox.Exit, error) {
	ex, err := i.Instance.Wait(ctx)
	if err == nil {
		i.b.mu.Lock()
		delete(i.b.live, i)
		i.b.mu.Unlock()
	}
	return ex, err
}

// env is a running engine on one backend and one store.
type env struct {
	eng    *engine.Engine
	store  engine.Store
	obs    *observer
	rec    *recBackend
	cancel context.CancelFunc
	done   chan error
}

// startEnv runs an engine on backend with the store named by dsn (a fresh
// SQLite file under dir when dsn is empty).
func startEnv(ctx context.Context, o *Options, backend sandbox.Backend, dsn, dir string) (*env, error) {
	if dsn == "" {
		dsn = "sqlite://" + filepath.Join(dir, "maid.db")
	}
	st, err := o.OpenStore(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	obs := &observer{}
	rec := newRecBackend(backend)
	eng, err := engine.New(engine.Config{
		Store: st, Backend: rec, DataDir: dir, Observer: obs,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: engine.Limits{
			// Generous start and call timeouts: 100 instances starting at
			// once on a loaded 2-core machine must not turn into failures.
			// They bound waits only; no figure includes them.
			HandshakeTimeout: 2 * time.Minute,
			EventTimeout:     time.Minute,
			MaxEventTimeout:  time.Minute,
			IdleTimeout:      -1,
		},
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("new engine: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &env{eng: eng, store: st, obs: obs, rec: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- eng.Run(rctx) }()
	select {
	case <-eng.Ready():
	case err := <-e.done:
		cancel()
		st.Close()
		return nil, fmt.Errorf("run engine: %w", err)
	}
	return e, nil
}

// close stops every instance and the engine, then closes the store.
func (e *env) close() error {
	e.cancel()
	err := <-e.done
	return errors.Join(err, e.store.Close())
}

// install installs the plugin in dir and enables it on the servers.
func (e *env) install(ctx context.Context, dir string, servers ...string) (string, error) {
	pkg, err := e.eng.InstallPath(ctx, dir)
	if err != nil {
		return "", err
	}
	for _, s := range servers {
		if err := e.eng.SetEnabled(ctx, s, pkg.Manifest.ID, true); err != nil {
			return "", err
		}
	}
	return pkg.Manifest.ID, nil
}

// event returns an event of type typ for server carrying n.
func event(typ, server string, n int) engine.Event {
	data, _ := json.Marshal(map[string]any{
		"n": n, "channel_id": "500", "guild_id": server,
		"user_id": "1234", "timestamp": 1700000000,
	})
	return engine.Event{Type: typ, ServerID: server, Data: data}
}

// dispatchWait dispatches ev to a server where one plugin handles it and
// waits for that call to complete; it returns the time from Dispatch to
// completion.
func (e *env) dispatchWait(ctx context.Context, ev engine.Event, timeout time.Duration) (time.Duration, error) {
	ch := make(chan error, 1)
	e.obs.notify.Store(&ch)
	defer e.obs.notify.Store(nil)
	t0 := time.Now()
	if err := e.eng.Dispatch(ctx, ev); err != nil {
		return 0, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-ch:
		return time.Since(t0), err
	case <-t.C:
		return 0, fmt.Errorf("event %s: no completion within %v", ev.Type, timeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
