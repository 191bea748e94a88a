package dashboard_test

import (
	"bytes"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/internal/plugintest"
	"github.com/maidhq/maid/plugin"
)

// Regression tests of the marketplace and dashboard findings of attack Q2:
// the versions page must not load stored versions nor render unbounded
// Markdown; a publisher must not replay an old signed version; the iframe
// gate, approvals and widgets follow the version a server runs.

// gatePlugin is a plugin whose version 1.0.0 has an iframe dashboard
// (dashboard/index.html) and whose later versions have none.
func gatePlugin(version string, iframe bool) map[string]string {
	files := map[string]string{
		"manifest.json": `{"id": "gate", "name": "Gate", "version": "` + version + `", "author": "Acme", "script": "__main__.py",
			"capabilities": ["storage:kv"]}`,
		"__main__.py": "from maid_sdk import Plugin\nplugin = Plugin()\n\n@plugin.on_dashboard('secret')\ndef secret(ctx, params):\n    return {'secret': 'v" + version + "'}\n\nplugin.run()\n",
	}
	if iframe {
		files["dashboard/index.html"] = "<!doctype html><title>gate</title><p>gate</p>\n"
	}
	return files
}

// gateInstalled publishes gate 1.0.0 (an iframe dashboard) as the admin,
// and has alice, a manager of server A, consent to it there.
func gateInstalled(t *testing.T, env *testEnv) (admin, mgr *client) {
	t.Helper()
	admin = env.admin()
	if resp, body := upload(admin, zipFiles(t, gatePlugin("1.0.0", true))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.0.0: %d %.500s", resp.StatusCode, body)
	}
	mgr = env.signIn(alice)
	if resp, _ := mgr.postForm("/s/"+serverA+"/p/gate/consent", consentShown(t, mgr, serverA, "gate")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	return admin, mgr
}

// TestIframeGateFollowsRunningVersion guards that the host/ bridge and rpc
// of an iframe dashboard are gated on the package of the version the
// server RUNS (whose handlers the engine calls), not the latest: with
// iframe dashboards off, a server rolled back to an older iframe-mode
// version (the latest has no iframe) must not reach that version's bridge
// or handlers (attack Q2).
func TestIframeGateFollowsRunningVersion(t *testing.T) {
	env := newEnvOpts(t, envOptions{iframes: dashboard.IframeOff})
	admin, mgr := gateInstalled(t, env)
	q := "?discord_srv_id=" + serverA
	if resp, body := mgr.postJSON("/p/gate/dashboard/host/kv.set"+q, `{"key": "k", "value": 1}`); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("baseline: bridge of 1.0.0 with iframes off: %d %.200s, want 403", resp.StatusCode, body)
	}
	// 1.1.0 has no iframe dashboard; server A moves to it, then rolls back.
	if resp, body := upload(admin, zipFiles(t, gatePlugin("1.1.0", false))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.1.0: %d %.500s", resp.StatusCode, body)
	}
	if resp, body := mgr.postForm("/s/"+serverA+"/p/gate/version/rollback", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rollback: %d %.300s", resp.StatusCode, body)
	}
	if v := runningVersion(t, env, serverA, "gate"); v != "1.0.0" {
		t.Fatalf("server A runs %s after rollback, want 1.0.0", v)
	}
	if _, page := mgr.do("GET", "/s/"+serverA+"/p/gate", "", nil); !strings.Contains(page, `id="frame-blocked" data-reason="off"`) {
		t.Errorf("server A's page (1.0.0, iframe mode) does not say iframe dashboards are off: %.2000s", page)
	}
	for _, path := range []string{"/p/gate/assets/index.html", "/p/gate/v/1.0.0/assets/index.html"} {
		if resp, page := mgr.do("GET", path, "", nil); resp.StatusCode == http.StatusOK {
			t.Errorf("%s is served with iframes off: %.200s", path, page)
		}
	}
	for _, path := range []string{"/p/gate/dashboard/host/kv.set" + q, "/p/gate/dashboard/rpc/secret" + q} {
		if resp, body := mgr.postJSON(path, `{"key": "k", "value": 1}`); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with iframe dashboards off, server on the iframe-mode 1.0.0: %d %.200s, want 403 not_approved", path, resp.StatusCode, body)
		}
	}
	if v, found := env.kvGet("gate", serverA, "k"); found {
		t.Errorf("the bridge of an iframe that is not served wrote KV: k=%s", v)
	}
}

