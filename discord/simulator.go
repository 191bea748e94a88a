package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/maidhq/maid/engine"
)

// The simulated server's ids. They are valid snowflakes so plugins that
// parse ids behave as they would on Discord.
const (
	SimServerID   = "100000000000000001"
	SimServerName = "Maid Test Server"
	SimBotID      = "100000000000000010"
	SimGeneral    = "100000000000000101"
	SimWelcome    = "100000000000000102"
	SimRandom     = "100000000000000103"
	SimRoleMember = "100000000000000201"
	SimRoleMod    = "100000000000000202"
	simAppID      = "100000000000000011"
)

// discordEpoch is the first millisecond of 2015, where snowflakes start.
const discordEpoch = 1420070400000

// SimConfig configures a Simulator.
type SimConfig struct {
	Logger *slog.Logger
	// Now is the clock of message timestamps and ids; nil means time.Now.
	Now func() time.Time
	// MaxMessages is how many messages each channel keeps (0 means 200);
	// MaxActions how many action lines are kept (0 means 200).
	MaxMessages int
	MaxActions  int
}

// Simulator is a fictional Discord server for running maid without a bot
// token: the dashboard's event console posts messages and joins members
// (dispatched to the engine with Discord-shaped payloads), and plugin
// actions land in its channel view and action list. It implements
// dashboard.Simulator, engine.Directory and engine.Discord; actions on
// any other server are refused.
type Simulator struct {
	cfg   SimConfig
	log   *slog.Logger
	host  atomic.Pointer[Host] // set by Run
	ready chan struct{}        // closed once Run has its host
	out   chan engine.Event

	mu       sync.Mutex
	channels []simChannel
	roles    []engine.Role
	members  map[string]*simMember
	messages map[string][]*simMessage // by channel, oldest first
	actions  []string
	seq      uint64
}

type simChannel struct{ id, name string }

type simMember struct {
	id, name string
	bot      bool
	roles    []string
	joined   time.Time
}

type simMessage struct {
	engine.SimMessage
	at        time.Time
	embeds    []json.RawMessage
	reactions []simReaction // in first-use order
}

// simReaction is who reacted to a message with one emoji.
type simReaction struct {
	emoji string
	users []string
}

// react adds or removes user's emoji reaction; it reports whether it changed.
func (m *simMessage) react(emoji, user string, add bool) bool {
	i := slices.IndexFunc(m.reactions, func(r simReaction) bool { return r.emoji == emoji })
	switch {
	case add && i < 0:
		if len(m.reactions) >= maxSimReactions {
			return false
		}
		m.reactions = append(m.reactions, simReaction{emoji: emoji, users: []string{user}})
	case add && !slices.Contains(m.reactions[i].users, user):
		m.reactions[i].users = append(m.reactions[i].users, user)
	case !add && i >= 0 && slices.Contains(m.reactions[i].users, user):
		r := &m.reactions[i]
		r.users = slices.DeleteFunc(r.users, func(u string) bool { return u == user })
		if len(r.users) == 0 {
			m.reactions = slices.Delete(m.reactions, i, i+1)
		}
	default:
		return false
	}
	return true
}

// maxSimReactions bounds the distinct emoji on one message (Discord: 20).
const maxSimReactions = 20

func (m *simMessage) view() engine.SimMessage {
	v := m.SimMessage
	for _, r := range m.reactions {
		v.Reactions = append(v.Reactions, engine.SimReaction{Emoji: r.emoji, Count: len(r.users)})
	}
	return v
}

// NewSimulator returns the simulator with its seeded server: #general,
// #welcome and #random, roles Member and Moderator, three members and the
// bot.
func NewSimulator(cfg SimConfig) *Simulator {
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = 200
	}
	if cfg.MaxActions <= 0 {
		cfg.MaxActions = 200
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Simulator{
		cfg: cfg, log: log.With("component", "simulator"), out: make(chan engine.Event, 256), ready: make(chan struct{}),
		channels: []simChannel{{SimGeneral, "general"}, {SimWelcome, "welcome"}, {SimRandom, "random"}},
		roles: []engine.Role{
			{ID: SimRoleMod, Name: "Moderator", Color: 0xe67e22},
			{ID: SimRoleMember, Name: "Member", Color: 0x3498db},
			{ID: SimServerID, Name: "@everyone"},
		},
		members:  map[string]*simMember{},
		messages: map[string][]*simMessage{},
	}
	joined := cfg.Now().Add(-30 * 24 * time.Hour).UTC()
	for _, m := range []simMember{
		{id: SimBotID, name: "Maid", bot: true},
		{id: "100000000000000301", name: "alice", roles: []string{SimRoleMember}},
		{id: "100000000000000302", name: "bob", roles: []string{SimRoleMember}},
		{id: "100000000000000303", name: "carol", roles: []string{SimRoleMember, SimRoleMod}},
	} {
		m.joined = joined
		s.members[m.id] = &m
	}
	return s
}

