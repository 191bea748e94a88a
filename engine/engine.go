package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/rpc"
	"github.com/maidhq/maid/sdk"
)

// Engine hosts installed plugins. Create it with New, run it with Run (its
// actor loop); the other methods may be called from any goroutine while Run
// is running.
type Engine struct {
	*deps      // shared with every supervisor
	pluginsDir string

	runCh   chan func(spawn func(*supervisor))
	ready   chan struct{}
	started atomic.Bool

	trust    *plugin.Keyring       // trusted publisher keys
	unsigned plugin.UnsignedPolicy // unsigned or untrusted packages

	// installing holds one token while an install (Publish, Reload)
	// checks and switches: the rules that look across installed plugins (a
	// slash command belongs to one plugin, at most MaxGlobalCommands in
	// all) hold only if no other install lands between the check and the
	// switch (attack V). Publish runs its start check (up to
	// InstallTimeout) before taking it and checks again after, so a
	// package that hangs holds up no other install (attack W). A channel,
	// so a waiting install honours its ctx.
	installing chan struct{}
	// startChecks bounds the start checks running at once (Publish runs
	// them outside installing): each holds a sandbox and its memory for up
	// to InstallTimeout, so uploads at once must not start as many
	// sandboxes as they like (attack X). Further ones wait, honouring ctx;
	// one actor's (a publisher's) wait behind each other in checkers, so
	// one publisher's uploads never hold every slot.
	startChecks chan struct{}
	checkMu     sync.Mutex
	checkers    map[string]*actorChecks

	mu sync.RWMutex
	// swapMu: Dispatch holds it for reading from looking a plugin up to
	// queuing the event; Reload holds it to switch versions, so no event
	// is queued for a version after the switch (reload.go).
	swapMu sync.RWMutex
	sups   map[string]*supervisor // the latest version, by plugin id
	// old are older versions that some server still runs (pinned, rolled
	// back, or waiting for its managers' approval of a newer version).
	old map[verKey]*supervisor
}

// maxStartChecks is how many install start checks run at once, of
// different actors.
const maxStartChecks = 2

// actorChecks is one actor's turn at start checks: one at a time, waiting
// counts who holds or waits for it (the entry goes when none does).
type actorChecks struct {
	turn    chan struct{}
	waiting int
}

// startCheckSlot waits for the actor's turn, then for one of the
// maxStartChecks slots; release gives both back.
func (e *Engine) startCheckSlot(ctx context.Context) (release func(), err error) {
	actor := actorOf(ctx)
	e.checkMu.Lock()
	a := e.checkers[actor]
	if a == nil {
		a = &actorChecks{turn: make(chan struct{}, 1)}
		e.checkers[actor] = a
	}
	a.waiting++
	e.checkMu.Unlock()
	leave := func() {
		e.checkMu.Lock()
		if a.waiting--; a.waiting == 0 {
			delete(e.checkers, actor)
		}
		e.checkMu.Unlock()
	}
	select {
	case a.turn <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, fmt.Errorf("wait for a start check: %w: %w", ErrTimeout, ctx.Err())
	}
	select {
	case e.startChecks <- struct{}{}:
	case <-ctx.Done():
		<-a.turn
		leave()
		return nil, fmt.Errorf("wait for a start check: %w: %w", ErrTimeout, ctx.Err())
	}
	return func() {
		<-e.startChecks
		<-a.turn
		leave()
	}, nil
}

// lockInstalls waits for the other installs to finish (installing); the
// caller runs the returned unlock when its own has.
func (e *Engine) lockInstalls(ctx context.Context) (unlock func(), err error) {
	select {
	case e.installing <- struct{}{}:
		return func() { <-e.installing }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for another install: %w: %w", ErrTimeout, ctx.Err())
	}
}