// TestIframeApprovalCoversOnlyItsVersion guards that an admin's approval
// of an iframe dashboard opens the version it was given for only: an
// approval of the latest (1.1.0, asking for a new capability) does not
// open the bridge or handlers of the never-approved 1.0.0 that server A
// still runs; the approval form on server A's page approves the version A
// runs (its digest, not refused as stale), and A's iframe then loads that
// version's own document (attack Q2).
func TestIframeApprovalCoversOnlyItsVersion(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	admin, mgr := gateInstalled(t, env)
	q := "?discord_srv_id=" + serverA
	if resp, _ := mgr.postJSON("/p/gate/dashboard/rpc/secret"+q, `{}`); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("baseline: unapproved 1.0.0's rpc: %d, want 403", resp.StatusCode)
	}
	v2 := gatePlugin("1.1.0", true)
	v2["manifest.json"] = strings.Replace(v2["manifest.json"], `["storage:kv"]`, `["storage:kv", "storage:sql"]`, 1)
	if resp, body := upload(admin, zipFiles(t, v2)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.1.0: %d %.500s", resp.StatusCode, body)
	}
	if v := runningVersion(t, env, serverA, "gate"); v != "1.0.0" {
		t.Fatalf("server A runs %s, want 1.0.0 (1.1.0 waits for consent)", v)
	}
	// The admin approves 1.1.0 from its page on server B, which runs it.
	if resp, _ := admin.postForm("/s/"+serverB+"/p/gate/consent", consentShown(t, admin, serverB, "gate")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin consent on B: %d", resp.StatusCode)
	}
	approve := func(server string) {
		t.Helper()
		_, page := admin.do("GET", "/s/"+server+"/p/gate", "", nil)
		m := digestRe.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no approval form on gate's page on server %s: %.2000s", server, page)
		}
		if resp, body := admin.postForm("/plugins/gate/dashboard-approval", url.Values{"approve": {"true"}, "digest": {m[1]}, "server": {server}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve gate from server %s's page: %d %.300s", server, resp.StatusCode, body)
		}
	}
	approve(serverB)
	for _, path := range []string{"/p/gate/dashboard/rpc/secret" + q, "/p/gate/dashboard/host/kv.set" + q} {
		if resp, body := mgr.postJSON(path, `{"key": "k", "value": 1}`); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: server A runs the never-approved 1.0.0, the approval was for 1.1.0: %d %.200s, want 403 not_approved", path, resp.StatusCode, body)
		}
	}
	// Approving from server A's page approves 1.0.0, the version A runs.
	approve(serverA)
	resp, body := mgr.postJSON("/p/gate/dashboard/rpc/secret"+q, `{}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "v1.0.0") {
		t.Errorf("1.0.0's rpc on server A after its approval: %d %.200s, want 200 from 1.0.0", resp.StatusCode, body)
	}
	_, page := mgr.do("GET", "/s/"+serverA+"/p/gate", "", nil)
	if !strings.Contains(page, `src="/p/gate/v/1.0.0/assets/index.html"`) {
		t.Errorf("server A's iframe is not 1.0.0's document: %.2000s", page)
	}
	if resp, _ := mgr.do("GET", "/p/gate/v/1.0.0/assets/index.html", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("1.0.0's approved iframe document: %d, want 200", resp.StatusCode)
	}
	// No version that is not loaded is unpacked to answer an asset request.
	if resp, _ := mgr.do("GET", "/p/gate/v/9.9.9/assets/index.html", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an asset of a version not loaded: %d, want 404", resp.StatusCode)
	}
}

// TestVersionsPageLoadsNoPackage guards that the versions page reads only
// the store: showing a plugin's history (changelogs included) extracts,
// verifies or spawns no stored version, and it shows versionsPageSize
// (10) versions a page with an "Older versions" link (attack Q2).
func TestVersionsPageLoadsNoPackage(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	admin := env.admin()
	var versions []string
	for i := 0; i < 12; i++ {
		v := fmt.Sprintf("1.0.%d", i)
		versions = append(versions, v)
		if resp, body := upload(admin, zipFiles(t, mktPlugin(v, "number", "storage:kv"))); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("publish %s: %d %.500s", v, resp.StatusCode, body)
		}
	}
	latest, ok := env.eng.Plugin("mkt")
	if !ok {
		t.Fatal("mkt not installed")
	}
	pluginsDir := filepath.Dir(latest.Dir)
	// What a restarted maid has on disk: the latest version's files only.
	unpacked := func() []string {
		ents, err := os.ReadDir(pluginsDir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "mkt-") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	for _, d := range unpacked() {
		if filepath.Join(pluginsDir, d) != latest.Dir {
			if err := os.RemoveAll(filepath.Join(pluginsDir, d)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mgr := env.signIn(alice)
	resp, page := mgr.do("GET", "/s/"+serverA+"/p/mkt/versions", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("versions page: %d %.300s", resp.StatusCode, page)
	}
	for i, v := range versions {
		if shown := strings.Contains(page, `data-version="`+v+`"`); shown != (i >= 2) {
			t.Errorf("first page: %s shown %v, want the 10 newest", v, shown)
		}
	}
	if !strings.Contains(page, "<h2>1.0.11</h2>") || strings.Contains(page, "__xss") {
		t.Errorf("first page: 1.0.11's changelog missing or unsanitized: %.3000s", page)
	}
	m := regexp.MustCompile(`href="(/s/[^"]+/versions\?before=\d+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no link to older versions: %.3000s", page)
	}
	resp, page = mgr.do("GET", html.UnescapeString(m[1]), "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("older versions: %d %.300s", resp.StatusCode, page)
	}
	for i, v := range versions {
		if shown := strings.Contains(page, `data-version="`+v+`"`); shown != (i < 2) {
			t.Errorf("second page: %s shown %v, want the 2 oldest", v, shown)
		}
	}
	if strings.Contains(page, "?before=") || !strings.Contains(page, "<h2>1.0.0</h2>") {
		t.Errorf("second page: an older link, or 1.0.0's changelog missing: %.3000s", page)
	}
	if got := unpacked(); len(got) != 1 {
		t.Errorf("viewing the versions pages unpacked %d stored versions no server runs: %v", len(got)-1, got)
	}
}

