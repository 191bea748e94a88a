package dashboard_test

import (
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/dashboard"
)

// testClock is a Config.Now the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// setGuilds changes what the fake Discord answers for the user's tokens
// already given out.
func (f *fakeDiscord) setGuilds(userID string, guilds []map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok, u := range f.tokens {
		if u.ID == userID {
			u.Guilds = guilds
			f.tokens[tok] = u
		}
	}
}

// revoke makes the fake Discord refuse the user's tokens (401).
func (f *fakeDiscord) revoke(userID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok, u := range f.tokens {
		if u.ID == userID {
			delete(f.tokens, tok)
		}
	}
}

// TestManagerRightsFollowDiscord (browser attack, finding 5): a manager
// removed from a server on Discord loses it on the dashboard within the
// refresh interval (5 min), not at the end of the 7-day session; a token
// Discord no longer accepts ends the session; while Discord cannot be
// asked, the last answer stands for 30 minutes, then the session manages
// nothing.
func TestManagerRightsFollowDiscord(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(env *testEnv)
		steps  []struct {
			after time.Duration // since sign-in
			want  int           // of GET /api/servers/A/plugins
		}
	}{
		{"removed from the server", func(env *testEnv) { env.discord.setGuilds(alice.ID, nil) }, []struct {
			after time.Duration
			want  int
		}{{4 * time.Minute, 200}, {5 * time.Minute, 403}, {time.Hour, 403}}},
		{"token revoked", func(env *testEnv) { env.discord.revoke(alice.ID) }, []struct {
			after time.Duration
			want  int
		}{{4 * time.Minute, 200}, {5 * time.Minute, 401}}},
		{"Discord unreachable", func(env *testEnv) { env.discord.srv.Close() }, []struct {
			after time.Duration
			want  int
		}{{5 * time.Minute, 200}, {29 * time.Minute, 200}, {30 * time.Minute, 403}}},
		{"still a manager", func(env *testEnv) {}, []struct {
			after time.Duration
			want  int
		}{{5 * time.Minute, 200}, {6 * 24 * time.Hour, 200}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := &testClock{t: time.Now()}
			env := newEnvOpts(t, envOptions{config: func(c *dashboard.Config) { c.Now = clock.now }})
			c := env.signIn(alice)
			start := clock.now()
			if resp, body := c.do("GET", "/api/servers/"+serverA+"/plugins", "", nil); resp.StatusCode != 200 {
				t.Fatalf("before: %d %.200s", resp.StatusCode, body)
			}
			tt.change(env)
			for _, st := range tt.steps {
				clock.add(start.Add(st.after).Sub(clock.now()))
				resp, body := c.do("GET", "/api/servers/"+serverA+"/plugins", "", nil)
				if resp.StatusCode != st.want {
					t.Errorf("%v after sign-in: %d %.200s, want %d", st.after, resp.StatusCode, body, st.want)
				}
			}
		})
	}
}
