package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/bwmarrin/discordgo"

	"github.com/maidhq/maid/engine"
)

// Plugin actions (engine.Discord) through discordgo's REST client and its
// rate limiter. Every id is checked to be a snowflake (ids go into paths)
// and every channel and role to belong to serverID before any request that
// acts; a refusal sends nothing.

func (g *Gateway) opts(ctx context.Context) discordgo.RequestOption {
	return discordgo.WithContext(ctx)
}

// act makes one REST request of a plugin's action within the failure
// budgets (lookups.go, attack W): it fails fast when one of keys failed
// within actionMissTTL or a budget is spent; after an answer the budgets
// charge (chargedStatus: 401, 403, 404, 429) it charges both and
// remembers keyFor(status), if not "". A 400 (the request's content
// refused) is neither (attack X). verified says the target is known to be
// the server's (see allow). Successes spend nothing.
func (g *Gateway) act(serverID, what string, verified bool, keys []string, keyFor func(status int) string, call func() error) error {
	for _, k := range keys {
		if g.lookups.failed(k) {
			return fmt.Errorf("failed on Discord within the last %s, not retried yet (%s)", actionMissTTL, k)
		}
	}
	if err := g.lookups.allow(what, serverID, verified); err != nil {
		return err
	}
	err := call()
	if status, ok := chargedStatus(err); ok {
		g.lookups.charge(serverID)
		if k := keyFor(status); k != "" && definite(err) {
			g.lookups.rememberFor(k, actionMissTTL)
		}
	}
	return err
}

// sentBy reports whether this gateway sent messageID into serverID's
// channelID (and has not deleted it): a target known to be the server's.
func (g *Gateway) sentBy(serverID, channelID, messageID string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.sent[messageID] == serverID+"/"+channelID
}

// channelServer returns the guild of a channel: from a shard's state, from
// what REST told us before, or from REST (a channel never changes guild)
// within serverID's lookup budget (lookups.go).
func (g *Gateway) channelServer(ctx context.Context, serverID, channelID string) (string, error) {
	g.mu.RLock()
	shards := g.shards
	gid, known := g.chanGuild[channelID]
	g.mu.RUnlock()
	if known {
		return gid, nil
	}
	for _, sh := range shards {
		if c, err := sh.s.State.Channel(channelID); err == nil {
			return c.GuildID, nil
		}
	}
	key := "channel:" + channelID
	if g.lookups.failed(key) {
		return "", fmt.Errorf("look up channel %s: not found on Discord (a failed lookup, remembered for %s)", channelID, lookupMissTTL)
	}
	if err := g.lookups.take("channels", serverID); err != nil {
		return "", err
	}
	c, err := g.rest.Channel(channelID, g.opts(ctx))
	if err != nil {
		if definite(err) {
			g.lookups.remember(key)
		}
		return "", fmt.Errorf("look up channel %s: %w", channelID, err)
	}
	if c.GuildID == serverID {
		g.lookups.refund(serverID)
	}
	g.mu.Lock()
	if len(g.chanGuild) > 100_000 { // bound the cache; state covers most
		clear(g.chanGuild)
	}
	g.chanGuild[channelID] = c.GuildID
	g.mu.Unlock()
	return c.GuildID, nil
}

// inServer refuses a channel that is not on serverID.
func (g *Gateway) inServer(ctx context.Context, serverID, channelID string) error {
	if err := checkID("server id", serverID); err != nil {
		return err
	}
	if err := checkID("channel_id", channelID); err != nil {
		return err
	}
	gid, err := g.channelServer(ctx, serverID, channelID)
	if err != nil {
		return err
	}
	if gid != serverID {
		return fmt.Errorf("channel %s: %w %s", channelID, ErrOtherServer, serverID)
	}
	return nil
}

