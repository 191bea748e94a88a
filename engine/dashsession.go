package engine

import "time"

// DashboardSession is one signed-in dashboard browser as the store keeps
// it (the dashboard's SessionStore port). Its type lives here so that the
// store implements the port without importing the dashboard.
type DashboardSession struct {
	// ID is the SHA-256 (hex) of the cookie's token. The token itself is
	// never stored: a copy of the sessions table signs nobody in.
	ID       string
	UserID   string
	UserName string
	Avatar   string
	Admin    bool
	// Guilds are the servers the user may manage, as Discord last said.
	Guilds []string
	// DiscordToken reads Guilds again; "" for admin links.
	DiscordToken string
	GuildsAt     time.Time
	CSRF         string
	// Selected is the current server (the one /p/ calls act on).
	Selected string
	Created  time.Time
	Expires  time.Time
}
