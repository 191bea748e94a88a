// Package dashboard is maid's web dashboard (spec 000 "Plugin dashboards"):
// sign-in, per-server plugin settings, manifest-mode widgets, sandboxed
// iframe dashboards with the MaidSDK bridge, the marketplace, plugin logs,
// the simulator console, health and Prometheus metrics. It is served by
// echo; every asset is embedded (package web).
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

// Config wires a Server.
type Config struct {
	Engine    Engine    // required; *engine.Engine
	Directory Directory // required: servers, channels, roles, members
	Simulator Simulator // nil when a real gateway is connected

	// Addr is the listen address for Run (default 127.0.0.1:8080).
	Addr string
	// BaseURL is the dashboard's external URL (default http://<Addr>). The
	// OAuth redirect URI and the admin link derive from it; an https URL
	// makes cookies Secure (and __Host- prefixed).
	BaseURL string
	OAuth   OAuth
	// Admins are Discord user ids that see and manage every server.
	Admins []string
	// Publishers are Discord user ids that may publish (upload) plugins to
	// the marketplace besides the admins (trusted publishers).
	Publishers []string
	// Ready reports whether dependencies are usable (/readyz), e.g. a
	// database ping. Nil: only the engine's readiness counts.
	Ready func(ctx context.Context) error

	Gatherer prometheus.Gatherer // for /metrics; nil: prometheus.DefaultGatherer

	Logger *slog.Logger
	// Stdout receives the one-time admin sign-in link printed by Run.
	// Nil: the link is only logged.
	Stdout io.Writer
	// SessionTTL bounds a session's life (default 7 days).
	SessionTTL time.Duration
	// MaxUploadBytes bounds a marketplace upload (default 50 MiB).
	MaxUploadBytes int64
	// MaxConns caps the connections Serve holds open (default 512); past
	// it idle keep-alive connections are closed, then new ones refused.
	MaxConns int
	// ResultBudget bounds the bytes of plugin results (bridge, rpc and
	// widget answers) all requests hold at once (default 64 MiB;
	// results.go).
	ResultBudget int64
	// ReadHeaderTimeout bounds the wait for a request's headers (default
	// 10 s); BodyTimeout the read of its body (default 30 s; an upload's:
	// UploadTimeout, default 5 min); WriteTimeout the time from headers to
	// the last byte of the response, reader included (default 2 min; an
	// upload's: UploadTimeout more); IdleTimeout a keep-alive connection's
	// wait for the next request (default 30 s).
	ReadHeaderTimeout, BodyTimeout, UploadTimeout, WriteTimeout, IdleTimeout time.Duration
	// IframeDashboards says whether iframe-mode plugin dashboards are
	// served: off, approve (by an admin, per plugin; the default) or on.
	// See iframe.go for why.
	IframeDashboards IframeMode
	// Approvals keeps admins' approvals of iframe dashboards (approve
	// mode). Nil: kept in memory until the process ends.
	Approvals ApprovalStore
	// Sessions keeps sessions, sign-in links and sign-in attempt counts
	// (the store). Nil: kept in memory, so a restart signs everyone out.
	Sessions SessionStore
	// SignInLinkTTL bounds a one-time sign-in link's life (default 1 hour).
	SignInLinkTTL time.Duration
	// SignInMax sign-in attempts per client per SignInWindow are allowed
	// (default 30 per 10 minutes); more get 429.
	SignInMax    int
	SignInWindow time.Duration
	// TrustedProxies are the reverse proxies in front of the dashboard.
	// A request from one of them counts against the client its
	// X-Forwarded-For names (the rightmost entry that is not a trusted
	// proxy); from anyone else the header is ignored. Empty: every client
	// is the connection's address, so behind a proxy all share one count.
	// List only proxies (a prefix that also holds clients lets them name
	// themselves), and only proxies that append to the header. A peer on
	// a unix-socket listener has no address to list: behind one, every
	// client shares one count.
	TrustedProxies []netip.Prefix
	Now            func() time.Time
}

// OAuth configures "Sign in with Discord". An empty ClientID disables it.
// The URLs default to Discord's; tests point them at a local fake.
type OAuth struct {
	ClientID     string
	ClientSecret string
	AuthorizeURL string // default https://discord.com/oauth2/authorize
	TokenURL     string // default https://discord.com/api/oauth2/token
	APIURL       string // default https://discord.com/api/v10
	HTTPClient   *http.Client
}

func (o OAuth) enabled() bool { return o.ClientID != "" }

