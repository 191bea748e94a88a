// Package discord connects maid's engine to Discord. Gateway opens the
// real gateway through discordgo (events in, plugin actions out, slash
// commands); Simulator is the local stand-in used without a bot token.
// Both implement engine.Discord and engine.Directory; the engine and the
// dashboard never import this package or discordgo.
package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

// Errors of this package (wrapped with %w). Discord's own refusals come
// back as discordgo's *RESTError, wrapped.
var (
	// ErrOtherServer: a channel, message or role is not on the server the
	// action is scoped to; nothing was sent to Discord.
	ErrOtherServer = errors.New("not on this server")
	// ErrNotOwn: a plugin may only delete messages the bot itself sent.
	ErrNotOwn = errors.New("not a message of the bot")
	// ErrNotReady: no gateway session is open yet.
	ErrNotReady = errors.New("discord gateway not connected")
)

// Host is what the gateway and the simulator feed; *engine.Engine
// satisfies it.
type Host interface {
	// Dispatch queues an event for the plugins enabled on its server.
	Dispatch(ctx context.Context, ev engine.Event) error
	// Plugins lists the installed plugins (their manifests declare slash
	// commands).
	Plugins() []*plugin.Package
	// PluginEnabled reports whether an installed plugin is enabled on a
	// server (to route a command name plugins share).
	PluginEnabled(ctx context.Context, serverID, pluginID string) (bool, error)
	// CallCommand routes a slash command interaction to a plugin.
	CallCommand(ctx context.Context, pluginID, serverID, command string, interaction json.RawMessage) (json.RawMessage, error)
}

// DefaultEvents are the gateway dispatches forwarded to plugins (lower
// snake case). Others (presence, typing, voice) are not.
var DefaultEvents = []string{
	"message_create", "message_update", "message_delete", "message_delete_bulk",
	"message_reaction_add", "message_reaction_remove", "message_reaction_remove_all",
	"guild_member_add", "guild_member_update", "guild_member_remove",
	"guild_create", "guild_update", "guild_delete",
	"guild_role_create", "guild_role_update", "guild_role_delete",
	"channel_create", "channel_update", "channel_delete",
	"interaction_create",
}

// intentNames maps the names accepted by ParseIntents to gateway intents.
var intentNames = map[string]discordgo.Intent{
	"guilds":                        discordgo.IntentGuilds,
	"guild_members":                 discordgo.IntentGuildMembers,
	"guild_moderation":              discordgo.IntentGuildModeration,
	"guild_emojis":                  discordgo.IntentGuildEmojis,
	"guild_integrations":            discordgo.IntentGuildIntegrations,
	"guild_webhooks":                discordgo.IntentGuildWebhooks,
	"guild_invites":                 discordgo.IntentGuildInvites,
	"guild_voice_states":            discordgo.IntentGuildVoiceStates,
	"guild_presences":               discordgo.IntentGuildPresences,
	"guild_messages":                discordgo.IntentGuildMessages,
	"guild_message_reactions":       discordgo.IntentGuildMessageReactions,
	"guild_message_typing":          discordgo.IntentGuildMessageTyping,
	"direct_messages":               discordgo.IntentDirectMessages,
	"direct_message_reactions":      discordgo.IntentDirectMessageReactions,
	"direct_message_typing":         discordgo.IntentDirectMessageTyping,
	"message_content":               discordgo.IntentMessageContent,
	"guild_scheduled_events":        discordgo.IntentGuildScheduledEvents,
	"auto_moderation_configuration": discordgo.IntentAutoModerationConfiguration,
	"auto_moderation_execution":     discordgo.IntentAutoModerationExecution,
}

// DefaultIntents is what maid asks for without --intents: guilds, guild
// messages and reactions, and the two privileged intents plugins need
// (guild_members for joins/leaves, message_content for message text).
// Privileged intents must be switched on for the bot in Discord's developer
// portal, or the gateway closes with 4014.
const DefaultIntents = "guilds,guild_members,guild_messages,guild_message_reactions,message_content"

