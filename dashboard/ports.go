package dashboard

import "context"

// The dashboard's ports toward the Discord side. The discord package
// implements them for the real gateway (from its guild state) and for the
// simulator; the dashboard never imports discordgo.

// Server is a Discord server (guild) maid is in.
type Server struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	IconURL string `json:"icon_url,omitempty"`
}

// Channel is a channel of a server, for channel pickers.
type Channel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"` // "text", "voice", "category", ...
}

// Role is a role of a server, for role pickers.
type Role struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Color int    `json:"color"`
}

// Member is a member of a server, for user pickers and the simulator.
type Member struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Bot  bool   `json:"bot,omitempty"`
}

// Directory answers what servers, channels, roles and members exist. The
// server list comes from the gateway's guild_create/guild_delete.
type Directory interface {
	Servers(ctx context.Context) ([]Server, error)
	Channels(ctx context.Context, serverID string) ([]Channel, error)
	Roles(ctx context.Context, serverID string) ([]Role, error)
	Members(ctx context.Context, serverID string, limit int) ([]Member, error)
}

// SimMessage is one message in a simulated channel (a member's or a
// plugin's), for the simulator's channel view.
type SimMessage struct {
	ID        string `json:"id"`
	ChannelID string `json:"channel_id"`
	AuthorID  string `json:"author_id"`
	Author    string `json:"author"`
	Bot       bool   `json:"bot"`
	Content   string `json:"content"`
	Time      string `json:"time"` // RFC 3339
}

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
