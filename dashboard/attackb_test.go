package dashboard_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maidhq/maid/dashboard"
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
