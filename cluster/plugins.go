package cluster

import (
	"context"
	"log/slog"
	"time"
)

// PluginChanges is the store's record of plugin changes.
type PluginChanges interface {
	PluginChanges(ctx context.Context, since int64) ([]PluginChange, int64, error)
	PluginChangesHead(ctx context.Context) (int64, error)
}

// PluginSyncer loads a plugin as the store has it (engine.SyncPlugin).
type PluginSyncer interface {
	SyncPlugin(ctx context.Context, id string) error
}

// PluginWatcher makes a plugin installed, replaced or removed on any node
// live on this one: it reads the change log on every notification and
// every poll interval (the fallback when notifications are lost).
type PluginWatcher struct {
	changes PluginChanges
	engine  PluginSyncer
	poll    time.Duration
	log     *slog.Logger
	wake    chan struct{}
}

// NewPluginWatcher returns a watcher polling every poll (0: 500ms).
func NewPluginWatcher(c PluginChanges, e PluginSyncer, poll time.Duration, log *slog.Logger) *PluginWatcher {
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PluginWatcher{changes: c, engine: e, poll: poll, log: log.With("component", "cluster"), wake: make(chan struct{}, 1)}
}

// Wake makes the watcher read the change log now.
func (w *PluginWatcher) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Head is the change log's head: read it before the engine loads the
// plugins, and give it to Run, so that no change falls between the two.
func (w *PluginWatcher) Head(ctx context.Context) (int64, error) {
	return w.changes.PluginChangesHead(ctx)
}

// Run follows the change log after since until ctx ends.
func (w *PluginWatcher) Run(ctx context.Context, since int64) error {
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.wake:
		}
		list, latest, err := w.changes.PluginChanges(ctx, since)
		if err != nil {
			w.log.Warn("plugin change log", "err", err)
			continue
		}
		for _, c := range list {
			if err := w.engine.SyncPlugin(ctx, c.PluginID); err != nil {
				w.log.Warn("load plugin changed on another node", "plugin", c.PluginID, "err", err)
			}
		}
		since = latest
	}
}
