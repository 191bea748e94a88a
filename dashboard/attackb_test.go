package dashboard_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

// Attack B (hostile browser visitors, package authors, plugin
// dashboards): each test asserts the secure behaviour and fails on the
// code it was written against.

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

// TestAttackB_BridgeGateFollowsRunningVersion: the dashboard decides
// whether an iframe dashboard's bridge (host/ and rpc) is open from the
// plugin's LATEST package (frameServed: s.eng.Plugin(id)), but the engine
// serves the version the server RUNS (engine.supFor). A manager whose
// server runs an older, iframe-mode version while the latest has no
// iframe (rolled back, pinned, or kept there pending consent) reaches the
// old version's bridge and handlers although iframe dashboards are off
// (or that version was never approved): the gate "the host/ bridge and
// rpc of an iframe-mode plugin answer 403 not_approved exactly when its
// iframe is not served" does not hold.
func TestAttackB_BridgeGateFollowsRunningVersion(t *testing.T) {
	env := newEnvOpts(t, envOptions{iframes: dashboard.IframeOff})
	admin := env.admin()
	if resp, body := upload(admin, zipFiles(t, gatePlugin("1.0.0", true))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.0.0: %d %.500s", resp.StatusCode, body)
	}
	mgr := env.signIn(alice)
	if resp, _ := mgr.postForm("/s/"+serverA+"/p/gate/consent", consentShown(t, mgr, serverA, "gate")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	q := "?discord_srv_id=" + serverA
	// Baseline: with iframe dashboards off, 1.0.0's bridge is closed.
	if resp, body := mgr.postJSON("/p/gate/dashboard/host/kv.set"+q, `{"key": "k", "value": 1}`); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("baseline: bridge of 1.0.0 with iframes off: %d %.200s, want 403", resp.StatusCode, body)
	}
	// 1.1.0 has no iframe dashboard; server A moves to it, then its manager
	// rolls back to 1.0.0.
	if resp, body := upload(admin, zipFiles(t, gatePlugin("1.1.0", false))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.1.0: %d %.500s", resp.StatusCode, body)
	}
	if v := runningVersion(t, env, serverA, "gate"); v != "1.1.0" {
		t.Fatalf("server A runs %s, want 1.1.0", v)
	}
	if resp, body := mgr.postForm("/s/"+serverA+"/p/gate/version/rollback", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rollback: %d %.300s", resp.StatusCode, body)
	}
	if v := runningVersion(t, env, serverA, "gate"); v != "1.0.0" {
		t.Fatalf("server A runs %s after rollback, want 1.0.0", v)
	}
	// Its page shows no iframe (the operator turned them off) ...
	if resp, page := mgr.do("GET", "/p/gate/assets/index.html", "", nil); resp.StatusCode == http.StatusOK {
		t.Fatalf("the iframe document is served with iframes off: %.200s", page)
	}
	// ... so its bridge and handlers must stay closed.
	for _, path := range []string{"/p/gate/dashboard/host/kv.set" + q, "/p/gate/dashboard/rpc/secret" + q} {
		resp, body := mgr.postJSON(path, `{"key": "k", "value": 1}`)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with iframe dashboards off, server on the iframe-mode 1.0.0: %d %.200s, want 403 not_approved", path, resp.StatusCode, body)
		}
	}
	if v, found := env.kvGet("gate", serverA, "k"); found {
		t.Errorf("the bridge of an iframe that is not served wrote KV: k=%s", v)
	}
}

