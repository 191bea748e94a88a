package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"

	"github.com/maidhq/maid/dashboard"
)

// dashboardMode says how the dashboard RPC figure is measured.
const dashboardMode = "http: dashboard.New handler on an httptest server, admin session, keep-alive client"

// benchDirectory is the dashboard's view of Discord: the bench's servers,
// with nothing in them.
type benchDirectory struct{ servers []dashboard.Server }

func (d benchDirectory) Servers(context.Context) ([]dashboard.Server, error) { return d.servers, nil }
func (benchDirectory) Channels(context.Context, string) ([]dashboard.Channel, error) {
	return nil, nil
}
func (benchDirectory) Roles(context.Context, string) ([]dashboard.Role, error) { return nil, nil }
func (benchDirectory) Members(context.Context, string, int) ([]dashboard.Member, error) {
	return nil, nil
}

var csrfRe = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// dashboardHTTP times POST /p/{plugin}/dashboard/rpc/noop through the real
// dashboard handler over loopback HTTP, signed in as admin.
func dashboardHTTP(ctx context.Context, p *progress, e *env, pluginID, server string, n, warm int) (Figure, error) {
	site, err := dashboard.New(dashboard.Config{
		Engine:    e.eng,
		Directory: benchDirectory{servers: []dashboard.Server{{ID: server, Name: "bench " + server}}},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return Figure{}, err
	}
	srv := httptest.NewServer(site.Handler())
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar}
	csrf, err := signIn(ctx, c, srv.URL, site.AdminLink())
	if err != nil {
		return Figure{}, fmt.Errorf("dashboard sign-in: %w", err)
	}
	target := srv.URL + "/p/" + url.PathEscape(pluginID) + "/dashboard/rpc/noop?discord_srv_id=" + url.QueryEscape(server)
	body := []byte(`{"n": 1}`)
	call := func(ctx context.Context, i int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("dashboard rpc: %s: %s", resp.Status, bytes.TrimSpace(out))
		}
		return nil
	}
	s, errs, err := callRoundTrips(ctx, p, call, n, warm)
	if err != nil {
		return Figure{}, err
	}
	return distFigure("dashboard_http_rpc", "Dashboard RPC over HTTP",
		"POST /p/{plugin_id}/dashboard/rpc/noop on loopback HTTP with a session cookie and CSRF header (keep-alive), through the dashboard's routing, session and authorization checks, engine.CallDashboard and the plugin's no-op handler, until the client has read the JSON response",
		UnitMicros, s, errs), nil
}

// signIn uses the one-time admin link and returns the session's CSRF token.
func signIn(ctx context.Context, c *http.Client, base, link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", err
	}
	resp, err := dashboard.OpenSignInLink(ctx, c, base+u.RequestURI()) // follows the redirect to /servers
	if err != nil {
		return "", err
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("admin link: %s at %s", resp.Status, resp.Request.URL.Path)
	}
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		return "", errors.New("no csrf-token meta tag on " + resp.Request.URL.Path)
	}
	return strings.TrimSpace(string(m[1])), nil
}
