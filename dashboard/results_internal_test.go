package dashboard

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestByteBudget: a request past the result budget waits, gets the bytes
// once another request gives them back, and gets 503 busy if none come
// back in time; no request takes more than the whole budget.
func TestByteBudget(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		held    int64         // taken first
		ask     int64         // then asked for
		release time.Duration // the first hold comes back after this; 0 never
		want    error
	}{
		{"fits", 6, 4, 0, nil},
		{"past the budget, nothing comes back", 8, 4, 0, errResultBudget},
		{"past the budget, bytes come back", 8, 4, 20 * time.Millisecond, nil},
		{"more than the budget takes all of it", 0, 100, 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newByteBudget(10)
			if err := b.acquire(ctx, tt.held, time.Second); err != nil {
				t.Fatal(err)
			}
			if tt.release > 0 {
				time.AfterFunc(tt.release, func() { b.release(tt.held) })
			}
			err := b.acquire(ctx, tt.ask, 200*time.Millisecond)
			if !errors.Is(err, tt.want) {
				t.Fatalf("acquire %d with %d held: %v, want %v", tt.ask, tt.held, err, tt.want)
			}
			var he *httpError
			if tt.want != nil && (!errors.As(err, &he) || he.status != 503) {
				t.Errorf("refusal %v is not a 503", err)
			}
			b.mu.Lock()
			used := b.used
			b.mu.Unlock()
			if used > b.max {
				t.Errorf("used %d of a budget of %d", used, b.max)
			}
		})
	}
}