// New checks cfg and returns an engine that is not yet running.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.Store == nil:
		return nil, fmt.Errorf("new engine: %w: store is required", ErrInvalid)
	case cfg.Backend == nil:
		return nil, fmt.Errorf("new engine: %w: sandbox backend is required", ErrInvalid)
	case cfg.DataDir == "":
		return nil, fmt.Errorf("new engine: %w: data dir is required", ErrInvalid)
	case cfg.Instances != "" && cfg.Instances != plugin.InstancesPerPlugin && cfg.Instances != plugin.InstancesPerServer:
		return nil, fmt.Errorf("new engine: %w: instances must be %q or %q, got %q", ErrInvalid, plugin.InstancesPerPlugin, plugin.InstancesPerServer, cfg.Instances)
	case cfg.DenyPerServer && cfg.Instances == plugin.InstancesPerServer:
		return nil, fmt.Errorf("new engine: %w: instances %q contradicts denying per-server instances", ErrInvalid, plugin.InstancesPerServer)
	case cfg.MaxInstances < 0:
		return nil, fmt.Errorf("new engine: %w: max instances must be 0 (no cap) or more, got %d", ErrInvalid, cfg.MaxInstances)
	}
	d := &deps{
		store:         cfg.Store,
		backend:       cfg.Backend,
		discord:       cfg.Discord,
		limits:        cfg.Limits.withDefaults(),
		clock:         cfg.Now,
		log:           cfg.Logger,
		observer:      cfg.Observer,
		hostVersion:   cfg.HostVersion,
		instances:     cfg.Instances,
		denyPerServer: cfg.DenyPerServer,
		maxInstances:  cfg.MaxInstances,
		logSink:       cfg.LogSink,
		noRecording:   cfg.NoRecording,

		builtin:      newBuiltinCounters(maxPendingMetrics),
		builtinFull:  make(chan struct{}, 1),
		metricsFlush: cfg.MetricsFlush,
	}
	if d.metricsFlush <= 0 {
		d.metricsFlush = defaultMetricsFlush
	}
	if d.clock == nil {
		d.clock = time.Now
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.observer == nil {
		d.observer = nopObserver{}
	}
	if d.hostVersion == "" {
		d.hostVersion = "dev"
	}
	d.settings = newSettingsCache(d.limits.SettingsTTL, d.now)
	e := &Engine{
		installing:  make(chan struct{}, 1),
		startChecks: make(chan struct{}, maxStartChecks),
		checkers:    map[string]*actorChecks{},
		deps:        d,
		pluginsDir:  filepath.Join(cfg.DataDir, "plugins"),
		runCh:       make(chan func(func(*supervisor))),
		ready:       make(chan struct{}),
		sups:        make(map[string]*supervisor),
		old:         make(map[verKey]*supervisor),
		trust:       cfg.TrustedKeys,
		unsigned:    cfg.Unsigned,
	}
	if e.unsigned == "" {
		e.unsigned = plugin.UnsignedWarn
	}
	if err := os.MkdirAll(e.pluginsDir, 0o755); err != nil {
		return nil, fmt.Errorf("new engine: %w", err)
	}
	return e, nil
}

// Ready is closed once Run has loaded the installed plugins.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Run loads installed plugins and serves until ctx ends, then stops every
// instance gracefully and returns.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("run engine: already running")
	}
	var wg sync.WaitGroup
	spawn := func(s *supervisor) {
		hctx, cancel := context.WithCancel(ctx)
		s.cancel = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(hctx)
		}()
	}
	// The built-in metrics flusher stops last: its final flush follows the
	// supervisors' stop, which the deferred function below waits for.
	fctx, stopFlusher := context.WithCancel(context.WithoutCancel(ctx))
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		e.runBuiltinFlusher(fctx, e.metricsFlush, e.builtinFull)
	}()
	defer func() {
		stopFlusher()
		<-flushed
	}()
	defer func() {
		e.mu.RLock()
		for _, s := range e.sups {
			if s.cancel != nil {
				s.cancel()
			}
		}
		for _, s := range e.old {
			if s.cancel != nil {
				s.cancel()
			}
		}
		e.mu.RUnlock()
		wg.Wait()
	}()

	recs, err := e.store.ListPlugins(ctx)
	if err != nil {
		return fmt.Errorf("run engine: list plugins: %w", err)
	}
	for _, r := range recs {
		rec, err := e.store.GetPlugin(ctx, r.ID)
		if err != nil {
			e.log.Error("load plugin", "plugin", r.ID, "err", err)
			continue
		}
		pkg, err := e.loadStored(rec.Archive)
		if err != nil {
			e.log.Error("load plugin", "plugin", r.ID, "err", err)
			continue
		}
		s, err := e.stored(ctx, rec, pkg)
		if err != nil {
			e.log.Error("load plugin", "plugin", r.ID, "err", err)
			continue
		}
		e.mu.Lock()
		e.sups[s.id] = s
		e.mu.Unlock()
		spawn(s)
	}
	close(e.ready)
	e.log.Info("engine running", "backend", e.backend.Name(), "plugins", len(recs))
	for {
		select {
		case f := <-e.runCh:
			f(spawn)
		case <-ctx.Done():
			return nil
		}
	}
}

