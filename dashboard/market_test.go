package dashboard_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/engine"
)

// mktDescription tries the usual ways into a page through Markdown.
const mktDescription = "**Counts** messages. [docs](https://example.com/docs) " +
	"[click](javascript:window.__xss=1) <img src=x onerror=\"window.__xss=2\"> <script>window.__xss=3</script> " +
	"[data](data:text/html;base64,PHNjcmlwdD4=) <a href=\"javascript:window.__xss=4\">raw link</a>"

func tinyPNG() string {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for x := 0; x < 4; x++ {
		for y := 0; y < 4; y++ {
			img.Set(x, y, color.RGBA{200, 160, 40, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.String()
}

// mktPlugin is the marketplace test plugin: version, option n's type and
// capabilities vary.
func mktPlugin(version, optType string, caps ...string) map[string]string {
	c, _ := json.Marshal(caps)
	def := "5"
	if optType == "string" {
		def = `"five"`
	}
	desc, _ := json.Marshal(mktDescription)
	return map[string]string{
		"manifest.json": `{"id": "mkt", "name": "Market Counter", "version": "` + version + `", "author": "Acme", "script": "__main__.py",
			"description": ` + string(desc) + `, "capabilities": ` + string(c) + `,
			"options": [{"id": "n", "name": "N", "type": "` + optType + `", "default": ` + def + `}]}`,
		"__main__.py":            "from maid_sdk import Plugin\nplugin = Plugin()\n\n@plugin.on_dashboard('v')\ndef v(ctx, params):\n    return {'v': '" + version + "'}\n\nplugin.run()\n",
		"CHANGELOG.md":           "## " + version + "\n- <b>changes</b> [x](javascript:window.__xss=5)\n",
		"assets/icon.png":        tinyPNG(),
		"assets/screenshot1.png": tinyPNG(),
	}
}

func runningVersion(t *testing.T, env *testEnv, server, plugin string) string {
	t.Helper()
	st, err := env.eng.PluginState(env.ctx, server, plugin)
	if err != nil {
		t.Fatal(err)
	}
	return st.Version
}

// TestMarketAuthorization: a manager acts only on the servers they manage
// (consent, versions, rollback, pin on another server: 403); only admins
// and trusted publishers publish; enabling asks for consent first; the
// audit log shows a manager only their servers' entries.
func TestMarketAuthorization(t *testing.T) {
	env := newEnvOpts(t, envOptions{config: func(c *dashboard.Config) { c.Publishers = []string{dave.ID} }})
	admin := env.admin()
	if resp, body := upload(admin, zipFiles(t, mktPlugin("1.0.0", "number", "storage:kv"))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin publishes: %d %.500s", resp.StatusCode, body)
	}
	alice := env.signIn(alice)
	// Not a publisher.
	if resp, _ := upload(alice, zipFiles(t, mktPlugin("1.0.1", "number", "storage:kv"))); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a manager publishes: %d, want 403", resp.StatusCode)
	}
	// A trusted publisher may (and manages no server).
	d := env.signIn(dave)
	if resp, body := upload(d, zipFiles(t, mktPlugin("1.0.1", "number", "storage:kv"))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a trusted publisher publishes: %d %.500s", resp.StatusCode, body)
	}

	// Server B is not alice's.
	for _, tc := range []struct {
		name, method, path string
		form               url.Values
	}{
		{"consent page", "GET", "/s/" + serverB + "/p/mkt/consent", nil},
		{"consent", "POST", "/s/" + serverB + "/p/mkt/consent", url.Values{}},
		{"versions page", "GET", "/s/" + serverB + "/p/mkt/versions", nil},
		{"rollback", "POST", "/s/" + serverB + "/p/mkt/version/rollback", url.Values{}},
		{"pin", "POST", "/s/" + serverB + "/p/mkt/version/pin", url.Values{"version": {"1.0.0"}}},
		{"follow", "POST", "/s/" + serverB + "/p/mkt/version/follow", url.Values{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.method == "GET" {
				resp, _ = alice.do("GET", tc.path, "", nil)
			} else {
				resp, _ = alice.postForm(tc.path, tc.form)
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s %s by a manager of another server: %d, want 403", tc.method, tc.path, resp.StatusCode)
			}
		})
	}
	if st, _ := env.eng.PluginState(env.ctx, serverB, "mkt"); st.Enabled {
		t.Fatal("alice enabled mkt on a server she does not manage")
	}
	vs, err := env.eng.ServerVersion(env.ctx, serverB, "mkt")
	if err != nil || vs.Pinned {
		t.Fatalf("server B's version state changed: %+v %v", vs, err)
	}

	// Enabling goes through consent.
	resp, _ := alice.postForm("/s/"+serverA+"/p/mkt/enabled", url.Values{"enabled": {"true"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/s/"+serverA+"/p/mkt/consent" {
		t.Fatalf("enable without consent: %d to %q, want the consent page", resp.StatusCode, loc)
	}
	if st, _ := env.eng.PluginState(env.ctx, serverA, "mkt"); st.Enabled {
		t.Fatal("enabled before its capabilities were shown")
	}
	_, page := alice.do("GET", "/s/"+serverA+"/p/mkt/consent", "", nil)
	if !strings.Contains(page, "Store its own data for your server") {
		t.Fatalf("consent page lacks the capability in plain words: %.2000s", page)
	}
	if resp, _ := alice.postForm("/s/"+serverA+"/p/mkt/consent", consentShown(t, alice, serverA, "mkt")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	if st, _ := env.eng.PluginState(env.ctx, serverA, "mkt"); !st.Enabled {
		t.Fatal("not enabled after consent")
	}
	// An admin acts on B.
	if resp, _ := admin.postForm("/s/"+serverB+"/p/mkt/consent", consentShown(t, admin, serverB, "mkt")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin consent on B: %d", resp.StatusCode)
	}

	// Audit: alice sees A's entries only; the admin sees B's and publishes.
	_, mine := alice.do("GET", "/audit", "", nil)
	_, all := admin.do("GET", "/audit", "", nil)
	if !strings.Contains(mine, `data-action="approve" data-server="`+serverA+`"`) || !strings.Contains(mine, "user:"+aliceID()) {
		t.Fatalf("alice's audit log lacks her approval on A: %.3000s", mine)
	}
	if strings.Contains(mine, `data-server="`+serverB+`"`) || strings.Contains(mine, `data-action="publish"`) {
		t.Fatalf("alice's audit log shows entries of servers she does not manage: %.3000s", mine)
	}
	if !strings.Contains(all, `data-action="approve" data-server="`+serverB+`"`) || !strings.Contains(all, `data-action="publish"`) {
		t.Fatalf("the admin's audit log lacks B's approval or the publish: %.3000s", all)
	}
	entries, _ := env.eng.Audit(env.ctx, engine.AuditQuery{All: true})
	var publishers []string
	for _, e := range entries {
		if e.Action == "publish" && e.PluginID == "mkt" {
			publishers = append(publishers, e.Actor)
		}
	}
	if len(publishers) != 2 || !strings.Contains(publishers[0], dave.ID) || publishers[1] != "admin" {
		t.Fatalf("publish actors %v", publishers)
	}
}

func aliceID() string { return alice.ID }

// TestMarketUploadChecks: a package that cannot start is refused with its
// traceback on the page; spec 004's example uploads as written, with a
// derived version and the .py warning.
func TestMarketUploadChecks(t *testing.T) {
	env := newEnv(t)
	admin := env.admin()
	spec004 := `{
  "id": "my_example",
  "name": "Example Plugin",
  "script": "script.js",
  "options": [
    {"id": "my_checkbox", "name": "Example checkbox", "description": "Enable if you like checkboxes.", "type": "bool", "default": false},
    {"id": "my_textbox", "name": "Example textbox", "description": "Enter your favorite word.", "type": "string", "default": ""},
    {"id": "my_number", "name": "Example number input", "description": "Specify your favorite number.", "type": "number", "default": 50, "min": 0, "max": 100},
    {"id": "my_dropdown", "name": "Example dropdown", "description": "Choose your preferred color.", "type": "select", "default": "red",
     "choices": [{"id": "red", "name": "Red"}, {"id": "yellow", "name": "Yellow"}, {"id": "green", "name": "Green"}, {"id": "blue", "name": "Blue"}]}
  ]
}`
	resp, body := upload(admin, zipFiles(t, map[string]string{"plugin.json": spec004, "script.js": "function onEvent(e) { return 1; }\n"}))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "SyntaxError") || !strings.Contains(body, `id="upload-output"`) {
		t.Fatalf("JavaScript upload: %d, want 422 with the SyntaxError traceback: %.3000s", resp.StatusCode, body)
	}
	if _, ok := env.eng.Plugin("my_example"); ok {
		t.Fatal("a plugin that cannot start was installed")
	}
	resp, _ = upload(admin, zipFiles(t, map[string]string{"plugin.json": spec004, "script.js": "from maid_sdk import Plugin\nPlugin().run()\n"}))
	loc, _ := url.QueryUnescape(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "Published Example Plugin 0+sha.") || !strings.Contains(loc, "not a .py file") {
		t.Fatalf("spec 004's example: %d %q", resp.StatusCode, loc)
	}
}
