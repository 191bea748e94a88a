package discord_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/discord/fakediscord"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

// Two shards in one process, two guilds (one per shard), one plugin on
// each: every event reaches only the plugin enabled on its server, with
// that server's id, and the built-in message metric counts it.
func TestEventsReachPluginsOfTheirServer(t *testing.T) {
	intents, _ := discord.ParseIntents("guilds,guild_messages,message_content")
	env := startGateway(t, discord.GatewayConfig{ShardCount: 2, Intents: intents}, func(_ *fakediscord.Server, eng *engine.Engine) {
		install(t, eng, "one", allCaps, guild1)
		install(t, eng, "two", allCaps, guild2)
	})
	eventually(t, "both shards ready", func() bool { return env.gw.Stats().Shards == 2 })
	env.fake.UserMessage(chan1, user1, "hello one")
	env.fake.UserMessage(chan2, user2, "hello two")

	for _, tc := range []struct {
		name, plugin, server, want string
	}{
		{name: "shard 0 guild", plugin: "one", server: guild1, want: "hello one"},
		{name: "shard 1 guild", plugin: "two", server: guild2, want: "hello two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := waitState(t, env.eng, tc.plugin, tc.server, "message", func(s actorState) bool { return len(s.contents()) > 0 })
			if got := st.contents(); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("messages seen = %q, want only %q", got, tc.want)
			}
			for _, s := range st.Seen {
				if s.Server != tc.server || s.GuildID != tc.server {
					t.Errorf("%s seen with ctx server %s, payload guild %s; want %s", s.Type, s.Server, s.GuildID, tc.server)
				}
			}
			if !slices.ContainsFunc(st.Seen, func(s seenItem) bool { return s.Type == "guild_create" }) {
				t.Errorf("guild_create not seen: %+v", st.Seen)
			}
			// Built-in metrics reach the store in batches (once a second by
			// default): wait for the flush rather than race it.
			day := time.Now().UTC().Format("2006-01-02")
			var m map[string]float64
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				var err error
				if m, err = env.st.MetricRange(context.Background(), tc.server, "", "messages", day, day); err != nil {
					t.Fatal(err)
				}
				if m[day] != 0 || time.Now().After(deadline) {
					break
				}
			}
			if m[day] != 1 {
				t.Errorf("built-in messages metric = %v, want 1", m)
			}
		})
	}

	ids := env.fake.Identifies()
	var shards []string
	for _, id := range ids {
		shards = append(shards, fmt.Sprint(id.Shard))
		if id.Intents != intents {
			t.Errorf("identify intents = %d, want %d", id.Intents, intents)
		}
	}
	slices.Sort(shards)
	if !slices.Equal(shards, []string{"[0 2]", "[1 2]"}) {
		t.Errorf("identified shards %v, want [0 2] and [1 2]", shards)
	}

	ctx := context.Background()
	servers, _ := env.gw.Servers(ctx)
	if len(servers) != 2 || servers[0].ID != guild1 || servers[0].Name != "One" || servers[1].ID != guild2 {
		t.Errorf("Servers = %+v", servers)
	}
	chans, err := env.gw.Channels(ctx, guild2)
	if err != nil || len(chans) != 1 || chans[0].ID != chan2 || chans[0].Name != "lobby" || chans[0].Type != "text" {
		t.Errorf("Channels = %+v, %v", chans, err)
	}
	roles, err := env.gw.Roles(ctx, guild1)
	if err != nil || !slices.ContainsFunc(roles, func(r dashboard.Role) bool { return r.ID == role1 }) {
		t.Errorf("Roles = %+v, %v", roles, err)
	}
	members, err := env.gw.Members(ctx, guild1, 10)
	if err != nil || len(members) != 1 || members[0].ID != user1 || members[0].Name != "alice" {
		t.Errorf("Members = %+v, %v", members, err)
	}
}

