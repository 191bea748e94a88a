package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/maidhq/maid/engine"
)

// Dashboard sessions, one-time sign-in links and sign-in rate limiting
// (migration 0020). The dashboard hashes every secret before it gets here.

// maxSessionGuilds bounds the server list a session keeps (Discord lets a
// user join at most a few hundred servers).
const maxSessionGuilds = 1000

type sessionRow struct {
	ID           string `db:"id"`
	UserID       string `db:"user_id"`
	UserName     string `db:"user_name"`
	Avatar       string `db:"avatar"`
	Admin        bool   `db:"admin"`
	Guilds       string `db:"guilds"`
	DiscordToken string `db:"discord_token"`
	GuildsAt     int64  `db:"guilds_at"`
	CSRF         string `db:"csrf"`
	Selected     string `db:"selected"`
	CreatedAt    int64  `db:"created_at"`
	ExpiresAt    int64  `db:"expires_at"`
}

func guildsJSON(g []string) (string, error) {
	if len(g) > maxSessionGuilds {
		return "", fmt.Errorf("guilds: at most %d servers, got %d: %w", maxSessionGuilds, len(g), engine.ErrInvalid)
	}
	if g == nil {
		g = []string{}
	}
	for _, id := range g {
		if err := checkText("guild id", id); err != nil {
			return "", err
		}
	}
	b, err := json.Marshal(g)
	return string(b), err
}

