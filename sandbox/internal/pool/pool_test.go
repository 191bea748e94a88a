package pool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// ledger records what a pool did with its items, so a test can tell that
// every item warmed was either taken or discarded, never leaked.
type ledger struct {
	mu        sync.Mutex
	next      int
	warmed    []int
	discarded []int
	fail      int           // fail the next fail Warm calls
	block     chan struct{} // if set, Warm waits on it (or ctx) before making
	late      bool          // a blocked Warm returns its item even once ctx ends
	errs      []error
}

func (l *ledger) warm(ctx context.Context) (int, error) {
	if l.block != nil {
		select {
		case <-l.block:
		case <-ctx.Done():
			if !l.late {
				return 0, ctx.Err()
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail > 0 {
		l.fail--
		return 0, errors.New("warm failed")
	}
	l.next++
	l.warmed = append(l.warmed, l.next)
	return l.next, nil
}

func (l *ledger) discard(i int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.discarded = append(l.discarded, i)
}

func (l *ledger) onError(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *ledger) counts() (warmed, discarded, errs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.warmed), len(l.discarded), len(l.errs)
}

func (l *ledger) pool(size int, delay time.Duration) *Pool[int] {
	return New(Config[int]{Size: size, Warm: l.warm, Discard: l.discard, Delay: delay, OnError: l.onError})
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPool(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, l *ledger)
	}{
		{"fills and replaces what is taken", func(t *testing.T, l *ledger) {
			p := l.pool(2, 0)
			defer p.Close()
			eventually(t, "the pool is full", func() bool { return p.Ready() == 2 })
			a, ok1 := p.Take()
			b, ok2 := p.Take()
			if !ok1 || !ok2 || a == b {
				t.Fatalf("took %d %v, %d %v", a, ok1, b, ok2)
			}
			eventually(t, "both are replaced", func() bool { return p.Ready() == 2 })
			if w, _, _ := l.counts(); w != 4 {
				t.Fatalf("warmed %d, want 4 (never more than the size ready)", w)
			}
		}},
		{"size zero keeps nothing", func(t *testing.T, l *ledger) {
			p := l.pool(0, 0)
			if _, ok := p.Take(); ok {
				t.Fatal("took from an empty pool")
			}
			p.Close()
			if w, _, _ := l.counts(); w != 0 {
				t.Fatalf("warmed %d, want 0", w)
			}
		}},
		{"close discards what is ready", func(t *testing.T, l *ledger) {
			p := l.pool(3, 0)
			eventually(t, "the pool is full", func() bool { return p.Ready() == 3 })
			taken, _ := p.Take()
			p.Close()
			p.Close() // idempotent
			w, d, _ := l.counts()
			if d != w-1 {
				t.Fatalf("warmed %d, discarded %d: all but the taken one must go", w, d)
			}
			for _, i := range l.discarded {
				if i == taken {
					t.Fatalf("discarded %d, which the caller took", i)
				}
			}
			if _, ok := p.Take(); ok {
				t.Fatal("took after Close")
			}
			time.Sleep(20 * time.Millisecond)
			if w2, _, _ := l.counts(); w2 != w {
				t.Fatalf("warmed %d after Close", w2-w)
			}
		}},
		{"close cuts a warm short and waits for it", func(t *testing.T, l *ledger) {
			l.block = make(chan struct{})
			p := l.pool(1, 0)
			time.Sleep(10 * time.Millisecond) // let the refill block in Warm
			p.Close()
			if w, d, e := l.counts(); w != 0 || d != 0 || e != 0 {
				t.Fatalf("warmed %d, discarded %d, errors %d; want 0, 0, 0 (a cut-short warm is no failure)", w, d, e)
			}
		}},
		{"an item warmed past close is discarded", func(t *testing.T, l *ledger) {
			l.block, l.late = make(chan struct{}), true
			p := l.pool(1, 0)
			time.Sleep(10 * time.Millisecond)
			p.Close() // returns only once the refill has
			if w, d, _ := l.counts(); w != 1 || d != 1 {
				t.Fatalf("warmed %d, discarded %d; want 1, 1", w, d)
			}
		}},
		{"failures are reported and retried", func(t *testing.T, l *ledger) {
			l.fail = 2
			p := l.pool(1, 0)
			defer p.Close()
			// Two failures back off 100 ms then 200 ms.
			eventually(t, "the pool is full", func() bool { return p.Ready() == 1 })
			if _, _, e := l.counts(); e != 2 {
				t.Fatalf("reported %d errors, want 2", e)
			}
		}},
		{"refill waits the delay after a take", func(t *testing.T, l *ledger) {
			const delay = 200 * time.Millisecond
			start := time.Now()
			p := l.pool(1, delay)
			defer p.Close()
			eventually(t, "the pool is full", func() bool { return p.Ready() == 1 })
			if time.Since(start) < delay {
				t.Fatalf("first warm after %v, want at least %v", time.Since(start), delay)
			}
			p.Take()
			took := time.Now()
			eventually(t, "the item is replaced", func() bool { return p.Ready() == 1 })
			if time.Since(took) < delay {
				t.Fatalf("replaced after %v, want at least %v", time.Since(took), delay)
			}
		}},
		{"concurrent takes never double-hand an item", func(t *testing.T, l *ledger) {
			p := l.pool(4, 0)
			var mu sync.Mutex
			seen := map[int]bool{}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 50 {
						if i, ok := p.Take(); ok {
							mu.Lock()
							if seen[i] {
								t.Errorf("item %d taken twice", i)
							}
							seen[i] = true
							mu.Unlock()
						}
						time.Sleep(time.Millisecond)
					}
				})
			}
			wg.Wait()
			p.Close()
			w, d, _ := l.counts()
			if w != len(seen)+d {
				t.Fatalf("warmed %d = taken %d + discarded %d does not hold", w, len(seen), d)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, &ledger{}) })
	}
}