// Ready is closed once Run has started: Post, Join and Leave work from then.
func (s *Simulator) Ready() <-chan struct{} { return s.ready }

func (s *Simulator) hostOrErr() (Host, error) {
	if p := s.host.Load(); p != nil {
		return *p, nil
	}
	return nil, fmt.Errorf("simulator: %w: not running", engine.ErrUnavailable)
}

// Run dispatches the events that plugin actions cause (the bot's own
// messages, reactions and role changes, as Discord echoes them) until ctx
// ends. They go through a queue so that a plugin's action never waits on
// that plugin's own event queue. h is the engine the simulated server
// feeds; the engine takes the simulator as its Discord port, so the
// simulator is built first and handed the engine here.
func (s *Simulator) Run(ctx context.Context, h Host) error {
	if h == nil {
		return errors.New("run simulator: host is nil")
	}
	if !s.host.CompareAndSwap(nil, &h) {
		return errors.New("run simulator: already running")
	}
	close(s.ready)
	for {
		select {
		case ev := <-s.out:
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := h.Dispatch(dctx, ev); err != nil {
				s.log.Warn("dispatch simulated event", "type", ev.Type, "err", err)
			}
			cancel()
		case <-ctx.Done():
			return nil
		}
	}
}

// echo queues an event caused by a plugin action; it never blocks.
func (s *Simulator) echo(typ string, data map[string]any) {
	raw, _ := json.Marshal(data)
	select {
	case s.out <- engine.Event{Type: typ, ServerID: SimServerID, Data: raw}:
	default:
		s.log.Warn("simulator echo queue full; event not dispatched", "type", typ)
	}
}

// snowflake makes a new id from the clock; call with mu held.
func (s *Simulator) snowflake() string {
	s.seq++
	ms := s.cfg.Now().UnixMilli() - discordEpoch
	return strconv.FormatUint(uint64(ms)<<22|1<<17|s.seq&0xfff, 10)
}

func (s *Simulator) checkServer(serverID string) error {
	if serverID != SimServerID {
		return fmt.Errorf("simulator: %w: server %q (the simulated server is %s)", engine.ErrNotFound, serverID, SimServerID)
	}
	return nil
}

func (s *Simulator) channel(id string) (simChannel, bool) {
	for _, c := range s.channels {
		if c.id == id {
			return c, true
		}
	}
	return simChannel{}, false
}

func (s *Simulator) roleName(id string) (string, bool) {
	for _, r := range s.roles {
		if r.ID == id {
			return r.Name, true
		}
	}
	return "", false
}

func discordTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000+00:00") }

func userObject(m *simMember) map[string]any {
	return map[string]any{
		"id": m.id, "username": m.name, "global_name": m.name, "discriminator": "0",
		"avatar": nil, "bot": m.bot, "public_flags": 0,
	}
}

// memberObject is Discord's guild member; withUser false is the shape
// MESSAGE_CREATE carries (the user is the message's author).
func memberObject(m *simMember, withUser bool) map[string]any {
	o := map[string]any{
		"nick": nil, "roles": append([]string{}, m.roles...), "joined_at": discordTime(m.joined),
		"premium_since": nil, "deaf": false, "mute": false, "flags": 0, "pending": false, "avatar": nil,
	}
	if withUser {
		o["user"] = userObject(m)
	}
	return o
}

var mentionRe = regexp.MustCompile(`<@!?([0-9]{1,20})>`)