// SendMessage posts a message (content, embeds, optionally a reply).
func (g *Gateway) SendMessage(ctx context.Context, serverID string, m engine.OutMessage) (string, error) {
	if err := g.inServer(ctx, serverID, m.ChannelID); err != nil {
		return "", fmt.Errorf("send message: %w", err)
	}
	body := map[string]any{"allowed_mentions": allowedMentions}
	if m.Content != "" {
		body["content"] = m.Content
	}
	if len(m.Embeds) > 0 {
		body["embeds"] = m.Embeds // as the plugin gave them: Discord validates
	}
	if m.ReplyTo != "" {
		if err := checkID("reply_to", m.ReplyTo); err != nil {
			return "", fmt.Errorf("send message: %w", err)
		}
		body["message_reference"] = map[string]any{
			"message_id": m.ReplyTo, "channel_id": m.ChannelID, "guild_id": serverID, "fail_if_not_exists": false,
		}
	}
	ep := discordgo.EndpointChannelMessages(m.ChannelID)
	var resp []byte
	// A 404 is the channel's, and so is a plain send's 403 (no access):
	// remembered for every send to it. A reply's 403 may be only the
	// reply's (it needs Read Message History, a plain send does not):
	// remembered for replies to the channel (attack X).
	sendKey, replyKey := "send:"+m.ChannelID, "reply:"+m.ChannelID
	keys := []string{sendKey}
	if m.ReplyTo != "" {
		keys = append(keys, replyKey)
	}
	err := g.act(serverID, "sends", true, keys, func(status int) string {
		switch {
		case status == http.StatusForbidden && m.ReplyTo != "":
			return replyKey
		case status == http.StatusForbidden, status == http.StatusNotFound:
			return sendKey
		}
		return ""
	}, func() (err error) {
		resp, err = g.rest.RequestWithBucketID("POST", ep, body, ep, g.opts(ctx))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("send message to channel %s: %w", m.ChannelID, err)
	}
	var msg struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp, &msg); err != nil || msg.ID == "" {
		return "", fmt.Errorf("send message to channel %s: unexpected answer %.200s", m.ChannelID, resp)
	}
	g.mu.Lock()
	if len(g.sent) >= sentKept {
		clear(g.sent)
	}
	g.sent[msg.ID] = serverID + "/" + m.ChannelID
	g.mu.Unlock()
	return msg.ID, nil
}

// sentKept bounds the gateway's memory of the messages it sent (a delete
// of one it forgot costs a lookup, as after a restart).
const sentKept = 100_000

// EditMessage replaces a message's content (Discord only lets the bot edit
// its own messages).
func (g *Gateway) EditMessage(ctx context.Context, serverID, channelID, messageID, content string) error {
	if err := g.inServer(ctx, serverID, channelID); err != nil {
		return fmt.Errorf("edit message: %w", err)
	}
	if err := checkID("message_id", messageID); err != nil {
		return fmt.Errorf("edit message: %w", err)
	}
	body := map[string]any{"content": content, "allowed_mentions": allowedMentions}
	// Any message id in the channel goes to Discord: an unknown one is
	// remembered with the failed deletes' key, one not the bot's (403)
	// for edits; a 400 (content Discord refuses) is not (attack X).
	msgKey, editKey := "message:"+channelID+"/"+messageID, "edit:"+channelID+"/"+messageID
	err := g.act(serverID, "edits", g.sentBy(serverID, channelID, messageID), []string{msgKey, editKey}, func(status int) string {
		switch status {
		case http.StatusNotFound:
			return msgKey
		case http.StatusForbidden:
			return editKey
		}
		return ""
	}, func() error {
		_, err := g.rest.RequestWithBucketID("PATCH", discordgo.EndpointChannelMessage(channelID, messageID), body,
			discordgo.EndpointChannelMessage(channelID, ""), g.opts(ctx))
		return err
	})
	if err != nil {
		return fmt.Errorf("edit message %s: %w", messageID, err)
	}
	return nil
}

