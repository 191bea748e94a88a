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

// forbidProxy stands in front of the fake Discord and answers 403
// Missing Permissions to the requests forbid matches, as Discord does for
// requests that need a permission the bot lacks in that channel; the rest
// go to the fake. Its 403s are counted in forbidden.
func forbidProxy(t *testing.T, env *gwEnv, forbid func(method, path string, body []byte) bool) *atomic.Int64 {
	t.Helper()
	target, err := url.Parse(env.fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var forbidden atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if forbid(r.Method, r.URL.Path, body) {
			forbidden.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]any{"message": "Missing Permissions", "code": 50013})
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	discord.PointAt(srv.URL + "/")
	t.Cleanup(func() { discord.PointAt(env.fake.URL) })
	return &forbidden
}

// TestAttackX_SendFailuresDrainReserve (attack X): every send to a channel
// of the server is a "verified" target, allowed a burst past the budget
// (the reserve meant for honest sends), and a 4xx that is not a 403 or 404
// is charged but not remembered. So a plugin sending messages Discord
// refuses with 400 (an embed Discord rejects; here an empty message,
// which the fake refuses the same way) to a channel of the server spends
// the server's budget and its reserve in 40 sends, and then every other
// plugin's honest send on the server is refused with LimitError. 400s do
// not even count towards Discord's invalid-request ban (401, 403, 429 do).
// An honest send must still go through.
func TestAttackX_SendFailuresDrainReserve(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, nil)
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && len(mustServers(t, env.gw)) == 2 })
	ctx := context.Background()
	for range 100 { // the hostile plugin: messages Discord refuses (400)
		if _, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1}); err == nil {
			t.Fatal("an empty message was sent")
		}
	}
	if _, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "an honest plugin's message"}); err != nil {
		t.Errorf("another plugin's sends of refused messages keep every honest send on the server refused: %v", err)
	}
}

// TestAttackX_ReplyPoisonsChannelSends (attack X): a 403 on a send is
// remembered for the whole channel ("send:<channel>") for a minute, and
// checked before every send to it. But Discord answers 403 to a reply in
// a channel where the bot may send but not read the history (replies need
// Read Message History), which says nothing about plain sends. A plugin
// replying there once a minute makes every other plugin's plain sends to
// that channel fail without a request.
func TestAttackX_ReplyPoisonsChannelSends(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, nil)
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && len(mustServers(t, env.gw)) == 2 })
	ctx := context.Background()
	honest, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "first"})
	if err != nil {
		t.Fatal(err)
	}
	forbidden := forbidProxy(t, env, func(method, path string, body []byte) bool {
		return method == "POST" && strings.HasSuffix(path, "/channels/"+chan1+"/messages") && bytes.Contains(body, []byte("message_reference"))
	})
	// The hostile plugin: one reply, refused for want of Read Message History.
	if _, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "re", ReplyTo: honest}); err == nil {
		t.Fatal("the reply went through the proxy")
	}
	if forbidden.Load() != 1 {
		t.Fatalf("%d replies refused, want 1", forbidden.Load())
	}
	if _, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "an honest plain message"}); err != nil {
		t.Errorf("one plugin's refused reply refuses every plain send to the channel: %v", err)
	}
}

// TestAttackX_AddPoisonsReactionRemoval (attack X): a 403 on a reaction
// is remembered for every reaction on that message ("reaction:<channel>/
// <message>"), adds and removals alike. Discord answers 403 to adding an
// emoji not yet on the message when the bot lacks Add Reactions (or an
// external emoji without Use External Emoji), while removing the bot's own
// reaction needs no permission. A plugin adding such an emoji once a
// minute keeps another plugin from taking back its own reaction (a poll
// closing, a "working on it" mark) on that message.
func TestAttackX_AddPoisonsReactionRemoval(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, nil)
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && len(mustServers(t, env.gw)) == 2 })
	ctx := context.Background()
	msg, err := env.gw.SendMessage(ctx, guild1, engine.OutMessage{ChannelID: chan1, Content: "poll"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.gw.AddReaction(ctx, guild1, chan1, msg, "\U0001F44D"); err != nil { // the honest plugin's reaction
		t.Fatal(err)
	}
	forbidProxy(t, env, func(method, path string, _ []byte) bool {
		return method == "PUT" && strings.Contains(path, "/reactions/") && strings.Contains(path, "evil")
	})
	if err := env.gw.AddReaction(ctx, guild1, chan1, msg, "evil:123456789012345678"); err == nil {
		t.Fatal("the hostile reaction went through the proxy")
	}
	if err := env.gw.RemoveReaction(ctx, guild1, chan1, msg, "\U0001F44D"); err != nil {
		t.Errorf("another plugin's refused reaction keeps the honest plugin from removing its own: %v", err)
	}
}

// TestAttackX_RoleListOutsideBudget (attack X): before a role request,
// roleInServer reads the server's roles from the gateway state, and when
// the state does not hold the server (the bot was removed from it while
// the plugin stays enabled there, the guild is unavailable, or its
// GUILD_CREATE has not arrived yet) from REST, GET /guilds/{id}/roles,
// on every call, outside act: its 4xx (403 Missing Access, 404 Unknown
// Guild) is neither charged nor remembered. A plugin handler that loops
// over add_role while the state lacks its server makes a failing request
// per call, without bound. (The dashboard refuses servers the bot is not
// in, so this needs such a window: the bot removed while a handler runs,
// a guild outage, or a node whose state lacks the guild.) The role list
// is a lookup like any other: it belongs in the budgets.
func TestAttackX_RoleListOutsideBudget(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, nil)
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && len(mustServers(t, env.gw)) == 2 })
	ctx := context.Background()
	const gone = "16777216" // 4 << 22: a server the bot is not in
	failing := func() int {
		n := 0
		for _, r := range env.fake.Requests() {
			if r.Status >= 400 && r.Status < 500 && r.Status != 429 {
				n++
			}
		}
		return n
	}
	before := failing()
	for range 100 {
		if err := env.gw.AddRole(ctx, gone, user1, role1); err == nil {
			t.Fatal("add role on a server the bot is not in succeeded")
		}
	}
	if n := failing() - before; n > 30 {
		t.Errorf("100 role calls on a server the bot is not in made %d failing (4xx) requests to Discord; want at most 30", n)
	}
}
