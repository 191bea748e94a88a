// Package sessiontest checks a dashboard sign-in attempt counter: the
// store's and the dashboard's in-memory one pass the same cases, so the
// two cannot drift apart.
package sessiontest

import (
	"testing"
	"time"
)

// Counter is a SignInAttempt method (dashboard.SessionStore).
type Counter func(client string, now time.Time, window time.Duration, max int) (allowed bool, err error)

// SignInAttemptWindows checks that a counter's window never moves back, so
// two nodes whose clocks disagree (by a window, or by a second across a
// window boundary) add up instead of taking turns resetting a client's
// count. prefix keeps client keys apart in a shared database.
func SignInAttemptWindows(t *testing.T, prefix string, attempt Counter) {
	t.Helper()
	t0 := time.Date(2026, 12, 7, 12, 9, 59, 500e6, time.UTC)
	for _, tt := range []struct {
		name         string
		nodeA, nodeB time.Time
		refused      int
	}{
		{"one window of skew", t0, t0.Add(-10 * time.Minute), 17},
		// B's first attempt opens the next window (count 1), then both add to it.
		{"a second across a boundary", t0, t0.Add(time.Second), 16},
	} {
		t.Run(tt.name, func(t *testing.T) {
			refused := 0
			for i := range 20 {
				at := tt.nodeA
				if i%2 == 1 {
					at = tt.nodeB
				}
				ok, err := attempt(prefix+"skew-"+tt.name, at, 10*time.Minute, 3)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					refused++
				}
			}
			if refused != tt.refused {
				t.Fatalf("20 attempts alternating between two clocks, max 3: %d refused, want %d", refused, tt.refused)
			}
		})
	}
}

// DeleteAttempts checks that deleting counters before a time (what
// DeleteExpiredDashboardSessions does with its attemptsBefore) removes the
// counters of earlier windows and keeps the one that starts at it and
// later ones. When to sweep and how far back is the dashboard's choice
// (TestSignInSweep in dashboard).
func DeleteAttempts(t *testing.T, prefix string, attempt Counter, deleteBefore func(before time.Time) error, stored func(client string) bool) {
	t.Helper()
	// Long past, so that in a database other tests share the delete
	// reaches no counter of theirs.
	t0 := time.Date(2001, 1, 1, 12, 0, 0, 0, time.UTC)
	clients := []struct {
		client string
		window int // minutes after t0, in 1-minute windows
		kept   bool
	}{{prefix + "sweep-old", 0, false}, {prefix + "sweep-edge", 2, true}, {prefix + "sweep-new", 8, true}}
	for _, c := range clients {
		if _, err := attempt(c.client, t0.Add(time.Duration(c.window)*time.Minute+30*time.Second), time.Minute, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := deleteBefore(t0.Add(2 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if got := stored(c.client); got != c.kept {
			t.Errorf("counter of window %d after deleting before window 2: kept %v, want %v", c.window, got, c.kept)
		}
	}
}
