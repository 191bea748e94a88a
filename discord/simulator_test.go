package discord_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/engine"
)

const alice = "100000000000000301"

// startSim runs a simulator bound to a real engine with the actor plugin
// enabled on the simulated server.
func startSim(t *testing.T, caps string) (*discord.Simulator, *engine.Engine) {
	t.Helper()
	sim := discord.NewSimulator(discord.SimConfig{})
	eng, _ := newEngine(t, sim)
	install(t, eng, "one", caps, discord.SimServerID)
	runSim(t, sim, eng)
	return sim, eng
}

func simMessages(t *testing.T, sim *discord.Simulator, channel string) []dashboard.SimMessage {
	t.Helper()
	m, err := sim.Messages(context.Background(), discord.SimServerID, channel, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A message posted in the simulator reaches the plugin as a Discord-shaped
// message_create; the plugin's reply, reaction and role change show up in
// the channel view and the action list; joins and leaves reach it too.
func TestSimulatorRoundTrip(t *testing.T) {
	sim, eng := startSim(t, allCaps)
	ctx := context.Background()
	post := func(text string) {
		t.Helper()
		if err := sim.Post(ctx, discord.SimServerID, discord.SimGeneral, alice, text); err != nil {
			t.Fatalf("post %q: %v", text, err)
		}
	}
	post("!reply")
	post("!react 🎉")
	post("!role " + alice + " " + discord.SimRoleMod)
	post("!send " + discord.SimRandom + " over here")
	post("!send 999999 elsewhere")
	post("/ping")
	if err := sim.Join(ctx, discord.SimServerID, dashboard.Member{Name: "dave"}); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, eng, "one", discord.SimServerID, "five outcomes and a join", func(s actorState) bool {
		return len(s.Done)+len(s.Errors) >= 5 && slices.ContainsFunc(s.Seen, func(x seenItem) bool { return x.Type == "guild_member_add" })
	})

	msgs := simMessages(t, sim, discord.SimGeneral)
	byContent := map[string]dashboard.SimMessage{}
	for _, m := range msgs {
		byContent[m.Content] = m
	}
	for _, tc := range []struct {
		name, content string
		bot           bool
	}{
		{name: "member's message", content: "!reply"},
		{name: "plugin's reply", content: "pong", bot: true},
		{name: "slash command answer", content: "pong from " + discord.SimServerID + " by " + alice, bot: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := byContent[tc.content]
			if !ok {
				t.Fatalf("no message %q in #general: %+v", tc.content, msgs)
			}
			if m.Bot != tc.bot || m.ChannelID != discord.SimGeneral || m.ID == "" {
				t.Errorf("message %+v", m)
			}
			if _, err := time.Parse(time.RFC3339, m.Time); err != nil {
				t.Errorf("time %q: %v", m.Time, err)
			}
		})
	}
	if r := simMessages(t, sim, discord.SimRandom); len(r) != 1 || r[0].Content != "over here" || !r[0].Bot {
		t.Errorf("#random = %+v", r)
	}
	actions, _ := sim.Actions(ctx, discord.SimServerID, 0)
	joined := strings.Join(actions, "\n")
	if !strings.Contains(joined, "reacted 🎉 to alice's message in #general") || !strings.Contains(joined, "gave alice the role Moderator") {
		t.Errorf("actions:\n%s", joined)
	}
	if !slices.ContainsFunc(st.Errors, func(e string) bool {
		return strings.Contains(e, "DiscordError") && strings.Contains(e, "not on this server")
	}) {
		t.Errorf("sending to an unknown channel was not refused: %q", st.Errors)
	}
	for _, s := range st.Seen {
		if s.Server != discord.SimServerID || s.GuildID != discord.SimServerID {
			t.Errorf("event %+v not of the simulated server", s)
		}
	}
	members, _ := sim.Members(ctx, discord.SimServerID, 0)
	var dave string
	for _, m := range members {
		if m.Name == "dave" {
			dave = m.ID
		}
	}
	if dave == "" {
		t.Fatalf("dave not among %+v", members)
	}
	if err := sim.Leave(ctx, discord.SimServerID, dave); err != nil {
		t.Fatal(err)
	}
	waitState(t, eng, "one", discord.SimServerID, "leave", func(s actorState) bool {
		return slices.ContainsFunc(s.Seen, func(x seenItem) bool { return x.Type == "guild_member_remove" && x.User == dave })
	})
}

