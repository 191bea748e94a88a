package dashboard_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/maidhq/maid/plugin"
)

func TestUnauthenticatedGets401(t *testing.T) {
	env := newEnv(t)
	c := env.anonymous()
	tests := []struct {
		name, method, path string
		json               bool
	}{
		{"servers page", "GET", "/servers", false},
		{"server page", "GET", "/s/" + serverA, false},
		{"plugin page", "GET", "/s/" + serverA + "/p/widgets", false},
		{"widget fragment", "GET", "/s/" + serverA + "/p/widgets/w/overview/stat", false},
		{"marketplace", "GET", "/marketplace", false},
		{"rpc", "POST", "/p/widgets/dashboard/rpc/get_stat?discord_srv_id=" + serverA, true},
		{"bridge", "POST", "/p/widgets/dashboard/host/kv.get?discord_srv_id=" + serverA, true},
		{"api servers", "GET", "/api/servers", true},
		{"api plugins", "GET", "/api/servers/" + serverA + "/plugins", true},
		{"simulator post", "POST", "/api/servers/" + serverA + "/simulator/post", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.do(tt.method, tt.path, "application/json", strings.NewReader(`{}`))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", resp.StatusCode, body)
			}
			if tt.json {
				if code, _ := errorBody(t, body); code != "unauthenticated" {
					t.Errorf("code %q", code)
				}
			} else if !strings.Contains(body, "Sign in") || strings.Contains(body, "Widget gallery") {
				t.Errorf("want the sign-in page and no data, got %.300s", body)
			}
		})
	}
}