// Plugin actions arrive at Discord's REST API with the right methods,
// paths and payloads.
func TestActionsReachREST(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, func(_ *fakediscord.Server, eng *engine.Engine) {
		install(t, eng, "one", allCaps, guild1)
	})
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 })
	f := env.fake
	say := func(text string) string { id, _ := f.UserMessage(chan1, user1, text); return id }

	say("!send " + chan1 + " hi there")
	replyTo := say("!reply")
	reactTo := say("!react 👍")
	say("!unreact <:party:123456789012345678>")
	say("!role " + user1 + " " + role1)
	say("!member " + user1)
	say("!editdel")
	st := waitState(t, env.eng, "one", guild1, "seven actions", func(s actorState) bool { return len(s.Done)+len(s.Errors) >= 7 })
	if len(st.Errors) > 0 {
		t.Fatalf("plugin errors: %q", st.Errors)
	}

	posts := requests(f, "POST", "/channels/"+chan1+"/messages")
	bodies := map[string]map[string]any{}
	for _, p := range posts {
		var b map[string]any
		if err := json.Unmarshal(p.Body, &b); err != nil {
			t.Fatal(err)
		}
		bodies[fmt.Sprint(b["content"])] = b
	}
	if b := bodies["hi there"]; b == nil {
		t.Errorf("no POST with content %q: %v", "hi there", bodies)
	} else {
		embeds, _ := b["embeds"].([]any)
		if len(embeds) != 1 || embeds[0].(map[string]any)["title"] != "T" {
			t.Errorf("embeds = %v", b["embeds"])
		}
		am, _ := b["allowed_mentions"].(map[string]any)
		if fmt.Sprint(am["parse"]) != "[users roles]" {
			t.Errorf("allowed_mentions = %v; @everyone must not be parsed", b["allowed_mentions"])
		}
	}
	if b := bodies["pong"]; b == nil {
		t.Errorf("no reply POST: %v", bodies)
	} else if ref, _ := b["message_reference"].(map[string]any); ref["message_id"] != replyTo || ref["guild_id"] != guild1 {
		t.Errorf("reply message_reference = %v, want message %s", b["message_reference"], replyTo)
	}

	for _, tc := range []struct {
		name, method, path string
	}{
		{name: "unicode reaction", method: "PUT", path: "/channels/" + chan1 + "/messages/" + reactTo + "/reactions/👍/@me"},
		{name: "custom emoji reaction removed", method: "DELETE", path: "/channels/" + chan1 + "/messages/" + st.Unreacted + "/reactions/party:123456789012345678/@me"},
		{name: "role added", method: "PUT", path: "/guilds/" + guild1 + "/members/" + user1 + "/roles/" + role1},
		{name: "member read", method: "GET", path: "/guilds/" + guild1 + "/members/" + user1},
		{name: "own message edited", method: "PATCH", path: "/channels/" + chan1 + "/messages/" + st.Sent},
		{name: "own message deleted", method: "DELETE", path: "/channels/" + chan1 + "/messages/" + st.Sent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hit []fakediscord.Request
			for _, r := range f.Requests() {
				if r.Method == tc.method && r.Path == tc.path {
					hit = append(hit, r)
				}
			}
			if len(hit) != 1 || hit[0].Status/100 != 2 {
				t.Errorf("%s %s: %d requests %+v, want one successful", tc.method, tc.path, len(hit), hit)
			}
		})
	}
	if got := f.MemberRoles(guild1, user1); !slices.Contains(got, role1) {
		t.Errorf("member roles after add_role = %v", got)
	}
	var member struct {
		User struct{ ID string } `json:"user"`
	}
	if err := json.Unmarshal(st.Member, &member); err != nil || member.User.ID != user1 {
		t.Errorf("get_member returned %s", st.Member)
	}
	edits := requests(f, "PATCH", "/messages/"+st.Sent)
	if len(edits) == 1 && !strings.Contains(string(edits[0].Body), `"content":"final"`) {
		t.Errorf("edit body = %s", edits[0].Body)
	}
	if f.Message(chan1, st.Sent) != nil {
		t.Errorf("the plugin's message %s still exists", st.Sent)
	}
}

