package dashboard

import (
	"context"
	"testing"
	"time"
)

// TestMemSignInAttemptWindows: the in-memory session store counts like the
// store (store.TestSignInAttemptWindows): a window never moves back, and a
// new window sweeps counters from before the previous one.
func TestMemSignInAttemptWindows(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 12, 9, 59, 500e6, time.UTC)
	for _, tt := range []struct {
		name         string
		nodeA, nodeB time.Time
		refused      int
	}{
		{"one window of skew", t0, t0.Add(-10 * time.Minute), 17},
		{"a second across a boundary", t0, t0.Add(time.Second), 16},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemSessions()
			refused := 0
			for i := range 20 {
				at := tt.nodeA
				if i%2 == 1 {
					at = tt.nodeB
				}
				if ok, _ := m.SignInAttempt(ctx, "c", at, 10*time.Minute, 3); !ok {
					refused++
				}
			}
			if refused != tt.refused {
				t.Fatalf("20 attempts alternating between two clocks, max 3: %d refused, want %d", refused, tt.refused)
			}
		})
	}
	m := newMemSessions()
	for i, c := range []string{"old", "recent", "new"} {
		if _, err := m.SignInAttempt(ctx, c, t0.Add(time.Duration(i)*time.Minute), time.Minute, 3); err != nil {
			t.Fatal(err)
		}
	}
	if _, old := m.attempts["old"]; old || len(m.attempts) != 2 {
		t.Fatalf("after a new window's first attempt: %v, want only the previous and the current window's", m.attempts)
	}
}
