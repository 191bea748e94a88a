package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/engine"
)

// Discord permission bits that let a user manage a server's plugins.
const (
	permAdministrator = 1 << 3
	permManageGuild   = 1 << 5
)

// session is one signed-in browser, as read from the SessionStore for one
// request (loadSession). Sessions live in the store: a restart signs nobody
// out and any node serves any browser. The cookie holds a random token; the
// store knows the session by the token's hash (id).
type session struct {
	id       string // tokenHash of the cookie's token
	userID   string
	userName string
	avatar   string
	admin    bool
	// guilds are the servers the user may manage (MANAGE_GUILD or owner),
	// as Discord last said (refreshGuilds). The map is replaced, never
	// changed: read it with managed.
	guilds   map[string]bool
	token    string    // the Discord access token that reads guilds again; "" for admin links
	guildsAt time.Time // when Discord last answered for guilds
	csrf     string
	expires  time.Time
	selected string // the current server: /p/ calls act on it
}

const sessionKey = "maid.session"

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("dashboard: crypto/rand: " + err.Error()) // the platform's RNG failing is not recoverable
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hostCookie is the name of a cookie of name: under https __Host-
// prefixed (Secure, Path=/, no Domain), so another app on the host or a
// sibling subdomain can neither set nor shadow it.
func (s *Site) hostCookie(name string) string {
	if s.secure {
		return "__Host-" + name
	}
	return name
}

func (s *Site) cookieName() string { return s.hostCookie("maid_session") }

// sessionFromRecord is a stored session as this request sees it. Admin
// rights come from the record only for a one-time admin link; a Discord
// user is an admin while --admins lists them now, so taking a user off the
// list takes effect at once, without waiting for their sessions to expire.
// The stored flag counts only for the link's user id: sessions stored
// before this rule carried it for Discord users too (issue 19 re-attack).
func (s *Site) sessionFromRecord(d engine.DashboardSession) *session {
	g := make(map[string]bool, len(d.Guilds))
	for _, id := range d.Guilds {
		g[id] = true
	}
	return &session{
		id: d.ID, userID: d.UserID, userName: d.UserName, avatar: d.Avatar, admin: (d.Admin && d.UserID == linkAdminID) || s.admins[d.UserID],
		guilds: g, token: d.DiscordToken, guildsAt: d.GuildsAt, csrf: d.CSRF, expires: d.Expires, selected: d.Selected,
	}
}

func guildList(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// sweepSignIns removes expired sessions and links, and attempt counters
// attemptsKept windows old, once per sign-in window on this node: at the
// first sign-in or counted attempt of each window. Sign-ins are rate
// limited, so sessions stay bounded by what signs in within a TTL; new
// client addresses are not, so the counters need a sweep that does not
// wait for a sign-in that succeeds. This is the one place that decides
// when and what is swept: the stores only delete what they are told.
func (s *Site) sweepSignIns(ctx context.Context, now time.Time) {
	start := now.UTC().Truncate(s.cfg.SignInWindow)
	last := s.swept.Load()
	if start.UnixNano() <= last || !s.swept.CompareAndSwap(last, start.UnixNano()) {
		return
	}
	if err := s.sessions.DeleteExpiredDashboardSessions(ctx, now, start.Add(-attemptsKept*s.cfg.SignInWindow)); err != nil {
		s.log.Warn("sweep expired dashboard sessions", "err", err)
	}
}

// newSession stores a new session and sets its cookie.
func (s *Site) newSession(c echo.Context, userID, name, avatar string, admin bool, guilds map[string]bool, token string) (*session, error) {
	ctx := c.Request().Context()
	now := s.now()
	s.sweepSignIns(ctx, now)
	tok := randomToken()
	rec := engine.DashboardSession{
		ID: tokenHash(tok), UserID: userID, UserName: name, Avatar: avatar, Admin: admin,
		Guilds: guildList(guilds), DiscordToken: token, GuildsAt: now, CSRF: randomToken(),
		Created: now, Expires: now.Add(s.cfg.SessionTTL),
	}
	if err := s.sessions.CreateDashboardSession(ctx, rec); err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	c.SetCookie(&http.Cookie{
		Name: s.cookieName(), Value: tok, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, Expires: rec.Expires,
	})
	return s.sessionFromRecord(rec), nil
}

// loadSession attaches the request's session, if any, to the context. A
// store that cannot be read fails the request (503), rather than signing
// the browser out.
func (s *Site) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := c.Request().URL.Path; strings.HasPrefix(p, "/static/") || p == "/healthz" || p == "/readyz" || p == "/metrics" {
			return next(c) // no session there: spare the store a read per asset
		}
		// Two session cookies (one planted under a narrower path by another
		// app on this host or a sibling domain, possible without __Host-
		// under http) sign the browser out rather than let the planted
		// one, sent first, act for whoever signed in (attack P3).
		if ck, err := c.Cookie(s.cookieName()); err == nil && ck.Value != "" && len(ck.Value) <= 128 && cookieCount(c.Request(), s.cookieName()) == 1 {
			rec, found, err := s.sessions.DashboardSession(c.Request().Context(), tokenHash(ck.Value), s.now())
			if err != nil {
				return fmt.Errorf("load session: %w", err)
			}
			if found {
				c.Set(sessionKey, s.sessionFromRecord(rec))
			}
		}
		return next(c)
	}
}

