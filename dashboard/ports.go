package dashboard

import (
	"context"
	"encoding/json"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
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
	// Commands lists the installed plugins' slash commands; RunCommand
	// makes a member use one, with option values as typed.
	Commands(ctx context.Context, serverID string) ([]engine.SimCommand, error)
	RunCommand(ctx context.Context, serverID, channelID, memberID, name string, values map[string]string) error
	// React, EditAs and DeleteAs are a member's reactions, edits and
	// deletes of messages (their own, for edits and deletes).
	React(ctx context.Context, serverID, channelID, messageID, memberID, emoji string, add bool) error
	EditAs(ctx context.Context, serverID, channelID, messageID, memberID, content string) error
	DeleteAs(ctx context.Context, serverID, channelID, messageID, memberID string) error
}

// Engine is what the dashboard needs of the engine: plugins, their
// per-server state, dashboard calls and the iframe bridge. *engine.Engine
// implements it; the dashboard declares it so it depends on this much and
// no more, and tests can stand in for it.
type Engine interface {
	Ready() <-chan struct{}
	Plugin(id string) (*plugin.Package, bool)
	Plugins() []*plugin.Package
	Install(ctx context.Context, archive []byte) (*plugin.Package, error)
	Uninstall(ctx context.Context, id string) error
	ServerPlugins(ctx context.Context, serverID string) ([]engine.PluginState, error)
	PluginState(ctx context.Context, serverID, pluginID string) (engine.PluginState, error)
	SetEnabled(ctx context.Context, serverID, pluginID string, enabled bool) error
	SetOptions(ctx context.Context, serverID, pluginID string, values map[string]json.RawMessage) (map[string]any, error)
	CallDashboard(ctx context.Context, pluginID, serverID, handler string, params json.RawMessage) (json.RawMessage, error)
	HostCall(ctx context.Context, pluginID, serverID, method string, params json.RawMessage) (any, error)
	Logs(pluginID string, n int) ([]engine.LogLine, error)
	// DataVersion changes whenever the plugin writes its data on the
	// server: widgets reload when it does (live widgets, app.js).
	DataVersion(pluginID, serverID string) uint64
	// ReportProblem adds an error line about the plugin on a server to
	// its log (a widget answer the dashboard cannot show).
	ReportProblem(pluginID, serverID, text string)
}

var _ Engine = (*engine.Engine)(nil)
