package engine

import (
	"context"
	"sync"
)

// callGate lets an instance's unrecorded calls overlap but runs a recorded
// call alone: the guest's clock and random reads reach the instance's one
// entropy tap without saying which call made them, so while a call is
// recorded no other call may be in flight on the instance, or its reads
// (another server's, for a shared instance) would land in the recording.
// The guest serves one call at a time anyway (the SDK queues the rest), so
// this costs only the pipelining of the next request. A waiting recorded
// call stops new unrecorded ones from entering, so a stream of dashboard
// calls cannot starve it. Waits end with their ctx (the call's timeout).
//
// Rejected: tagging each read with its call (the WASI clock and random
// imports carry no call; only the guest knows which handler runs).
type callGate struct {
	mu        sync.Mutex
	shared    int  // unrecorded calls in flight
	exclusive bool // a recorded call in flight
	waiting   int  // recorded calls waiting
	changed   chan struct{}
}

// enter waits until the call may run and returns the function that ends it.
func (g *callGate) enter(ctx context.Context, recorded bool) (leave func(), err error) {
	g.mu.Lock()
	if recorded {
		g.waiting++
	}
	for {
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		if recorded && !g.exclusive && g.shared == 0 {
			g.waiting--
			g.exclusive = true
			g.mu.Unlock()
			return func() { g.release(func() { g.exclusive = false }) }, nil
		}
		if !recorded && !g.exclusive && g.waiting == 0 {
			g.shared++
			g.mu.Unlock()
			return func() { g.release(func() { g.shared-- }) }, nil
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			if recorded {
				g.release(func() { g.waiting-- })
			}
			return nil, ctx.Err()
		}
		g.mu.Lock()
	}
}

// release applies f and wakes every waiter to look again.
func (g *callGate) release(f func()) {
	g.mu.Lock()
	f()
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
	g.mu.Unlock()
}