func TestOtherServerGets403(t *testing.T) {
	env := newEnv(t)
	c := env.signIn(alice)
	tests := []struct {
		name, method, path, body string
		json                     bool
	}{
		{"server page", "GET", "/s/" + serverB, "", false},
		{"plugin page", "GET", "/s/" + serverB + "/p/widgets", "", false},
		{"widget fragment", "GET", "/s/" + serverB + "/p/widgets/w/overview/stat", "", false},
		{"rpc", "POST", "/p/widgets/dashboard/rpc/get_stat?discord_srv_id=" + serverB, "{}", true},
		{"bridge", "POST", "/p/widgets/dashboard/host/kv.get?discord_srv_id=" + serverB, `{"key":"form"}`, true},
		{"api plugins", "GET", "/api/servers/" + serverB + "/plugins", "", true},
		{"simulator", "GET", "/api/servers/" + serverB + "/simulator", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.do(tt.method, tt.path, "application/json", strings.NewReader(tt.body), "X-CSRF-Token", c.csrf)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", resp.StatusCode, body)
			}
			if tt.json {
				if code, _ := errorBody(t, body); code != "forbidden" {
					t.Errorf("code %q", code)
				}
			}
			if strings.Contains(body, "1234") || strings.Contains(body, "Widget gallery") {
				t.Errorf("403 leaked data: %.300s", body)
			}
		})
	}
	t.Run("form post", func(t *testing.T) {
		resp, _ := c.postForm("/s/"+serverB+"/p/widgets/enabled", url.Values{"enabled": {"false"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if st, _ := env.eng.PluginState(env.ctx, serverB, "widgets"); !st.Enabled {
			t.Fatal("a 403 request changed server B")
		}
	})
	t.Run("server list", func(t *testing.T) {
		_, body := c.do("GET", "/api/servers", "", nil)
		if !strings.Contains(body, serverA) || strings.Contains(body, serverB) {
			t.Fatalf("alice must see A only: %s", body)
		}
		_, body = env.signIn(dave).do("GET", "/api/servers", "", nil)
		if body != `{"servers":[]}`+"\n" {
			t.Fatalf("dave manages nothing: %s", body)
		}
		_, body = env.admin().do("GET", "/api/servers", "", nil)
		if !strings.Contains(body, serverA) || !strings.Contains(body, serverB) {
			t.Fatalf("admin sees all: %s", body)
		}
	})
}

func TestCSRF(t *testing.T) {
	env := newEnv(t)
	c := env.signIn(alice)
	rpc := "/p/widgets/dashboard/rpc/get_stat?discord_srv_id=" + serverA
	tests := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"no token", nil, http.StatusForbidden},
		{"wrong token", []string{"X-CSRF-Token", "nope"}, http.StatusForbidden},
		{"foreign origin", []string{"X-CSRF-Token", c.csrf, "Origin", "https://evil.example"}, http.StatusForbidden},
		{"good token", []string{"X-CSRF-Token", c.csrf}, http.StatusOK},
		{"good token and origin", []string{"X-CSRF-Token", c.csrf, "Origin", env.srv.URL}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.do("POST", rpc, "application/json", strings.NewReader("{}"), tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == http.StatusForbidden {
				if code, _ := errorBody(t, body); code != "csrf" {
					t.Errorf("code %q", code)
				}
			}
		})
	}
	t.Run("form without token", func(t *testing.T) {
		resp, _ := c.do("POST", "/s/"+serverA+"/p/widgets/enabled", "application/x-www-form-urlencoded", strings.NewReader("enabled=false"))
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if st, _ := env.eng.PluginState(env.ctx, serverA, "widgets"); !st.Enabled {
			t.Fatal("request without CSRF token changed state")
		}
	})
	t.Run("another session's token", func(t *testing.T) {
		other := env.signIn(alice)
		resp, _ := c.do("POST", rpc, "application/json", strings.NewReader("{}"), "X-CSRF-Token", other.csrf)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestRPC(t *testing.T) {
	env := newEnv(t)
	c := env.signIn(alice)
	tests := []struct {
		name, path, body string
		status           int
		code, contains   string
	}{
		{"stat card", "/p/widgets/dashboard/rpc/get_stat?discord_srv_id=" + serverA, "{}", 200, "", `"value": 1234`},
		{"dashboard. prefix", "/p/widgets/dashboard/rpc/dashboard.get_stat", "", 200, "", `"change": "+12%"`},
		{"body cannot pick the server", "/p/widgets/dashboard/rpc/get_text", `{"discord_srv_id": "` + serverB + `"}`, 200, "", "content for " + serverA},
		{"unknown handler", "/p/widgets/dashboard/rpc/nope", "{}", 404, "not_found", ""},
		{"unknown plugin", "/p/nope/dashboard/rpc/get_stat", "{}", 404, "not_found", ""},
		{"bad handler name", "/p/widgets/dashboard/rpc/a-b", "{}", 400, "invalid", ""},
		{"body not an object", "/p/widgets/dashboard/rpc/get_stat", "[1]", 400, "invalid", ""},
		{"handler raises", "/p/widgets/dashboard/rpc/boom", "{}", 502, "plugin_error", "kaboom"},
		{"timeout", "/p/widgets/dashboard/rpc/slow", `{"sleep": 20}`, 504, "timeout", ""},
		{"works after the timeout", "/p/widgets/dashboard/rpc/get_stat", "{}", 200, "", `1234`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.postJSON(tt.path, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
			if tt.code != "" {
				code, msg := errorBody(t, body)
				if code != tt.code || !strings.Contains(msg, tt.contains) {
					t.Errorf("error %q %q, want %q containing %q", code, msg, tt.code, tt.contains)
				}
				return
			}
			var pretty bytes.Buffer
			json.Indent(&pretty, []byte(body), "", " ")
			if !strings.Contains(pretty.String(), tt.contains) {
				t.Errorf("body %s lacks %q", pretty.String(), tt.contains)
			}
		})
	}
	t.Run("no server selected", func(t *testing.T) {
		fresh := env.signIn(alice)
		resp, body := fresh.postJSON("/p/widgets/dashboard/rpc/get_stat", "{}")
		if code, _ := errorBody(t, body); resp.StatusCode != 400 || code != "no_server" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

func TestBridge(t *testing.T) {
	env := newEnv(t)
	c := env.signIn(alice)
	q := "?discord_srv_id=" + serverA
	tests := []struct {
		name, method, body string
		status             int
		want               string
	}{
		{"kv set", "kv.set", `{"key": "k", "value": {"a": 1}, "discord_srv_id": "` + serverB + `"}`, 200, `{}`},
		{"kv get", "kv.get", `{"key": "k"}`, 200, `{"found":true,"value":{"a":1}}`},
		{"metrics total", "metrics.total", `{"name": "messages_sent", "period": "30d"}`, 200, `{"total":0}`},
		{"discord is not allowed", "discord.send_message", `{"channel_id": "1", "content": "x"}`, 403, "capability"},
		{"metrics.increment is not allowed", "metrics.increment", `{"name": "x"}`, 403, "capability"},
		{"sql needs storage:sql", "sql.query", `{"sql": "select 1"}`, 403, "capability"},
		{"unknown method", "plugin.shutdown", `{}`, 403, "capability"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.postJSON("/p/iframe_probe/dashboard/host/"+tt.method+q, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				if code, _ := errorBody(t, body); code != tt.want {
					t.Errorf("code %q, want %q", code, tt.want)
				}
				return
			}
			if strings.TrimSpace(body) != tt.want {
				t.Errorf("body %s, want %s", body, tt.want)
			}
		})
	}
	if _, found := env.kvGet("iframe_probe", serverB, "k"); found {
		t.Fatal("a bridge call wrote to server B through a value in its params")
	}
	// Only iframe-mode plugins have a bridge: a manifest-mode plugin's data
	// is not writable (nor readable) through it.
	for _, m := range []string{"kv.set", "kv.get"} {
		resp, body := c.postJSON("/p/widgets/dashboard/host/"+m+q, `{"key": "k", "value": 1}`)
		if code, _ := errorBody(t, body); resp.StatusCode != 403 || code != "capability" {
			t.Fatalf("%s on a manifest-mode plugin: %d %s, want 403 capability", m, resp.StatusCode, body)
		}
	}
}

func TestOptionsForm(t *testing.T) {
	env := newEnv(t)
	c := env.signIn(alice)
	page := "/s/" + serverA + "/p/widgets"
	_, body := c.do("GET", page, "", nil)
	for _, bad := range []string{"<script>alert('desc')", "<script>alert(2)", "onmouseover", "onclick"} {
		if strings.Contains(body, bad) {
			t.Errorf("unsanitized description: page contains %q", bad)
		}
	}
	for _, want := range []string{`type="checkbox" name="opt_my_checkbox"`, `name="opt_my_textbox"`, `min="0" max="100"`, `<option value="yellow"`, "Enable if you like <b>checkboxes</b>."} {
		if !strings.Contains(body, want) {
			t.Errorf("options form lacks %q", want)
		}
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		errs   map[string]string // option id → message part
		saved  map[string]any
	}{
		{"valid", url.Values{"opt_my_checkbox": {"1"}, "opt_my_textbox": {"kiwi"}, "opt_my_number": {"42"}, "opt_my_dropdown": {"blue"}, "page": {"edge"}}, 303, nil,
			map[string]any{"my_checkbox": true, "my_textbox": "kiwi", "my_number": 42.0, "my_dropdown": "blue"}},
		{"number above max and bad choice", url.Values{"opt_my_number": {"500"}, "opt_my_dropdown": {"purple"}}, 422,
			map[string]string{"my_number": "at most 100", "my_dropdown": "not one of the choices"}, nil},
		{"not a number", url.Values{"opt_my_number": {"abc"}, "opt_my_dropdown": {"red"}}, 422, map[string]string{"my_number": "must be a number"}, nil},
		{"empty number takes the default", url.Values{"opt_my_number": {""}, "opt_my_dropdown": {"red"}}, 303, nil,
			map[string]any{"my_checkbox": false, "my_number": 50.0, "my_dropdown": "red"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.postForm(page+"/options", tt.form)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.500s", resp.StatusCode, tt.status, body)
			}
			if pg := tt.form.Get("page"); pg != "" && !strings.Contains(resp.Header.Get("Location"), "page="+pg) {
				t.Errorf("saving options left the %s tab: to %s", pg, resp.Header.Get("Location"))
			}
			for id, msg := range tt.errs {
				i := strings.Index(body, `id="err_`+id+`"`)
				if i < 0 || !strings.Contains(body[i:min(len(body), i+200)], msg) {
					t.Errorf("no error %q shown for %s", msg, id)
				}
			}
			if tt.status == 422 && !strings.Contains(body, `value="`+tt.form.Get("opt_my_number")+`"`) {
				t.Errorf("the submitted value is not shown again")
			}
			st, err := env.eng.PluginState(env.ctx, serverA, "widgets")
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.saved {
				if st.Options[k] != v {
					t.Errorf("option %s = %v, want %v", k, st.Options[k], v)
				}
			}
		})
	}
}

func TestWidgetFragments(t *testing.T) {
	env := newEnv(t)
	c := env.signIn(alice)
	tests := []struct {
		widget, query string
		want, not     []string
	}{
		{"stat", "", []string{`class="stat-value">1234<`, `stat-change up">&#43;12%`}, nil},
		{"line", "", []string{"<svg", `class="line s0"`, `class="line s1"`, ">Mon<", "Messages"}, nil},
		{"bar", "", []string{"<svg", `class="bar s0"`, "Joins · Sun: 6"}, nil},
		{"table", "", []string{"<th>rank</th><th>name</th><th>score</th>", "user01", "user10", "page 1 of 3", `data-goto="2"`}, []string{"user11"}},
		{"table", "?p=3", []string{"user21", "user23", "21–23 of 23", "page 3 of 3"}, []string{"user20", `data-goto="4"`}},
		{"list", "", []string{"#general", ">812<"}, nil},
		{"progress", "", []string{`<progress class="bar" value="75" max="100"`, "Storage used", "75%"}, nil},
		{"text", "", []string{"Plain &lt;b&gt;text&lt;/b&gt; content for " + serverA}, []string{"<b>text"}},
		{"markdown", "", []string{"<h1", "Heading</h1>", "<li>bullet one</li>", "<strong>bold</strong>", `href="https://example.org"`}, []string{"<script", "javascript:", "pwned"}},
		{"alert_info", "", []string{`class="alert info"`, "All systems normal"}, nil},
		{"alert_warn", "", []string{`class="alert warn"`}, nil},
		{"alert_error", "", []string{`class="alert error"`, "Webhook failing"}, nil},
		{"broken", "", []string{`class="widget-error"`, "ran into an error", "plugin_error", "/logs?plugin=widgets"}, []string{"kaboom"}}, // a manager: no detail
		{"form", "", []string{`data-save="/p/widgets/dashboard/rpc/save_form?discord_srv_id=` + serverA, `value="Hello"`, "#general", "@Moderator", ">@everyone<", "alice", `<option value="fast" selected>`}, []string{"@@everyone"}},
	}
	for _, tt := range tests {
		t.Run(tt.widget+tt.query, func(t *testing.T) {
			resp, body := c.do("GET", "/s/"+serverA+"/p/widgets/w/overview/"+tt.widget+tt.query, "", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("fragment lacks %q:\n%.1500s", w, body)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(body, n) {
					t.Errorf("fragment contains %q", n)
				}
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		_, body := c.do("GET", "/s/"+serverA+"/p/widgets/w/slow/slow", "", nil)
		if !strings.Contains(body, `data-error="timeout"`) {
			t.Fatalf("want a timeout error state: %s", body)
		}
	})
}

func TestAdminLinkWorksOnce(t *testing.T) {
	env := newEnv(t)
	link := env.site.AdminLink()
	c := env.anonymous()
	resp, _ := c.useLink(link)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	cookie := resp.Header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	resp, _ = env.anonymous().useLink(link)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second use: %d", resp.StatusCode)
	}
}

func TestOAuthStateMismatch(t *testing.T) {
	env := newEnv(t)
	resp, _ := env.anonymous().do("GET", "/auth/discord/callback?code=code-1&state=forged", "", nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func zipDir(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := plugin.Pack(dir, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zipFiles(t *testing.T, files map[string]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	zw.Close()
	return b.Bytes()
}

func upload(c *client, archive []byte) (*http.Response, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("_csrf", c.csrf)
	fw, _ := mw.CreateFormFile("archive", "plugin.zip")
	fw.Write(archive)
	mw.Close()
	return c.do("POST", "/marketplace/upload", mw.FormDataContentType(), &b)
}

func TestMarketplaceUpload(t *testing.T) {
	env := newEnv(t)
	admin := env.admin()
	welcome, err := os.ReadFile("../sdk/examples/welcome/__main__.py")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		c      *client
		zip    []byte
		status int
		want   []string
	}{
		{"not admin", env.signIn(alice), zipDir(t, "testdata/widgets"), 403, nil},
		{"not a zip", admin, []byte("hello"), 422, []string{"zip"}},
		{"every problem shown", admin, zipFiles(t, map[string]string{
			"manifest.json": `{"id": "bad id", "name": "", "script": "main.py", "options": [{"id": "x", "name": "X", "type": "color", "default": 1}]}`,
			"main.py":       "print(1)",
		}), 422, []string{"id", "name", "options[0].type"}},
		{"valid replaces", admin, zipFiles(t, map[string]string{
			"manifest.json": `{"id": "welcome", "name": "Welcome", "version": "1.1.0", "script": "__main__.py", "capabilities": ["storage:kv", "discord:send_messages"]}`,
			"__main__.py":   string(welcome),
		}), 303, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := upload(tt.c, tt.zip)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.800s", resp.StatusCode, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if tt.status == 422 && strings.Count(body, "<li>") < len(tt.want)-1 {
				t.Errorf("want every problem listed: %s", body)
			}
		})
	}
	if pkg, _ := env.eng.Plugin("welcome"); pkg.Manifest.Version != "1.1.0" {
		t.Fatalf("welcome not replaced: %s", pkg.Manifest.Version)
	}
	if st, _ := env.eng.PluginState(env.ctx, serverA, "welcome"); !st.Enabled {
		t.Fatal("replacing a plugin lost its per-server state")
	}
	resp, _ := admin.postForm("/marketplace/iframe_probe/uninstall", url.Values{})
	if resp.StatusCode != 303 {
		t.Fatalf("uninstall: %d", resp.StatusCode)
	}
	if _, ok := env.eng.Plugin("iframe_probe"); ok {
		t.Fatal("still installed")
	}
}

func TestIframeAssets(t *testing.T) {
	env := newEnv(t)
	c := env.anonymous()
	tests := []struct {
		name, path string
		status     int
		want       string
	}{
		{"index", "/p/iframe_stats/assets/index.html", 200, "MaidSDK.metrics.total"},
		{"bundled path", "/p/iframe_probe/assets/dashboard-assets/probe.js", 200, "rawCall"},
		{"platform ui.css fallback", "/p/iframe_probe/assets/dashboard-assets/sdk/ui.css", 200, ".maid-btn"},
		{"platform ui.js fallback", "/p/iframe_probe/assets/dashboard-assets/sdk/ui.js", 200, "MaidUI"},
		{"no traversal", "/p/iframe_probe/assets/../manifest.json", 404, ""},
		{"no traversal encoded", "/p/iframe_probe/assets/..%2fmanifest.json", 404, ""},
		{"manifest-mode plugin", "/p/widgets/assets/index.html", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.do("GET", tt.path, "", nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'none'", "connect-src 'none'", "frame-ancestors 'self'", "sandbox allow-scripts allow-forms", "webrtc 'block'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %q", csp, d)
				}
			}
			pp := resp.Header.Get("Permissions-Policy")
			for _, f := range []string{"camera=()", "microphone=()", "display-capture=()"} {
				if !strings.Contains(pp, f) {
					t.Errorf("Permissions-Policy %q lacks %q", pp, f)
				}
			}
			if !strings.Contains(body, tt.want) {
				t.Errorf("body lacks %q", tt.want)
			}
		})
	}
	_, body := env.signIn(alice).do("GET", "/s/"+serverA+"/p/iframe_stats", "", nil)
	if !strings.Contains(body, `sandbox="allow-scripts allow-forms"`) || strings.Contains(body, "allow-same-origin") {
		t.Fatalf("iframe sandbox wrong: %s", body)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	env := newEnv(t)
	c := env.signIn(alice)
	c.postJSON("/p/widgets/dashboard/rpc/get_stat?discord_srv_id="+serverA, "{}")
	c.postJSON("/p/widgets/dashboard/rpc/boom", "{}")
	tests := []struct {
		path string
		want []string
	}{
		{"/healthz", []string{"ok"}},
		{"/readyz", []string{"ready"}},
		{"/metrics", []string{`maid_plugin_call_duration_seconds_count{backend="process",kind="dashboard"} 2`, "maid_instances_running 1",
			`maid_plugin_call_errors_total{backend="process",code="plugin_error",kind="dashboard",plugin="widgets"} 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := env.anonymous().do("GET", tt.path, "", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s lacks %q:\n%s", tt.path, w, body)
				}
			}
		})
	}
}

func TestSimulatorAPI(t *testing.T) {
	env := newEnv(t)
	c := env.signIn(alice)
	base := "/api/servers/" + serverA + "/simulator"
	if resp, body := c.postJSON(base+"/post", `{"channel_id": "100000000000000101", "member_id": "100000000000000302", "content": "hello maid"}`); resp.StatusCode != 200 {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	if resp, body := c.postJSON(base+"/post", `{"channel_id": "", "member_id": "x", "content": "x"}`); resp.StatusCode != 400 {
		t.Fatalf("bad post: %d %s", resp.StatusCode, body)
	}
	resp, body := c.postJSON(base+"/join", `{"name": "newbie"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, "newbie") {
		t.Fatalf("join: %d %s", resp.StatusCode, body)
	}
	_, body = c.do("GET", base+"?channel_id=100000000000000101", "", nil)
	if !strings.Contains(body, "hello maid") || !strings.Contains(body, "newbie") {
		t.Fatalf("state: %s", body)
	}
}
