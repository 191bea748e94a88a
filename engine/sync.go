package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// SyncPlugin makes this engine run the plugin as the store has it now: a
// plugin installed or replaced on another node (cluster mode) is loaded,
// one removed there is stopped here (its data is already gone from the
// shared store). A plugin already running the stored archive is left
// alone, so a node's own changes, announced back to it, cost nothing.
func (e *Engine) SyncPlugin(ctx context.Context, id string) error {
	rec, err := e.store.GetPlugin(ctx, id)
	if errors.Is(err, ErrNotFound) {
		var old *supervisor
		if err := e.onRun(ctx, func(func(*supervisor)) {
			e.mu.Lock()
			old = e.sups[id]
			delete(e.sups, id)
			e.mu.Unlock()
			if old != nil && old.cancel != nil {
				old.cancel()
			}
		}); err != nil {
			return fmt.Errorf("sync plugin %s: %w", id, err)
		}
		if old != nil {
			<-old.done
			e.settings.invalidate("")
			_ = os.RemoveAll(old.pkg.Dir)
			e.log.Info("plugin removed on another node", "plugin", id)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("sync plugin %s: %w", id, err)
	}
	pkg, err := e.unpack(rec.Archive)
	if err != nil {
		return fmt.Errorf("sync plugin %s: %w", id, err)
	}
	if cur := e.lookup(id); cur != nil && cur.pkg.Dir == pkg.Dir {
		return nil // the same archive (unpacked by content)
	}
	var old *supervisor
	if err := e.onRun(ctx, func(spawn func(*supervisor)) {
		s := newSupervisor(e.deps, pkg)
		e.mu.Lock()
		old = e.sups[s.id]
		e.sups[s.id] = s
		e.mu.Unlock()
		if old != nil && old.cancel != nil {
			old.cancel()
		}
		spawn(s)
	}); err != nil {
		return fmt.Errorf("sync plugin %s: %w", id, err)
	}
	if old != nil {
		<-old.done
	}
	e.settings.invalidate("")
	e.log.Info("plugin loaded from another node", "plugin", id, "version", pkg.Manifest.Version)
	return nil
}
