package dashboard

import (
	"context"

	"github.com/maidhq/maid/engine"
)

// The dashboard's ports toward the Discord side. The discord package
// implements them for the real gateway (from its guild state) and for the
// simulator; the dashboard never imports discord or discordgo, and discord
// never imports the dashboard.

// The directory's value types are the engine's (engine/directory.go), so
// that the discord adapter implements them without importing this package.
type (
	Server     = engine.Server
	Channel    = engine.Channel
	Role       = engine.Role
	Member     = engine.Member
	SimMessage = engine.SimMessage
	// Directory answers what servers, channels, roles and members exist.
	Directory = engine.Directory
)

// Simulator is the local stand-in for Discord when maid runs without a bot
// token: the dashboard's event console drives it, and it shows what plugins
// did. Nil when a real gateway is connected.
type Simulator interface {
	// Post makes member say content in channel (a message_create event).
	Post(ctx context.Context, serverID, channelID, memberID, content string) error
	// Join adds a member (guild_member_add); Leave removes one (guild_member_remove).
	Join(ctx context.Context, serverID string, m Member) error
	Leave(ctx context.Context, serverID, memberID string) error
	// Messages returns a channel's latest messages, oldest first.
	Messages(ctx context.Context, serverID, channelID string, limit int) ([]SimMessage, error)
	// Actions returns the latest plugin actions other than messages
	// (roles added, reactions, ...), as human-readable lines, oldest first.
	Actions(ctx context.Context, serverID string, limit int) ([]string, error)
}