// Refusals happen before any request: a plugin without the capability,
// a channel or role of another server, deleting a member's message.
func TestActionsRefusedBeforeAnyRequest(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, func(_ *fakediscord.Server, eng *engine.Engine) {
		install(t, eng, "one", allCaps, guild1)
		install(t, eng, "nocap", onlyKV, guild1)
	})
	const hidden = "530000000000000001" // of a guild the bot is not in
	env.fake.AddChannel(hidden, "16777216")
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && len(mustServers(t, env.gw)) == 2 })
	f := env.fake
	userMsg, _ := f.UserMessage(chan1, user1, "!send "+chan2+" across")
	f.UserMessage(chan1, user1, "!role "+user1+" "+role2)
	f.UserMessage(chan1, user1, "!del "+chan1+" "+userMsg)
	f.UserMessage(chan1, user1, "!send "+chan1+" ../../guilds")
	f.UserMessage(chan1, user1, "!send "+hidden+" unseen")

	one := waitState(t, env.eng, "one", guild1, "five outcomes", func(s actorState) bool { return len(s.Done)+len(s.Errors) >= 5 })
	nocap := waitState(t, env.eng, "nocap", guild1, "five outcomes", func(s actorState) bool { return len(s.Done)+len(s.Errors) >= 5 })

	for _, tc := range []struct {
		name  string
		errs  []string
		verb  string
		class string
		text  string
	}{
		{name: "channel of another server", errs: one.Errors, verb: "send", class: "DiscordError", text: "not on this server"},
		{name: "role of another server", errs: one.Errors, verb: "role", class: "DiscordError", text: "not on this server"},
		{name: "a member's message", errs: one.Errors, verb: "del", class: "CapabilityError", text: "a plugin may edit and delete only messages it sent"},
		{name: "no capability: send", errs: nocap.Errors, verb: "send", class: "CapabilityError", text: "discord:send_messages"},
		{name: "no capability: role", errs: nocap.Errors, verb: "role", class: "CapabilityError", text: "discord:manage_roles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !slices.ContainsFunc(tc.errs, func(e string) bool {
				return strings.HasPrefix(e, tc.verb+" "+tc.class) && strings.Contains(e, tc.text)
			}) {
				t.Errorf("no %s %s mentioning %q in %q", tc.verb, tc.class, tc.text, tc.errs)
			}
		})
	}
	if n := len(slices.DeleteFunc(slices.Clone(one.Errors), func(e string) bool { return !strings.HasPrefix(e, "send DiscordError") })); n != 2 {
		t.Errorf("%d sends refused, want 2 (another server's channel, a channel found by REST): %q", n, one.Errors)
	}
	// The channel unknown to the state is looked up, never posted to.
	if got := requests(f, "GET", "/channels/"+hidden); len(got) != 1 {
		t.Errorf("%d lookups of the channel unknown to the state, want 1", len(got))
	}
	if got := requests(f, "POST", hidden); len(got) != 0 {
		t.Errorf("posted to a channel of another server: %+v", got)
	}
	// "!send <chan1> ../../guilds" is content, not a path: one post by "one".
	for _, r := range f.Requests() {
		switch {
		case strings.Contains(r.Path, chan2), strings.Contains(r.Path, role2):
			t.Errorf("request for another server's channel or role: %s %s", r.Method, r.Path)
		case r.Method == "DELETE":
			t.Errorf("a member's message was deleted: %s %s", r.Method, r.Path)
		}
	}
	if posts := requests(f, "POST", "/channels/"+chan1+"/messages"); len(posts) != 1 {
		t.Errorf("%d message posts, want 1 (only the capable plugin's): %+v", len(posts), posts)
	}
}

func mustServers(t *testing.T, gw *discord.Gateway) []string {
	s, err := gw.Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range s {
		ids = append(ids, x.ID)
	}
	return ids
}