func sessionOf(c echo.Context) *session {
	sess, _ := c.Get(sessionKey).(*session)
	return sess
}

// requireSession answers 401 without a valid session (a page: the sign-in
// page, which comes back to it; handleError), and keeps a manager's
// rights as current as Discord's (refreshGuilds).
func (s *Site) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess := sessionOf(c)
		if sess == nil {
			return errUnauthenticated
		}
		if err := s.refreshGuilds(c.Request().Context(), sess); err != nil {
			return err
		}
		return next(c)
	}
}

// A signed-in user's servers are read from Discord again every
// guildRefresh, so someone whose rights on a server were taken away on
// Discord loses them here within minutes, not at the end of a 7-day
// session. If Discord cannot be asked, the last answer stands for
// guildGrace, then the session manages nothing until Discord answers; if
// Discord refuses the token (revoked, expired), the session ends.
const (
	guildRefresh = 5 * time.Minute
	guildGrace   = 30 * time.Minute
)

// guildWait bounds how long a request waits for a refresh under way, and
// guildTimeout how long one refresh may take Discord; past guildWait the
// request goes on with the last answer (within guildGrace).
const (
	guildWait    = 10 * time.Second
	guildTimeout = 20 * time.Second
)

// refreshGuilds asks Discord again when the session's list is due. The
// refresh runs detached from the request (an aborted request must not
// abort it, or the old list would stand until guildGrace), once per
// session at a time on this node, and every request of the session waits
// for it (bounded by guildWait) instead of going on with the list being
// checked; then the session is read again from the store.
func (s *Site) refreshGuilds(ctx context.Context, sess *session) error {
	s.mu.Lock()
	done := s.refreshing[sess.id]
	if done == nil && sess.token != "" && s.now().Sub(sess.guildsAt) >= guildRefresh {
		done = make(chan struct{})
		s.refreshing[sess.id] = done
		s.bg.Add(1)
		go s.doRefreshGuilds(context.WithoutCancel(ctx), sess, done)
	}
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	wait := time.NewTimer(guildWait)
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C:
	case <-ctx.Done():
		return fmt.Errorf("wait for the refresh of a session's servers: %w", ctx.Err())
	}
	rec, found, err := s.sessions.DashboardSession(ctx, sess.id, s.now())
	if err != nil {
		return fmt.Errorf("reload session: %w", err)
	}
	if !found { // Discord refused the token (or the user signed out)
		return errUnauthenticated
	}
	*sess = *s.sessionFromRecord(rec)
	return nil
}

