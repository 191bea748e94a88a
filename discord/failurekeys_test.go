package discord_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/engine"
)

// refuseProxy stands in front of the fake Discord and answers status to
// the requests refuse matches (403 Missing Permissions as Discord does for
// a permission the bot lacks in that channel, 400 for content it refuses);
// the rest go to the fake. Its refusals are counted in the result.
func refuseProxy(t *testing.T, env *gwEnv, status int, refuse func(method, path string, body []byte) bool) *atomic.Int64 {
	t.Helper()
	target, err := url.Parse(env.fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if refuse(r.Method, r.URL.Path, body) {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			answer := map[string]any{"message": "Missing Permissions", "code": 50013}
			if status == http.StatusBadRequest {
				answer = map[string]any{"message": "Invalid Form Body", "code": 50035}
			}
			_ = json.NewEncoder(w).Encode(answer)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	discord.PointAt(srv.URL + "/")
	t.Cleanup(func() { discord.PointAt(env.fake.URL) })
	return &refused
}

// TestRefusedContentNotCharged guards the reserve of honest sends against
// one plugin's messages Discord refuses (attack X): a 400 (an empty
// message, an embed or an edit over 2,000 characters Discord refuses) was
// charged to the failure budgets like an invented id, so 40 of them spent
// the server's budget and the reserve of sends to its channels, and every
// plugin's send on the server was refused with LimitError. A 400 is the
// request's content refused, not counted by Discord's ban: it is now
// neither charged nor remembered, so after 100 of them an honest send, an
// action on an unverified target (a role change) and the same kind of
// request with valid content all go through.
func TestRefusedContentNotCharged(t *testing.T) {
	env := readyGateway(t)
	ctx := context.Background()
	own, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "the bot's message"})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 2001)
	for _, tc := range []struct {
		name   string
		refuse func(method, path string, body []byte) bool // nil: the fake refuses itself
		call   func() error
	}{
		{name: "empty messages", call: func() error {
			_, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1})
			return err
		}},
		{name: "embeds Discord refuses", refuse: func(method, _ string, body []byte) bool {
			return method == "POST" && bytes.Contains(body, []byte(`"embeds"`))
		}, call: func() error {
			_, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "x",
				Embeds: []json.RawMessage{json.RawMessage(`{"color":"not a number"}`)}})
			return err
		}},
		{name: "edits over 2000 characters", refuse: func(method, _ string, body []byte) bool {
			return method == "PATCH" && bytes.Contains(body, []byte(long))
		}, call: func() error {
			return env.gw.EditMessage(ctx, guild1, chan1, own, long)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.refuse != nil {
				refuseProxy(t, env, http.StatusBadRequest, tc.refuse)
			}
			for i := range 100 {
				if err := tc.call(); err == nil {
					t.Fatalf("refused content %d went through", i)
				}
			}
			if _, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "an honest message"}); err != nil {
				t.Errorf("send after 100 refused requests: %v", err)
			}
			if err := env.gw.EditMessage(ctx, guild1, chan1, own, "an honest edit"); err != nil {
				t.Errorf("edit after 100 refused requests: %v", err)
			}
			if err := env.gw.AddRole(ctx, guild1, user1, role1); err != nil {
				t.Errorf("role change (not a known target) after 100 refused requests: %v", err)
			}
		})
	}
}

