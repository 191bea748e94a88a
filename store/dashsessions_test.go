package store

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/internal/sessiontest"
)

// TestDashboardSessions: a session is kept until it expires or is deleted,
// its servers and current server change in place, a sign-in link works
// once and not after it expires (also when many use it at once), and the
// attempt counter allows max per window; on both dialects.
func TestDashboardSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		name := s.d.String()
		now := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)

		want := engine.DashboardSession{
			ID: "h-" + name, UserID: "42", UserName: "Alice", Avatar: "https://cdn.discordapp.com/a.png", Admin: false,
			Guilds: []string{"1", "2"}, DiscordToken: "tok", GuildsAt: now, CSRF: "csrf", Selected: "",
			Created: now, Expires: now.Add(time.Hour),
		}
		must(t, s.CreateDashboardSession(ctx, want))
		got, found, err := s.DashboardSession(ctx, want.ID, now)
		must(t, err)
		if !found || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v %v, want %+v", got, found, want)
		}
		if err := s.CreateDashboardSession(ctx, want); err == nil {
			t.Fatal("a second session with the same id was accepted")
		}
		if _, found, _ := s.DashboardSession(ctx, want.ID, now.Add(time.Hour)); found {
			t.Fatal("an expired session was found")
		}
		must(t, s.SetDashboardSessionGuilds(ctx, want.ID, nil, now.Add(time.Minute)))
		must(t, s.SetDashboardSessionServer(ctx, want.ID, "1"))
		got, _, err = s.DashboardSession(ctx, want.ID, now)
		must(t, err)
		if len(got.Guilds) != 0 || !got.GuildsAt.Equal(now.Add(time.Minute)) || got.Selected != "1" {
			t.Fatalf("after updates: %+v", got)
		}
		if err := s.SetDashboardSessionGuilds(ctx, want.ID, make([]string, maxSessionGuilds+1), now); err == nil {
			t.Fatal("an unbounded server list was accepted")
		}
		must(t, s.DeleteDashboardSession(ctx, want.ID))
		if _, found, _ := s.DashboardSession(ctx, want.ID, now); found {
			t.Fatal("a deleted session was found")
		}

		// Expired rows are swept.
		old := want
		old.ID, old.Expires = "old-"+name, now.Add(-time.Second)
		must(t, s.CreateDashboardSession(ctx, old))
		must(t, s.DeleteExpiredDashboardSessions(ctx, now, now))
		var n int
		must(t, s.rdb.GetContext(ctx, &n, s.q("SELECT COUNT(*) FROM dashboard_sessions WHERE id = ?"), old.ID))
		if n != 0 {
			t.Fatal("an expired session was not swept")
		}

		// Links: once, and not expired.
		must(t, s.CreateSignInLink(ctx, "link-"+name, now.Add(time.Hour)))
		must(t, s.CreateSignInLink(ctx, "late-"+name, now.Add(time.Minute)))
		for _, tt := range []struct {
			name, hash string
			at         time.Time
			ok         bool
		}{
			{"unknown", "nope", now, false},
			{"expired", "late-" + name, now.Add(time.Minute), false},
			{"first use", "link-" + name, now, true},
			{"second use", "link-" + name, now, false},
		} {
			ok, err := s.UseSignInLink(ctx, tt.hash, tt.at)
			must(t, err)
			if ok != tt.ok {
				t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
			}
		}
		must(t, s.CreateSignInLink(ctx, "race-"+name, now.Add(time.Hour)))
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ok, err := s.UseSignInLink(ctx, "race-"+name, now); err == nil && ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("a link used by 8 at once signed in %d", wins.Load())
		}

		// Attempts: max per window, then a new window starts over.
		client := "ip-" + name
		for i := 1; i <= 4; i++ {
			ok, err := s.SignInAttempt(ctx, client, now, time.Minute, 3)
			must(t, err)
			if ok != (i <= 3) {
				t.Fatalf("attempt %d: allowed = %v", i, ok)
			}
		}
		if ok, _ := s.SignInAttempt(ctx, "other-"+name, now, time.Minute, 3); !ok {
			t.Fatal("another client was limited")
		}
		if ok, _ := s.SignInAttempt(ctx, client, now.Add(time.Minute), time.Minute, 3); !ok {
			t.Fatal("the next window was still limited")
		}
	})
}

// TestSignInAttemptWindows (attack P): the stored window never moves back,
// so two nodes whose clocks disagree (by a window, or by a second across a
// window boundary) add up instead of taking turns resetting a client's
// count; and DeleteExpiredDashboardSessions removes the counters of windows
// before the time it is given, so failed attempts from new client keys
// cannot grow the table. On both dialects.
func TestSignInAttemptWindows(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		attempt := func(client string, now time.Time, window time.Duration, max int) (bool, error) {
			return s.SignInAttempt(ctx, client, now, window, max)
		}
		sessiontest.SignInAttemptWindows(t, s.d.String()+"-", attempt)
		sessiontest.DeleteAttempts(t, s.d.String()+"-", attempt, func(before time.Time) error {
			return s.DeleteExpiredDashboardSessions(ctx, time.Now(), before)
		}, func(client string) bool {
			var n int
			must(t, s.rdb.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM dashboard_sign_in_attempts WHERE client = ?`), client))
			return n == 1
		})
	})
}
