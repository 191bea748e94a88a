package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/maidhq/maid/engine"
)

// commandLoop registers the plugins' slash commands whenever a shard gets
// READY (the application id comes with it).
func (g *Gateway) commandLoop(ctx context.Context) {
	for {
		select {
		case <-g.regCh:
			if err := g.SyncCommands(ctx); err != nil {
				g.log.Error("register slash commands", "err", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// SyncCommands registers the installed plugins' slash commands as the
// application's global commands (one bulk overwrite), if they changed since
// the last registration. Call it after installing or removing a plugin.
func (g *Gateway) SyncCommands(ctx context.Context) error {
	h := g.hostOrNil()
	g.mu.RLock()
	app := g.appID
	g.mu.RUnlock()
	if h == nil || app == "" {
		return fmt.Errorf("sync slash commands: %w", ErrNotReady)
	}
	defs, _ := commandSet(h.Plugins())
	if defs == nil {
		defs = []*discordgo.ApplicationCommand{}
	}
	if len(defs) > engine.MaxGlobalCommands {
		// Engine.Install keeps within the limit; plugins installed before
		// that rule may not. Discord refuses a bulk overwrite past it
		// whole, so register the first ones (by plugin id, then manifest
		// order) rather than none.
		var left []string
		for _, d := range defs[engine.MaxGlobalCommands:] {
			left = append(left, d.Name)
		}
		g.log.Error("more slash commands than Discord allows: registering the first ones by plugin id", "declared", len(defs), "max", engine.MaxGlobalCommands, "left_out", strings.Join(left, " "))
		defs = defs[:engine.MaxGlobalCommands]
	}
	key, _ := json.Marshal(defs)
	g.cmdMu.Lock()
	defer g.cmdMu.Unlock()
	if string(key) == g.registered {
		return nil
	}
	if _, err := g.rest.ApplicationCommandBulkOverwrite(app, "", defs, g.opts(ctx)); err != nil {
		return fmt.Errorf("sync slash commands: %w", err)
	}
	g.registered = string(key)
	g.log.Info("slash commands registered", "count", len(defs))
	return nil
}

// interaction is Discord's interaction object, the fields maid needs.
type interaction struct {
	ID    string `json:"id"`
	AppID string `json:"application_id"`
	Token string `json:"token"`
	Type  int    `json:"type"`
	Data  struct {
		Name string `json:"name"`
	} `json:"data"`
}

const (
	interactionCommand        = 2 // APPLICATION_COMMAND
	responseMessage           = 4 // CHANNEL_MESSAGE_WITH_SOURCE
	responseDeferredMessage   = 5 // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
	flagEphemeral             = 1 << 6
	maxCommandResponseContent = 2000
)

// interaction routes a slash command to the plugin that declared it and
// answers with what the plugin returned. Discord wants an answer within
// 3 s: a slow plugin gets a deferred answer first, edited later.
func (g *Gateway) interaction(ctx context.Context, h Host, ev engine.Event) {
	var in interaction
	if err := json.Unmarshal(ev.Data, &in); err != nil || in.Type != interactionCommand {
		return
	}
	if checkID("interaction id", in.ID) != nil || checkID("application id", in.AppID) != nil || in.Token == "" {
		g.log.Warn("interaction without id, application id or token")
		return
	}
	g.commands.Add(1)
	pluginID, ok := commandOwner(ctx, h, ev.ServerID, in.Data.Name)
	if !ok {
		g.respond(ctx, in, responseMessage, commandReply{Content: "This command is not available anymore.", Ephemeral: true})
		return
	}
	type result struct {
		out json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := h.CallCommand(ctx, pluginID, ev.ServerID, in.Data.Name, ev.Data)
		done <- result{out, err}
	}()
	timer := time.NewTimer(g.cfg.DeferAfter)
	defer timer.Stop()
	var r result
	deferred := false
	select {
	case r = <-done:
	case <-timer.C:
		deferred = true
		g.respond(ctx, in, responseDeferredMessage, commandReply{})
		r = <-done
	}
	reply := g.commandReply(pluginID, in.Data.Name, ev.ServerID, r.out, r.err)
	if !deferred {
		g.respond(ctx, in, responseMessage, reply)
		return
	}
	body := map[string]any{"content": reply.Content, "allowed_mentions": allowedMentions}
	if len(reply.Embeds) > 0 {
		body["embeds"] = reply.Embeds
	}
	ep := discordgo.EndpointWebhookMessage(in.AppID, in.Token, "@original")
	if _, err := g.rest.RequestWithBucketID("PATCH", ep, body, discordgo.EndpointWebhookToken(in.AppID, ""), g.opts(ctx)); err != nil {
		g.log.Warn("edit deferred command answer", "command", in.Data.Name, "err", err)
	}
}

// commandReply turns a plugin's answer (or error) into what the user sees.
func (g *Gateway) commandReply(pluginID, command, serverID string, out json.RawMessage, err error) commandReply {
	if err != nil {
		g.log.Warn("slash command failed", "plugin", pluginID, "command", command, "server", serverID, "err", err)
		if errors.Is(err, engine.ErrNotFound) {
			return commandReply{Content: "This command is not enabled on this server.", Ephemeral: true}
		}
		return commandReply{Content: "This command failed; the server's admins can see why in the plugin's logs.", Ephemeral: true}
	}
	var reply commandReply
	if len(out) > 0 && json.Unmarshal(out, &reply) != nil {
		var s string // a bare string is content too
		if json.Unmarshal(out, &s) == nil {
			reply.Content = s
		}
	}
	if reply.Content == "" && len(reply.Embeds) == 0 {
		return commandReply{Content: "Done.", Ephemeral: true}
	}
	reply.Content = truncate(reply.Content, maxCommandResponseContent)
	return reply
}

func (g *Gateway) respond(ctx context.Context, in interaction, typ int, reply commandReply) {
	data := map[string]any{"allowed_mentions": allowedMentions}
	if reply.Content != "" {
		data["content"] = reply.Content
	}
	if len(reply.Embeds) > 0 {
		data["embeds"] = reply.Embeds
	}
	if reply.Ephemeral {
		data["flags"] = flagEphemeral
	}
	ep := discordgo.EndpointInteractionResponse(in.ID, in.Token)
	if _, err := g.rest.RequestWithBucketID("POST", ep, map[string]any{"type": typ, "data": data}, ep, g.opts(ctx)); err != nil {
		g.log.Warn("answer interaction", "command", in.Data.Name, "err", err)
	}
}