// Site is the dashboard HTTP server. (Server is the Discord server type of
// ports.go.)
type Site struct {
	cfg    Config
	eng    Engine
	log    *slog.Logger
	echo   *echo.Echo
	base   *url.URL
	secure bool
	tmpl   *templates
	admins map[string]bool
	// publishers may upload plugins (Config.Publishers).
	publishers map[string]bool
	renders    *renderer

	approvals ApprovalStore
	digests   digestCache
	results   *byteBudget

	sessions SessionStore
	// swept is the start (unix ns) of the sign-in window this node last
	// swept in (sweepSignIns).
	swept atomic.Int64

	mu sync.Mutex
	// refreshing holds the refreshes of sessions' servers under way on
	// this node, by session id (refreshGuilds); bg counts their goroutines.
	refreshing map[string]chan struct{}
	bg         sync.WaitGroup
}

// New checks cfg and builds the site (it does not listen; see Run).
func New(cfg Config) (*Site, error) {
	if cfg.Engine == nil {
		return nil, fmt.Errorf("new dashboard: %w: engine is required", engine.ErrInvalid)
	}
	if cfg.Directory == nil {
		return nil, fmt.Errorf("new dashboard: %w: directory is required", engine.ErrInvalid)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + cfg.Addr
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("new dashboard: %w: base URL %q must be an absolute http(s) URL", engine.ErrInvalid, cfg.BaseURL)
	}
	if cfg.OAuth.AuthorizeURL == "" {
		cfg.OAuth.AuthorizeURL = "https://discord.com/oauth2/authorize"
	}
	if cfg.OAuth.TokenURL == "" {
		cfg.OAuth.TokenURL = "https://discord.com/api/oauth2/token"
	}
	if cfg.OAuth.APIURL == "" {
		cfg.OAuth.APIURL = "https://discord.com/api/v10"
	}
	if cfg.OAuth.HTTPClient == nil {
		cfg.OAuth.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.SignInLinkTTL <= 0 {
		cfg.SignInLinkTTL = DefaultSignInLinkTTL
	}
	if cfg.SignInMax <= 0 {
		cfg.SignInMax = defaultSignInMax
	}
	if cfg.SignInWindow <= 0 {
		cfg.SignInWindow = defaultSignInWindow
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 50 << 20
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.ResultBudget <= 0 {
		cfg.ResultBudget = defaultResultBudget
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.ReadHeaderTimeout, defaultReadHeaderTimeout}, {&cfg.BodyTimeout, defaultBodyTimeout},
		{&cfg.UploadTimeout, defaultUploadTimeout}, {&cfg.WriteTimeout, defaultWriteTimeout}, {&cfg.IdleTimeout, defaultIdleTimeout},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IframeDashboards, err = ParseIframeMode(string(cfg.IframeDashboards)); err != nil {
		return nil, fmt.Errorf("new dashboard: %w: %w", engine.ErrInvalid, err)
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	tm, err := loadTemplates()
	if err != nil {
		return nil, fmt.Errorf("new dashboard: %w", err)
	}
	s := &Site{
		cfg:        cfg,
		eng:        cfg.Engine,
		log:        cfg.Logger,
		base:       base,
		secure:     base.Scheme == "https",
		tmpl:       tm,
		admins:     map[string]bool{},
		renders:    newRenderer(),
		results:    newByteBudget(cfg.ResultBudget),
		sessions:   cfg.Sessions,
		refreshing: map[string]chan struct{}{},
		approvals:  cfg.Approvals,
		digests:    digestCache{m: map[*plugin.Package]string{}},
	}
	if s.sessions == nil {
		s.sessions = newMemSessions()
	}
	if s.approvals == nil {
		s.approvals = &memApprovals{m: map[string]string{}}
	}
	s.publishers = map[string]bool{}
	for _, id := range cfg.Publishers {
		if id = strings.TrimSpace(id); id != "" {
			s.publishers[id] = true
		}
	}
	for _, id := range cfg.Admins {
		if id = strings.TrimSpace(id); id != "" {
			s.admins[id] = true
		}
	}
	s.echo = s.routes()
	return s, nil
}

func (s *Site) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// Handler returns the dashboard's HTTP handler (for httptest and embedding).
func (s *Site) Handler() http.Handler { return s.echo }

// Run prints a one-time admin sign-in link, listens on Config.Addr and
// serves until ctx ends, then shuts down gracefully (in-flight requests get
// up to 5 s).
func (s *Site) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dashboard: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener. It holds at most Config.MaxConns
// connections (limits.go). There is no whole-request ReadTimeout: net/http
// cancels a handler's context when it passes, so bodies get their own
// deadline (limitBody).
func (s *Site) Serve(ctx context.Context, ln net.Listener) error {
	cl := newConnLimiter(ln, s.cfg.MaxConns)
	hs := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         cl.connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	ln = cl
	link, err := s.SignInLink(ctx)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	s.log.Info("dashboard listening", "addr", ln.Addr().String(), "url", s.base.String())
	if s.cfg.Stdout != nil {
		fmt.Fprintf(s.cfg.Stdout, "\nmaid dashboard: %s\nSign in as admin with this one-time link (valid once, for %s; `maid admin link` makes another):\n  %s\n\n",
			s.base.String(), s.cfg.SignInLinkTTL, link)
	} else {
		s.log.Info("one-time admin sign-in link", "url", link)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	defer s.bg.Wait() // refreshes of sessions' servers (bounded by guildTimeout)
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("dashboard: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: serve: %w", err)
	}
	return nil
}

func (s *Site) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.securityHeaders, s.limitBody, s.loadSession, s.withActor)

	// Health and metrics: no session.
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{})))

	// Static assets (spec paths) and plugin iframe assets: no session (no
	// server data in them; see assets.go).
	e.GET("/static/*", s.static)
	e.GET("/p/:plugin/assets/*", s.pluginAsset)
	e.GET("/p/:plugin/v/:version/assets/*", s.pluginAsset)
	e.GET("/favicon.ico", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })

	// Sign-in.
	e.GET("/login", s.loginPage)
	e.GET("/auth/discord", s.oauthStart)
	e.GET("/auth/discord/callback", s.oauthCallback)
	e.GET("/auth/admin", s.adminLinkPage)
	e.POST("/auth/admin", s.adminSignIn)
	e.POST("/logout", s.logout, s.requireSession, s.checkCSRF)

	// Pages.
	auth := []echo.MiddlewareFunc{s.requireSession, s.checkCSRF}
	e.GET("/", s.home, auth...)
	e.GET("/servers", s.serversPage, auth...)
	e.GET("/s/:server", s.serverPage, auth...)
	e.GET("/s/:server/p/:plugin", s.pluginPage, auth...)
	e.POST("/s/:server/p/:plugin/enabled", s.setEnabled, auth...)
	e.POST("/s/:server/p/:plugin/options", s.saveOptions, auth...)
	e.GET("/s/:server/p/:plugin/w/:page/:widget", s.widgetFragment, auth...)
	e.GET("/s/:server/p/:plugin/version", s.dataVersion, auth...)
	e.GET("/s/:server/simulator", s.simulatorPage, auth...)
	e.GET("/marketplace", s.cataloguePage, auth...)
	e.POST(uploadPath, s.publish, s.requireSession, s.requireAdminFirst, s.checkCSRF)
	e.GET("/marketplace/:plugin/*", s.marketAsset, auth...)
	e.GET("/s/:server/p/:plugin/consent", s.consentPage, auth...)
	e.POST("/s/:server/p/:plugin/consent", s.consent, auth...)
	e.GET("/s/:server/p/:plugin/versions", s.versionsPage, auth...)
	e.POST("/s/:server/p/:plugin/version/:action", s.versionAction, auth...)
	e.GET("/audit", s.auditPage, auth...)
	e.POST("/marketplace/:plugin/uninstall", s.uninstall, auth...)
	e.GET("/plugins/:plugin/logs", s.logsPage, auth...)
	e.GET("/logs", s.logsPage, auth...)
	e.GET("/api/logs", s.apiAllLogs, auth...)
	e.POST("/plugins/:plugin/dashboard-approval", s.setApproval, auth...)
	s.recordingRoutes(e, auth)

	// JSON API.
	e.POST("/p/:plugin/dashboard/rpc/:method", s.rpc, auth...)
	e.POST("/p/:plugin/dashboard/host/:method", s.hostCall, auth...)
	e.GET("/api/me", s.apiMe, auth...)
	e.GET("/api/servers", s.apiServers, auth...)
	e.GET("/api/servers/:server/plugins", s.apiServerPlugins, auth...)
	e.GET("/api/plugins/:plugin/logs", s.apiLogs, auth...)
	e.GET("/api/servers/:server/simulator", s.apiSimState, auth...)
	e.POST("/api/servers/:server/simulator/post", s.apiSimPost, auth...)
	e.POST("/api/servers/:server/simulator/join", s.apiSimJoin, auth...)
	e.POST("/api/servers/:server/simulator/leave", s.apiSimLeave, auth...)
	e.POST("/api/servers/:server/simulator/:act", s.apiSimAct, auth...)
	return e
}

func (s *Site) readyz(c echo.Context) error {
	select {
	case <-s.eng.Ready():
	default:
		return c.String(http.StatusServiceUnavailable, "engine starting\n")
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.Warn("readiness check failed", "err", err)
			return c.String(http.StatusServiceUnavailable, "not ready\n")
		}
	}
	return c.String(http.StatusOK, "ready\n")
}

// securityHeaders sets the headers every response gets. Pages run only our
// own scripts; plugin iframe documents get their own, stricter policy
// (assets.go) which replaces this one.
func (s *Site) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// pageCSP: the dashboard's own pages load only same-origin scripts and
// styles (no inline script), Discord avatars/icons as images, and frame only
// same-origin plugin documents.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https://cdn.discordapp.com; " +
	"frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