// onRun runs f on Run's goroutine (which owns spawning).
func (e *Engine) onRun(ctx context.Context, f func(spawn func(*supervisor))) error {
	done := make(chan struct{})
	select {
	case e.runCh <- func(spawn func(*supervisor)) { f(spawn); close(done) }:
	case <-ctx.Done():
		return fmt.Errorf("engine not running: %w", ctx.Err())
	}
	<-done
	return nil
}

// unpack writes a plugin archive under the plugins dir (content-addressed,
// so a replaced version never disturbs a running one) and loads it.
func (e *Engine) unpack(archive []byte) (*plugin.Package, error) {
	sum := sha256.Sum256(archive)
	tmp, err := os.MkdirTemp(e.pluginsDir, ".unpack-")
	if err != nil {
		return nil, fmt.Errorf("unpack plugin: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := plugin.Unpack(bytes.NewReader(archive), int64(len(archive)), tmp); err != nil {
		return nil, fmt.Errorf("unpack plugin: %w: %w", ErrInvalid, err)
	}
	pkg, err := plugin.LoadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("load plugin: %w: %w", ErrInvalid, err)
	}
	// Every install rule lives here, so the dashboard, the CLI and the
	// examples seeded at start are held to what `maid plugin validate` says.
	if err := pkg.Manifest.SupportedBy(sdk.Version); err != nil {
		return nil, fmt.Errorf("load plugin: %w: %w", ErrInvalid, err)
	}
	final := filepath.Join(e.pluginsDir, pkg.Manifest.ID+"-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(final); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(tmp, final); err != nil {
			return nil, fmt.Errorf("unpack plugin: %w", err)
		}
	}
	pkg, err = plugin.LoadDir(final)
	if err != nil {
		return nil, fmt.Errorf("load plugin: %w: %w", ErrInvalid, err)
	}
	return pkg, nil
}

// MaxGlobalCommands is Discord's limit of global application commands:
// maid registers every installed plugin's slash commands as global
// commands in one bulk overwrite, which Discord refuses whole past it.
const MaxGlobalCommands = 100

// checkCommands is the install rule for slash commands: a command name
// belongs to one installed plugin (commands are global, so a second
// declarer would take it on every server), and the installed plugins'
// distinct command names stay within MaxGlobalCommands (past it no
// plugin's commands would register). The plugin's own earlier version
// does not count: an update may keep or drop its commands.
func (e *Engine) checkCommands(pkg *plugin.Package) error {
	id := pkg.Manifest.ID
	owner := map[string]string{}
	for _, p := range e.Plugins() {
		if p.Manifest.ID == id {
			continue
		}
		for _, c := range p.Manifest.Commands {
			if _, taken := owner[c.Name]; !taken {
				owner[c.Name] = p.Manifest.ID
			}
		}
	}
	for _, c := range pkg.Manifest.Commands {
		if other, taken := owner[c.Name]; taken {
			return fmt.Errorf("%w: slash command /%s is already declared by installed plugin %q: command names are global to the bot, so each belongs to one plugin; rename the command", ErrConflict, c.Name, other)
		}
	}
	if n := len(owner) + len(pkg.Manifest.Commands); n > MaxGlobalCommands {
		return fmt.Errorf("%w: the installed plugins would declare %d slash commands and Discord allows at most %d global commands (%d are taken, this package declares %d)", ErrLimit, n, MaxGlobalCommands, len(owner), len(pkg.Manifest.Commands))
	}
	return nil
}

