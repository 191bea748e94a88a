package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/maidhq/maid/engine"
)

// actionLog is an engine.Discord that passes every plugin action to next
// and keeps a line for each, with its outcome, for `maid call` and `maid
// replay` to print: a failed send is shown, not only the plugin's result.
// It keeps at most maxActionLines lines, then counts.
type actionLog struct {
	next engine.Discord

	mu      sync.Mutex
	lines   []string
	dropped int
}

const maxActionLines = 200

var _ engine.Discord = (*actionLog)(nil)

func (a *actionLog) record(method string, args map[string]any, result string, err error) {
	b, _ := json.Marshal(args)
	line := "discord." + method + " " + string(b)
	if err != nil {
		line += " → failed: " + err.Error()
	} else if result != "" {
		line += " → ok: " + result
	} else {
		line += " → ok"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.lines) >= maxActionLines {
		a.dropped++
		return
	}
	a.lines = append(a.lines, line)
}

// Lines returns the recorded actions.
func (a *actionLog) Lines() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := append([]string(nil), a.lines...)
	if a.dropped > 0 {
		out = append(out, fmt.Sprintf("... and %d more actions", a.dropped))
	}
	return out
}

// print writes the actions, one a line, after a header.
func (a *actionLog) print(w io.Writer, cmd string) {
	lines := a.Lines()
	if len(lines) == 0 {
		fmt.Fprintf(w, "%s: the plugin took no Discord actions\n", cmd)
		return
	}
	fmt.Fprintf(w, "%s: Discord actions of the plugin (%d):\n", cmd, len(lines))
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", termSafe(l)) // JSON leaves DEL and C1 raw
	}
}

func (a *actionLog) SendMessage(ctx context.Context, serverID string, m engine.OutMessage) (string, error) {
	id, err := a.next.SendMessage(ctx, serverID, m)
	args := map[string]any{"server": serverID, "channel_id": m.ChannelID, "content": m.Content}
	if len(m.Embeds) > 0 {
		args["embeds"] = len(m.Embeds)
	}
	if m.ReplyTo != "" {
		args["reply_to"] = m.ReplyTo
	}
	a.record("send_message", args, "message "+id, err)
	return id, err
}

func (a *actionLog) EditMessage(ctx context.Context, serverID, channelID, messageID, content string) error {
	err := a.next.EditMessage(ctx, serverID, channelID, messageID, content)
	a.record("edit_message", map[string]any{"server": serverID, "channel_id": channelID, "message_id": messageID, "content": content}, "", err)
	return err
}

func (a *actionLog) DeleteMessage(ctx context.Context, serverID, channelID, messageID string) error {
	err := a.next.DeleteMessage(ctx, serverID, channelID, messageID)
	a.record("delete_message", map[string]any{"server": serverID, "channel_id": channelID, "message_id": messageID}, "", err)
	return err
}

func (a *actionLog) AddReaction(ctx context.Context, serverID, channelID, messageID, emoji string) error {
	err := a.next.AddReaction(ctx, serverID, channelID, messageID, emoji)
	a.record("add_reaction", map[string]any{"server": serverID, "channel_id": channelID, "message_id": messageID, "emoji": emoji}, "", err)
	return err
}

func (a *actionLog) RemoveReaction(ctx context.Context, serverID, channelID, messageID, emoji string) error {
	err := a.next.RemoveReaction(ctx, serverID, channelID, messageID, emoji)
	a.record("remove_reaction", map[string]any{"server": serverID, "channel_id": channelID, "message_id": messageID, "emoji": emoji}, "", err)
	return err
}

func (a *actionLog) AddRole(ctx context.Context, serverID, userID, roleID string) error {
	err := a.next.AddRole(ctx, serverID, userID, roleID)
	a.record("add_role", map[string]any{"server": serverID, "user_id": userID, "role_id": roleID}, "", err)
	return err
}

func (a *actionLog) RemoveRole(ctx context.Context, serverID, userID, roleID string) error {
	err := a.next.RemoveRole(ctx, serverID, userID, roleID)
	a.record("remove_role", map[string]any{"server": serverID, "user_id": userID, "role_id": roleID}, "", err)
	return err
}

func (a *actionLog) GetMember(ctx context.Context, serverID, userID string) (json.RawMessage, error) {
	m, err := a.next.GetMember(ctx, serverID, userID)
	a.record("get_member", map[string]any{"server": serverID, "user_id": userID}, "", err)
	return m, err
}
