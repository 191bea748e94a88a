// Package pool keeps sandboxes warm for the wasm and docker backends: a
// fixed number of items made ahead of time, one refill goroutine replacing
// each item taken, and a Close that leaves nothing running.
//
// It is generic over what it pools; the backend says how to warm an item and
// how to get rid of one. Checking that a taken item still works (a wasm
// interpreter that died while waiting, a container that cannot take its
// plugin's files) stays with the backend: only it knows, and it discards a
// bad one and takes again.
package pool

import (
	"context"
	"sync"
	"time"
)

// Refill backoff after a failed Warm: doubling from minBackoff up to
// maxBackoff, so a broken engine or interpreter is retried without spinning.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Config says what a Pool keeps warm and how.
type Config[T any] struct {
	// Size is how many items to keep ready; 0 disables the pool.
	Size int
	// Warm makes one ready item. Its ctx ends when Close is called, and
	// Warm should then return soon; an item it returns anyway is discarded.
	Warm func(ctx context.Context) (T, error)
	// Discard gets rid of an item nobody will take, and returns once it is
	// gone, so that Close leaves nothing behind.
	Discard func(T)
	// Delay is how long the refill waits after a take before warming the
	// replacement: the start that took an item boots its plugin first, since
	// on a small machine a refill running alongside doubles its latency.
	Delay time.Duration
	// OnError is told of each failed Warm (not of those Close cut short).
	// Optional.
	OnError func(error)
}

// Pool is a set of warm items. Take, Ready and Close are safe for
// concurrent use.
//
// Every missing item is one token on slots; the refill goroutine turns a
// token into an item on ready. Tokens, ready items and the one being warmed
// always add up to Size, so neither channel send ever blocks.
type Pool[T any] struct {
	cfg    Config[T]
	ready  chan T
	slots  chan struct{}
	cancel context.CancelFunc // ends the refill's context
	done   chan struct{}      // closed when the refill goroutine has returned

	closeOnce sync.Once
}

// New returns a pool and, if cfg.Size > 0, starts filling it in the
// background. The caller owns the refill goroutine through Close.
func New[T any](cfg Config[T]) *Pool[T] {
	p := &Pool[T]{cfg: cfg, done: make(chan struct{})}
	if cfg.Size <= 0 {
		p.cancel = func() {}
		close(p.done)
		return p
	}
	p.ready = make(chan T, cfg.Size)
	p.slots = make(chan struct{}, cfg.Size)
	for range cfg.Size {
		p.slots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.refill(ctx)
	return p
}

// Take returns a ready item and asks for its replacement, or reports that
// none is ready. The item is the caller's from here on.
func (p *Pool[T]) Take() (T, bool) {
	select {
	case item := <-p.ready: // a nil channel (no pool) never is
		p.slots <- struct{}{}
		return item, true
	default:
		var zero T
		return zero, false
	}
}

// Ready is how many items are waiting to be taken.
func (p *Pool[T]) Ready() int { return len(p.ready) }

// Close stops the refill, waits for it (an item it was warming is
// discarded), then discards every item still ready. Items already taken are
// not affected. Safe to call more than once.
func (p *Pool[T]) Close() {
	p.closeOnce.Do(func() {
		p.cancel()
		<-p.done
		for {
			select {
			case item := <-p.ready:
				p.cfg.Discard(item)
				continue
			default:
			}
			return
		}
	})
}

// refill keeps the pool full until ctx ends. It warms one item at a time,
// so a refill never competes with running plugins for every core; until it
// puts an item on ready, the item is its own to discard.
func (p *Pool[T]) refill(ctx context.Context) {
	defer close(p.done)
	backoff := minBackoff
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.slots:
		}
		if p.cfg.Delay > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(p.cfg.Delay):
			}
		}
		item, err := p.cfg.Warm(ctx)
		if err != nil {
			p.slots <- struct{}{} // still missing
			if ctx.Err() != nil {
				return
			}
			if p.cfg.OnError != nil {
				p.cfg.OnError(err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		// Never blocks: one token per buffer place. If Close has begun, it
		// discards this item once the refill returns.
		p.ready <- item
	}
}