// ParseIntents parses a comma-separated list of intent names (see
// DefaultIntents; "default" expands to it) or a decimal bitmask.
func ParseIntents(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "default" {
		s = DefaultIntents
	}
	if n, err := strconv.ParseUint(s, 10, 31); err == nil {
		return int(n), nil
	}
	var out discordgo.Intent
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "default" {
			d, _ := ParseIntents(DefaultIntents)
			out |= discordgo.Intent(d)
			continue
		}
		v, ok := intentNames[name]
		if !ok {
			names := make([]string, 0, len(intentNames))
			for n := range intentNames {
				names = append(names, n)
			}
			sort.Strings(names)
			return 0, fmt.Errorf("intents: %w: unknown intent %q (known: %s, or a decimal bitmask)", engine.ErrInvalid, name, strings.Join(names, ", "))
		}
		out |= v
	}
	return int(out), nil
}

// ParseShards parses shard ids: "0", "0,2", "0-3" or a mix; each must be
// below count.
func ParseShards(s string, count int) ([]int, error) {
	if count < 1 || count > maxShards {
		return nil, fmt.Errorf("shards: %w: shard count must be 1-%d", engine.ErrInvalid, maxShards)
	}
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("shards: %w: %q must be shard ids like 0, 0,2 or 0-3", engine.ErrInvalid, part)
		}
		if b >= count {
			return nil, fmt.Errorf("shards: %w: shard id %d must be below the shard count %d", engine.ErrInvalid, b, count)
		}
		for i := a; i <= b; i++ {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

// maxShards bounds --shard-count (far above what any bot uses).
const maxShards = 1 << 16

var snowflakeRe = regexp.MustCompile(`^[0-9]{1,20}$`)

// checkID refuses anything but a snowflake: ids go into REST paths.
func checkID(field, id string) error {
	if !snowflakeRe.MatchString(id) {
		return fmt.Errorf("%w: %s %q must be a Discord id (1-20 digits)", engine.ErrInvalid, field, id)
	}
	return nil
}

// reactionEmoji turns a plugin's emoji (a unicode emoji, "name:id" or
// "<:name:id>") into the path segment Discord expects, refusing anything
// that could change the request path.
func reactionEmoji(e string) (string, error) {
	// The engine's parser: the reaction sent is the one its record keys
	// (engine.CanonicalEmoji).
	if name, id, ok := engine.CustomEmoji(e); ok {
		return name + ":" + id, nil
	}
	if e == "" || len(e) > 64 || !utf8.ValidString(e) {
		return "", fmt.Errorf("%w: emoji must be a unicode emoji or name:id, at most 64 bytes", engine.ErrInvalid)
	}
	for _, r := range e {
		// Keycap emoji start with an ASCII digit, # or *; nothing else
		// ASCII belongs in a unicode emoji.
		if r < 0x80 && !(r >= '0' && r <= '9' || r == '#' || r == '*') || unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", fmt.Errorf("%w: emoji %q must be a unicode emoji or name:id", engine.ErrInvalid, e)
		}
	}
	return e, nil
}

// maxForwardBytes bounds an event payload forwarded to plugins; bigger
// guild_create payloads lose their member and presence lists (the plugin
// protocol's line limit is 1 MiB).
const maxForwardBytes = 512 << 10

// eventFromDispatch maps one gateway dispatch (type as Discord names it,
// e.g. MESSAGE_CREATE) to an engine event. ok is false for dispatches not
// forwarded: types outside allowed, or events without a server (DMs).
func eventFromDispatch(typ string, raw []byte, allowed map[string]bool) (ev engine.Event, ok bool, err error) {
	name := strings.ToLower(typ)
	if !allowed[name] {
		return engine.Event{}, false, nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return engine.Event{}, false, fmt.Errorf("dispatch %s: payload is not a JSON object", typ)
	}
	var ids struct {
		ID      json.RawMessage `json:"id"`
		GuildID json.RawMessage `json:"guild_id"`
	}
	if err := json.Unmarshal(raw, &ids); err != nil {
		return engine.Event{}, false, fmt.Errorf("dispatch %s: %w", typ, err)
	}
	idField := ids.GuildID
	switch name {
	case "guild_create", "guild_update", "guild_delete":
		idField = ids.ID // these carry the guild itself
	}
	var gid string
	if len(idField) == 0 || json.Unmarshal(idField, &gid) != nil || gid == "" {
		return engine.Event{}, false, nil // not a server event (a DM)
	}
	if !snowflakeRe.MatchString(gid) {
		return engine.Event{}, false, fmt.Errorf("dispatch %s: guild id %q is not a snowflake", typ, gid)
	}
	data := raw
	if len(data) > maxForwardBytes {
		data = trimPayload(data)
	}
	return engine.Event{Type: name, ServerID: gid, Data: json.RawMessage(data)}, true, nil
}