// TestRefusedReplyKeepsPlainSends guards plain sends against a refused
// reply (attack X): a 403 on a send was remembered for every send to the
// channel for a minute, but Discord answers 403 to a reply where the bot
// may send but not read the history (a reply needs Read Message History),
// so one plugin replying there once a minute refused every other
// plugin's plain sends without a request. A reply's 403 is now remembered
// for replies to the channel only: a plain send still goes through, and
// the same reply again is refused without a request.
func TestRefusedReplyKeepsPlainSends(t *testing.T) {
	env := readyGateway(t)
	ctx := context.Background()
	honest, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "first"})
	if err != nil {
		t.Fatal(err)
	}
	forbidden := refuseProxy(t, env, http.StatusForbidden, func(method, path string, body []byte) bool {
		return method == "POST" && strings.HasSuffix(path, "/channels/"+chan1+"/messages") && bytes.Contains(body, []byte("message_reference"))
	})
	reply := engine.OutMessage{ChannelID: chan1, Content: "re", ReplyTo: honest}
	for range 2 {
		if _, err := env.gw.SendMessage(ctx, guild1, reply); err == nil {
			t.Fatal("the reply went through the proxy")
		}
	}
	if n := forbidden.Load(); n != 1 {
		t.Errorf("%d replies refused by Discord, want 1 (the second remembered)", n)
	}
	if _, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "an honest plain message"}); err != nil {
		t.Errorf("plain send after a refused reply to the channel: %v", err)
	}
}

// TestRefusedReactionAddKeepsRemovals guards reaction removals against a
// refused add (attack X): a 403 on a reaction was remembered for every
// reaction on the message, adds and removals alike, but Discord answers
// 403 to adding an emoji not yet on the message (without Add Reactions)
// or an external one (without Use External Emoji), while removing the
// bot's own reaction needs no permission. So one plugin's refused add
// kept another from taking back its own reaction. An add's 403 is now
// remembered for that emoji added to that message only: the removal and
// another emoji's add still go through, and the refused add again makes
// no request.
func TestRefusedReactionAddKeepsRemovals(t *testing.T) {
	env := readyGateway(t)
	ctx := context.Background()
	msg, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "poll"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.gw.AddReaction(ctx, guild1, chan1, msg, "\U0001F44D"); err != nil { // the honest plugin's reaction
		t.Fatal(err)
	}
	forbidden := refuseProxy(t, env, http.StatusForbidden, func(method, path string, _ []byte) bool {
		return method == "PUT" && strings.Contains(path, "/reactions/") && strings.Contains(path, "evil")
	})
	for range 2 {
		if err := env.gw.AddReaction(ctx, guild1, chan1, msg, "evil:123456789012345678"); err == nil {
			t.Fatal("the refused reaction went through the proxy")
		}
	}
	if n := forbidden.Load(); n != 1 {
		t.Errorf("%d adds refused by Discord, want 1 (the second remembered)", n)
	}
	if err := env.gw.RemoveReaction(ctx, guild1, chan1, msg, "\U0001F44D"); err != nil {
		t.Errorf("removing the bot's own reaction after another's refused add: %v", err)
	}
	if err := env.gw.AddReaction(ctx, guild1, chan1, msg, "\U0001F44E"); err != nil {
		t.Errorf("adding another emoji after another's refused add: %v", err)
	}
}

// TestRoleListLookupBudgeted guards the failure budgets against role
// changes on a server the gateway state does not hold (attack X): the role
// list checked before add_role/remove_role was then read over REST
// (GET /guilds/{id}/roles) on every call, outside the budgets, each 403 or
// 404 neither charged nor remembered. It is now a lookup: taken from the
// budgets, its failure remembered, so 100 calls make at most a burst of
// failing requests, while a server in the state needs no request.
func TestRoleListLookupBudgeted(t *testing.T) {
	env := readyGateway(t)
	ctx := context.Background()
	const gone = "16777216" // 4 << 22: a server the bot is not in
	failing := env.failingRequests
	before := failing()
	for range 100 {
		if err := env.gw.AddRole(ctx, gone, user1, role1); err == nil {
			t.Fatal("add role on a server the bot is not in succeeded")
		}
	}
	if n := failing() - before; n > 30 {
		t.Errorf("100 role calls on a server the bot is not in made %d failing (4xx) requests to Discord; want at most 30", n)
	}
	if err := env.gw.AddRole(ctx, guild1, user1, role1); err != nil {
		t.Errorf("add role on a server in the state: %v", err)
	}
}