// TestPublishReplayOfOldVersion guards that an old signed version, once
// pruned from the history, cannot be published again by a trusted
// publisher who does not hold the plugin's key: force (a lower version)
// is an admin's, audited, and the record of every (id, version) ever
// published refuses a version published before, even a higher one,
// unless an admin forces it (attack Q2). The steps run in order on one
// history of MaxVersionsKept+2 signed versions.
func TestPublishReplayOfOldVersion(t *testing.T) {
	priv, _, err := plugin.GenerateKey("acme")
	if err != nil {
		t.Fatal(err)
	}
	env := newEnvOpts(t, envOptions{config: func(c *dashboard.Config) { c.Publishers = []string{dave.ID} }})
	admin := env.admin()
	zips := map[string][]byte{}
	last := ""
	for i := 0; i <= engine.MaxVersionsKept+1; i++ {
		last = fmt.Sprintf("1.0.%d", i)
		zips[last] = plugintest.Sign(t, mktPlugin(last, "number", "storage:kv"), priv)
		if resp, body := upload(admin, zips[last]); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("publish %s: %d %.500s", last, resp.StatusCode, body)
		}
	}
	mgr := env.signIn(alice)
	if resp, _ := mgr.postForm("/s/"+serverA+"/p/mkt/consent", consentShown(t, mgr, serverA, "mkt")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	d := env.signIn(dave)
	post := func(c *client, archive []byte, force bool) (*http.Response, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("_csrf", c.csrf)
		if force {
			mw.WriteField("force", "1")
		}
		fw, _ := mw.CreateFormFile("archive", "mkt.zip")
		fw.Write(archive)
		mw.Close()
		return c.do("POST", "/marketplace/upload", mw.FormDataContentType(), &b)
	}
	steps := []struct {
		name       string
		by         *client
		version    string
		force      bool
		wantStatus int
		wantBody   string // in the answer (refusals)
		wantLatest string
	}{
		{"a publisher may not force", d, "1.0.0", true, http.StatusForbidden, "only an admin may publish with force", last},
		{"a publisher's lower version is refused", d, "1.0.0", false, http.StatusUnprocessableEntity, "lower than the latest", last},
		{"an admin forces the replay", admin, "1.0.0", true, http.StatusSeeOther, "", "1.0.0"},
		// 1.0.1 (higher than the latest now) dropped out of the history
		// when the admin published: the record still refuses it.
		{"a publisher replays a pruned higher version", d, "1.0.1", false, http.StatusUnprocessableEntity, "was published before", "1.0.0"},
		{"an admin replays it without force", admin, "1.0.1", false, http.StatusUnprocessableEntity, "was published before", "1.0.0"},
	}
	for _, st := range steps {
		resp, body := post(st.by, zips[st.version], st.force)
		if resp.StatusCode != st.wantStatus || !strings.Contains(html.UnescapeString(body), st.wantBody) {
			t.Errorf("%s: %d %.300s, want %d with %q", st.name, resp.StatusCode, body, st.wantStatus, st.wantBody)
		}
		if p, _ := env.eng.Plugin("mkt"); p.Manifest.Version != st.wantLatest {
			t.Errorf("%s: the latest is %s, want %s", st.name, p.Manifest.Version, st.wantLatest)
		}
		if v := runningVersion(t, env, serverA, "mkt"); v != st.wantLatest {
			t.Errorf("%s: server A, following the latest, runs %s, want %s", st.name, v, st.wantLatest)
		}
	}
	entries, err := env.eng.Audit(env.ctx, engine.AuditQuery{All: true, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || e.Action == "publish" && e.Version == "1.0.0" && e.Actor == "admin" &&
			strings.Contains(e.Detail, "forced: lower than "+last+", republishes a version published before")
	}
	if !found {
		t.Errorf("the admin's forced republish is not audited as forced: %+v", entries)
	}
}

// TestVersionsPageChangelogBounded guards that a changelog's Markdown is
// rendered from at most 8 KiB (with a note saying so) and once, not on
// every view: 5 changelogs of 64 KiB of "[a](" (about 2 s of goldmark CPU
// each when rendered whole) cost well under 2 s, and a second view far
// less (attack Q2).
func TestVersionsPageChangelogBounded(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	admin := env.admin()
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"} {
		files := mktPlugin(v, "number", "storage:kv")
		files["CHANGELOG.md"] = strings.Repeat("[a](", plugin.MaxChangelogBytes/4)
		if resp, body := upload(admin, zipFiles(t, files)); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("publish %s: %d %.500s", v, resp.StatusCode, body)
		}
	}
	mgr := env.signIn(alice)
	for _, view := range []struct {
		name string
		max  time.Duration
	}{{"first view", 2 * time.Second}, {"second view (cached)", 500 * time.Millisecond}} {
		start := time.Now()
		resp, page := mgr.do("GET", "/s/"+serverA+"/p/mkt/versions", "", nil)
		took := time.Since(start)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: versions page: %d %.300s", view.name, resp.StatusCode, page)
		}
		if took > view.max {
			t.Errorf("%s of the versions page took %v rendering 5 changelogs of 64 KiB, want under %v", view.name, took, view.max)
		}
		if n := strings.Count(page, "Showing the first 8 KiB of the changelog."); n != 5 {
			t.Errorf("%s: %d changelogs say they are cut, want 5", view.name, n)
		}
	}
}
