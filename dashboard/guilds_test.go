package dashboard_test

import (
	"context"
	"net/http"
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

// TestGuildRefreshOutlivesRequest (second attack, finding 5): the refresh
// of a manager's servers runs detached from the request that started it,
// and the session's other requests wait for it. A request aborted while
// Discord answers still completes the refresh (so the removed manager loses
// the server even if Discord is unreachable afterwards), and a request sent
// during the refresh gets the refreshed answer, not the old list.
func TestGuildRefreshOutlivesRequest(t *testing.T) {
	clock := &testClock{t: time.Now()}
	env := newEnvOpts(t, envOptions{config: func(c *dashboard.Config) { c.Now = clock.now }})
	c := env.signIn(alice)
	path := "/api/servers/" + serverA + "/plugins"
	if resp, body := c.do("GET", path, "", nil); resp.StatusCode != 200 {
		t.Fatalf("before: %d %.200s", resp.StatusCode, body)
	}
	env.discord.setGuilds(alice.ID, nil)
	clock.add(guildRefreshDue)
	hold, asked := make(chan struct{}), make(chan struct{}, 1)
	env.discord.mu.Lock()
	env.discord.hold, env.discord.asked = hold, asked
	env.discord.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	aborted := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", env.srv.URL+path, nil)
		resp, err := c.http.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		aborted <- err
	}()
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh never asked Discord")
	}
	during := make(chan int, 1)
	go func() {
		resp, err := c.http.Get(env.srv.URL + path)
		if err != nil {
			during <- -1
			return
		}
		resp.Body.Close()
		during <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // let the second request reach the check
	cancel()
	if err := <-aborted; err == nil {
		t.Fatal("the aborted request was answered")
	}
	time.Sleep(200 * time.Millisecond) // the abort reaches the server before Discord answers
	close(hold)
	if got := <-during; got != http.StatusForbidden {
		t.Errorf("request during the refresh: %d, want 403", got)
	}
	env.discord.srv.Close() // Discord unreachable from now on
	if resp, body := c.do("GET", path, "", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("after the aborted refresh: %d %.200s, want 403", resp.StatusCode, body)
	}
}

// guildRefreshDue is the age at which a session's servers are read again.
const guildRefreshDue = 5 * time.Minute
