package engine

import "sync"

// dataVersions counts the writes each plugin made to its data (KV, SQL,
// metrics) on each server: the dashboard asks for the number and reloads
// a plugin's widgets when it moved, instead of reloading them on a timer
// whether anything changed or not. One counter per (plugin, server) that
// ever wrote, kept in memory: it says "something changed", not what.
type dataVersions struct {
	mu sync.Mutex
	m  map[Scope]uint64
}

func (v *dataVersions) bump(s Scope) {
	v.mu.Lock()
	if v.m == nil {
		v.m = map[Scope]uint64{}
	}
	v.m[s]++
	v.mu.Unlock()
}

func (v *dataVersions) get(s Scope) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m[s]
}

// DataVersion returns a number that changes whenever the plugin writes its
// data on the server (through the engine on this node: KV and SQL writes,
// metric increments) or the host counts a built-in metric there (every
// plugin may read those). It starts at 0 and only grows.
func (e *Engine) DataVersion(pluginID, serverID string) uint64 {
	return e.versions.get(Scope{PluginID: pluginID, ServerID: serverID}) + e.versions.get(Scope{ServerID: serverID})
}

// dataWrite reports whether a host method writes a plugin's data.
func dataWrite(method string, m hostMethod) bool {
	return m.bridge == bridgeWrite || method == "metrics.increment"
}
