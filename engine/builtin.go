package engine

import (
	"context"
	"sync"
	"time"
)

// maxPendingMetrics bounds the built-in counters held in memory between
// flushes: one per (server, metric, day). Past it the dispatching caller
// writes the batch itself, so a flood of servers cannot grow the map.
const maxPendingMetrics = 10_000

// defaultMetricsFlush is Config.MetricsFlush's default.
const defaultMetricsFlush = time.Second

type metricKey struct{ server, name, day string }

// builtinCounters are the host's built-in event metrics (messages,
// members_joined, members_left), counted in memory on the event path and
// written to the store in batches by a goroutine Run owns (and once more
// when Run returns). Every message used to cost a write transaction before
// any plugin saw it; now a second's messages on a server cost one upsert.
// What a crash loses is at most one flush interval of these counts, which
// are statistics; plugin data (kv, sql, a plugin's own metrics) is written
// before its call returns, as before.
type builtinCounters struct {
	// flushMu orders flushes against reads: a flush holds it from taking
	// the batch until the store has it, and readers hold it shared while
	// they add the store's value and the pending one, so a count is never
	// seen twice or not at all. Counting (add) never takes it.
	flushMu sync.RWMutex

	mu      sync.Mutex
	pending map[metricKey]float64
	max     int
}

func newBuiltinCounters(max int) *builtinCounters {
	return &builtinCounters{pending: make(map[metricKey]float64), max: max}
}

// add counts delta and returns how many counters are pending.
func (c *builtinCounters) add(k metricKey, delta float64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[k] += delta
	return len(c.pending)
}

// pendingOf returns the unwritten counts of (server, name) by day.
// Callers hold flushMu shared.
func (c *builtinCounters) pendingOf(server, name string) map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out map[string]float64
	for k, v := range c.pending {
		if k.server == server && k.name == name {
			if out == nil {
				out = map[string]float64{}
			}
			out[k.day] += v
		}
	}
	return out
}

// flush writes the pending counts to the store. A count the store refused
// goes back to pending while there is room (it is retried at the next
// flush), else it is dropped with a warning.
func (d *deps) flushBuiltin(ctx context.Context) {
	c := d.builtin
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	batch := c.pending
	if len(batch) == 0 {
		c.mu.Unlock()
		return
	}
	c.pending = make(map[metricKey]float64, len(batch))
	c.mu.Unlock()
	var failed map[metricKey]float64
	var lastErr error
	for k, v := range batch {
		if err := d.store.MetricAdd(ctx, k.server, "", k.name, k.day, v, 0); err != nil {
			if failed == nil {
				failed = map[metricKey]float64{}
			}
			failed[k] = v
			lastErr = err
		}
	}
	if len(failed) == 0 {
		return
	}
	dropped := 0
	c.mu.Lock()
	for k, v := range failed {
		if _, ok := c.pending[k]; ok || len(c.pending) < c.max {
			c.pending[k] += v
		} else {
			dropped++
		}
	}
	c.mu.Unlock()
	d.log.Warn("write built-in metrics", "failed", len(failed), "dropped", dropped, "err", lastErr)
}

// runBuiltinFlusher flushes every interval and when the counters fill,
// until ctx ends; then it flushes once more (the engine is stopping).
func (d *deps) runBuiltinFlusher(ctx context.Context, every time.Duration, full <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.flushBuiltin(ctx)
		case <-full:
			d.flushBuiltin(ctx)
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			d.flushBuiltin(fctx)
			cancel()
			return
		}
	}
}