// DeleteMessage deletes a message the bot sent. The bot may hold Manage
// Messages; plugins still only get to delete the bot's own messages.
//
// A message this gateway sent into that server's channel, and has not
// deleted since, is the bot's: it is deleted without a lookup, so no
// lookup budget stands between a plugin and its own message (another
// plugin spending the server's budget on invented ids must not refuse it,
// attack V). Such a delete fails only when someone else deleted the
// message first, once per message, which no plugin can repeat at will.
// Other messages (sent before a restart, by another cluster node, or
// forgotten past sentKept) are looked up first to check the bot wrote
// them, within the lookup budget (lookups.go).
func (g *Gateway) DeleteMessage(ctx context.Context, serverID, channelID, messageID string) error {
	for _, f := range [][2]string{{"server id", serverID}, {"channel_id", channelID}, {"message_id", messageID}} {
		if err := checkID(f[0], f[1]); err != nil {
			return fmt.Errorf("delete message: %w", err)
		}
	}
	key := "message:" + channelID + "/" + messageID
	if g.lookups.failed(key) {
		return fmt.Errorf("delete message %s: not found on Discord (a failed lookup, remembered for %s)", messageID, lookupMissTTL)
	}
	if g.claimSent(serverID, channelID, messageID) {
		err := g.act(serverID, "deletes", true, nil, func(int) string { return "" }, func() error {
			return g.rest.ChannelMessageDelete(channelID, messageID, g.opts(ctx))
		})
		if err != nil {
			if definite(err) {
				g.lookups.remember(key)
			} else { // not deleted, maybe: the next try may skip the lookup too
				g.mu.Lock()
				g.sent[messageID] = serverID + "/" + channelID
				g.mu.Unlock()
			}
			return fmt.Errorf("delete message %s: %w", messageID, err)
		}
		return nil
	}
	if err := g.inServer(ctx, serverID, channelID); err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	if err := g.lookups.take("messages", serverID); err != nil {
		return fmt.Errorf("delete message %s: %w", messageID, err)
	}
	msg, err := g.rest.ChannelMessage(channelID, messageID, g.opts(ctx))
	if err != nil {
		if definite(err) {
			g.lookups.remember(key)
		}
		return fmt.Errorf("delete message %s: %w", messageID, err)
	}
	g.lookups.refund(serverID)
	g.mu.RLock()
	bot := g.botID
	g.mu.RUnlock()
	if msg.Author == nil || bot == "" || msg.Author.ID != bot {
		return fmt.Errorf("delete message %s: %w", messageID, ErrNotOwn)
	}
	err = g.act(serverID, "deletes", true, nil, func(int) string { return "" }, func() error {
		return g.rest.ChannelMessageDelete(channelID, messageID, g.opts(ctx))
	})
	if err != nil {
		return fmt.Errorf("delete message %s: %w", messageID, err)
	}
	return nil
}

// claimSent reports whether this gateway sent messageID into serverID's
// channelID and has not deleted it, and forgets it: one delete claims it,
// so a second (concurrent, or of a message already gone) takes the
// budgeted path.
func (g *Gateway) claimSent(serverID, channelID, messageID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sent[messageID] != serverID+"/"+channelID {
		return false
	}
	delete(g.sent, messageID)
	return true
}

// AddReaction reacts to a message as the bot.
func (g *Gateway) AddReaction(ctx context.Context, serverID, channelID, messageID, emoji string) error {
	seg, err := g.reactionTarget(ctx, serverID, channelID, messageID, emoji)
	if err != nil {
		return fmt.Errorf("add reaction: %w", err)
	}
	err = g.react(serverID, channelID, messageID, seg, true, func() error {
		return g.rest.MessageReactionAdd(channelID, messageID, seg, g.opts(ctx))
	})
	if err != nil {
		return fmt.Errorf("add reaction to %s: %w", messageID, err)
	}
	return nil
}

