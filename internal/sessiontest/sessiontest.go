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
// count; and that a window's first new counter removes counters six
// windows old (not fewer: a node whose clock runs ahead must not delete
// live ones), so failed attempts from ever new clients cannot pile up while
// nobody signs in. prefix keeps client keys apart in
// a shared database; stored says whether a client's counter is kept.
func SignInAttemptWindows(t *testing.T, prefix string, attempt Counter, stored func(client string) bool) {
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
	t.Run("sweep", func(t *testing.T) {
		old, recent := prefix+"sweep-old", prefix+"sweep-recent"
		for _, a := range []struct {
			client string
			window int // minutes after t0, in 1-minute windows
		}{{old, 0}, {recent, 2}, {prefix + "sweep-new", 8}} {
			if _, err := attempt(a.client, t0.Add(time.Duration(a.window)*time.Minute), time.Minute, 3); err != nil {
				t.Fatal(err)
			}
		}
		if stored(old) || !stored(recent) {
			t.Fatalf("after window 8's first attempt: window 0's counter kept %v (want false), window 2's %v (want true: six windows are kept)", stored(old), stored(recent))
		}
	})
	// A node whose clock runs two windows ahead sweeps too; a client at its
	// limit on the others stays limited (attack P2).
	t.Run("a fast node's sweep", func(t *testing.T) {
		live := prefix + "fast-live"
		t1 := t0.Add(time.Hour)
		for range 3 {
			if _, err := attempt(live, t1, 10*time.Minute, 3); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := attempt(prefix+"fast-new", t1.Add(20*time.Minute), 10*time.Minute, 3); err != nil {
			t.Fatal(err)
		}
		if ok, err := attempt(live, t1, 10*time.Minute, 3); err != nil || ok {
			t.Fatalf("a client at its limit, after a fast node's sweep: allowed %v, err %v; want refused", ok, err)
		}
	})
}