// TestAttackB_VersionsPageUnpacksHistory: GET /s/{server}/p/{plugin}/versions
// (any manager of any server, for any installed plugin) renders every
// version's changelog through Market.VersionPackage, which for each
// version but the latest runs engine.versionSup: the stored archive is
// extracted to disk again (up to 50 MiB unpacked each, MaxVersionsKept =
// 50 versions), hashed for its signature, loaded, and a supervisor is
// spawned and kept until the next pruneOld, which the same manager
// triggers with a POST .../version/follow. There is no single-flight
// either: concurrent views extract concurrently. So one page view costs up
// to ~2.5 GB of extraction and hashing, repeatable at will. A page view
// should not extract, verify or spawn versions no server runs.
func TestAttackB_VersionsPageUnpacksHistory(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	admin := env.admin()
	versions := []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"}
	for _, v := range versions {
		if resp, body := upload(admin, zipFiles(t, mktPlugin(v, "number", "storage:kv"))); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("publish %s: %d %.500s", v, resp.StatusCode, body)
		}
	}
	latest, ok := env.eng.Plugin("mkt")
	if !ok {
		t.Fatal("mkt not installed")
	}
	pluginsDir := filepath.Dir(latest.Dir)
	// What a restarted maid (or a node that synced the latest) has on disk:
	// the latest version's files only.
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
	if got := unpacked(); len(got) != 1 {
		t.Fatalf("setup: %v", got)
	}
	// alice manages server A, where mkt is not even enabled: the page is
	// open to any manager of any server.
	mgr := env.signIn(alice)
	resp, page := mgr.do("GET", "/s/"+serverA+"/p/mkt/versions", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("versions page: %d %.300s", resp.StatusCode, page)
	}
	if got := unpacked(); len(got) != 1 {
		t.Errorf("one view of the versions page extracted %d stored versions no server runs (%v): each is up to 50 MiB unpacked, hashed and given a supervisor, for up to %d versions per view",
			len(got)-1, got, 50)
	}
}

// signedZip packs files signed with the private key priv (plugin keygen's
// file format).
func signedZip(t *testing.T, files map[string]string, priv []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pkg, err := plugin.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := plugin.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pkg.Sign(key, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAttackB_PublisherReplaysPrunedSignedVersion: the history keeps the
// newest engine.MaxVersionsKept (50) versions; once a signed version has
// dropped out of it, nothing remembers it was ever published. Any trusted
// publisher (--publishers, not an admin, not the plugin's signer) who has
// a copy of that old signed zip uploads it with "allow a lower version"
// (Force, open to every publisher): the signer binding passes (it is the
// plugin's own key), the history check passes (pruned), and the old
// version, with whatever bug it was replaced for, becomes the latest that
// every server following the latest runs at once, without consent (its
// capabilities are not new). Replay of an old signed package by someone
// other than its signer should be refused: only an admin forcing it, or a
// record of every (id, version, hash) ever published.
func TestAttackB_PublisherReplaysPrunedSignedVersion(t *testing.T) {
	priv, _, err := plugin.GenerateKey("acme")
	if err != nil {
		t.Fatal(err)
	}
	env := newEnvOpts(t, envOptions{config: func(c *dashboard.Config) { c.Publishers = []string{dave.ID} }})
	admin := env.admin()
	old := signedZip(t, mktPlugin("1.0.0", "number", "storage:kv"), priv)
	if resp, body := upload(admin, old); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.0.0: %d %.500s", resp.StatusCode, body)
	}
	const n = engine.MaxVersionsKept + 1
	last := ""
	for i := 1; i <= n; i++ {
		last = fmt.Sprintf("1.0.%d", i)
		if resp, body := upload(admin, signedZip(t, mktPlugin(last, "number", "storage:kv"), priv)); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("publish %s: %d %.500s", last, resp.StatusCode, body)
		}
	}
	vs, err := env.eng.Versions(env.ctx, "mkt")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Version == "1.0.0" {
			t.Fatalf("setup: 1.0.0 still in the history of %d versions", len(vs))
		}
	}
	mgr := env.signIn(alice)
	if resp, _ := mgr.postForm("/s/"+serverA+"/p/mkt/consent", consentShown(t, mgr, serverA, "mkt")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	if v := runningVersion(t, env, serverA, "mkt"); v != last {
		t.Fatalf("server A runs %s, want %s", v, last)
	}
	// dave, a trusted publisher who does not hold acme's key, replays the
	// old signed zip.
	d := env.signIn(dave)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("_csrf", d.csrf)
	mw.WriteField("force", "1")
	fw, _ := mw.CreateFormFile("archive", "mkt-1.0.0.zip")
	fw.Write(old)
	mw.Close()
	resp, body := d.do("POST", "/marketplace/upload", mw.FormDataContentType(), &b)
	if resp.StatusCode == http.StatusSeeOther {
		loc, _ := url.QueryUnescape(resp.Header.Get("Location"))
		t.Errorf("a publisher replayed acme's old signed 1.0.0 over %s: %d %q", last, resp.StatusCode, loc)
	} else if !strings.Contains(body, "1.0.0") {
		t.Logf("refused: %d %.300s", resp.StatusCode, body)
	}
	if p, _ := env.eng.Plugin("mkt"); p.Manifest.Version != last {
		t.Errorf("the latest is now %s, want %s", p.Manifest.Version, last)
	}
	if v := runningVersion(t, env, serverA, "mkt"); v != last {
		t.Errorf("server A, following the latest, now runs the replayed %s without any manager's action, want %s", v, last)
	}
}

