package engine

import (
	"context"
	"sync"
	"time"
)

// settingsCache keeps per-server settings (enabled plugins, resolved
// options) that every event and call needs, so the hot path does not read
// the database. Writes through the engine invalidate at once; the TTL bounds
// staleness from writes made by other maid nodes sharing the database.
type settingsCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	enabled map[string]cachedIDs     // server → enabled plugin ids
	options map[[2]string]cachedOpts // (server, plugin@version) → state
	// versions: (server, plugin) → the version the server runs.
	versions map[[2]string]cachedVer
}

type cachedVer struct {
	version string
	latest  string // the latest version when resolved: a publish invalidates
	at      time.Time
}

type cachedIDs struct {
	ids []string
	at  time.Time
}

type cachedOpts struct {
	enabled bool
	opts    map[string]any // resolved; shared read-only
	at      time.Time
}

func newSettingsCache(ttl time.Duration, now func() time.Time) *settingsCache {
	return &settingsCache{ttl: ttl, now: now, enabled: map[string]cachedIDs{}, options: map[[2]string]cachedOpts{}, versions: map[[2]string]cachedVer{}}
}

func (c *settingsCache) fresh(at time.Time) bool { return c.ttl > 0 && c.now().Sub(at) < c.ttl }

// invalidate drops a server's entries ("" drops everything).
func (c *settingsCache) invalidate(serverID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if serverID == "" {
		c.enabled = map[string]cachedIDs{}
		c.options = map[[2]string]cachedOpts{}
		c.versions = map[[2]string]cachedVer{}
		return
	}
	for k := range c.versions {
		if k[0] == serverID {
			delete(c.versions, k)
		}
	}
	delete(c.enabled, serverID)
	for k := range c.options {
		if k[0] == serverID {
			delete(c.options, k)
		}
	}
}

// enabledPlugins returns the ids of plugins enabled on a server.
func (d *deps) enabledPlugins(ctx context.Context, serverID string) ([]string, error) {
	c := d.settings
	c.mu.Lock()
	if v, ok := c.enabled[serverID]; ok && c.fresh(v.at) {
		c.mu.Unlock()
		return v.ids, nil
	}
	c.mu.Unlock()
	at := c.now()
	ids, err := d.store.EnabledPlugins(ctx, serverID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.enabled[serverID] = cachedIDs{ids: ids, at: at}
	c.mu.Unlock()
	return ids, nil
}

// serverState returns whether s's plugin is enabled on a server and its
// resolved options there.
func (d *deps) serverState(ctx context.Context, serverID string, s *supervisor) (bool, map[string]any, error) {
	c := d.settings
	key := [2]string{serverID, s.id + "@" + s.version}
	c.mu.Lock()
	if v, ok := c.options[key]; ok && c.fresh(v.at) {
		c.mu.Unlock()
		return v.enabled, v.opts, nil
	}
	c.mu.Unlock()
	at := c.now()
	sp, err := d.store.GetServerPlugin(ctx, serverID, s.id)
	if err != nil {
		return false, nil, err
	}
	opts := s.resolve(sp.Options)
	c.mu.Lock()
	c.options[key] = cachedOpts{enabled: sp.Enabled, opts: opts, at: at}
	c.mu.Unlock()
	return sp.Enabled, opts, nil
}