// CreateDashboardSession stores a new session.
func (s *Store) CreateDashboardSession(ctx context.Context, d engine.DashboardSession) error {
	if err := checkTexts("id", d.ID, "user id", d.UserID, "user name", d.UserName, "avatar", d.Avatar,
		"discord token", d.DiscordToken, "csrf", d.CSRF, "selected", d.Selected); err != nil {
		return fmt.Errorf("store: create dashboard session: %w", err)
	}
	if d.ID == "" {
		return fmt.Errorf("store: create dashboard session: id: must not be empty: %w", engine.ErrInvalid)
	}
	g, err := guildsJSON(d.Guilds)
	if err != nil {
		return fmt.Errorf("store: create dashboard session: %w", err)
	}
	_, err = s.wdb.ExecContext(ctx, s.q(`INSERT INTO dashboard_sessions
		(id, user_id, user_name, avatar, admin, guilds, discord_token, guilds_at, csrf, selected, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		d.ID, d.UserID, d.UserName, d.Avatar, d.Admin, g, d.DiscordToken, toMicros(d.GuildsAt), d.CSRF, d.Selected,
		toMicros(d.Created), toMicros(d.Expires))
	if err != nil {
		return fmt.Errorf("store: create dashboard session: %w", s.dbErr(err))
	}
	return nil
}

// DashboardSession returns the session with this id if it has not expired
// at now; found is false otherwise.
func (s *Store) DashboardSession(ctx context.Context, id string, now time.Time) (d engine.DashboardSession, found bool, err error) {
	if err := checkText("id", id); err != nil {
		return d, false, fmt.Errorf("store: dashboard session: %w", err)
	}
	var r sessionRow
	err = s.rdb.GetContext(ctx, &r, s.q(`SELECT id, user_id, user_name, avatar, admin, guilds, discord_token, guilds_at, csrf, selected, created_at, expires_at
		FROM dashboard_sessions WHERE id = ? AND expires_at > ?`), id, toMicros(now))
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("store: dashboard session: %w", s.dbErr(err))
	}
	d = engine.DashboardSession{
		ID: r.ID, UserID: r.UserID, UserName: r.UserName, Avatar: r.Avatar, Admin: r.Admin,
		DiscordToken: r.DiscordToken, GuildsAt: fromMicros(r.GuildsAt), CSRF: r.CSRF, Selected: r.Selected,
		Created: fromMicros(r.CreatedAt), Expires: fromMicros(r.ExpiresAt),
	}
	if err := json.Unmarshal([]byte(r.Guilds), &d.Guilds); err != nil {
		return d, false, fmt.Errorf("store: dashboard session: decode guilds: %w", err)
	}
	return d, true, nil
}

// SetDashboardSessionGuilds records the servers Discord last said the
// session's user manages, and when.
func (s *Store) SetDashboardSessionGuilds(ctx context.Context, id string, guilds []string, at time.Time) error {
	g, err := guildsJSON(guilds)
	if err == nil {
		err = checkText("id", id)
	}
	if err != nil {
		return fmt.Errorf("store: set dashboard session guilds: %w", err)
	}
	if _, err := s.wdb.ExecContext(ctx, s.q(`UPDATE dashboard_sessions SET guilds = ?, guilds_at = ? WHERE id = ?`), g, toMicros(at), id); err != nil {
		return fmt.Errorf("store: set dashboard session guilds: %w", s.dbErr(err))
	}
	return nil
}

// SetDashboardSessionServer records the session's current server.
func (s *Store) SetDashboardSessionServer(ctx context.Context, id, serverID string) error {
	if err := checkTexts("id", id, "server id", serverID); err != nil {
		return fmt.Errorf("store: set dashboard session server: %w", err)
	}
	if _, err := s.wdb.ExecContext(ctx, s.q(`UPDATE dashboard_sessions SET selected = ? WHERE id = ? AND selected <> ?`), serverID, id, serverID); err != nil {
		return fmt.Errorf("store: set dashboard session server: %w", s.dbErr(err))
	}
	return nil
}

// DeleteDashboardSession ends a session (sign-out, or Discord refused its token).
func (s *Store) DeleteDashboardSession(ctx context.Context, id string) error {
	if err := checkText("id", id); err != nil {
		return fmt.Errorf("store: delete dashboard session: %w", err)
	}
	if _, err := s.wdb.ExecContext(ctx, s.q(`DELETE FROM dashboard_sessions WHERE id = ?`), id); err != nil {
		return fmt.Errorf("store: delete dashboard session: %w", s.dbErr(err))
	}
	return nil
}

// DeleteExpiredDashboardSessions removes sessions and sign-in links
// expired at now, and attempt counters whose window ended before
// attemptsBefore.
func (s *Store) DeleteExpiredDashboardSessions(ctx context.Context, now, attemptsBefore time.Time) error {
	for _, q := range []struct {
		sql string
		at  time.Time
	}{
		{`DELETE FROM dashboard_sessions WHERE expires_at <= ?`, now},
		{`DELETE FROM dashboard_sign_in_links WHERE expires_at <= ?`, now},
		{`DELETE FROM dashboard_sign_in_attempts WHERE window_start < ?`, attemptsBefore},
	} {
		if _, err := s.wdb.ExecContext(ctx, s.q(q.sql), toMicros(q.at)); err != nil {
			return fmt.Errorf("store: delete expired dashboard sessions: %w", s.dbErr(err))
		}
	}
	return nil
}

// CreateSignInLink stores a one-time sign-in link by its token's hash.
func (s *Store) CreateSignInLink(ctx context.Context, tokenHash string, expires time.Time) error {
	if err := checkText("token hash", tokenHash); err != nil || tokenHash == "" {
		return fmt.Errorf("store: create sign-in link: token hash: must be a non-empty hash: %w", engine.ErrInvalid)
	}
	if _, err := s.wdb.ExecContext(ctx, s.q(`INSERT INTO dashboard_sign_in_links (token_hash, created_at, expires_at) VALUES (?, ?, ?)`),
		tokenHash, nowMicros(), toMicros(expires)); err != nil {
		return fmt.Errorf("store: create sign-in link: %w", s.dbErr(err))
	}
	return nil
}

// UseSignInLink consumes the link with this token hash: ok is true for the
// one caller that deletes it before it expires. Two nodes (or two tabs)
// using one link at once: exactly one gets ok.
func (s *Store) UseSignInLink(ctx context.Context, tokenHash string, now time.Time) (ok bool, err error) {
	if err := checkText("token hash", tokenHash); err != nil {
		return false, fmt.Errorf("store: use sign-in link: %w", err)
	}
	res, err := s.wdb.ExecContext(ctx, s.q(`DELETE FROM dashboard_sign_in_links WHERE token_hash = ? AND expires_at > ?`), tokenHash, toMicros(now))
	if err != nil {
		return false, fmt.Errorf("store: use sign-in link: %w", s.dbErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: use sign-in link: %w", s.dbErr(err))
	}
	return n == 1, nil
}

// SignInAttempt counts one sign-in attempt of client in the fixed window of
// length window that now falls in, and reports whether it is within max. The
// count is one statement, so concurrent attempts on any node add up. The
// stored window only moves forward: a node whose clock is behind the one
// that last counted adds to the newer window instead of restarting it, so
// nodes with skewed clocks (or a request that straddles a window boundary)
// cannot take turns resetting a client's count. Old counters are removed
// by DeleteExpiredDashboardSessions (the dashboard decides when).
func (s *Store) SignInAttempt(ctx context.Context, client string, now time.Time, window time.Duration, max int) (allowed bool, err error) {
	if err := checkText("client", client); err != nil {
		return false, fmt.Errorf("store: sign-in attempt: %w", err)
	}
	if window <= 0 || max <= 0 {
		return false, fmt.Errorf("store: sign-in attempt: window and max must be positive: %w", engine.ErrInvalid)
	}
	start := now.UTC().Truncate(window)
	var n int
	err = s.wdb.GetContext(ctx, &n, s.q(`INSERT INTO dashboard_sign_in_attempts (client, window_start, attempts) VALUES (?, ?, 1)
		ON CONFLICT (client) DO UPDATE SET
			attempts = CASE WHEN excluded.window_start > dashboard_sign_in_attempts.window_start THEN 1 ELSE dashboard_sign_in_attempts.attempts + 1 END,
			window_start = CASE WHEN excluded.window_start > dashboard_sign_in_attempts.window_start THEN excluded.window_start ELSE dashboard_sign_in_attempts.window_start END
		RETURNING attempts`), client, toMicros(start))
	if err != nil {
		return false, fmt.Errorf("store: sign-in attempt: %w", s.dbErr(err))
	}
	return n <= max, nil
}
