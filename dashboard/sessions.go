package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/maidhq/maid/engine"
)

// SessionStore keeps dashboard sessions, one-time sign-in links and
// sign-in attempt counts (the store implements it; migration 0020). With
// it, a restart signs nobody out, any node of a cluster serves any
// browser, and `maid admin link` mints a link a running server accepts.
// Every secret reaches it hashed (tokenHash): the store never sees a
// cookie's token or a link's token.
type SessionStore interface {
	CreateDashboardSession(ctx context.Context, d engine.DashboardSession) error
	// DashboardSession returns the session if it has not expired at now.
	DashboardSession(ctx context.Context, id string, now time.Time) (engine.DashboardSession, bool, error)
	SetDashboardSessionGuilds(ctx context.Context, id string, guilds []string, at time.Time) error
	SetDashboardSessionServer(ctx context.Context, id, serverID string) error
	DeleteDashboardSession(ctx context.Context, id string) error
	DeleteExpiredDashboardSessions(ctx context.Context, now, attemptsBefore time.Time) error
	CreateSignInLink(ctx context.Context, tokenHash string, expires time.Time) error
	// UseSignInLink deletes the link; ok for the one caller that did, before it expired.
	UseSignInLink(ctx context.Context, tokenHash string, now time.Time) (ok bool, err error)
	// SignInAttempt counts an attempt of client in the window now is in.
	// A stored window never moves back (nodes' clocks differ). It deletes
	// nothing: DeleteExpiredDashboardSessions does, when the site says.
	SignInAttempt(ctx context.Context, client string, now time.Time, window time.Duration, max int) (allowed bool, err error)
}

// tokenHash is what the store keeps of a secret: SHA-256, hex. The tokens
// are 256 random bits, so a plain hash is enough (no salt, no stretching).
func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// DefaultSignInLinkTTL is how long a one-time sign-in link stays usable.
const DefaultSignInLinkTTL = time.Hour

// NewSignInLink stores a new one-time admin sign-in link and returns it:
// base (the dashboard's external URL) + /auth/admin?token=. It is what
// `maid admin link` runs against the database of a running server.
func NewSignInLink(ctx context.Context, st SessionStore, base string, ttl time.Duration, now time.Time) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("new sign-in link: %w: base URL %q must be an absolute http(s) URL", engine.ErrInvalid, base)
	}
	if ttl <= 0 {
		ttl = DefaultSignInLinkTTL
	}
	tok := randomToken()
	if err := st.CreateSignInLink(ctx, tokenHash(tok), now.Add(ttl)); err != nil {
		return "", fmt.Errorf("new sign-in link: %w", err)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/auth/admin"
	u.RawQuery = url.Values{"token": {tok}}.Encode()
	return u.String(), nil
}

// Sign-in attempts (/auth/admin, /auth/discord/callback) a client may make
// per window; past it the attempt is refused with 429 before any token is
// looked at. A client is an IP address, an IPv6 one by its /64 (one host
// usually has all of one).
const (
	defaultSignInWindow = 10 * time.Minute
	defaultSignInMax    = 30
	// attemptsKept is how many windows an attempt counter outlives its own
	// before sweepSignIns removes it. Not one: a node whose clock runs
	// ahead would delete counters still live on the others (attack P2);
	// six windows (an hour by default) of skew is past what a cluster
	// without NTP would run with.
	attemptsKept = 6
)

// memSessions is the SessionStore of a Config without one: sessions live
// until the process ends.
type memSessions struct {
	mu       sync.Mutex
	sessions map[string]engine.DashboardSession
	links    map[string]time.Time
	attempts map[string][2]int64 // client → window start (unix ns), count
}

func newMemSessions() *memSessions {
	return &memSessions{sessions: map[string]engine.DashboardSession{}, links: map[string]time.Time{}, attempts: map[string][2]int64{}}
}

func (m *memSessions) CreateDashboardSession(_ context.Context, d engine.DashboardSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.sessions[d.ID]; dup {
		return fmt.Errorf("create session: %w: id taken", engine.ErrInvalid)
	}
	d.Guilds = slices.Clone(d.Guilds)
	m.sessions[d.ID] = d
	return nil
}

func (m *memSessions) DashboardSession(_ context.Context, id string, now time.Time) (engine.DashboardSession, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.sessions[id]
	if !ok || !now.Before(d.Expires) {
		return engine.DashboardSession{}, false, nil
	}
	d.Guilds = slices.Clone(d.Guilds)
	return d, true, nil
}

func (m *memSessions) SetDashboardSessionGuilds(_ context.Context, id string, guilds []string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.sessions[id]; ok {
		d.Guilds, d.GuildsAt = slices.Clone(guilds), at
		m.sessions[id] = d
	}
	return nil
}

func (m *memSessions) SetDashboardSessionServer(_ context.Context, id, serverID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.sessions[id]; ok {
		d.Selected = serverID
		m.sessions[id] = d
	}
	return nil
}

func (m *memSessions) DeleteDashboardSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	return nil
}

func (m *memSessions) DeleteExpiredDashboardSessions(_ context.Context, now, attemptsBefore time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, d := range m.sessions {
		if !now.Before(d.Expires) {
			delete(m.sessions, id)
		}
	}
	for h, exp := range m.links {
		if !now.Before(exp) {
			delete(m.links, h)
		}
	}
	for c, a := range m.attempts {
		if a[0] < attemptsBefore.UnixNano() {
			delete(m.attempts, c)
		}
	}
	return nil
}

func (m *memSessions) CreateSignInLink(_ context.Context, h string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links[h] = expires
	return nil
}

func (m *memSessions) UseSignInLink(_ context.Context, h string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.links[h]
	delete(m.links, h)
	return ok && now.Before(exp), nil
}

func (m *memSessions) SignInAttempt(_ context.Context, client string, now time.Time, window time.Duration, max int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := now.UTC().Truncate(window).UnixNano()
	// As the store: the window only moves forward.
	a := m.attempts[client]
	if start > a[0] {
		a = [2]int64{start, 0}
	}
	a[1]++
	m.attempts[client] = a
	return a[1] <= int64(max), nil
}