// RemoveReaction removes the bot's own reaction.
func (g *Gateway) RemoveReaction(ctx context.Context, serverID, channelID, messageID, emoji string) error {
	seg, err := g.reactionTarget(ctx, serverID, channelID, messageID, emoji)
	if err != nil {
		return fmt.Errorf("remove reaction: %w", err)
	}
	err = g.react(serverID, channelID, messageID, seg, false, func() error {
		return g.rest.MessageReactionRemove(channelID, messageID, seg, "@me", g.opts(ctx))
	})
	if err != nil {
		return fmt.Errorf("remove reaction from %s: %w", messageID, err)
	}
	return nil
}

// react makes a reaction request (add, or the removal of the bot's own)
// within the failure budgets (attack W): any message id in a known channel
// goes to Discord, whose 404 (unknown message) is remembered for the
// message (with the failed deletes' key). A 403 is remembered for that
// emoji added to it, or for removals on it: an add needs permissions a
// removal of the bot's own reaction does not (Add Reactions for an emoji
// not yet on the message, Use External Emoji), and the other emojis may
// already be on it, so one plugin's refused add must not refuse another's
// removal or add (attack X). A message the bot sent there is verified
// (see allow).
func (g *Gateway) react(serverID, channelID, messageID, seg string, add bool, call func() error) error {
	msgKey := "message:" + channelID + "/" + messageID
	deniedKey := "reaction-remove:" + channelID + "/" + messageID
	if add {
		deniedKey = "reaction-add:" + channelID + "/" + messageID + "/" + seg
	}
	return g.act(serverID, "reactions", g.sentBy(serverID, channelID, messageID), []string{msgKey, deniedKey}, func(status int) string {
		switch status {
		case http.StatusNotFound:
			return msgKey
		case http.StatusForbidden:
			return deniedKey
		}
		return ""
	}, call)
}

func (g *Gateway) reactionTarget(ctx context.Context, serverID, channelID, messageID, emoji string) (string, error) {
	e, err := reactionEmoji(emoji)
	if err != nil {
		return "", err
	}
	if err := checkID("message_id", messageID); err != nil {
		return "", err
	}
	if err := g.inServer(ctx, serverID, channelID); err != nil {
		return "", err
	}
	return url.PathEscape(e), nil
}

