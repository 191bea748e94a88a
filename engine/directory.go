package engine

import "context"

// Directory is the port that answers what servers, channels, roles and
// members exist. The discord package implements it for the real gateway
// (from its guild state) and for the simulator; the dashboard consumes it
// for its server list and pickers. Its types live here, beside the other
// ports, so that neither adapter has to import the other.
type Directory interface {
	Servers(ctx context.Context) ([]Server, error)
	Channels(ctx context.Context, serverID string) ([]Channel, error)
	Roles(ctx context.Context, serverID string) ([]Role, error)
	Members(ctx context.Context, serverID string, limit int) ([]Member, error)
}

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
	Edited    bool   `json:"edited,omitempty"`
	// Reactions: emoji and how many reacted with it, in first-use order.
	Reactions []SimReaction `json:"reactions,omitempty"`
}

// SimReaction is one emoji's reactions to a simulated message.
type SimReaction struct {
	Emoji string `json:"emoji"`
	Count int    `json:"count"`
}

// SimCommand is a slash command the simulator offers: one a plugin
// declares in its manifest, with its options.
type SimCommand struct {
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Plugin      string             `json:"plugin"`
	Options     []SimCommandOption `json:"options,omitempty"`
}

// SimCommandOption is one option of a SimCommand (Discord's option types by
// name: string, integer, number, boolean, user, channel, role, mentionable).
type SimCommandOption struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Type        string `json:"type"`
	Required    bool   `json:"required,omitempty"`
}
