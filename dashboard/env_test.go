package dashboard_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/sandbox/process"
	"github.com/maidhq/maid/store"
	"github.com/maidhq/maid/telemetry"
)

// The two servers of the tests: A is the simulator's (alice manages it), B
// is another server maid is in where alice is a plain member.
const (
	serverA = discord.SimServerID
	serverB = "200000000000000002"
)

// twoServers is the simulator's directory plus server B (no channels).
type twoServers struct{ *discord.Simulator }

func (d twoServers) Servers(ctx context.Context) ([]dashboard.Server, error) {
	list, err := d.Simulator.Servers(ctx)
	return append(list, dashboard.Server{ID: serverB, Name: "Other Server"}), err
}

func (d twoServers) Channels(ctx context.Context, id string) ([]dashboard.Channel, error) {
	if id == serverB {
		return nil, nil
	}
	return d.Simulator.Channels(ctx, id)
}

func (d twoServers) Roles(ctx context.Context, id string) ([]dashboard.Role, error) {
	if id == serverB {
		return nil, nil
	}
	return d.Simulator.Roles(ctx, id)
}

func (d twoServers) Members(ctx context.Context, id string, n int) ([]dashboard.Member, error) {
	if id == serverB {
		return nil, nil
	}
	return d.Simulator.Members(ctx, id, n)
}

// fakeUser is an account of the fake Discord OAuth/API server.
type fakeUser struct {
	ID, Name string
	Guilds   []map[string]any
}

var (
	alice = fakeUser{ID: "100000000000000301", Name: "alice", Guilds: []map[string]any{
		{"id": serverA, "name": "Maid Test Server", "owner": false, "permissions": "32"}, // MANAGE_GUILD
		{"id": serverB, "name": "Other Server", "owner": false, "permissions": "1024"},   // view channel only
	}}
	dave = fakeUser{ID: "100000000000000399", Name: "dave", Guilds: []map[string]any{
		{"id": serverA, "name": "Maid Test Server", "owner": false, "permissions": "0"},
	}}
)

// fakeDiscord is a local stand-in for Discord's OAuth2 and user API.
type fakeDiscord struct {
	srv    *httptest.Server
	mu     sync.Mutex
	next   fakeUser            // who signs in at the next authorize
	codes  map[string]fakeUser // code → user
	tokens map[string]fakeUser
	// hold, when set, makes /users/@me/guilds signal asked and wait for
	// hold to close (a slow Discord).
	hold, asked chan struct{}
}