// roleInServer refuses a role that is not one of serverID's (nor
// @everyone, which cannot be granted).
func (g *Gateway) roleInServer(ctx context.Context, serverID, userID, roleID string) error {
	for _, f := range [][2]string{{"server id", serverID}, {"user_id", userID}, {"role_id", roleID}} {
		if err := checkID(f[0], f[1]); err != nil {
			return err
		}
	}
	if roleID == serverID {
		return fmt.Errorf("%w: role_id %s is @everyone, which every member has", engine.ErrInvalid, roleID)
	}
	roles, err := g.roles(ctx, serverID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(roles, func(r *discordgo.Role) bool { return r.ID == roleID })
	if i < 0 {
		return fmt.Errorf("role %s: %w %s", roleID, ErrOtherServer, serverID)
	}
	if roles[i].Managed {
		return fmt.Errorf("%w: role_id %s is managed by an integration (a bot's role, the booster role): Discord grants it, no one else can", engine.ErrForbidden, roleID)
	}
	g.mu.RLock()
	bot := g.botID
	g.mu.RUnlock()
	var above error
	g.withGuild(serverID, func(gd *discordgo.Guild) { above = roleAboveBot(gd, bot, roleID) })
	return above
}

// roleAboveBot refuses a role Discord would refuse to grant for the role
// hierarchy: a bot manages only roles below its highest one. It decides
// only from what the gateway state holds for sure (the guild's roles, the
// bot's own member, the owner); without the bot's member it refuses
// nothing, and Discord's 403 is charged (act). Roles of equal position
// (Discord orders them by id) are left to Discord too.
func roleAboveBot(gd *discordgo.Guild, botID, roleID string) error {
	if botID == "" || gd.OwnerID == botID {
		return nil
	}
	var mine []string
	found := false
	for _, m := range gd.Members {
		if m != nil && m.User != nil && m.User.ID == botID {
			mine, found = m.Roles, true
			break
		}
	}
	if !found {
		return nil
	}
	top := 0
	var target *discordgo.Role
	for _, r := range gd.Roles {
		if r.ID == roleID {
			target = r
		}
		if slices.Contains(mine, r.ID) && r.Position > top {
			top = r.Position
		}
	}
	if target == nil {
		return nil
	}
	if target.Position > top || (target.Position == top && slices.Contains(mine, roleID)) {
		return fmt.Errorf("%w: role_id %s is not below the bot's highest role on the server, and Discord lets a bot grant or take only roles below it (move the bot's role up in the server settings)", engine.ErrForbidden, roleID)
	}
	return nil
}

// role makes a role request within the failure budgets (attack W): any
// user id goes to Discord, whose 404 (unknown member) is remembered for
// the member (with the failed member lookups' key, forgotten when the
// user joins), and a 403 (missing permission, a role above the bot's) for
// the role.
func (g *Gateway) role(serverID, userID, roleID string, call func() error) error {
	memberKey := "member:" + serverID + "/" + userID
	roleKey := "role:" + serverID + "/" + roleID
	return g.act(serverID, "role changes", false, []string{memberKey, roleKey}, func(status int) string {
		switch status {
		case http.StatusNotFound:
			return memberKey
		case http.StatusForbidden:
			return roleKey
		}
		return ""
	}, call)
}

// AddRole gives a member a role of the server.
func (g *Gateway) AddRole(ctx context.Context, serverID, userID, roleID string) error {
	if err := g.roleInServer(ctx, serverID, userID, roleID); err != nil {
		return fmt.Errorf("add role: %w", err)
	}
	err := g.role(serverID, userID, roleID, func() error {
		return g.rest.GuildMemberRoleAdd(serverID, userID, roleID, g.opts(ctx))
	})
	if err != nil {
		return fmt.Errorf("add role %s to %s: %w", roleID, userID, err)
	}
	return nil
}

// RemoveRole takes a role of the server from a member.
func (g *Gateway) RemoveRole(ctx context.Context, serverID, userID, roleID string) error {
	if err := g.roleInServer(ctx, serverID, userID, roleID); err != nil {
		return fmt.Errorf("remove role: %w", err)
	}
	err := g.role(serverID, userID, roleID, func() error {
		return g.rest.GuildMemberRoleRemove(serverID, userID, roleID, g.opts(ctx))
	})
	if err != nil {
		return fmt.Errorf("remove role %s from %s: %w", roleID, userID, err)
	}
	return nil
}

// GetMember returns Discord's member object (GET guilds/{server}/members/{user}:
// the path itself scopes it to the server).
func (g *Gateway) GetMember(ctx context.Context, serverID, userID string) (json.RawMessage, error) {
	if err := checkID("server id", serverID); err != nil {
		return nil, fmt.Errorf("get member: %w", err)
	}
	if err := checkID("user_id", userID); err != nil {
		return nil, fmt.Errorf("get member: %w", err)
	}
	key := "member:" + serverID + "/" + userID
	if g.lookups.failed(key) {
		return nil, fmt.Errorf("get member %s: not a member of server %s (a failed lookup, remembered for %s)", userID, serverID, lookupMissTTL)
	}
	if err := g.lookups.take("members", serverID); err != nil {
		return nil, fmt.Errorf("get member %s: %w", userID, err)
	}
	raw, err := g.rest.RequestWithBucketID("GET", discordgo.EndpointGuildMember(serverID, userID), nil,
		discordgo.EndpointGuildMember(serverID, ""), g.opts(ctx))
	if err != nil {
		if definite(err) {
			g.lookups.remember(key)
		}
		return nil, fmt.Errorf("get member %s: %w", userID, err)
	}
	g.lookups.refund(serverID)
	if !json.Valid(raw) {
		return nil, fmt.Errorf("get member %s: answer is not JSON", userID)
	}
	return raw, nil
}