// messageObject is Discord's message payload; call with mu held.
func (s *Simulator) messageObject(m *simMessage, author *simMember) map[string]any {
	mentions := []any{}
	for _, sub := range mentionRe.FindAllStringSubmatch(m.Content, -1) {
		if u, ok := s.members[sub[1]]; ok {
			mentions = append(mentions, userObject(u))
		}
	}
	embeds := []json.RawMessage{}
	embeds = append(embeds, m.embeds...)
	return map[string]any{
		"id": m.ID, "type": 0, "channel_id": m.ChannelID, "guild_id": SimServerID,
		"author": userObject(author), "member": memberObject(author, false),
		"content": m.Content, "timestamp": discordTime(m.at), "edited_timestamp": nil,
		"tts": false, "mention_everyone": false, "mentions": mentions, "mention_roles": []any{},
		"attachments": []any{}, "embeds": embeds, "pinned": false, "flags": 0,
	}
}

// addMessage stores a message; call with mu held.
func (s *Simulator) addMessage(channelID string, author *simMember, content string, embeds []json.RawMessage) *simMessage {
	now := s.cfg.Now()
	m := &simMessage{SimMessage: engine.SimMessage{
		ID: s.snowflake(), ChannelID: channelID, AuthorID: author.id, Author: author.name, Bot: author.bot,
		Content: content, Time: now.UTC().Format(time.RFC3339),
	}, at: now, embeds: embeds}
	list := append(s.messages[channelID], m)
	if len(list) > s.cfg.MaxMessages {
		list = slices.Delete(list, 0, len(list)-s.cfg.MaxMessages)
	}
	s.messages[channelID] = list
	return m
}

// memberContent trims what a member posts or edits to and refuses what
// Discord would: nothing, or more than 2000 characters.
func memberContent(verb, content string) (string, error) {
	content = strings.TrimSpace(content)
	if content == "" || utf8.RuneCountInString(content) > 2000 {
		return "", fmt.Errorf("simulator %s: %w: content must be 1-2000 characters", verb, engine.ErrInvalid)
	}
	return content, nil
}

// Post makes a member say content in a channel: a message_create event. A
// message "/name" runs the slash command name of the plugin declaring it,
// as Discord would, and shows its answer in the channel.
func (s *Simulator) Post(ctx context.Context, serverID, channelID, memberID, content string) error {
	h, err := s.hostOrErr()
	if err != nil {
		return err
	}
	if err := s.checkServer(serverID); err != nil {
		return err
	}
	content, err = memberContent("post", content)
	if err != nil {
		return err
	}
	s.mu.Lock()
	ch, author, err := s.memberIn(channelID, memberID)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("simulator post: %w", err)
	}
	msg := s.addMessage(ch.id, author, content, nil)
	payload := s.messageObject(msg, author)
	s.mu.Unlock()
	if err := dispatchOn(ctx, h, "post", "message_create", payload); err != nil {
		return err
	}
	if name, ok := strings.CutPrefix(content, "/"); ok {
		name, _, _ = strings.Cut(name, " ")
		return s.command(ctx, h, ch, author, name, nil)
	}
	return nil
}

// command simulates a slash command interaction.
func (s *Simulator) command(ctx context.Context, h Host, ch simChannel, author *simMember, name string, options []map[string]any) error {
	pluginID, ok := commandOwner(ctx, h, SimServerID, name)
	if !ok {
		return nil // an ordinary message that starts with "/"
	}
	s.mu.Lock()
	id := s.snowflake()
	s.mu.Unlock()
	raw, _ := json.Marshal(map[string]any{
		"id": id, "application_id": simAppID, "type": interactionCommand, "token": "simulated-" + id,
		"guild_id": SimServerID, "channel_id": ch.id, "member": memberObject(author, true), "version": 1,
		"data": commandData(id, name, options),
	})
	ev := engine.Event{Type: "interaction_create", ServerID: SimServerID, Data: raw}
	if err := h.Dispatch(ctx, ev); err != nil {
		return fmt.Errorf("simulator command /%s: %w", name, err)
	}
	out, err := h.CallCommand(ctx, pluginID, SimServerID, name, raw)
	var reply commandReply
	switch {
	case errors.Is(err, engine.ErrNotFound):
		reply.Content = "This command is not enabled on this server."
	case err != nil:
		reply.Content = "This command failed: " + err.Error()
	default:
		if json.Unmarshal(out, &reply) != nil {
			_ = json.Unmarshal(out, &reply.Content)
		}
		if reply.Content == "" && len(reply.Embeds) == 0 {
			reply.Content = "Done."
		}
	}
	s.mu.Lock()
	bot := s.members[SimBotID]
	msg := s.addMessage(ch.id, bot, reply.Content, reply.Embeds)
	payload := s.messageObject(msg, bot)
	s.mu.Unlock()
	s.echo("message_create", payload)
	return nil
}