func newFakeDiscord(t *testing.T) *fakeDiscord {
	f := &fakeDiscord{codes: map[string]fakeUser{}, tokens: map[string]fakeUser{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "test-client" || q.Get("response_type") != "code" || !strings.Contains(q.Get("scope"), "guilds") {
			http.Error(w, "bad authorize request", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		code := fmt.Sprintf("code-%d", len(f.codes)+1)
		f.codes[code] = f.next
		f.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /api/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "test-client" || secret != "test-secret" || r.FormValue("grant_type") != "authorization_code" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		u, ok := f.codes[r.FormValue("code")]
		delete(f.codes, r.FormValue("code"))
		tok := "tok-" + r.FormValue("code")
		f.tokens[tok] = u
		f.mu.Unlock()
		if !ok {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 600})
	})
	user := func(r *http.Request) (fakeUser, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		u, ok := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		return u, ok
	}
	mux.HandleFunc("GET /api/users/@me", func(w http.ResponseWriter, r *http.Request) {
		u, ok := user(r)
		if !ok {
			http.Error(w, "{}", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"id": u.ID, "username": u.Name, "global_name": strings.ToUpper(u.Name[:1]) + u.Name[1:]})
	})
	mux.HandleFunc("GET /api/users/@me/guilds", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		hold, asked := f.hold, f.asked
		f.mu.Unlock()
		if hold != nil {
			select {
			case asked <- struct{}{}:
			default:
			}
			<-hold
		}
		u, ok := user(r)
		if !ok {
			http.Error(w, "{}", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(u.Guilds)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDiscord) signInAs(u fakeUser) {
	f.mu.Lock()
	f.next = u
	f.mu.Unlock()
}

type testEnv struct {
	t       *testing.T
	ctx     context.Context
	eng     *engine.Engine
	site    *dashboard.Site
	srv     *httptest.Server
	discord *fakeDiscord
	sim     *discord.Simulator
	reg     *prometheus.Registry

	st      *store.Store
	cfg     dashboard.Config // what site was built from (restart builds another)
	mu      sync.Mutex
	served  []served // every response of the dashboard, in order
	handler http.Handler
}

// installEnabled installs the plugin at path and enables it on server A;
// it returns the plugin's id.
func (e *testEnv) installEnabled(path string) string {
	e.t.Helper()
	pkg, err := e.eng.InstallPath(e.ctx, path)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.eng.SetEnabled(e.ctx, serverA, pkg.Manifest.ID, true); err != nil {
		e.t.Fatal(err)
	}
	return pkg.Manifest.ID
}

// restart replaces the site with a new one built from the same Config and
// store, as a restarted maid serve (or another node) would be.
func (e *testEnv) restart() {
	e.t.Helper()
	site, err := dashboard.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.site, e.handler = site, site.Handler()
	e.mu.Unlock()
}

// served is one response of the dashboard.
type served struct {
	path          string
	status, bytes int
}

type statusRecorder struct {
	http.ResponseWriter
	status, bytes int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// forgetServed clears the record of responses, so that what follows is
// checked alone.
func (e *testEnv) forgetServed() {
	e.mu.Lock()
	e.served = nil
	e.mu.Unlock()
}

// servedOK returns the paths under prefix answered with 200 and a body.
func (e *testEnv) servedOK(prefix string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.served {
		if strings.HasPrefix(s.path, prefix) && s.status == http.StatusOK && s.bytes > 0 {
			out = append(out, s.path)
		}
	}
	return out
}

var digestRe = regexp.MustCompile(`name="digest" value="([^"]+)"`)

// approve approves a plugin's iframe dashboard as an admin does: from the
// plugin page, with the digest it shows.
func (e *testEnv) approve(pluginID string) {
	e.t.Helper()
	admin := e.admin()
	_, page := admin.do("GET", "/s/"+serverA+"/p/"+pluginID, "", nil)
	m := digestRe.FindStringSubmatch(page)
	if m == nil {
		e.t.Fatalf("approve %s: no approval form on its page", pluginID)
	}
	resp, body := admin.postForm("/plugins/"+pluginID+"/dashboard-approval", url.Values{"approve": {"true"}, "digest": {m[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("approve %s: %d %s", pluginID, resp.StatusCode, body)
	}
}

// newEnv runs a real engine (SQLite store, process backend) with the test
// plugins and the examples installed and enabled on servers A and B, and
// the dashboard on an httptest server, in the default iframe mode
// (approve) with the iframe plugins approved by an admin.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	env := newEnvOpts(t, envOptions{})
	env.approve("iframe_probe")
	env.approve("iframe_stats")
	return env
}

type envOptions struct {
	iframes          dashboard.IframeMode // "": the default
	dashboardTimeout time.Duration        // 0: 1.5 s
	// serve runs the site with Site.Serve on a real listener (its
	// connection cap and timeouts apply), not behind httptest.
	serve bool
	// config edits the dashboard's Config before New.
	config func(*dashboard.Config)
}

// newEnvNoApprovals is newEnv without the iframe approvals.
func newEnvNoApprovals(t *testing.T) *testEnv {
	t.Helper()
	return newEnvOpts(t, envOptions{})
}

// newEnvOpts is newEnv with options and no approvals.
func newEnvOpts(t *testing.T, opt envOptions) *testEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "maid.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	be, err := process.New(process.Config{TempDir: dir})
	if err != nil {
		t.Fatalf("process backend (needs python3): %v", err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := discord.NewSimulator(discord.SimConfig{Logger: quiet})
	reg := prometheus.NewRegistry()
	metrics := telemetry.NewPrometheus(reg, be.Name())
	eng, err := engine.New(engine.Config{
		Store: st, Backend: be, Discord: sim, DataDir: filepath.Join(dir, "data"), Observer: metrics, Logger: quiet,
		Limits: engine.Limits{DashboardTimeout: cmp.Or(opt.dashboardTimeout, 1500*time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = eng.Run(ctx) }()
	go func() { defer wg.Done(); _ = sim.Run(ctx, eng) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		be.Close()
		st.Close()
	})
	<-eng.Ready()
	<-sim.Ready()
	for _, p := range []string{"testdata/widgets", "testdata/iframe_probe", "../sdk/examples/welcome", "../sdk/examples/iframe_stats"} {
		pkg, err := eng.InstallPath(ctx, p)
		if err != nil {
			t.Fatalf("install %s: %v", p, err)
		}
		for _, sid := range []string{serverA, serverB} {
			if err := eng.SetEnabled(ctx, sid, pkg.Manifest.ID, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	fd := newFakeDiscord(t)
	env := &testEnv{t: t, ctx: ctx, eng: eng, discord: fd, sim: sim, reg: reg, st: st}
	var ln net.Listener
	if opt.serve {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		env.srv = &httptest.Server{URL: "http://" + ln.Addr().String(), Listener: ln} // for its URL; Serve serves ln
	} else {
		env.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			env.mu.Lock()
			handler := env.handler
			env.mu.Unlock()
			handler.ServeHTTP(rec, r)
			env.mu.Lock()
			env.served = append(env.served, served{path: r.URL.Path, status: rec.status, bytes: rec.bytes})
			env.mu.Unlock()
		}))
		t.Cleanup(env.srv.Close)
	}
	cfg := dashboard.Config{
		Engine: eng, Directory: twoServers{sim}, Simulator: sim, BaseURL: env.srv.URL,
		OAuth: dashboard.OAuth{
			ClientID: "test-client", ClientSecret: "test-secret",
			AuthorizeURL: fd.srv.URL + "/oauth2/authorize", TokenURL: fd.srv.URL + "/api/oauth2/token", APIURL: fd.srv.URL + "/api",
		},
		Ready: st.Ping, Gatherer: reg, Logger: quiet,
		IframeDashboards: opt.iframes, Approvals: st, Sessions: st,
	}
	if opt.config != nil {
		opt.config(&cfg)
	}
	env.cfg = cfg
	env.site, err = dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.mu.Lock()
	env.handler = env.site.Handler()
	env.mu.Unlock()
	if opt.serve {
		sctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- env.site.Serve(sctx, ln) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	return env
}

// client is a browser-like HTTP client with a cookie jar that does not
// follow redirects on its own unless asked.
type client struct {
	env  *testEnv
	http *http.Client
	csrf string
}

func (e *testEnv) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	return &client{env: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRe = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// signIn goes through "Sign in with Discord" against the fake.
func (e *testEnv) signIn(u fakeUser) *client {
	e.t.Helper()
	c := e.anonymous()
	e.discord.signInAs(u)
	resp := c.startDiscord()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/servers" {
		e.t.Fatalf("sign in as %s: %d at %s: %s", u.Name, resp.StatusCode, resp.Request.URL, body)
	}
	c.setCSRF(string(body))
	return c
}

// admin signs in with the one-time admin link.
func (e *testEnv) admin() *client {
	e.t.Helper()
	c := e.anonymous()
	resp, _ := c.useLink(e.site.AdminLink())
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("admin link: %d", resp.StatusCode)
	}
	_, body := c.do("GET", "/servers", "", nil)
	c.setCSRF(body)
	return c
}

// startDiscord presses the sign-in page's "Sign in with Discord" and
// follows the redirects; the caller closes the answer's body.
func (c *client) startDiscord() *http.Response {
	c.env.t.Helper()
	follow := *c.http
	follow.CheckRedirect = nil
	resp, err := follow.Get(c.env.srv.URL + c.discordButton())
	if err != nil {
		c.env.t.Fatal(err)
	}
	return resp
}

// discordButton is where the sign-in page's "Sign in with Discord" leads
// (with this browser's sign-in nonce).
func (c *client) discordButton() string {
	c.env.t.Helper()
	_, page := c.do("GET", "/login", "", nil)
	m := discordHrefRe.FindStringSubmatch(page)
	if m == nil {
		c.env.t.Fatalf("no Discord button on the sign-in page: %.300s", page)
	}
	return html.UnescapeString(m[1])
}

var discordHrefRe = regexp.MustCompile(`id="discord-signin" href="([^"]*)"`)

// useLink opens a one-time sign-in link as a browser does: the page it
// shows, then that page's button (a POST of the form). It returns the
// POST's answer, or the page's when it shows no button. hdr goes with both.
func (c *client) useLink(link string, hdr ...string) (*http.Response, string) {
	c.env.t.Helper()
	resp, body := c.do("GET", strings.TrimPrefix(link, c.env.srv.URL), "", nil, hdr...)
	m := linkFormRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		return resp, body
	}
	form := url.Values{}
	for _, in := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
		form.Set(in[1], html.UnescapeString(in[2]))
	}
	return c.do("POST", html.UnescapeString(m[1]), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), hdr...)
}

var (
	linkFormRe = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	hiddenRe   = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

func (c *client) setCSRF(page string) {
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		c.env.t.Fatalf("no csrf token in page")
	}
	c.csrf = m[1]
}

// do sends a request; body is sent as is with contentType.
func (c *client) do(method, path, contentType string, body io.Reader, hdr ...string) (*http.Response, string) {
	c.env.t.Helper()
	req, err := http.NewRequest(method, c.env.srv.URL+path, body)
	if err != nil {
		c.env.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.env.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// postJSON posts a JSON body with the CSRF header.
func (c *client) postJSON(path, body string) (*http.Response, string) {
	return c.do("POST", path, "application/json", strings.NewReader(body), "X-CSRF-Token", c.csrf)
}

// postForm posts a form with the CSRF field.
func (c *client) postForm(path string, v url.Values) (*http.Response, string) {
	v.Set("_csrf", c.csrf)
	return c.do("POST", path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
}

// errorBody decodes {"error": {"code", "message"}}.
func errorBody(t *testing.T, body string) (code, msg string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" {
		t.Fatalf("want a JSON error body, got %q", body)
	}
	return e.Error.Code, e.Error.Message
}

// kvGet reads a plugin's KV value on a server through the engine.
func (e *testEnv) kvGet(pluginID, serverID, key string) (json.RawMessage, bool) {
	e.t.Helper()
	// From the store: the engine's bridge serves iframe plugins only.
	v, found, err := e.st.KVGet(e.ctx, engine.Scope{PluginID: pluginID, ServerID: serverID}, key)
	if err != nil {
		e.t.Fatal(err)
	}
	return v, found
}
