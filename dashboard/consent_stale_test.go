package dashboard_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var consentField = regexp.MustCompile(`<input type="hidden" name="(version|caps_digest)" value="([^"]*)">`)

// consentShown loads a server's consent page for a plugin and returns the
// form it would post: the version and capability digest it shows.
func consentShown(t *testing.T, c *client, server, pluginID string) url.Values {
	t.Helper()
	resp, page := c.do("GET", "/s/"+server+"/p/"+pluginID+"/consent", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %d %.500s", resp.StatusCode, page)
	}
	form := url.Values{}
	for _, m := range consentField.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	if form.Get("version") == "" || form.Get("caps_digest") == "" {
		t.Fatalf("consent page posts no version or digest: %.3000s", page)
	}
	return form
}

// TestConsentStale: a consent page approves only what it showed. A version
// asking for more, published while the page was open, is not approved by
// its post (attack F6): the manager is sent back to the consent page,
// which now shows the new capabilities; a post without the shown version
// approves nothing either.
func TestConsentStale(t *testing.T) {
	env := newEnv(t)
	admin := env.admin()
	if resp, body := upload(admin, zipFiles(t, mktPlugin("1.0.0", "number", "storage:kv"))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.0.0: %d %.500s", resp.StatusCode, body)
	}
	alice := env.signIn(alice)
	shown := consentShown(t, alice, serverA, "mkt")
	if shown.Get("version") != "1.0.0" {
		t.Fatalf("consent page shows %q, want 1.0.0", shown.Get("version"))
	}
	// Published while alice reads the page: it may also send messages.
	if resp, body := upload(admin, zipFiles(t, mktPlugin("1.1.0", "number", "storage:kv", "discord:send_messages"))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.1.0: %d %.500s", resp.StatusCode, body)
	}
	for _, form := range []url.Values{shown, {}} {
		resp, _ := alice.postForm("/s/"+serverA+"/p/mkt/consent", form)
		loc, _ := url.QueryUnescape(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/s/"+serverA+"/p/mkt/consent?") || !strings.Contains(loc, "nothing was approved") {
			t.Fatalf("stale consent %v: %d to %q, want the consent page again", form, resp.StatusCode, loc)
		}
		if st, _ := env.eng.PluginState(env.ctx, serverA, "mkt"); st.Enabled {
			t.Fatal("enabled by a stale consent")
		}
		if vs, err := env.eng.ServerVersion(env.ctx, serverA, "mkt"); err != nil || slices.Contains(vs.Approved, "discord:send_messages") {
			t.Fatalf("a capability the page never showed was approved: %+v %v", vs, err)
		}
	}
	// The page now shows 1.1.0 and its new capability; that post approves.
	shown = consentShown(t, alice, serverA, "mkt")
	if shown.Get("version") != "1.1.0" {
		t.Fatalf("consent page after the update shows %q, want 1.1.0", shown.Get("version"))
	}
	if resp, _ := alice.postForm("/s/"+serverA+"/p/mkt/consent", shown); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	st, _ := env.eng.PluginState(env.ctx, serverA, "mkt")
	vs, _ := env.eng.ServerVersion(env.ctx, serverA, "mkt")
	if !st.Enabled || vs.Running != "1.1.0" || !slices.Contains(vs.Approved, "discord:send_messages") {
		t.Fatalf("after consent to 1.1.0: enabled %v, %+v", st.Enabled, vs)
	}
}

// TestPerServerShown: a plugin whose manifest asks for one instance per
// server (its memory multiplied by its servers, attack F7) says so in the
// catalogue and on the consent page; others do not.
func TestPerServerShown(t *testing.T) {
	env := newEnv(t)
	admin := env.admin()
	for _, id := range []string{"hog", "lean"} {
		inst := ""
		if id == "hog" {
			inst = `, "instances": "per_server"`
		}
		files := map[string]string{
			"manifest.json": `{"id": "` + id + `", "name": "` + id + `"` + inst + `}`,
			"__main__.py":   "from maid_sdk import Plugin\nPlugin().run()\n",
		}
		if resp, body := upload(admin, zipFiles(t, files)); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("publish %s: %d %.500s", id, resp.StatusCode, body)
		}
	}
	_, cat := admin.do("GET", "/marketplace", "", nil)
	if n := strings.Count(cat, "Runs one instance per server"); n != 1 {
		t.Fatalf("catalogue shows the per-server note %d times, want once (hog): %.3000s", n, cat)
	}
	for id, want := range map[string]bool{"hog": true, "lean": false} {
		_, page := admin.do("GET", "/s/"+serverA+"/p/"+id+"/consent", "", nil)
		if got := strings.Contains(page, `id="consent-instances"`); got != want {
			t.Errorf("consent page of %s shows the per-server note: %v, want %v", id, got, want)
		}
	}
}