// The simulator's payloads have the fields plugins read from Discord's.
func TestSimulatorPayloadShape(t *testing.T) {
	sim := discord.NewSimulator(discord.SimConfig{Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
	rec := &recordHost{}
	runSim(t, sim, rec)
	ctx := context.Background()
	if err := sim.Post(ctx, discord.SimServerID, discord.SimWelcome, alice, "hi <@"+alice+">"); err != nil {
		t.Fatal(err)
	}
	if err := sim.Join(ctx, discord.SimServerID, dashboard.Member{ID: "100000000000000999", Name: "erin"}); err != nil {
		t.Fatal(err)
	}
	events := rec.list()
	if len(events) != 2 {
		t.Fatalf("events %+v", events)
	}
	var msg struct {
		ID, ChannelID, GuildID, Content, Timestamp string
		Author                                     struct{ ID, Username string }
		Mentions                                   []struct{ ID string }
	}
	decode(t, events[0].Data, &msg)
	var join struct {
		GuildID string
		User    struct{ ID, Username string }
		Roles   []string
	}
	decode(t, events[1].Data, &join)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{name: "message type", got: events[0].Type, want: "message_create"},
		{name: "message server", got: events[0].ServerID, want: discord.SimServerID},
		{name: "guild_id", got: msg.GuildID, want: discord.SimServerID},
		{name: "channel_id", got: msg.ChannelID, want: discord.SimWelcome},
		{name: "author", got: msg.Author.ID + "/" + msg.Author.Username, want: alice + "/alice"},
		{name: "timestamp", got: msg.Timestamp, want: "2026-01-02T03:04:05.000000+00:00"},
		{name: "mentions", got: len(msg.Mentions), want: 1},
		{name: "snowflake time", got: snowflakeTime(t, msg.ID), want: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{name: "join type", got: events[1].Type, want: "guild_member_add"},
		{name: "join user", got: join.User.ID + "/" + join.User.Username, want: "100000000000000999/erin"},
		{name: "join guild", got: join.GuildID, want: discord.SimServerID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// Every action on another server, or on channels and roles the simulated
// server does not have, is refused.
func TestSimulatorRefusesOtherServers(t *testing.T) {
	sim := discord.NewSimulator(discord.SimConfig{})
	runSim(t, sim, &recordHost{})
	ctx := context.Background()
	const other = "200000000000000001"
	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{name: "send on other server", do: func() error {
			_, err := sim.SendMessage(ctx, other, engine.OutMessage{ChannelID: discord.SimGeneral, Content: "x"})
			return err
		}, want: discord.ErrOtherServer},
		{name: "send to unknown channel", do: func() error {
			_, err := sim.SendMessage(ctx, discord.SimServerID, engine.OutMessage{ChannelID: "300000000000000001", Content: "x"})
			return err
		}, want: discord.ErrOtherServer},
		{name: "role of other server", do: func() error { return sim.AddRole(ctx, discord.SimServerID, alice, "300000000000000002") }, want: discord.ErrOtherServer},
		{name: "role on other server", do: func() error { return sim.AddRole(ctx, other, alice, discord.SimRoleMod) }, want: discord.ErrOtherServer},
		{name: "member on other server", do: func() error { _, err := sim.GetMember(ctx, other, alice); return err }, want: discord.ErrOtherServer},
		{name: "react on other server", do: func() error { return sim.AddReaction(ctx, other, discord.SimGeneral, "1", "👍") }, want: discord.ErrOtherServer},
		{name: "path in emoji", do: func() error { return sim.AddReaction(ctx, discord.SimServerID, discord.SimGeneral, "1", "../x") }, want: engine.ErrInvalid},
		{name: "@everyone role", do: func() error { return sim.AddRole(ctx, discord.SimServerID, alice, discord.SimServerID) }, want: engine.ErrInvalid},
		{name: "post on other server", do: func() error { return sim.Post(ctx, other, discord.SimGeneral, alice, "x") }, want: engine.ErrNotFound},
		{name: "post by stranger", do: func() error { return sim.Post(ctx, discord.SimServerID, discord.SimGeneral, "42", "x") }, want: engine.ErrNotFound},
		{name: "empty post", do: func() error { return sim.Post(ctx, discord.SimServerID, discord.SimGeneral, alice, " ") }, want: engine.ErrInvalid},
		{name: "bot leaves", do: func() error { return sim.Leave(ctx, discord.SimServerID, discord.SimBotID) }, want: engine.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Deleting a member's message is refused; the bot's own is deleted.
	if err := sim.Post(ctx, discord.SimServerID, discord.SimGeneral, alice, "mine"); err != nil {
		t.Fatal(err)
	}
	msgs := simMessages(t, sim, discord.SimGeneral)
	if err := sim.DeleteMessage(ctx, discord.SimServerID, discord.SimGeneral, msgs[0].ID); !errors.Is(err, discord.ErrNotOwn) {
		t.Errorf("delete a member's message: %v, want ErrNotOwn", err)
	}
	id, err := sim.SendMessage(ctx, discord.SimServerID, engine.OutMessage{ChannelID: discord.SimGeneral, Content: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.DeleteMessage(ctx, discord.SimServerID, discord.SimGeneral, id); err != nil {
		t.Errorf("delete own message: %v", err)
	}
	if n := len(simMessages(t, sim, discord.SimGeneral)); n != 1 {
		t.Errorf("%d messages left, want 1", n)
	}
}

// recordHost records dispatched events (from Post and from the
// simulator's own echo loop, so under a lock).
type recordHost struct {
	nopHost
	mu     sync.Mutex
	events []engine.Event
}

func (r *recordHost) Dispatch(_ context.Context, ev engine.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func (r *recordHost) list() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Event(nil), r.events...)
}

// runSim runs sim against h until the test ends; it returns once Post and
// Join work.
func runSim(t *testing.T, sim *discord.Simulator, h discord.Host) {
	t.Helper()
	done := background(t, "simulator run", func(ctx context.Context) error { return sim.Run(ctx, h) })
	select {
	case <-sim.Ready():
	case err := <-done:
		done <- err
		t.Fatalf("simulator stopped before it was ready: %v", err)
	}
}

func decode(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	// Discord's snake_case onto the Go field names used above.
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	fixed := map[string]any{}
	for k, v := range m {
		fixed[strings.ReplaceAll(k, "_", "")] = v
	}
	b, _ := json.Marshal(fixed)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

func snowflakeTime(t *testing.T, id string) time.Time {
	t.Helper()
	var n uint64
	for _, c := range id {
		if c < '0' || c > '9' {
			t.Fatalf("id %q is not a snowflake", id)
		}
		n = n*10 + uint64(c-'0')
	}
	return time.UnixMilli(int64(n>>22) + 1420070400000).UTC()
}

// The simulator is the dashboard's Simulator port; discord itself does not
// import the dashboard, so the check lives here.
var _ dashboard.Simulator = (*discord.Simulator)(nil)

// TestSimulatorMemberActions: a member edits and deletes only their own
// messages, reacts to any (counted once per member), and a command's
// options are checked against their declared types before anything runs.
func TestSimulatorMemberActions(t *testing.T) {
	sim, _ := startSim(t, allCaps)
	ctx := context.Background()
	const bob = "100000000000000302"
	if err := sim.Post(ctx, discord.SimServerID, discord.SimGeneral, alice, "alice's words"); err != nil {
		t.Fatal(err)
	}
	msgs := simMessages(t, sim, discord.SimGeneral)
	id := msgs[len(msgs)-1].ID
	for _, tt := range []struct {
		name string
		do   func() error
		want error
	}{
		{"bob edits alice's message", func() error { return sim.EditAs(ctx, discord.SimServerID, discord.SimGeneral, id, bob, "mine now") }, engine.ErrInvalid},
		{"bob deletes alice's message", func() error { return sim.DeleteAs(ctx, discord.SimServerID, discord.SimGeneral, id, bob) }, engine.ErrInvalid},
		{"an unknown message", func() error {
			return sim.EditAs(ctx, discord.SimServerID, discord.SimGeneral, "123456789012345678", alice, "x")
		}, engine.ErrNotFound},
		{"bob reacts", func() error { return sim.React(ctx, discord.SimServerID, discord.SimGeneral, id, bob, "👍", true) }, nil},
		{"bob reacts again", func() error { return sim.React(ctx, discord.SimServerID, discord.SimGeneral, id, bob, "👍", true) }, nil},
		{"alice reacts", func() error { return sim.React(ctx, discord.SimServerID, discord.SimGeneral, id, alice, "👍", true) }, nil},
		{"a bad emoji", func() error { return sim.React(ctx, discord.SimServerID, discord.SimGeneral, id, alice, "", true) }, engine.ErrInvalid},
		{"alice edits", func() error {
			return sim.EditAs(ctx, discord.SimServerID, discord.SimGeneral, id, alice, "alice's new words")
		}, nil},
		{"an unknown command", func() error { return sim.RunCommand(ctx, discord.SimServerID, discord.SimGeneral, alice, "nope", nil) }, engine.ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	msgs = simMessages(t, sim, discord.SimGeneral)
	m := msgs[len(msgs)-1]
	if m.Content != "alice's new words" || !m.Edited || len(m.Reactions) != 1 || m.Reactions[0].Count != 2 {
		t.Fatalf("after the actions: %+v", m)
	}
	if err := sim.DeleteAs(ctx, discord.SimServerID, discord.SimGeneral, id, alice); err != nil {
		t.Fatal(err)
	}
	for _, m := range simMessages(t, sim, discord.SimGeneral) {
		if m.ID == id {
			t.Fatal("the deleted message is still there")
		}
	}
}