// A dropped connection, a RECONNECT and a resume that replays already
// delivered dispatches lose nothing and deliver nothing twice; an
// INVALID_SESSION leads to a new identify and delivery goes on.
func TestResumeWithoutLossOrDuplicates(t *testing.T) {
	env := startGateway(t, discord.GatewayConfig{}, func(f *fakediscord.Server, eng *engine.Engine) {
		f.SetHeartbeat(250 * time.Millisecond)
		f.SetReplayOverlap(3)
		install(t, eng, "one", onlyKV, guild1)
	})
	f := env.fake
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && f.Connected(0) })
	var want []string
	send := func(from, to int) {
		for i := from; i < to; i++ {
			text := fmt.Sprintf("m%02d", i)
			want = append(want, text)
			f.UserMessage(chan1, user1, text)
		}
	}
	seenAll := func(what string) {
		waitState(t, env.eng, "one", guild1, what, func(s actorState) bool { return len(s.contents()) >= len(want) })
	}

	send(0, 5)
	seenAll("first five")
	f.Drop(0)
	send(5, 10) // while the client is away: queued in the session
	seenAll("after the drop")
	eventually(t, "reconnected", func() bool { return f.Connected(0) })
	f.Reconnect(0)
	send(10, 15)
	seenAll("after RECONNECT")
	eventually(t, "reconnected", func() bool { return f.Connected(0) })
	_, _, identBefore, resumes := f.Counts()
	f.InvalidateSession(0)
	eventually(t, "identified again", func() bool { _, _, n, _ := f.Counts(); return n > identBefore && f.Connected(0) })
	send(15, 20)
	seenAll("after INVALID_SESSION")

	st := state(t, env.eng, "one", guild1)
	if got := st.contents(); !slices.Equal(got, want) {
		t.Errorf("messages seen:\n%q\nwant, exactly once each and in order:\n%q", got, want)
	}
	hb, acks, idents, _ := f.Counts()
	if resumes < 2 {
		t.Errorf("%d resumes, want at least 2 (drop and RECONNECT)", resumes)
	}
	if idents != 2 {
		t.Errorf("%d identifies, want 2 (start and after INVALID_SESSION)", idents)
	}
	if hb < 2 || acks != hb {
		t.Errorf("%d heartbeats, %d acks; want at least 2, all acknowledged", hb, acks)
	}
	if d := env.gw.Stats().Duplicates; d < 3 {
		t.Errorf("%d replayed dispatches dropped, want at least 3 (the fake replays 3 per resume)", d)
	}
}

// A 429 is retried after retry_after, and the message is sent once.
func TestRateLimitRetried(t *testing.T) {
	const retryAfter = 300 * time.Millisecond
	env := startGateway(t, discord.GatewayConfig{}, func(f *fakediscord.Server, eng *engine.Engine) {
		f.RateLimit("POST", "/channels/"+chan1+"/messages", 1, retryAfter)
		install(t, eng, "one", allCaps, guild1)
	})
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 })
	env.fake.UserMessage(chan1, user1, "!send "+chan1+" limited")
	st := waitState(t, env.eng, "one", guild1, "send done", func(s actorState) bool { return len(s.Done)+len(s.Errors) > 0 })
	if len(st.Errors) > 0 {
		t.Fatalf("plugin errors: %q", st.Errors)
	}
	posts := requests(env.fake, "POST", "/channels/"+chan1+"/messages")
	if len(posts) != 2 || posts[0].Status != 429 || posts[1].Status != 200 {
		t.Fatalf("posts = %+v, want a 429 then a 200", posts)
	}
	// Not a timing measurement: Discord requires waiting retry_after
	// before retrying, so the retry must not arrive earlier.
	if gap := posts[1].At.Sub(posts[0].At); gap < retryAfter {
		t.Errorf("retried after %v, before retry_after %v", gap, retryAfter)
	}
}