func commandData(id, name string, options []map[string]any) map[string]any {
	d := map[string]any{"id": id, "name": name, "type": 1}
	if len(options) > 0 {
		d["options"] = options
	}
	return d
}

// Join adds a member (guild_member_add). An empty m.ID gets a new id.
func (s *Simulator) Join(ctx context.Context, serverID string, m engine.Member) error {
	h, err := s.hostOrErr()
	if err != nil {
		return err
	}
	if err := s.checkServer(serverID); err != nil {
		return err
	}
	name := strings.TrimSpace(m.Name)
	if name == "" || utf8.RuneCountInString(name) > 32 {
		return fmt.Errorf("simulator join: %w: name must be 1-32 characters", engine.ErrInvalid)
	}
	s.mu.Lock()
	if m.ID == "" {
		m.ID = s.snowflake()
	}
	if err := checkID("member id", m.ID); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("simulator join: %w", err)
	}
	if _, dup := s.members[m.ID]; dup {
		s.mu.Unlock()
		return fmt.Errorf("simulator join: %w: member %s is already on the server", engine.ErrInvalid, m.ID)
	}
	mem := &simMember{id: m.ID, name: name, bot: m.Bot, joined: s.cfg.Now().UTC()}
	s.members[m.ID] = mem
	payload := memberObject(mem, true)
	payload["guild_id"] = SimServerID
	s.mu.Unlock()
	return dispatchOn(ctx, h, "join", "guild_member_add", payload)
}

// Leave removes a member (guild_member_remove).
func (s *Simulator) Leave(ctx context.Context, serverID, memberID string) error {
	h, err := s.hostOrErr()
	if err != nil {
		return err
	}
	if err := s.checkServer(serverID); err != nil {
		return err
	}
	s.mu.Lock()
	mem := s.members[memberID]
	if mem == nil || mem.id == SimBotID {
		s.mu.Unlock()
		return fmt.Errorf("simulator leave: %w: member %q is not on the server (or is the bot)", engine.ErrNotFound, memberID)
	}
	delete(s.members, memberID)
	s.mu.Unlock()
	return dispatchOn(ctx, h, "leave", "guild_member_remove", map[string]any{"guild_id": SimServerID, "user": userObject(mem)})
}