// doRefreshGuilds reads the session's servers from Discord, records the
// answer in the store, then closes done.
func (s *Site) doRefreshGuilds(ctx context.Context, sess *session, done chan struct{}) {
	defer s.bg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.refreshing, sess.id)
		s.mu.Unlock()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(ctx, guildTimeout)
	defer cancel()
	var list []discordGuild
	err := s.discordGET(ctx, sess.token, "/users/@me/guilds", &list)
	var se *discordStatus
	switch {
	case err == nil:
		err = s.sessions.SetDashboardSessionGuilds(ctx, sess.id, guildList(managedOf(list)), s.now())
	case errors.As(err, &se) && (se.code == http.StatusUnauthorized || se.code == http.StatusForbidden):
		s.log.Info("discord refused a session's token; signing it out", "user", sess.userID)
		err = s.sessions.DeleteDashboardSession(ctx, sess.id)
	default:
		s.log.Warn("refresh a session's servers", "user", sess.userID, "err", err)
		err = nil
		if s.now().Sub(sess.guildsAt) >= guildGrace {
			err = s.sessions.SetDashboardSessionGuilds(ctx, sess.id, nil, sess.guildsAt)
		}
	}
	if err != nil {
		s.log.Warn("record a session's servers", "user", sess.userID, "err", err)
	}
}

// managed returns the servers sess may manage now.
func (s *Site) managed(sess *session) map[string]bool {
	return sess.guilds
}

func managedOf(guilds []discordGuild) map[string]bool {
	m := map[string]bool{}
	for _, g := range guilds {
		if g.manages() {
			m[g.ID] = true
		}
	}
	return m
}

// checkCSRF guards every state-changing request: the session's token must
// come in the X-CSRF-Token header or the _csrf field of a form body (which
// limitBody has bounded; formToken parses no other body), and a browser's
// Origin header, when sent, must be ours.
func (s *Site) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		sess := sessionOf(c)
		if sess == nil {
			return errUnauthenticated
		}
		if o := c.Request().Header.Get("Origin"); o != "" && o != s.origin() && o != "http://"+c.Request().Host && o != "https://"+c.Request().Host {
			return errCSRF
		}
		tok := c.Request().Header.Get("X-CSRF-Token")
		if tok == "" {
			tok = formToken(c)
		}
		if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(sess.csrf)) != 1 {
			return errCSRF
		}
		return next(c)
	}
}

func (s *Site) origin() string { return s.base.Scheme + "://" + s.base.Host }

// SignInLink stores and returns a new one-time admin sign-in link (valid
// for Config.SignInLinkTTL). Run prints one on start; `maid admin link`
// mints one for a running server from its database (NewSignInLink).
func (s *Site) SignInLink(ctx context.Context) (string, error) {
	return NewSignInLink(ctx, s.sessions, s.base.String(), s.cfg.SignInLinkTTL, s.now())
}

// AdminLink is SignInLink for callers without a context (tests, embedding).
// A store that cannot take the link is a broken setup: it panics.
func (s *Site) AdminLink() string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	link, err := s.SignInLink(ctx)
	if err != nil {
		panic("dashboard: admin link: " + err.Error())
	}
	return link
}

// signInAllowed counts a sign-in attempt of the request's client (its
// address as the connection shows it, or as a trusted proxy forwarded it:
// never a header a client can forge; clientaddr.go).
// When it is not allowed, the answer (429, or the store's error) is err.
func (s *Site) signInAllowed(c echo.Context) (allowed bool, err error) {
	ctx, now := c.Request().Context(), s.now()
	s.sweepSignIns(ctx, now)
	ok, err := s.sessions.SignInAttempt(ctx, clientKey(clientAddr(c.Request(), s.cfg.TrustedProxies)), now, s.cfg.SignInWindow, s.cfg.SignInMax)
	if err != nil {
		return false, fmt.Errorf("count a sign-in attempt: %w", err)
	}
	if !ok {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(s.cfg.SignInWindow.Seconds())))
		return false, s.renderLogin(c, http.StatusTooManyRequests, "Too many sign-in attempts from your address. Wait a few minutes and try again.")
	}
	return true, nil
}

// linkAdminID is the user id of a session signed in with a one-time admin
// link (never a Discord snowflake, which is all digits).
const linkAdminID = "admin"

// maxLinkToken bounds a sign-in link's token as a request carries it (the
// links maid makes carry 43 characters).
const maxLinkToken = 128