// TestAttackB_ApprovalCoversRunningVersion: in approve mode (the
// default) an admin's approval is the digest of the LATEST package, and
// frameServed opens the bridge and rpc on it, but the calls reach the
// handlers of the version each server RUNS. 1.0.0 was never approved (its
// handler answers what the admin would not let a page send on); 1.1.0
// asks for a new capability, so server A keeps running 1.0.0 until a
// manager consents; the admin reviews and approves 1.1.0. From then on
// server A's iframe (1.1.0's page) and a direct POST reach 1.0.0's
// unapproved handler and bridge. An approval should open only the
// version it was given for (check the digest of the running version's
// package, per server).
func TestAttackB_ApprovalCoversRunningVersion(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	admin := env.admin()
	v1 := gatePlugin("1.0.0", true)
	if resp, body := upload(admin, zipFiles(t, v1)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.0.0: %d %.500s", resp.StatusCode, body)
	}
	mgr := env.signIn(alice)
	if resp, _ := mgr.postForm("/s/"+serverA+"/p/gate/consent", consentShown(t, mgr, serverA, "gate")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
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
	// The admin enables 1.1.0 on server B, reviews it and approves it from
	// its page there.
	if resp, _ := admin.postForm("/s/"+serverB+"/p/gate/consent", consentShown(t, admin, serverB, "gate")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin consent on B: %d", resp.StatusCode)
	}
	_, page := admin.do("GET", "/s/"+serverB+"/p/gate", "", nil)
	m := digestRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no approval form on gate's page on server B: %.2000s", page)
	}
	if resp, body := admin.postForm("/plugins/gate/dashboard-approval", url.Values{"approve": {"true"}, "digest": {m[1]}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve 1.1.0: %d %.300s", resp.StatusCode, body)
	}
	for _, path := range []string{"/p/gate/dashboard/rpc/secret" + q, "/p/gate/dashboard/host/kv.set" + q} {
		resp, body := mgr.postJSON(path, `{"key": "k", "value": 1}`)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: server A runs the never-approved 1.0.0, the approval was for 1.1.0: %d %.200s, want 403 not_approved", path, resp.StatusCode, body)
		}
	}
}

// TestAttackB_ChangelogMarkdownCost: a package's CHANGELOG.md (at most
// 64 KiB, plugin.MaxChangelogBytes) is rendered by goldmark on every view
// of the versions page, once per version in the history (up to 50), with
// no cache and no time bound. 16,384 repeats of "[a](" (64 KiB) take
// goldmark about 2 s of CPU (quadratic: 900 KB took 6 min 49 s), so a
// publisher's history of 50 such changelogs costs ~100 s of CPU per GET,
// which any manager of any server can send repeatedly and concurrently.
// Here 5 versions: the page should answer in well under 2 s.
func TestAttackB_ChangelogMarkdownCost(t *testing.T) {
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
	start := time.Now()
	resp, page := mgr.do("GET", "/s/"+serverA+"/p/mkt/versions", "", nil)
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("versions page: %d %.300s", resp.StatusCode, page)
	}
	if took > 2*time.Second {
		t.Errorf("one view of the versions page took %v of rendering 5 changelogs of 64 KiB (50 versions: ~20x that, per request)", took)
	}
}
