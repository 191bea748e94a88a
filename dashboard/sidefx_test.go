package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRedirectsStayOnSite (browser attack, finding 5): the forms that
// redirect to a "next" path given in the request (enable/disable, iframe
// approval) send the browser only to a path of this site; the tab the
// attack used ("/\t/example.org/x", which a browser reads as
// "//example.org/x") lands on the default.
func TestRedirectsStayOnSite(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	mgr, admin := env.signIn(alice), env.admin()
	_, page := admin.do("GET", "/s/"+serverA+"/p/iframe_probe", "", nil)
	m := digestRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no approval form")
	}
	for _, next := range []string{"/\t/example.org/x", "/\n/example.org", "/\\example.org", "//example.org", "https://example.org"} {
		for _, tt := range []struct {
			name, path, def string
			c               *client
			form            url.Values
		}{
			{"enabled", "/s/" + serverA + "/p/welcome/enabled", "/s/" + serverA, mgr, url.Values{"enabled": {"true"}}},
			{"approval", "/plugins/iframe_probe/dashboard-approval", "/marketplace", admin, url.Values{"approve": {"true"}, "digest": {m[1]}}},
		} {
			t.Run(tt.name+" "+url.PathEscape(next), func(t *testing.T) {
				tt.form.Set("next", next)
				resp, body := tt.c.postForm(tt.path, tt.form)
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.def {
					t.Errorf("%d Location %q, want 303 to %q: %.200s", resp.StatusCode, resp.Header.Get("Location"), tt.def, body)
				}
			})
		}
	}
}

// TestFlashOnlyFromMaid (browser attack, finding 5): a page shows a status
// message only if maid wrote it for this session (after an upload or an
// uninstall), not text a link carries, nor a message written for another
// session.
func TestFlashOnlyFromMaid(t *testing.T) {
	env := newEnv(t)
	admin, other := env.admin(), env.admin()
	resp, _ := admin.postForm("/marketplace/iframe_probe/uninstall", url.Values{})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/marketplace?") {
		t.Fatalf("uninstall: %d %q", resp.StatusCode, loc)
	}
	const said = "Uninstalled iframe_probe and deleted its data."
	for _, tt := range []struct {
		name, path string
		c          *client
		shown      string // "": no flash at all
	}{
		{"maid's message", loc, admin, said},
		{"text in a link", "/marketplace?flash=" + url.QueryEscape("Your session expired: sign in at evil.example"), admin, ""},
		{"text in a link with a made-up MAC", "/marketplace?flash=Hello&fmac=AAAA", admin, ""},
		{"maid's message, in another session", loc, other, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, body := tt.c.do("GET", tt.path, "", nil)
			i := strings.Index(body, `class="flash`)
			switch {
			case tt.shown == "" && i >= 0:
				t.Errorf("a flash message is shown: %.200s", body[i:])
			case tt.shown != "" && (i < 0 || !strings.Contains(body[i:min(len(body), i+300)], tt.shown)):
				t.Errorf("the message %q is not shown", tt.shown)
			}
		})
	}
}

// TestGetChangesNoState (browser attack, finding 5): opening a server's
// page (a GET, which any site can make the browser send) does not change
// the session's current server, which /p/ calls without discord_srv_id act
// on; a CSRF-checked /p/ call naming a server does.
func TestGetChangesNoState(t *testing.T) {
	env := newEnv(t)
	c := env.signIn(alice)
	if resp, body := c.do("GET", "/s/"+serverA, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("server page: %d %.200s", resp.StatusCode, body)
	}
	resp, body := c.postJSON("/p/widgets/dashboard/rpc/get_stat", "{}")
	if code, _ := errorBody(t, body); resp.StatusCode != http.StatusBadRequest || code != "no_server" {
		t.Errorf("after a GET of the server page, a call without a server: %d %s, want 400 no_server", resp.StatusCode, body)
	}
	if resp, body := c.postJSON("/p/widgets/dashboard/rpc/get_stat?discord_srv_id="+serverA, "{}"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a call naming the server: %d %s", resp.StatusCode, body)
	}
	if resp, body := c.postJSON("/p/widgets/dashboard/rpc/get_stat", "{}"); resp.StatusCode != http.StatusOK {
		t.Errorf("after a call naming the server: %d %s", resp.StatusCode, body)
	}
	// The page names its server for the SDK's calls instead.
	if _, page := c.do("GET", "/s/"+serverA+"/p/widgets", "", nil); !strings.Contains(page, `<meta name="maid-server" content="`+serverA+`">`) {
		t.Errorf("the plugin page does not name its server")
	}
}
