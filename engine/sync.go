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
		old, olds, err := e.detach(ctx, id)
		if err != nil {
			return fmt.Errorf("sync plugin %s: %w", id, err)
		}
		for _, s := range olds {
			_ = os.RemoveAll(s.pkg.Dir)
		}
		if old != nil {
			e.settings.invalidate("")
			_ = os.RemoveAll(old.pkg.Dir)
			e.log.Info("plugin removed on another node", "plugin", id)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("sync plugin %s: %w", id, err)
	}
	pkg, err := e.loadStored(rec.Archive) // signature checked again
	if err != nil {
		return fmt.Errorf("sync plugin %s: %w", id, err)
	}
	if cur := e.lookup(id); cur != nil && cur.pkg.Dir == pkg.Dir {
		return nil // the same archive (unpacked by content)
	}
	s, err := e.stored(ctx, rec, pkg)
	if err != nil {
		return fmt.Errorf("sync plugin %s: %w", id, err)
	}
	if err := e.onRun(ctx, func(spawn func(*supervisor)) {
		e.mu.Lock()
		if old := e.sups[s.id]; old != nil {
			e.old[verKey{id, old.version}] = old // kept while a server runs it
		}
		e.sups[s.id] = s
		e.mu.Unlock()
		spawn(s)
	}); err != nil {
		return fmt.Errorf("sync plugin %s: %w", id, err)
	}
	e.pruneOld(ctx, id)
	e.settings.invalidate("")
	e.log.Info("plugin loaded from another node", "plugin", id, "version", pkg.Manifest.Version)
	return nil
}