// adminLinkPage is what opening a one-time link shows: a button that uses
// it. Opening the link neither uses it nor counts as an attempt, because
// much more than the operator opens links: chat and mail link previewers
// (Discordbot, Slackbot, scanners) fetch a pasted URL first and would use
// up the link and receive the admin session, and any web page can make
// its visitor's browser navigate to, prefetch or frame the URL (attack P,
// P2). Only the button's same-origin POST (adminSignIn) does.
func (s *Site) adminLinkPage(c echo.Context) error {
	tok := c.QueryParam("token")
	if tok == "" || len(tok) > maxLinkToken {
		return s.renderLogin(c, http.StatusBadRequest, "This sign-in link is incomplete. Copy the whole link, or ask for a new one with: maid admin link")
	}
	next := c.QueryParam("next")
	if len(next) > maxNextLen {
		next = ""
	}
	v := s.newView(c, "Sign in", map[string]any{"OAuth": s.cfg.OAuth.enabled(), "AdminToken": tok, "Next": localPath(next, ""), "Nonce": s.signInNonce(c)})
	v.User = nil
	c.Response().Header().Set("Referrer-Policy", "no-referrer") // the token is in this page's URL
	return s.renderView(c, http.StatusOK, "login.html", v)
}

// adminSignIn uses a one-time link (the button of adminLinkPage). A valid
// link always signs in, even past the attempt limit: behind a reverse proxy
// every browser shares one address, and a stranger's failed guesses must
// not lock the operator out of the recovery path (issue 19 attack). The
// link is 256 random bits, so the limit is not what stops guessing; it
// bounds the noise, and only failed attempts count against it.
func (s *Site) adminSignIn(c echo.Context) error {
	// Only maid's own page posts here. A browser names a request another
	// site started in Sec-Fetch-Site, which no page can forge; it is
	// refused before the link is looked at and is not counted, so a page
	// cannot spend its visitor's attempts or sign them in with a link of
	// its own (login CSRF). Clients that send no Sec-Fetch-Site (older
	// browsers, curl) are counted as before.
	if !fromThisSite(c.Request()) || !s.nonceOK(c, c.FormValue("nonce")) {
		return s.renderLogin(c, http.StatusForbidden, "Open the sign-in link in the browser's address bar, then press the button.")
	}
	tok := c.FormValue("token")
	ok := false
	if tok != "" && len(tok) <= maxLinkToken {
		var err error
		if ok, err = s.sessions.UseSignInLink(c.Request().Context(), tokenHash(tok), s.now()); err != nil {
			return fmt.Errorf("admin sign-in: %w", err)
		}
	}
	if !ok {
		if allowed, err := s.signInAllowed(c); !allowed {
			return err
		}
		return s.renderLogin(c, http.StatusUnauthorized, "This sign-in link was already used, has expired or is not valid. Ask for a new one with: maid admin link")
	}
	if _, err := s.newSession(c, linkAdminID, "Admin", "", true, nil, ""); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.takeNext(c, "/servers"))
}