// InstallPath installs a plugin from a directory or a zip file.
func (e *Engine) InstallPath(ctx context.Context, path string) (*plugin.Package, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", path, err)
	}
	var archive []byte
	if st.IsDir() {
		var buf bytes.Buffer
		if err := plugin.Pack(path, &buf); err != nil {
			return nil, fmt.Errorf("install %s: %w: %w", path, ErrInvalid, err)
		}
		archive = buf.Bytes()
	} else if archive, err = os.ReadFile(path); err != nil {
		return nil, fmt.Errorf("install %s: %w", path, err)
	}
	return e.Install(ctx, archive)
}

// Uninstall stops and removes a plugin with all its data and settings.
func (e *Engine) Uninstall(ctx context.Context, id string) error {
	old, olds, err := e.detach(ctx, id)
	if err != nil {
		return fmt.Errorf("uninstall %s: %w", id, err)
	}
	if old == nil {
		return fmt.Errorf("uninstall %s: %w", id, ErrNotFound)
	}
	defer e.settings.invalidate("")
	if err := e.store.DeletePlugin(ctx, id); err != nil {
		return fmt.Errorf("uninstall %s: %w", id, err)
	}
	e.audit(ctx, "uninstall", "", id, old.version, "settings and data on every server deleted")
	_ = os.RemoveAll(old.pkg.Dir)
	for _, s := range olds {
		_ = os.RemoveAll(s.pkg.Dir)
	}
	return nil
}

// detach removes plugin id's supervisors from the engine (the current
// version's, and older versions' some server still ran), stops them and
// waits for them to end. cur is nil when the plugin was not running.
func (e *Engine) detach(ctx context.Context, id string) (cur *supervisor, olds []*supervisor, err error) {
	if err := e.onRun(ctx, func(func(*supervisor)) {
		e.mu.Lock()
		cur = e.sups[id]
		delete(e.sups, id)
		for k, s := range e.old {
			if k.id == id {
				delete(e.old, k)
				olds = append(olds, s)
			}
		}
		e.mu.Unlock()
		for _, s := range append([]*supervisor{cur}, olds...) {
			if s != nil && s.cancel != nil {
				s.cancel()
			}
		}
	}); err != nil {
		return nil, nil, err
	}
	for _, s := range append([]*supervisor{cur}, olds...) {
		if s != nil {
			<-s.done
		}
	}
	return cur, olds, nil
}

func (e *Engine) lookup(id string) *supervisor {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.sups[id]
}

// Plugin returns an installed plugin's package.
func (e *Engine) Plugin(id string) (*plugin.Package, bool) {
	s := e.lookup(id)
	if s == nil {
		return nil, false
	}
	return s.pkg, true
}

// Plugins returns the installed plugins, sorted by id.
func (e *Engine) Plugins() []*plugin.Package {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*plugin.Package, 0, len(e.sups))
	for _, s := range e.sups {
		out = append(out, s.pkg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Manifest.ID < out[j].Manifest.ID })
	return out
}

// PluginEnabled reports whether an installed plugin is enabled on a
// server (read through the settings cache, as dispatch does).
func (e *Engine) PluginEnabled(ctx context.Context, serverID, pluginID string) (bool, error) {
	s, err := e.supFor(ctx, pluginID, serverID)
	if err != nil {
		return false, fmt.Errorf("plugin %s: %w", pluginID, err)
	}
	enabled, _, err := e.serverState(ctx, serverID, s)
	if err != nil {
		return false, fmt.Errorf("plugin %s state: %w", pluginID, err)
	}
	return enabled, nil
}

// PluginState is one plugin as one server sees it.
type PluginState struct {
	Package *plugin.Package // of the version the server runs
	Enabled bool
	Options map[string]any // resolved: saved values over defaults
	Version string         // the version the server runs
}