// Messages returns a channel's latest messages, oldest first.
func (s *Simulator) Messages(ctx context.Context, serverID, channelID string, limit int) ([]engine.SimMessage, error) {
	if err := s.checkServer(serverID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.channel(channelID); !ok {
		return nil, fmt.Errorf("simulator: %w: channel %q", engine.ErrNotFound, channelID)
	}
	list := s.messages[channelID]
	if limit > 0 && len(list) > limit {
		list = list[len(list)-limit:]
	}
	out := make([]engine.SimMessage, len(list))
	for i, m := range list {
		out[i] = m.view()
	}
	return out, nil
}

// Actions returns the latest plugin actions other than messages.
func (s *Simulator) Actions(ctx context.Context, serverID string, limit int) ([]string, error) {
	if err := s.checkServer(serverID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.actions
	if limit > 0 && len(list) > limit {
		list = list[len(list)-limit:]
	}
	return append([]string(nil), list...), nil
}

// action records a line; call with mu held.
func (s *Simulator) action(format string, args ...any) {
	line := s.cfg.Now().UTC().Format("15:04:05") + " " + fmt.Sprintf(format, args...)
	s.actions = append(s.actions, line)
	if len(s.actions) > s.cfg.MaxActions {
		s.actions = slices.Delete(s.actions, 0, len(s.actions)-s.cfg.MaxActions)
	}
}

// Directory.

// Servers returns the simulated server.
func (s *Simulator) Servers(ctx context.Context) ([]engine.Server, error) {
	return []engine.Server{{ID: SimServerID, Name: SimServerName}}, nil
}

// Channels returns the simulated channels.
func (s *Simulator) Channels(ctx context.Context, serverID string) ([]engine.Channel, error) {
	if err := s.checkServer(serverID); err != nil {
		return nil, err
	}
	out := make([]engine.Channel, 0, len(s.channels))
	for _, c := range s.channels {
		out = append(out, engine.Channel{ID: c.id, Name: c.name, Type: "text"})
	}
	return out, nil
}

// Roles returns the simulated roles.
func (s *Simulator) Roles(ctx context.Context, serverID string) ([]engine.Role, error) {
	if err := s.checkServer(serverID); err != nil {
		return nil, err
	}
	return append([]engine.Role(nil), s.roles...), nil
}

// Members returns the simulated members, by name.
func (s *Simulator) Members(ctx context.Context, serverID string, limit int) ([]engine.Member, error) {
	if err := s.checkServer(serverID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := make([]engine.Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, engine.Member{ID: m.id, Name: m.name, Bot: m.bot})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// engine.Discord: plugin actions, scoped to the simulated server.

// scope checks a plugin action's server and channel; call with mu held.
func (s *Simulator) scope(serverID, channelID string) (simChannel, error) {
	if serverID != SimServerID {
		return simChannel{}, fmt.Errorf("server %s: %w %s: the simulator only has %s", serverID, ErrOtherServer, serverID, SimServerID)
	}
	if err := checkID("channel_id", channelID); err != nil {
		return simChannel{}, err
	}
	ch, ok := s.channel(channelID)
	if !ok {
		return simChannel{}, fmt.Errorf("channel %s: %w %s", channelID, ErrOtherServer, serverID)
	}
	return ch, nil
}

// findMessage returns a message of a channel; call with mu held.
func (s *Simulator) findMessage(channelID, messageID string) (*simMessage, error) {
	if err := checkID("message_id", messageID); err != nil {
		return nil, err
	}
	for _, m := range s.messages[channelID] {
		if m.ID == messageID {
			return m, nil
		}
	}
	return nil, fmt.Errorf("message %s: unknown message (404)", messageID)
}

// scopedMessage finds a message of a channel of the simulated server, for
// the action verb (which its errors name); call with mu held.
func (s *Simulator) scopedMessage(verb, serverID, channelID, messageID string) (simChannel, *simMessage, error) {
	ch, err := s.scope(serverID, channelID)
	if err != nil {
		return simChannel{}, nil, fmt.Errorf("%s: %w", verb, err)
	}
	m, err := s.findMessage(ch.id, messageID)
	if err != nil {
		return simChannel{}, nil, fmt.Errorf("%s: %w", verb, err)
	}
	return ch, m, nil
}

// edit gives m new content and returns the message_update payload; call
// with mu held.
func (s *Simulator) edit(m *simMessage, author *simMember, content string) map[string]any {
	m.Content, m.Edited = content, true
	payload := s.messageObject(m, author)
	payload["edited_timestamp"] = discordTime(s.cfg.Now())
	return payload
}

// remove deletes a message of a channel and returns the message_delete
// payload; call with mu held.
func (s *Simulator) remove(channelID, messageID string) map[string]any {
	s.messages[channelID] = slices.DeleteFunc(s.messages[channelID], func(m *simMessage) bool { return m.ID == messageID })
	return map[string]any{"id": messageID, "channel_id": channelID, "guild_id": SimServerID}
}

// reactionEvent is the event of userID adding (or removing) the emoji
// reaction to m: its type and payload.
func reactionEvent(m *simMessage, userID, emoji string, add bool) (string, map[string]any) {
	typ := "message_reaction_add"
	if !add {
		typ = "message_reaction_remove"
	}
	return typ, map[string]any{
		"user_id": userID, "channel_id": m.ChannelID, "message_id": m.ID, "guild_id": SimServerID,
		"emoji": map[string]any{"id": nil, "name": emoji}, "message_author_id": m.AuthorID,
	}
}

// SendMessage posts as the bot in a simulated channel.
func (s *Simulator) SendMessage(ctx context.Context, serverID string, m engine.OutMessage) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.scope(serverID, m.ChannelID)
	if err != nil {
		return "", fmt.Errorf("send message: %w", err)
	}
	if m.ReplyTo != "" {
		if err := checkID("reply_to", m.ReplyTo); err != nil {
			return "", fmt.Errorf("send message: %w", err)
		}
	}
	for i, e := range m.Embeds {
		var obj map[string]any
		if json.Unmarshal(e, &obj) != nil {
			return "", fmt.Errorf("send message: %w: embeds[%d] must be an object", engine.ErrInvalid, i)
		}
	}
	bot := s.members[SimBotID]
	msg := s.addMessage(ch.id, bot, m.Content, m.Embeds)
	payload := s.messageObject(msg, bot)
	if m.ReplyTo != "" {
		payload["message_reference"] = map[string]any{"message_id": m.ReplyTo, "channel_id": ch.id, "guild_id": SimServerID}
		payload["type"] = 19 // REPLY
	}
	s.echo("message_create", payload)
	what := "a message"
	if m.ReplyTo != "" {
		what = "a reply"
	}
	preview := m.Content
	if preview == "" && len(m.Embeds) > 0 {
		preview = "(embed)"
	}
	s.action("Maid sent %s in #%s: %s", what, ch.name, truncate(strings.ReplaceAll(preview, "\n", " "), 80))
	return msg.ID, nil
}

// EditMessage edits one of the bot's simulated messages.
func (s *Simulator) EditMessage(ctx context.Context, serverID, channelID, messageID, content string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, m, err := s.scopedMessage("edit message", serverID, channelID, messageID)
	if err != nil {
		return err
	}
	if m.AuthorID != SimBotID {
		return fmt.Errorf("edit message %s: cannot edit a message authored by another user (403)", messageID)
	}
	s.action("Maid edited its message %s in #%s", messageID, ch.name)
	s.echo("message_update", s.edit(m, s.members[SimBotID], content))
	return nil
}

// DeleteMessage deletes one of the bot's simulated messages.
func (s *Simulator) DeleteMessage(ctx context.Context, serverID, channelID, messageID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, m, err := s.scopedMessage("delete message", serverID, channelID, messageID)
	if err != nil {
		return err
	}
	if m.AuthorID != SimBotID {
		return fmt.Errorf("delete message %s: %w", messageID, ErrNotOwn)
	}
	payload := s.remove(ch.id, messageID)
	s.action("Maid deleted its message %s in #%s", messageID, ch.name)
	s.echo("message_delete", payload)
	return nil
}

// AddReaction records the bot's reaction to a simulated message.
func (s *Simulator) AddReaction(ctx context.Context, serverID, channelID, messageID, emoji string) error {
	return s.reaction(serverID, channelID, messageID, emoji, true)
}

// RemoveReaction records the removal of the bot's reaction.
func (s *Simulator) RemoveReaction(ctx context.Context, serverID, channelID, messageID, emoji string) error {
	return s.reaction(serverID, channelID, messageID, emoji, false)
}

func (s *Simulator) reaction(serverID, channelID, messageID, emoji string, add bool) error {
	verb := "add reaction"
	if !add {
		verb = "remove reaction"
	}
	e, err := reactionEmoji(emoji)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, m, err := s.scopedMessage(verb, serverID, channelID, messageID)
	if err != nil {
		return err
	}
	m.react(e, SimBotID, add)
	if add {
		s.action("Maid reacted %s to %s's message in #%s", e, m.Author, ch.name)
	} else {
		s.action("Maid removed its %s reaction from %s's message in #%s", e, m.Author, ch.name)
	}
	s.echo(reactionEvent(m, SimBotID, e, add))
	return nil
}

// AddRole gives a simulated member a simulated role.
func (s *Simulator) AddRole(ctx context.Context, serverID, userID, roleID string) error {
	return s.role(serverID, userID, roleID, true)
}

// RemoveRole takes a simulated role from a simulated member.
func (s *Simulator) RemoveRole(ctx context.Context, serverID, userID, roleID string) error {
	return s.role(serverID, userID, roleID, false)
}

func (s *Simulator) role(serverID, userID, roleID string, add bool) error {
	verb := "add role"
	if !add {
		verb = "remove role"
	}
	if serverID != SimServerID {
		return fmt.Errorf("%s: server %s: %w %s", verb, serverID, ErrOtherServer, serverID)
	}
	for _, f := range [][2]string{{"user_id", userID}, {"role_id", roleID}} {
		if err := checkID(f[0], f[1]); err != nil {
			return fmt.Errorf("%s: %w", verb, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name, ok := s.roleName(roleID)
	if !ok {
		return fmt.Errorf("%s: role %s: %w %s", verb, roleID, ErrOtherServer, serverID)
	}
	if roleID == SimServerID {
		return fmt.Errorf("%s: %w: role_id %s is @everyone, which every member has", verb, engine.ErrInvalid, roleID)
	}
	mem := s.members[userID]
	if mem == nil {
		return fmt.Errorf("%s: member %s: unknown member (404)", verb, userID)
	}
	has := slices.Contains(mem.roles, roleID)
	switch {
	case add && !has:
		mem.roles = append(mem.roles, roleID)
		s.action("Maid gave %s the role %s", mem.name, name)
	case !add && has:
		mem.roles = slices.DeleteFunc(mem.roles, func(r string) bool { return r == roleID })
		s.action("Maid took the role %s from %s", name, mem.name)
	default:
		return nil // Discord answers 204 and sends no update
	}
	payload := memberObject(mem, true)
	payload["guild_id"] = SimServerID
	s.echo("guild_member_update", payload)
	return nil
}

// GetMember returns a simulated member as Discord's member object.
func (s *Simulator) GetMember(ctx context.Context, serverID, userID string) (json.RawMessage, error) {
	if serverID != SimServerID {
		return nil, fmt.Errorf("get member: server %s: %w %s", serverID, ErrOtherServer, serverID)
	}
	if err := checkID("user_id", userID); err != nil {
		return nil, fmt.Errorf("get member: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mem := s.members[userID]
	if mem == nil {
		return nil, fmt.Errorf("get member %s: unknown member (404)", userID)
	}
	return json.Marshal(memberObject(mem, true))
}

var (
	_ engine.Discord   = (*Simulator)(nil)
	_ engine.Directory = (*Simulator)(nil)
)

// Commands returns the slash commands of the installed plugins, with their
// options, as the simulator's command picker offers them.
func (s *Simulator) Commands(ctx context.Context, serverID string) ([]engine.SimCommand, error) {
	h, err := s.hostOrErr()
	if err != nil {
		return nil, err
	}
	if err := s.checkServer(serverID); err != nil {
		return nil, err
	}
	_, owners := commandSet(h.Plugins())
	var out []engine.SimCommand
	for _, p := range h.Plugins() {
		for _, c := range p.Manifest.Commands {
			if owners[c.Name][0] != p.Manifest.ID {
				continue
			}
			sc := engine.SimCommand{Name: c.Name, Description: c.Description, Plugin: p.Manifest.ID}
			for _, o := range c.Options {
				sc.Options = append(sc.Options, engine.SimCommandOption{Name: o.Name, Description: o.Description, Type: o.Type, Required: o.Required})
			}
			out = append(out, sc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RunCommand makes a member use a slash command with options (values as
// the form gives them: strings, checked against the option's type) in a
// channel, as Discord would: an interaction_create event, the plugin's
// command handler, and its answer in the channel.
func (s *Simulator) RunCommand(ctx context.Context, serverID, channelID, memberID, name string, values map[string]string) error {
	h, err := s.hostOrErr()
	if err != nil {
		return err
	}
	cmds, err := s.Commands(ctx, serverID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(cmds, func(c engine.SimCommand) bool { return c.Name == name })
	if i < 0 {
		return fmt.Errorf("simulator command: %w: no installed plugin declares /%s", engine.ErrNotFound, name)
	}
	var opts []map[string]any
	for _, o := range cmds[i].Options {
		raw := strings.TrimSpace(values[o.Name])
		if raw == "" {
			if o.Required {
				return fmt.Errorf("simulator command /%s: %w: option %s is required", name, engine.ErrInvalid, o.Name)
			}
			continue
		}
		v, err := optionValue(o.Type, raw)
		if err != nil {
			return fmt.Errorf("simulator command /%s: %w: option %s: %v", name, engine.ErrInvalid, o.Name, err)
		}
		opts = append(opts, map[string]any{"name": o.Name, "type": int(commandOptionTypes[o.Type]), "value": v})
	}
	s.mu.Lock()
	ch, author, err := s.memberIn(channelID, memberID)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("simulator command: %w", err)
	}
	line := "/" + name
	for _, o := range opts {
		line += fmt.Sprintf(" %s:%v", o["name"], o["value"])
	}
	s.action("%s used %s in #%s", author.name, truncate(line, 120), ch.name)
	s.mu.Unlock()
	return s.command(ctx, h, ch, author, name, opts)
}

// optionValue converts a form value to a command option's JSON value.
func optionValue(typ, raw string) (any, error) {
	switch typ {
	case "integer":
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("must be a whole number, got %q", raw)
		}
		return n, nil
	case "number":
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("must be a number, got %q", raw)
		}
		return f, nil
	case "boolean":
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, fmt.Errorf("must be true or false, got %q", raw)
		}
		return b, nil
	case "user", "channel", "role", "mentionable":
		if err := checkID(typ, raw); err != nil {
			return nil, err
		}
		return raw, nil
	}
	if utf8.RuneCountInString(raw) > 6000 {
		return nil, fmt.Errorf("must be at most 6000 characters")
	}
	return raw, nil
}

// React makes a member add (or remove) a reaction to a message: a
// message_reaction_add (remove) event.
func (s *Simulator) React(ctx context.Context, serverID, channelID, messageID, memberID, emoji string, add bool) error {
	if err := s.checkServer(serverID); err != nil {
		return err
	}
	e, err := reactionEmoji(emoji)
	if err != nil {
		return fmt.Errorf("simulator reaction: %w: %w", engine.ErrInvalid, err)
	}
	s.mu.Lock()
	m, _, author, err := s.memberMessage(channelID, messageID, memberID)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("simulator reaction: %w", err)
	}
	if !m.react(e, author.id, add) {
		s.mu.Unlock()
		return nil // nothing changed: Discord sends no event either
	}
	typ, data := reactionEvent(m, author.id, e, add)
	if add {
		data["member"] = memberObject(author, true)
	}
	s.mu.Unlock()
	return s.dispatch(ctx, typ, data)
}

// EditAs makes a member edit their own message (message_update).
func (s *Simulator) EditAs(ctx context.Context, serverID, channelID, messageID, memberID, content string) error {
	if err := s.checkServer(serverID); err != nil {
		return err
	}
	content, err := memberContent("edit", content)
	if err != nil {
		return err
	}
	s.mu.Lock()
	m, _, author, err := s.ownMessage(channelID, messageID, memberID)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("simulator edit: %w", err)
	}
	payload := s.edit(m, author, content)
	s.mu.Unlock()
	return s.dispatch(ctx, "message_update", payload)
}

// DeleteAs makes a member delete their own message (message_delete).
func (s *Simulator) DeleteAs(ctx context.Context, serverID, channelID, messageID, memberID string) error {
	if err := s.checkServer(serverID); err != nil {
		return err
	}
	s.mu.Lock()
	_, ch, _, err := s.ownMessage(channelID, messageID, memberID)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("simulator delete: %w", err)
	}
	payload := s.remove(ch.id, messageID)
	s.mu.Unlock()
	return s.dispatch(ctx, "message_delete", payload)
}

// memberIn finds the channel and the member of a member's action; call
// with mu held.
func (s *Simulator) memberIn(channelID, memberID string) (simChannel, *simMember, error) {
	ch, ok := s.channel(channelID)
	author := s.members[memberID]
	if !ok || author == nil {
		return ch, nil, fmt.Errorf("%w: channel %q or member %q is not on the simulated server", engine.ErrNotFound, channelID, memberID)
	}
	return ch, author, nil
}

// memberMessage finds the message a member acts on in a channel, and the
// member; call with mu held.
func (s *Simulator) memberMessage(channelID, messageID, memberID string) (*simMessage, simChannel, *simMember, error) {
	ch, author, err := s.memberIn(channelID, memberID)
	if err != nil {
		return nil, ch, nil, err
	}
	m, err := s.findMessage(ch.id, messageID)
	if err != nil {
		return nil, ch, nil, fmt.Errorf("%w: %w", engine.ErrNotFound, err)
	}
	return m, ch, author, nil
}

// ownMessage finds memberID's own message in a channel; call with mu held.
func (s *Simulator) ownMessage(channelID, messageID, memberID string) (*simMessage, simChannel, *simMember, error) {
	m, ch, author, err := s.memberMessage(channelID, messageID, memberID)
	if err != nil {
		return nil, ch, nil, err
	}
	if m.AuthorID != memberID {
		return nil, ch, nil, fmt.Errorf("%w: message %s is %s's, not %s's", engine.ErrInvalid, messageID, m.Author, author.name)
	}
	return m, ch, author, nil
}

// dispatch sends a member's event to the engine.
func (s *Simulator) dispatch(ctx context.Context, typ string, data map[string]any) error {
	h, err := s.hostOrErr()
	if err != nil {
		return err
	}
	return dispatchOn(ctx, h, typ, typ, data)
}

// dispatchOn sends a member's event to h; verb names the action in the
// error.
func dispatchOn(ctx context.Context, h Host, verb, typ string, data map[string]any) error {
	raw, _ := json.Marshal(data)
	if err := h.Dispatch(ctx, engine.Event{Type: typ, ServerID: SimServerID, Data: raw}); err != nil {
		return fmt.Errorf("simulator %s: %w", verb, err)
	}
	return nil
}
