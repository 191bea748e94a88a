package engine

import (
	"context"
	"fmt"

	"github.com/maidhq/maid/plugin"
)

// Reload replaces an installed plugin with a new version of its code
// (`maid dev`) without dropping or reordering its events:
//
//   - the new version is validated and its instance started and through
//     its handshake first; if either fails, the old version keeps running
//     untouched and the error is returned (and logged in the plugin's log);
//   - then events dispatched from the switch on queue for the new version,
//     which starts taking them only once the old version has handled every
//     event queued before the switch, so the plugin sees events in
//     dispatch order, each once.
//
// Install, by contrast, stops the old version at once and reports the
// events still queued for it as overflow: right for an operator's upgrade,
// wrong for a save-and-see loop that runs under a stream of events.
// Dashboard and command calls go to the new version as soon as it is in.
// The plugin's log ring carries over, so the log reads as one history.
func (e *Engine) Reload(ctx context.Context, archive []byte) (*plugin.Package, error) {
	pkg, err := e.unpack(archive)
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	id := pkg.Manifest.ID
	unlock, err := e.lockInstalls(ctx)
	if err != nil {
		return nil, fmt.Errorf("reload %s: %w", id, err)
	}
	old := e.lookup(id)
	if old == nil {
		// Nothing to keep: a first install (which takes the lock itself).
		unlock()
		return e.Install(ctx, archive)
	}
	defer unlock()
	if err := e.checkCommands(pkg); err != nil {
		return nil, fmt.Errorf("reload %s: %w", id, err)
	}
	ns := newSupervisor(e.deps, pkg)
	if ns.version, ns.hash, err = versionOf(pkg); err != nil {
		return nil, fmt.Errorf("reload %s: %w", id, err)
	}
	ns.logs = old.logs
	ns.gate = make(chan struct{})
	// One instance through its handshake proves the new code starts (for a
	// per-server plugin, the one of the first server the old version
	// serves; the others start on their first call, as after Install).
	if _, err := ns.ensure(ctx, old.anyServer()); err != nil {
		old.logs.add(e.now(), "error", "host", "reload failed; the previous version keeps running: "+err.Error())
		return nil, fmt.Errorf("reload %s: %w", id, err)
	}
	now := e.now()
	if err := e.store.PutPlugin(ctx, PluginRecord{
		ID: id, Version: pkg.Manifest.Version, Archive: archive, InstalledAt: now, UpdatedAt: now,
	}); err != nil {
		ns.stopAll(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("reload %s: %w", id, err)
	}
	// The switch: Dispatch holds swapMu's read side from its lookup to its
	// enqueue, so no event can land in the old queue once this returns.
	var cur *supervisor
	e.swapMu.Lock()
	err = e.onRun(ctx, func(spawn func(*supervisor)) {
		e.mu.Lock()
		cur = e.sups[id]
		if cur == old {
			e.sups[id] = ns
		}
		e.mu.Unlock()
		if cur == old {
			spawn(ns)
		}
	})
	e.swapMu.Unlock()
	if err == nil && cur != old {
		err = fmt.Errorf("%w: the plugin was replaced or removed meanwhile", ErrInvalid)
	}
	if err != nil {
		ns.stopAll(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("reload %s: %w", id, err)
	}
	e.settings.invalidate("")
	// The old version finishes what was queued for it, then stops; the
	// new one starts taking events after that. Not bounded by ctx: giving
	// up here would leave the new version gated forever.
	b := make(chan struct{})
	select {
	case old.queue <- queued{barrier: b}:
		select {
		case <-b:
		case <-old.done:
		}
	case <-old.done:
	}
	if old.cancel != nil {
		old.cancel()
	}
	<-old.done
	close(ns.gate)
	e.log.Info("plugin reloaded", "plugin", id, "version", pkg.Manifest.Version)
	return pkg, nil
}

// anyServer names a server whose slot is open, or "" (the one slot of a
// plugin with one instance for all servers).
func (s *supervisor) anyServer() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key := range s.slots {
		if key != "" {
			return key
		}
	}
	return ""
}