// ServerPlugins returns every installed plugin's state on a server.
func (e *Engine) ServerPlugins(ctx context.Context, serverID string) ([]PluginState, error) {
	var out []PluginState
	for _, pkg := range e.Plugins() {
		st, err := e.PluginState(ctx, serverID, pkg.Manifest.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// PluginState returns one plugin's state on a server.
func (e *Engine) PluginState(ctx context.Context, serverID, pluginID string) (PluginState, error) {
	s, err := e.supFor(ctx, pluginID, serverID)
	if err != nil {
		return PluginState{}, fmt.Errorf("plugin %s: %w", pluginID, err)
	}
	sp, err := e.store.GetServerPlugin(ctx, serverID, pluginID)
	if err != nil {
		return PluginState{}, fmt.Errorf("plugin %s state: %w", pluginID, err)
	}
	return PluginState{Package: s.pkg, Enabled: sp.Enabled, Options: s.resolve(sp.Options), Version: s.version}, nil
}

// SetEnabled enables or disables an installed plugin on a server.
func (e *Engine) SetEnabled(ctx context.Context, serverID, pluginID string, enabled bool) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	latest := e.lookup(pluginID)
	if latest == nil {
		return fmt.Errorf("enable %s: %w: not installed", pluginID, ErrNotFound)
	}
	defer e.settings.invalidate(serverID)
	if enabled {
		if err := e.consentOnEnable(ctx, serverID, latest); err != nil {
			return fmt.Errorf("enable %s: %w", pluginID, err)
		}
	}
	if err := e.store.SetEnabled(ctx, serverID, pluginID, enabled); err != nil {
		return err
	}
	action := "disable"
	if enabled {
		action = "enable"
	}
	v, _ := e.resolveVersion(ctx, serverID, latest)
	e.audit(ctx, action, serverID, pluginID, v, "")
	return nil
}

// SetOptions validates option values against the plugin's option schema
// and saves them for the server; it returns the resolved options.
func (e *Engine) SetOptions(ctx context.Context, serverID, pluginID string, values map[string]json.RawMessage) (map[string]any, error) {
	if err := checkServerID(serverID); err != nil {
		return nil, err
	}
	s, err := e.supFor(ctx, pluginID, serverID)
	if err != nil {
		return nil, fmt.Errorf("set options of %s: %w", pluginID, err)
	}
	resolved, err := s.pkg.Manifest.ResolveOptions(values)
	if err != nil {
		return nil, fmt.Errorf("set options of %s: %w: %w", pluginID, ErrInvalid, err)
	}
	defer e.settings.invalidate(serverID)
	if err := e.store.SetOptions(ctx, serverID, pluginID, values); err != nil {
		return nil, fmt.Errorf("set options of %s: %w", pluginID, err)
	}
	e.audit(ctx, "options", serverID, pluginID, s.version, optionsDetail(values))
	return resolved, nil
}

// resolve applies defaults to saved values. Values saved for an older
// version that no longer fit the schema fall back to defaults.
func (s *supervisor) resolve(saved map[string]json.RawMessage) map[string]any {
	m := s.pkg.Manifest
	if opts, err := m.ResolveOptions(saved); err == nil {
		return opts
	}
	opts := m.DefaultOptions()
	for id, raw := range saved {
		if one, err := m.ResolveOptions(map[string]json.RawMessage{id: raw}); err == nil {
			opts[id] = one[id]
		}
	}
	return opts
}

func (d *deps) optionsFor(ctx context.Context, serverID string, s *supervisor) map[string]any {
	_, opts, err := d.serverState(ctx, serverID, s)
	if err != nil {
		s.logs.addFor(d.now(), serverID, "warning", "host", "options unavailable, using defaults: "+err.Error())
		return s.pkg.Manifest.DefaultOptions()
	}
	return opts
}

var (
	eventTypeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	serverIDRe  = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)
)

func checkServerID(id string) error {
	if !serverIDRe.MatchString(id) {
		return fmt.Errorf("%w: discord_srv_id %q must be 1-64 letters, digits, - or _", ErrInvalid, id)
	}
	return nil
}

// Dispatch records the event's built-in metrics and queues it for every
// plugin enabled on its server that handles its type. A full queue blocks
// until ctx ends (backpressure); events that still do not fit are counted
// and reported as ErrOverflow, never dropped silently.
func (e *Engine) Dispatch(ctx context.Context, ev Event) error {
	if !eventTypeRe.MatchString(ev.Type) {
		return fmt.Errorf("dispatch: %w: type %q must be a lower snake case gateway event name", ErrInvalid, ev.Type)
	}
	if err := checkServerID(ev.ServerID); err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage("{}")
	} else {
		// Validated and compacted once here; each plugin's call copies it
		// (rpc.CompactJSON) instead of scanning it again.
		c, err := rpc.Compact(ev.Data)
		if err != nil || len(c) == 0 || c[0] != '{' {
			return fmt.Errorf("dispatch: %w: data must be a JSON object", ErrInvalid)
		}
		ev.Data = json.RawMessage(c)
	}
	if err := e.recordBuiltin(ctx, ev); err != nil {
		e.log.Warn("record built-in metrics", "err", err)
	}
	ids, err := e.enabledPlugins(ctx, ev.ServerID)
	if err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	e.swapMu.RLock()
	defer e.swapMu.RUnlock()
	var missed []string
	for _, id := range ids {
		s, err := e.supFor(ctx, id, ev.ServerID)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				e.log.Warn("dispatch: version of plugin", "plugin", id, "server", ev.ServerID, "err", err)
				e.overflowed(id)
				missed = append(missed, id)
			}
			continue
		}
		if !s.wants(ev.Type) {
			continue
		}
		// A stopped supervisor (engine shut down) never reads its queue again.
		select {
		case <-s.done:
			e.overflowed(id)
			missed = append(missed, id)
			continue
		default:
		}
		select {
		case s.queue <- queued{ev: ev}:
		case <-ctx.Done():
			e.overflowed(id)
			missed = append(missed, id)
		case <-s.done:
			e.overflowed(id)
			missed = append(missed, id)
		}
	}
	if len(missed) > 0 {
		// Named up to a few: a server with thousands of plugins must not
		// turn one full queue into an error of thousands of ids.
		if n := len(missed); n > maxNamedMissed {
			missed = append(missed[:maxNamedMissed:maxNamedMissed], fmt.Sprintf("and %d more", n-maxNamedMissed))
		}
		return fmt.Errorf("dispatch %s: %w for %v", ev.Type, ErrOverflow, missed)
	}
	return nil
}