// Slash commands: registered on READY from the manifests, routed to the
// plugin, answered at once or deferred and edited.
func TestSlashCommandRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		deferAfter time.Duration
		deferred   bool
	}{
		{name: "answered", deferAfter: time.Minute},
		{name: "deferred then edited", deferAfter: time.Nanosecond, deferred: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := startGateway(t, discord.GatewayConfig{DeferAfter: tc.deferAfter}, func(_ *fakediscord.Server, eng *engine.Engine) {
				install(t, eng, "one", allCaps, guild1)
			})
			f := env.fake
			eventually(t, "commands registered", func() bool { return len(requests(f, "PUT", "/applications/"+f.AppID+"/commands")) > 0 })
			reg := requests(f, "PUT", "/applications/"+f.AppID+"/commands")[0]
			var cmds []map[string]any
			if err := json.Unmarshal(reg.Body, &cmds); err != nil || len(cmds) != 1 || cmds[0]["name"] != "ping" || cmds[0]["description"] != "Answer pong" {
				t.Fatalf("registered %s", reg.Body)
			}

			id := f.Interaction(guild1, chan1, user1, "ping")
			want := "pong from " + guild1 + " by " + user1
			cb := "/interactions/" + id + "/token-" + id + "/callback"
			eventually(t, "interaction answered", func() bool {
				if tc.deferred {
					return len(requests(f, "PATCH", "/webhooks/"+f.AppID+"/token-"+id+"/messages/@original")) > 0
				}
				return len(requests(f, "POST", cb)) > 0
			})
			var resp struct {
				Type int `json:"type"`
				Data struct {
					Content string `json:"content"`
				} `json:"data"`
			}
			posts := requests(f, "POST", cb)
			if len(posts) != 1 || posts[0].Status != 204 {
				t.Fatalf("callbacks %+v", posts)
			}
			if err := json.Unmarshal(posts[0].Body, &resp); err != nil {
				t.Fatal(err)
			}
			if !tc.deferred {
				if resp.Type != 4 || resp.Data.Content != want {
					t.Errorf("callback = %s, want type 4 with %q", posts[0].Body, want)
				}
				return
			}
			if resp.Type != 5 {
				t.Errorf("callback = %s, want type 5 (deferred)", posts[0].Body)
			}
			edit := requests(f, "PATCH", "/webhooks/"+f.AppID+"/token-"+id+"/messages/@original")[0]
			if !strings.Contains(string(edit.Body), want) {
				t.Errorf("edit = %s, want %q", edit.Body, want)
			}
		})
	}
}

// Discord's refusals that reconnecting cannot fix end Run with an error.
func TestGatewayRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		close int
		want  string
	}{
		{name: "bad token", token: "wrong", want: "401"},
		{name: "disallowed intents", close: 4014, want: "disallowed intents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake(t)
			if tc.close != 0 {
				fake.RefuseNextIdentify(tc.close)
			}
			token := tc.token
			if token == "" {
				token = fake.Token
			}
			gw, err := discord.NewGateway(discord.GatewayConfig{Token: token})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTime)
			defer cancel()
			err = gw.Run(ctx, nopHost{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error mentioning %q", err, tc.want)
			}
			if ctx.Err() != nil {
				t.Fatal("Run retried until the deadline instead of failing")
			}
		})
	}
}

func TestNewGatewayChecksConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  discord.GatewayConfig
	}{
		{name: "no token", cfg: discord.GatewayConfig{}},
		{name: "shard out of range", cfg: discord.GatewayConfig{Token: "t", ShardCount: 2, ShardIDs: []int{2}}},
		{name: "duplicate shard", cfg: discord.GatewayConfig{Token: "t", ShardCount: 2, ShardIDs: []int{1, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := discord.NewGateway(tc.cfg); !errors.Is(err, engine.ErrInvalid) {
				t.Errorf("NewGateway = %v, want ErrInvalid", err)
			}
		})
	}
}

// nopHost is a Host for tests that never get as far as events.
type nopHost struct{}

func (nopHost) Dispatch(context.Context, engine.Event) error { return nil }
func (nopHost) Plugins() []*plugin.Package                   { return nil }
func (nopHost) PluginEnabled(context.Context, string, string) (bool, error) {
	return false, nil
}
func (nopHost) CallCommand(context.Context, string, string, string, json.RawMessage) (json.RawMessage, error) {
	return nil, nil
}

// countHost counts dispatched events.
type countHost struct {
	nopHost
	n atomic.Int64
}

func (c *countHost) Dispatch(context.Context, engine.Event) error { c.n.Add(1); return nil }

// BenchmarkGatewayEvents measures dispatches from the fake gateway through
// discordgo, dedupe and mapping to the engine's Dispatch (a counter here).
func BenchmarkGatewayEvents(b *testing.B) {
	fake := newFake(b)
	gw, err := discord.NewGateway(discord.GatewayConfig{Token: fake.Token})
	if err != nil {
		b.Fatal(err)
	}
	h := &countHost{}
	background(b, "gateway run", func(ctx context.Context) error { return gw.Run(ctx, h) })
	for !fake.Connected(0) || gw.Stats().Servers < 2 {
		time.Sleep(time.Millisecond)
	}
	base := h.n.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fake.UserMessage(chan1, user1, "hello")
	}
	for h.n.Load()-base < int64(b.N) {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer() // closing a discordgo session waits a second
}
