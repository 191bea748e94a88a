package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// metricsOnly is a Store whose only working method is MetricAdd.
type metricsOnly struct {
	Store
	mu   sync.Mutex
	adds int
	vals map[metricKey]float64
	fail bool
}

func (m *metricsOnly) MetricAdd(_ context.Context, server, ns, name, day string, delta float64, _ int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("disk full")
	}
	m.adds++
	if m.vals == nil {
		m.vals = map[metricKey]float64{}
	}
	m.vals[metricKey{server, name, day}] += delta
	return nil
}

func testEngine(st Store, max int) *Engine {
	d := &deps{
		store: st, clock: time.Now, log: slog.New(slog.DiscardHandler),
		builtin: newBuiltinCounters(max), builtinFull: make(chan struct{}, 1),
	}
	return &Engine{deps: d}
}

// TestBuiltinCountersBounded: with no flusher running, the in-memory
// counters never pass twice their bound: the dispatching caller writes the
// batch itself. Nothing is lost on the way.
func TestBuiltinCountersBounded(t *testing.T) {
	st := &metricsOnly{}
	e := testEngine(st, 4)
	ctx := context.Background()
	for i := range 50 {
		if err := e.recordBuiltin(ctx, Event{Type: "message_create", ServerID: fmt.Sprint("s", i)}); err != nil {
			t.Fatal(err)
		}
		e.builtin.mu.Lock()
		n := len(e.builtin.pending)
		e.builtin.mu.Unlock()
		if n >= 2*4 {
			t.Fatalf("after %d servers %d counters are pending, want fewer than %d", i+1, n, 2*4)
		}
	}
	e.flushBuiltin(ctx)
	if len(st.vals) != 50 {
		t.Fatalf("store has %d counters, want 50", len(st.vals))
	}
}

// TestBuiltinCountersRetry: counts the store refused stay pending (and
// visible to queries) and are written by the next flush.
func TestBuiltinCountersRetry(t *testing.T) {
	st := &metricsOnly{fail: true}
	e := testEngine(st, 100)
	ctx := context.Background()
	for range 3 {
		_ = e.recordBuiltin(ctx, Event{Type: "message_create", ServerID: "1"})
	}
	e.flushBuiltin(ctx)
	if got := e.builtin.pendingOf("1", "messages"); len(got) != 1 {
		t.Fatalf("after a failed flush pending = %v, want the 3 messages kept", got)
	}
	st.fail = false
	e.flushBuiltin(ctx)
	for k, v := range st.vals {
		if k.server != "1" || k.name != "messages" || v != 3 {
			t.Fatalf("store has %v = %v, want messages of server 1 = 3", k, v)
		}
	}
	if st.adds != 1 {
		t.Fatalf("store writes = %d, want 1 (one upsert for the batch)", st.adds)
	}
}