// maxNamedMissed bounds the plugin ids an ErrOverflow names.
const maxNamedMissed = 10

// Drain waits until every event queued before the call has been handled.
func (e *Engine) Drain(ctx context.Context) error {
	e.mu.RLock()
	sups := make([]*supervisor, 0, len(e.sups)+len(e.old))
	for _, s := range e.sups {
		sups = append(sups, s)
	}
	for _, s := range e.old {
		sups = append(sups, s)
	}
	e.mu.RUnlock()
	var barriers []chan struct{}
	for _, s := range sups {
		b := make(chan struct{})
		select {
		case s.queue <- queued{barrier: b}:
			barriers = append(barriers, b)
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("drain: %w", ctx.Err())
		}
	}
	for _, b := range barriers {
		select {
		case <-b:
		case <-ctx.Done():
			return fmt.Errorf("drain: %w", ctx.Err())
		}
	}
	return nil
}

// CallDashboard calls a plugin's @plugin.on_dashboard handler for a server.
// params gets discord_srv_id set to serverID, whatever the caller sent.
func (e *Engine) CallDashboard(ctx context.Context, pluginID, serverID, handler string, params json.RawMessage) (json.RawMessage, error) {
	p, err := callParams(params)
	if err != nil {
		return nil, fmt.Errorf("dashboard %s.%s: %w", pluginID, handler, err)
	}
	p["discord_srv_id"] = serverID
	return e.callPlugin(ctx, pluginCall{
		kind: "dashboard", method: "plugin.dashboard", what: "dashboard handler " + handler,
		pluginID: pluginID, serverID: serverID, name: handler,
		registered: func(h hello) []string { return h.Dashboard },
		timeout:    func(s *supervisor) time.Duration { return s.dashboardTimeout() },
		params:     map[string]any{"handler": handler, "params": p},
	})
}