// trimPayload drops the bulky lists of a guild payload.
func trimPayload(raw []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	for _, k := range []string{"members", "presences", "voice_states", "threads", "emojis", "stickers"} {
		delete(m, k)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

func allowSet(types []string) map[string]bool {
	if len(types) == 0 {
		types = DefaultEvents
	}
	m := make(map[string]bool, len(types))
	for _, t := range types {
		m[strings.ToLower(t)] = true
	}
	return m
}

// commandOptionTypes maps manifest option types to Discord's numbers.
var commandOptionTypes = map[string]discordgo.ApplicationCommandOptionType{
	"string": discordgo.ApplicationCommandOptionString, "integer": discordgo.ApplicationCommandOptionInteger,
	"boolean": discordgo.ApplicationCommandOptionBoolean, "user": discordgo.ApplicationCommandOptionUser,
	"channel": discordgo.ApplicationCommandOptionChannel, "role": discordgo.ApplicationCommandOptionRole,
	"mentionable": discordgo.ApplicationCommandOptionMentionable, "number": discordgo.ApplicationCommandOptionNumber,
}

// commandSet is the slash commands of the installed plugins: Discord
// definitions (of the first declarer by plugin id), and the plugins
// declaring each name, sorted by id. Engine.Install refuses a second
// declarer, but plugins installed before that rule may share a name;
// commandOwner picks among them per server.
func commandSet(pkgs []*plugin.Package) ([]*discordgo.ApplicationCommand, map[string][]string) {
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Manifest.ID < pkgs[j].Manifest.ID })
	owners := map[string][]string{}
	var defs []*discordgo.ApplicationCommand
	for _, p := range pkgs {
		for _, c := range p.Manifest.Commands {
			if ids := owners[c.Name]; len(ids) > 0 {
				if ids[len(ids)-1] != p.Manifest.ID {
					owners[c.Name] = append(ids, p.Manifest.ID)
				}
				continue
			}
			owners[c.Name] = []string{p.Manifest.ID}
			desc := c.Description
			if desc == "" {
				desc = c.Name
			}
			def := &discordgo.ApplicationCommand{Name: c.Name, Description: truncate(desc, 100), Type: discordgo.ChatApplicationCommand}
			for _, o := range c.Options {
				od := o.Description
				if od == "" {
					od = o.Name
				}
				def.Options = append(def.Options, &discordgo.ApplicationCommandOption{
					Type: commandOptionTypes[o.Type], Name: o.Name, Description: truncate(od, 100), Required: o.Required,
				})
			}
			defs = append(defs, def)
		}
	}
	return defs, owners
}

// commandOwner is the plugin a slash command used on serverID goes to:
// the only declarer, or, when plugins installed before names were unique
// share it, the first by id enabled on that server (the first by id when
// none is, which then answers "not enabled"), never one not enabled there
// when another is.
func commandOwner(ctx context.Context, h Host, serverID, name string) (string, bool) {
	_, owners := commandSet(h.Plugins())
	ids := owners[name]
	if len(ids) == 0 {
		return "", false
	}
	if len(ids) > 1 {
		for _, id := range ids {
			if on, err := h.PluginEnabled(ctx, serverID, id); err == nil && on {
				return id, true
			}
		}
	}
	return ids[0], true
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// commandReply is what a plugin's command handler returns.
type commandReply struct {
	Content   string            `json:"content"`
	Embeds    []json.RawMessage `json:"embeds"`
	Ephemeral bool              `json:"ephemeral"`
}

// allowedMentions keeps plugins from pinging @everyone/@here.
var allowedMentions = map[string]any{"parse": []string{"users", "roles"}, "replied_user": true}