func (s *Site) logout(c echo.Context) error {
	sess := sessionOf(c)
	if err := s.sessions.DeleteDashboardSession(c.Request().Context(), sess.id); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	c.SetCookie(&http.Cookie{Name: s.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	return c.Redirect(http.StatusSeeOther, "/login")
}

// cookieCount is how many cookies named name the request carries.
func cookieCount(r *http.Request, name string) int {
	n := 0
	for _, ck := range r.Cookies() {
		if ck.Name == name {
			n++
		}
	}
	return n
}

// signInNonce is this browser's sign-in nonce, set on first use in a
// SameSite=Strict cookie. The sign-in pages put it in the admin link's
// form and the Discord button's URL; adminSignIn and oauthStart require
// the two to match before anything is looked up or counted. Browsers that
// send no Sec-Fetch-Site (Safari before 16.4, Firefox before 90, some
// webviews) still never send a Strict cookie with another site's request,
// so another site can neither spend their attempts nor sign them in with
// a link of its own (attack P3). Origin was rejected as the check: the
// link page's no-referrer policy makes its own POST send "Origin: null",
// which any sandboxed frame can send too.
//
// The cookie is set again on every use, so its hour runs from the last
// page shown, not the first (attack P4). Known limits, documented in
// docs/security.md: another site's navigation to a sign-in page carries no
// Strict cookie, so it mints a new nonce and an open link page's button
// then fails (reopen the link); and under http a sibling subdomain can
// plant the cookie (https's __Host- prefix prevents that).
func (s *Site) signInNonce(c echo.Context) string {
	name, n := s.hostCookie(nonceCookie), ""
	for _, ck := range c.Request().Cookies() {
		if ck.Name == name && isRandomToken(ck.Value) {
			n = ck.Value // a planted value of another shape is never put into a page
		}
	}
	if n == "" {
		n = randomToken()
	}
	c.SetCookie(&http.Cookie{Name: name, Value: n, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	return n
}

// nonceOK reports whether got is one of the request's sign-in nonce
// cookies. Any one, not only when there is exactly one: a second cookie of
// the name planted under a narrower path must not block sign-in for good
// (attack P4), and it cannot help another site, which never gets a Strict
// cookie sent.
func (s *Site) nonceOK(c echo.Context, got string) bool {
	if !isRandomToken(got) {
		return false
	}
	ok := false
	for _, ck := range c.Request().Cookies() {
		if ck.Name == s.hostCookie(nonceCookie) && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(got)) == 1 {
			ok = true
		}
	}
	return ok
}

// isRandomToken reports whether v could be a randomToken: 43 URL-safe
// base64 characters.
func isRandomToken(v string) bool {
	if len(v) != 43 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// fromThisSite reports whether a browser says this site, or the user
// (the address bar, a bookmark: "none"), started the request. Requests
// without Sec-Fetch-Site (older browsers, curl) pass: the header is how
// maid tells another site's requests apart, and no page can remove it.
func fromThisSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// isDocument reports whether a request may be a top-level navigation: a
// browser names any other fetch (image, frame, script) in Sec-Fetch-Dest.
func isDocument(r *http.Request) bool {
	d := r.Header.Get("Sec-Fetch-Dest")
	return d == "" || d == "document"
}

func (s *Site) redirectURI() string { return s.base.String() + "/auth/discord/callback" }

// maxNextLen bounds the return-to path carried through sign-in.
const maxNextLen = 2048

const (
	// stateCookie binds Discord's callback to the browser that started
	// sign-in. Under https it is __Host- prefixed (and so Path=/): a
	// sibling subdomain can then neither plant one for the callback nor
	// shadow maid's (attack P2).
	stateCookie = "maid_oauth_state"
	// nonceCookie holds the sign-in nonce (signInNonce).
	nonceCookie = "maid_signin"
	// nextCookie carries the page to return to from the sign-in page to
	// whichever sign-in ends (admin link or Discord). It is checked with
	// localPath when set and when used: only paths on this site.
	nextCookie = "maid_next"
)

// setStateCookie sets the OAuth state cookie (maxAge -1 deletes it). A
// __Host- cookie must have Path=/; under http it stays on /auth/discord.
func (s *Site) setStateCookie(c echo.Context, value string, maxAge int) {
	path := "/auth/discord"
	if s.secure {
		path = "/"
	}
	c.SetCookie(&http.Cookie{Name: s.hostCookie(stateCookie), Value: value, Path: path, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: maxAge})
}

// setNext remembers next (if it is a path on this site) for the sign-in
// that follows; takeNext returns it (or def) and forgets it.
func (s *Site) setNext(c echo.Context, next string) {
	if len(next) > maxNextLen {
		return
	}
	if next = localPath(next, ""); next != "" {
		c.SetCookie(&http.Cookie{Name: nextCookie, Value: url.QueryEscape(next), Path: "/auth", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: 900})
	}
}

func (s *Site) takeNext(c echo.Context, def string) string {
	next := def
	if nc, err := c.Cookie(nextCookie); err == nil {
		if v, err := url.QueryUnescape(nc.Value); err == nil && len(v) <= maxNextLen {
			next = localPath(v, def)
		}
		c.SetCookie(&http.Cookie{Name: nextCookie, Value: "", Path: "/auth", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	}
	if q := c.QueryParam("next"); q != "" && len(q) <= maxNextLen {
		next = localPath(q, next)
	}
	return next
}

// oauthStart sends the browser to Discord's consent page with a state bound
// to a short-lived cookie (login CSRF).
func (s *Site) oauthStart(c echo.Context) error {
	if !s.cfg.OAuth.enabled() {
		return errStatus(http.StatusNotFound, "not_found", "Discord sign-in is not configured (set --oauth-client-id and --oauth-client-secret)")
	}
	// Only this site's sign-in button (or the user, from a bookmark)
	// starts a sign-in. Discord sends a returning user straight back
	// (prompt=none), so a round trip another site starts would pass the
	// state check and count against its visitor's attempts (attack P2).
	if !fromThisSite(c.Request()) || !isDocument(c.Request()) {
		return s.renderLogin(c, http.StatusForbidden, "Start signing in from the sign-in page.")
	}
	if !s.nonceOK(c, c.QueryParam("n")) {
		// A bookmark, or a browser without Sec-Fetch-Site sent here by
		// another site: the sign-in page, whose button carries the nonce.
		s.setNext(c, c.QueryParam("next"))
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	state := randomToken()
	s.setStateCookie(c, state, 600)
	s.setNext(c, c.QueryParam("next"))
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {s.cfg.OAuth.ClientID},
		"scope":         {"identify guilds"},
		"redirect_uri":  {s.redirectURI()},
		"state":         {state},
		"prompt":        {"none"},
	}
	return c.Redirect(http.StatusFound, s.cfg.OAuth.AuthorizeURL+"?"+q.Encode())
}

type discordUser struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	GlobalName string `json:"global_name"`
	Avatar     string `json:"avatar"`
}

type discordGuild struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Owner       bool   `json:"owner"`
	Permissions string `json:"permissions"` // a decimal bit set (API v10)
}

// manages reports whether the guild entry lets the user manage the server.
func (g discordGuild) manages() bool {
	if g.Owner {
		return true
	}
	p, err := strconv.ParseUint(g.Permissions, 10, 64)
	return err == nil && p&(permManageGuild|permAdministrator) != 0
}

func (s *Site) oauthCallback(c echo.Context) error {
	if !s.cfg.OAuth.enabled() {
		return errStatus(http.StatusNotFound, "not_found", "Discord sign-in is not configured")
	}
	// The state is checked before the attempt is counted: a callback
	// without this browser's state cookie (SameSite=Lax, so absent from
	// any other site's images and frames) can sign nobody in, and counting
	// it would let any web page spend its visitor's sign-in attempts
	// (attack P).
	if !isDocument(c.Request()) {
		return s.renderLogin(c, http.StatusBadRequest, "Sign-in failed. Please try again.")
	}
	ck, err := c.Cookie(s.hostCookie(stateCookie))
	s.setStateCookie(c, "", -1)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.QueryParam("state"))) != 1 {
		return s.renderLogin(c, http.StatusBadRequest, "Sign-in failed: the sign-in state did not match. Please try again.")
	}
	if ok, err := s.signInAllowed(c); !ok {
		return err
	}
	if e := c.QueryParam("error"); e != "" {
		return s.renderLogin(c, http.StatusUnauthorized, "Discord did not sign you in: "+e)
	}
	code := c.QueryParam("code")
	if code == "" {
		return s.renderLogin(c, http.StatusBadRequest, "Sign-in failed: Discord sent no code.")
	}
	ctx := c.Request().Context()
	token, err := s.exchangeCode(ctx, code)
	if err != nil {
		s.log.Warn("oauth token exchange", "err", err)
		return s.renderLogin(c, http.StatusBadGateway, "Sign-in failed: could not talk to Discord.")
	}
	var user discordUser
	if err := s.discordGET(ctx, token, "/users/@me", &user); err != nil || user.ID == "" {
		s.log.Warn("oauth user", "err", err)
		return s.renderLogin(c, http.StatusBadGateway, "Sign-in failed: could not read your Discord account.")
	}
	var guilds []discordGuild
	if err := s.discordGET(ctx, token, "/users/@me/guilds", &guilds); err != nil {
		s.log.Warn("oauth guilds", "err", err)
		return s.renderLogin(c, http.StatusBadGateway, "Sign-in failed: could not read your Discord servers.")
	}
	managed := managedOf(guilds)
	name := user.GlobalName
	if name == "" {
		name = user.Username
	}
	avatar := ""
	if user.Avatar != "" {
		avatar = "https://cdn.discordapp.com/avatars/" + url.PathEscape(user.ID) + "/" + url.PathEscape(user.Avatar) + ".png?size=64"
	}
	if _, err := s.newSession(c, user.ID, name, avatar, false, managed, token); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.takeNext(c, "/servers"))
}

func (s *Site) exchangeCode(ctx context.Context, code string) (string, error) {
	form := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {code},
		"redirect_uri": {s.redirectURI()},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.OAuth.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.SetBasicAuth(url.QueryEscape(s.cfg.OAuth.ClientID), url.QueryEscape(s.cfg.OAuth.ClientSecret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := s.doJSON(req, &tok); err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("token request: no access_token in the answer")
	}
	return tok.AccessToken, nil
}

func (s *Site) discordGET(ctx context.Context, token, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.cfg.OAuth.APIURL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	return s.doJSON(req, out)
}

// discordStatus is a non-2xx answer of Discord.
type discordStatus struct{ code int }

func (e *discordStatus) Error() string { return fmt.Sprintf("status %d", e.code) }

func (s *Site) doJSON(req *http.Request, out any) error {
	resp, err := s.cfg.OAuth.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, &discordStatus{resp.StatusCode})
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// servers returns the servers the session may see: all of maid's servers
// for admins, else those the user manages.
func (s *Site) servers(ctx context.Context, sess *session) ([]Server, error) {
	all, err := s.cfg.Directory.Servers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	if sess.admin {
		return all, nil
	}
	var out []Server
	mine := s.managed(sess)
	for _, sv := range all {
		if mine[sv.ID] {
			out = append(out, sv)
		}
	}
	return out, nil
}

// authorize checks the session may manage serverID and returns the server:
// 403 if not theirs, 404 if maid is not in it.
func (s *Site) authorize(ctx context.Context, sess *session, serverID string) (Server, error) {
	if !sess.admin && !s.managed(sess)[serverID] {
		return Server{}, errForbidden
	}
	all, err := s.cfg.Directory.Servers(ctx)
	if err != nil {
		return Server{}, fmt.Errorf("list servers: %w", err)
	}
	for _, sv := range all {
		if sv.ID == serverID {
			return sv, nil
		}
	}
	return Server{}, errStatus(http.StatusNotFound, "not_found", "maid is not in this server")
}

// serverParam authorizes the :server path parameter. It does not change the
// session's current server: a GET has no side effects, and any site can
// send the browser to /s/{server} (a top-level navigation carries the
// cookie); only a CSRF-checked /p/ call naming a server selects it.
func (s *Site) serverParam(c echo.Context) (*session, Server, error) {
	sess := sessionOf(c)
	sv, err := s.authorize(c.Request().Context(), sess, c.Param("server"))
	if err != nil {
		return nil, Server{}, err
	}
	return sess, sv, nil
}

// currentServer resolves the server a /p/ call acts on: ?discord_srv_id=
// selects one (after the permission check), else the session's current
// server. Nothing in a request body can change it.
func (s *Site) currentServer(c echo.Context) (string, error) {
	sess := sessionOf(c)
	id := c.QueryParam("discord_srv_id")
	if id == "" {
		id = sess.selected
	}
	if id == "" {
		return "", errStatus(http.StatusBadRequest, "no_server", "no server selected: open a server first or pass ?discord_srv_id=")
	}
	if _, err := s.authorize(c.Request().Context(), sess, id); err != nil {
		return "", err
	}
	if id != sess.selected {
		if err := s.sessions.SetDashboardSessionServer(c.Request().Context(), sess.id, id); err != nil {
			return "", fmt.Errorf("select server: %w", err)
		}
		sess.selected = id
	}
	return id, nil
}

func requireAdmin(sess *session) error {
	if !sess.admin {
		return errAdminOnly
	}
	return nil
}