// CallCommand routes a slash command interaction to the plugin.
func (e *Engine) CallCommand(ctx context.Context, pluginID, serverID, command string, interaction json.RawMessage) (json.RawMessage, error) {
	if len(interaction) == 0 {
		interaction = json.RawMessage("{}")
	}
	return e.callPlugin(ctx, pluginCall{
		kind: "command", method: "plugin.command", what: "command " + command,
		pluginID: pluginID, serverID: serverID, name: command,
		registered: func(h hello) []string { return h.Commands },
		timeout:    func(s *supervisor) time.Duration { return s.eventTimeout() },
		params:     map[string]any{"command": command, "interaction": interaction},
	})
}

// pluginCall is one synchronous host→plugin call (dashboard or command).
type pluginCall struct {
	kind, method, what       string // observer kind, protocol method, for messages
	pluginID, serverID, name string
	registered               func(hello) []string // the handlers of this kind
	timeout                  func(*supervisor) time.Duration
	params                   map[string]any // without ctx, added here
}

func (e *Engine) callPlugin(ctx context.Context, c pluginCall) (json.RawMessage, error) {
	s, inst, err := e.enabledInstance(ctx, c.pluginID, c.serverID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.what, err)
	}
	if !slices.Contains(c.registered(inst.hello), c.name) {
		err := fmt.Errorf("%s: %w: plugin %s registered no %s handler %q", c.what, ErrNotFound, c.pluginID, c.kind, c.name)
		s.logs.addFor(e.now(), c.serverID, "error", "host", err.Error())
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout(s))
	defer cancel()
	c.params["ctx"] = callCtx(c.serverID, c.pluginID, e.optionsFor(ctx, c.serverID, s))
	start := time.Now()
	var out json.RawMessage
	scope := callScope{serverID: c.serverID}
	// Every call gets its own seed of the plugin's random module (the SDK
	// reseeds with it, then from fresh entropy when the call ends): a seed
	// a recording reveals never stays in effect for another call, which may
	// be another server's on a shared instance.
	c.params["seed"] = newToken()
	sink := recordingSink(ctx)
	if sink != nil {
		scope.rec = s.newCallRecorder(c.method, c.serverID, c.params)
	}
	err = inst.callScoped(cctx, c.method, scope, c.params, &out)
	if sink != nil {
		sink(scope.rec.finish(out, err))
	}
	err = s.callError(c.what, inst, err)
	e.observer.CallDone(c.kind, c.pluginID, time.Since(start), err)
	if err != nil {
		s.logs.addFor(e.now(), c.serverID, "error", "host", err.Error())
		return nil, err
	}
	return out, nil
}

func (e *Engine) enabledInstance(ctx context.Context, pluginID, serverID string) (*supervisor, *instance, error) {
	if err := checkServerID(serverID); err != nil {
		return nil, nil, err
	}
	s, err := e.supFor(ctx, pluginID, serverID)
	if err != nil {
		return nil, nil, err
	}
	enabled, _, err := e.serverState(ctx, serverID, s)
	if err != nil {
		return nil, nil, err
	}
	if !enabled {
		return nil, nil, fmt.Errorf("%w: plugin %q is not enabled on server %s", ErrNotFound, pluginID, serverID)
	}
	inst, err := s.ensure(ctx, serverID)
	if err != nil {
		return nil, nil, err
	}
	return s, inst, nil
}

func callParams(raw json.RawMessage) (map[string]any, error) {
	p := map[string]any{}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return p, nil
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%w: params must be a JSON object: %v", ErrInvalid, err)
	}
	return p, nil
}

// Logs returns up to n of a plugin's latest log lines, oldest first.
func (e *Engine) Logs(pluginID string, n int) ([]LogLine, error) {
	s := e.lookup(pluginID)
	if s == nil {
		return nil, fmt.Errorf("logs of %s: %w", pluginID, ErrNotFound)
	}
	return s.logs.tail(n), nil
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Plugins   int   `json:"plugins"`
	Instances int64 `json:"instances"` // running now
	Routed    int64 `json:"events_routed"`
	Overflow  int64 `json:"events_overflow"` // not queued: queue full
	Restarts  int64 `json:"restarts"`
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.RLock()
	n := len(e.sups)
	e.mu.RUnlock()
	return Stats{Plugins: n, Instances: e.stats.running.Load(), Routed: e.stats.routed.Load(), Overflow: e.stats.overflow.Load(), Restarts: e.stats.restarts.Load()}
}
