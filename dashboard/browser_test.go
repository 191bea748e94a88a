package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/internal/testenv"
)

// browser starts Debian's Chromium (headless) for one test. Without it the
// test skips, except under CI=true where it fails.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		testenv.Unavailable(t, "chromium", "apt-get install -y chromium", nil)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
	)
	messages := chromedp.Console(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m.String()))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		wg.Wait()
	})
	// take returns the console errors since the last call.
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := errs
		errs = nil
		return out
	}
	return ctx, take
}

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("MAID_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// newPage is a page of env's site in the browser ctx, its screenshots
// going to screenshotDir.
func newPage(t *testing.T, ctx context.Context, env *testEnv) *page {
	return &page{t: t, ctx: ctx, base: env.srv.URL, dir: screenshotDir(t)}
}

// browserEnv is how a browser test starts: Chromium first (so that without
// it the test skips before anything is built), then the environment
// newEnv builds and a page of its site. take is browser's.
func browserEnv(t *testing.T, newEnv func(*testing.T) *testEnv) (env *testEnv, p *page, take func() []string) {
	t.Helper()
	ctx, take := browser(t)
	env = newEnv(t)
	return env, newPage(t, ctx, env), take
}

// noConsoleErrors fails t with the console errors since take's last call.
func noConsoleErrors(t *testing.T, take func() []string) {
	t.Helper()
	if errs := take(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

func (p *page) open(path string) { p.t.Helper(); p.do(chromedp.Navigate(p.base + path)) }

// eval evaluates a JS expression (promises awaited) into v.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JS expression is truthy (retrying across
// navigations, which destroy the page's JS context).
func (p *page) waitJS(expr string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		var ok bool
		ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("wait for %s: %v", expr, err)
}

// signInAdmin signs the browser in with the one-time admin link.
func (p *page) signInAdmin(env *testEnv) {
	p.t.Helper()
	p.useLink(env.site.AdminLink())
	p.waitJS(`document.querySelector('#server-list') !== null`)
}

// useLink opens a one-time sign-in link and presses its button.
func (p *page) useLink(link string) {
	p.t.Helper()
	p.do(chromedp.Navigate(link))
	p.do(chromedp.Click(chromedp.CSS("#admin-signin")))
}

// signInDiscord signs the browser in as u through the fake Discord's
// OAuth flow.
func (p *page) signInDiscord(env *testEnv, u fakeUser) {
	p.t.Helper()
	env.discord.signInAs(u)
	p.open("/login")
	p.do(chromedp.Click(chromedp.CSS("#discord-signin")), chromedp.WaitVisible(chromedp.CSS("#server-list")))
}

// in returns the page bound to a subtest's t.
func (p *page) in(t *testing.T) *page { c := *p; c.t = t; return &c }

func (p *page) shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	f := filepath.Join(p.dir, name+".png")
	if err := os.WriteFile(f, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", f)
}

const widgetsLoaded = `document.querySelectorAll('.widget[data-src]').length > 0 &&
	Array.from(document.querySelectorAll('.widget[data-src]')).every(w => w.dataset.state === 'ready' || w.dataset.state === 'error')`

// sitePage is a page of the dashboard and the script that is true once it
// has rendered.
type sitePage struct{ name, path, ready string }

// everyPage is the list of the dashboard's pages (signed in as the admin)
// that TestEveryPageEveryWidth and TestContrast both go through, so a new
// page is checked for width, console errors and contrast alike. It gives
// the simulator a message and the logs a line first.
func everyPage(env *testEnv) []sitePage {
	env.t.Helper()
	env.sim.Post(env.ctx, serverA, "100000000000000101", "100000000000000302", "hello there")
	env.admin().do("GET", "/s/"+serverA+"/p/widgets/w/overview/broken", "", nil) // a log line
	return []sitePage{
		{"servers", "/servers", `document.querySelector('#server-list')`},
		{"server", "/s/" + serverA, `document.querySelector('#plugin-list')`},
		{"widgets", "/s/" + serverA + "/p/widgets", widgetsLoaded},
		{"widgets-edge", "/s/" + serverA + "/p/widgets?page=edge", widgetsLoaded},
		{"welcome", "/s/" + serverA + "/p/welcome", widgetsLoaded},
		// The page around the plugin's frame (the frame is the plugin's).
		{"iframe", "/s/" + serverA + "/p/iframe_stats", `document.querySelector('#plugin-frame')`},
		{"marketplace", "/marketplace", `document.querySelector('#market-list')`},
		{"consent", "/s/" + serverA + "/p/welcome/consent", `document.querySelector('#consent-caps')`},
		{"versions", "/s/" + serverA + "/p/welcome/versions", `document.querySelector('#version-list')`},
		{"audit", "/audit", `document.querySelector('#audit')`},
		{"logs", "/logs", `document.querySelector('#logs')`},
		{"plugin-logs", "/plugins/widgets/logs", `document.querySelector('#logs')`},
		{"simulator", "/s/" + serverA + "/simulator", `document.querySelector('#sim-chat').innerText.includes('hello there')`},
		// A link's page (only its button would use the made-up token).
		{"sign-in-link", "/auth/admin?token=" + strings.Repeat("x", 43), `document.querySelector('#admin-signin')`},
	}
}

// frameText reads the text of a selector inside the plugin iframe whose URL
// contains urlPart, attaching to the frame's own target when Chromium runs
// the sandboxed frame out of process.
func frameText(t *testing.T, ctx context.Context, urlPart, sel string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.Contains(info.URL, urlPart) {
				fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel())
				tctx, cancel2 := context.WithTimeout(fctx, 5*time.Second)
				txt, err := chromedp.Run(tctx, chromedp.Evaluate[string](`(document.querySelector(`+fmt.Sprintf("%q", sel)+`)||{}).textContent || ""`))
				cancel2()
				cancel()
				if err == nil {
					return txt
				}
				last = err.Error()
			}
		}
		// In-process frame: read through the iframe element.
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		txt, err := chromedp.Run(tctx, chromedp.Evaluate[string](`(() => { try { const f = document.querySelector('iframe.plugin-frame'); const d = f && f.contentDocument; return d ? ((d.querySelector(`+fmt.Sprintf("%q", sel)+`)||{}).textContent || "") : ""; } catch (e) { return ""; } })()`))
		cancel()
		if err == nil && txt != "" {
			return txt
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no iframe target for %s (%s)", urlPart, last)
	return ""
}

func TestBrowser(t *testing.T) {
	env, p, consoleErrors := browserEnv(t, newEnv)
	widgetsPage := "/s/" + serverA + "/p/widgets"

	t.Run("sign in with Discord", func(t *testing.T) {
		p := p.in(t)
		env.discord.signInAs(alice)
		p.open("/login")
		p.shot("01-login")
		p.do(chromedp.Click(chromedp.CSS("#discord-signin")), chromedp.WaitVisible(chromedp.CSS("#server-list")))
		if got := eval[string](p, `document.querySelector('#server-list').innerText`); !strings.Contains(got, "Maid Test Server") || strings.Contains(got, "Other Server") {
			t.Fatalf("server picker shows %q", got)
		}
		if eval[string](p, `document.cookie`) != "" {
			t.Fatal("the session cookie is readable from JS (not HttpOnly)")
		}
		p.shot("02-servers")
		p.open("/s/" + serverA)
		p.waitJS(`document.querySelector('#plugin-list [data-plugin="widgets"]') !== null`)
		p.shot("03-server-plugins")
		noConsoleErrors(t, consoleErrors)
	})

	t.Run("every widget renders its handler's data", func(t *testing.T) {
		p := p.in(t)
		p.open(widgetsPage)
		p.waitJS(widgetsLoaded)
		type w struct{ Text, HTML, State string }
		got := eval[map[string]w](p, `Object.fromEntries(Array.from(document.querySelectorAll('.widget')).map(e => [e.dataset.widget, {Text: e.innerText, HTML: e.innerHTML, State: e.dataset.state}]))`)
		tests := []struct {
			widget, state string
			want          []string
		}{
			{"stat", "ready", []string{"1234", "+12%"}},
			{"line", "ready", []string{`class="line s0"`, `class="line s1"`, "Mon", "Messages", "Joins"}},
			{"bar", "ready", []string{`class="bar s0"`, `class="bar s1"`, "Sun"}},
			{"table", "ready", []string{"user01", "user10", "1–10 of 23", "Next"}},
			{"list", "ready", []string{"#general", "812", "#random", "97"}},
			{"progress", "ready", []string{"Storage used", "75 / 100", "<progress"}},
			{"text", "ready", []string{"Plain <b>text</b> content for " + serverA}},
			{"markdown", "ready", []string{"<h1", "Heading", "<li>bullet one</li>", "<strong>bold</strong>"}},
			{"alert_info", "ready", []string{"All systems normal", `alert info`}},
			{"alert_warn", "ready", []string{"Quota at 75%", `alert warn`}},
			{"alert_error", "ready", []string{"Webhook failing", `alert error`}},
			{"broken", "error", []string{"ran into an error", "plugin_error", "Open the plugin's logs"}},
			{"form", "ready", []string{"Title", "Channel", "#general", "Moderator", "bob"}},
		}
		for _, tt := range tests {
			g, ok := got[tt.widget]
			if !ok {
				t.Errorf("widget %s missing", tt.widget)
				continue
			}
			if g.State != tt.state {
				t.Errorf("widget %s state %q, want %q: %s", tt.widget, g.State, tt.state, g.Text)
			}
			for _, s := range tt.want {
				if !strings.Contains(g.Text, s) && !strings.Contains(g.HTML, s) {
					t.Errorf("widget %s lacks %q:\n%s", tt.widget, s, g.Text)
				}
			}
		}
		if strings.Contains(got["broken"].Text, "kaboom") {
			t.Error("a manager sees the exception's detail")
		}
		if eval[bool](p, `window.pwned === 1 || document.querySelector('.markdown script, .markdown a[href^="javascript"]') !== null`) {
			t.Error("markdown ran or kept a script")
		}
		if n := eval[int](p, `document.querySelectorAll('.widget-error').length`); n != 1 {
			t.Errorf("%d widgets in error, want only the broken one", n)
		}
		p.shot("04-widgets")
		// Table pagination passes page and page_size to the handler.
		p.do(chromedp.Click(chromedp.CSS(`#w-table button[data-goto="2"]`)))
		p.waitJS(`document.querySelector('#w-table').innerText.includes('user11')`)
		if txt := eval[string](p, `document.querySelector('#w-table').innerText`); !strings.Contains(txt, "user20") || strings.Contains(txt, "user10\t") {
			t.Errorf("page 2 shows %q", txt)
		}
		// Pages and navigation.
		p.do(chromedp.Click(chromedp.CSS(`#page-tabs a[data-page="more"]`)))
		p.waitJS(widgetsLoaded + ` && document.querySelector('#w-more_text') !== null`)
		p.open(widgetsPage + "?page=slow")
		p.waitJS(widgetsLoaded)
		if s := eval[string](p, `document.querySelector('#w-slow [data-error]').dataset.error`); s != "timeout" {
			t.Errorf("slow widget error %q, want timeout", s)
		}
		p.shot("05-widget-timeout")
		noConsoleErrors(t, consoleErrors)
	})

	t.Run("form get save reload", func(t *testing.T) {
		p := p.in(t)
		p.open(widgetsPage)
		p.waitJS(widgetsLoaded)
		p.do(chromedp.Evaluate[chromedp.Void](`(() => {
			const f = document.querySelector('#w-form form');
			f.title.value = 'Round trip';
			f.notes.value = 'two\nlines';
			f.limit.value = '7';
			f.active.checked = true;
			f.mode.value = 'safe';
			f.channel.value = '` + discord.SimWelcome + `';
			f.role.value = '` + discord.SimRoleMod + `';
			f.user.value = '100000000000000302';
		})()`))
		p.do(chromedp.Click(chromedp.CSS(`#w-form button[type=submit]`)))
		p.waitJS(`(document.querySelector('#w-form .form-status')||{}).textContent === 'Saved'`)
		p.shot("06-form-saved")
		p.do(chromedp.Reload())
		p.waitJS(widgetsLoaded)
		vals := eval[map[string]any](p, `(() => { const f = document.querySelector('#w-form form'); return MaidUI.serializeForm(f); })()`)
		want := map[string]any{"title": "Round trip", "notes": "two\nlines", "limit": 7.0, "active": true, "mode": "safe",
			"channel": discord.SimWelcome, "role": discord.SimRoleMod, "user": "100000000000000302"}
		for k, v := range want {
			if vals[k] != v {
				t.Errorf("after reload %s = %v, want %v", k, vals[k], v)
			}
		}
		raw, found := env.kvGet("widgets", serverA, "form")
		if !found || !strings.Contains(string(raw), "Round trip") {
			t.Errorf("kv form = %s", raw)
		}
		// The plugin's own validation answer ({"ok": false}) shows in the form.
		p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#w-form form').title.value = ''`))
		p.do(chromedp.Click(chromedp.CSS(`#w-form button[type=submit]`)))
		p.waitJS(`(document.querySelector('#w-form .form-status')||{}).textContent.includes('title: is required')`)
		noConsoleErrors(t, consoleErrors)
	})

	t.Run("options form save and validation errors", func(t *testing.T) {
		p := p.in(t)
		p.open(widgetsPage + "#options")
		p.waitJS(`document.querySelector('#options-form') !== null`)
		if eval[bool](p, `document.querySelector('#options .help [onmouseover], #options script') !== null`) {
			t.Error("unsanitized option description")
		}
		p.do(chromedp.Evaluate[chromedp.Void](`(() => {
			document.querySelector('#opt_my_checkbox').checked = true;
			document.querySelector('#opt_my_textbox').value = 'kiwi';
			document.querySelector('#opt_my_number').value = '64';
			document.querySelector('#opt_my_dropdown').value = 'green';
		})()`))
		p.do(chromedp.Click(chromedp.CSS(`#save-options`)))
		p.waitJS(`document.querySelector('#options-saved') !== null`)
		if v := eval[string](p, `document.querySelector('#opt_my_textbox').value + '|' + document.querySelector('#opt_my_number').value + '|' + document.querySelector('#opt_my_dropdown').value + '|' + document.querySelector('#opt_my_checkbox').checked`); v != "kiwi|64|green|true" {
			t.Errorf("saved options show %q", v)
		}
		// Server-side validation: bypass the browser's min/max check.
		p.do(chromedp.Evaluate[chromedp.Void](`(() => {
			const f = document.querySelector('#options-form');
			f.noValidate = true;
			document.querySelector('#opt_my_number').value = '500';
		})()`))
		p.do(chromedp.Click(chromedp.CSS(`#save-options`)))
		p.waitJS(`document.querySelector('#err_my_number') !== null`)
		if msg := eval[string](p, `document.querySelector('#err_my_number').textContent`); !strings.Contains(msg, "at most 100") {
			t.Errorf("error shown %q", msg)
		}
		if v := eval[string](p, `document.querySelector('#opt_my_number').value`); v != "500" {
			t.Errorf("submitted value not kept: %q", v)
		}
		p.shot("07-options-error")
		// Chromium logs the 422 answer of the invalid form post as a
		// failed load; that is the validation working, not a page error.
		var rest []string
		for _, e := range consoleErrors() {
			if !(strings.Contains(e, "/p/widgets/options") && strings.Contains(e, "Failed to load resource: the server responded with a status of 422")) {
				rest = append(rest, e)
			}
		}
		if len(rest) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(rest, "\n"))
		}
		st, _ := env.eng.PluginState(env.ctx, serverA, "widgets")
		if st.Options["my_number"] != 64.0 {
			t.Errorf("invalid value saved: %v", st.Options["my_number"])
		}
		noConsoleErrors(t, consoleErrors)
	})

	t.Run("spec iframe shows the message total", func(t *testing.T) {
		p := p.in(t)
		for i := range 3 {
			if err := env.sim.Post(env.ctx, serverA, discord.SimGeneral, "100000000000000302", fmt.Sprintf("message %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		p.waitJS(`true`)
		deadline := time.Now().Add(10 * time.Second)
		for {
			q, err := env.eng.QueryMetric(env.ctx, serverA, "iframe_stats", "messages", "30d")
			if err == nil && q.Total >= 3 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.open("/s/" + serverA + "/p/iframe_stats")
		p.waitJS(`document.querySelector('#plugin-frame') !== null`)
		var txt string
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if txt = frameText(t, p.ctx, "/p/iframe_stats/assets/", "#stat"); txt != "Loading…" {
				break
			}
		}
		if txt != "3 messages" {
			t.Fatalf("iframe shows %q, want \"3 messages\"", txt)
		}
		// The example's promised summary call, through MaidSDK.rpc.
		var sum string
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if sum = frameText(t, p.ctx, "/p/iframe_stats/assets/", "#summary"); sum != "" {
				break
			}
		}
		if !strings.Contains(sum, "3 messages in 30 days") {
			t.Errorf("the summary call shows %q", sum)
		}
		p.waitJS(`parseInt(document.querySelector('#plugin-frame').style.height) > 0`)
		p.shot("08-iframe-stats")
		noConsoleErrors(t, consoleErrors)
	})

	t.Run("iframe sandbox and bridge limits", func(t *testing.T) {
		p := p.in(t)
		p.open("/s/" + serverA + "/p/iframe_probe")
		var raw json.RawMessage
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			var found bool
			if raw, found = env.kvGet("iframe_probe", serverA, "probe"); found {
				break
			}
		}
		var r map[string]any
		if err := json.Unmarshal(raw, &r); err != nil || r == nil {
			t.Fatalf("the probe reported nothing: %s", raw)
		}
		t.Logf("probe: %s", raw)
		tests := []struct{ key, wantPrefix string }{
			{"cookie", "blocked:SecurityError"},
			{"parent_dom", "blocked:SecurityError"},
			{"parent_cookie", "blocked:SecurityError"},
			{"top_location", "blocked:SecurityError"},
			{"storage", "blocked:SecurityError"},
			{"fetch", "blocked:TypeError"},
			{"discord_ns", "error:capability"},
			{"plugin_ns", "error:capability"},
			{"metrics_inc", "error:capability"},
			{"sql_nocap", "error:capability"},
			{"other_server_kv", "ok:"},
		}
		for _, tt := range tests {
			if got, _ := r[tt.key].(string); !strings.HasPrefix(got, tt.wantPrefix) {
				t.Errorf("%s = %q, want %s...", tt.key, got, tt.wantPrefix)
			}
		}
		if _, found := env.kvGet("iframe_probe", serverB, "intruder"); found {
			t.Error("the iframe wrote to another server")
		}
		if _, found := env.kvGet("iframe_probe", serverA, "intruder"); !found {
			t.Error("the iframe's own-server write is missing")
		}
		if rpc, _ := r["other_server_rpc"].(map[string]any); rpc["server"] != serverA || rpc["asked"] != serverA {
			t.Errorf("rpc ran for %v", rpc)
		}
		c, _ := r["context"].(map[string]any)
		if c["discord_srv_id"] != serverA || c["plugin_id"] != "iframe_probe" || c["user_id"] != alice.ID {
			t.Errorf("context %v", c)
		}
		p.shot("09-iframe-probe")

		// The theme switch reaches the iframe through MaidSDK.on("theme").
		before := eval[string](p, `document.documentElement.dataset.theme`)
		p.do(chromedp.Click(chromedp.CSS("#theme-toggle")))
		after := eval[string](p, `document.documentElement.dataset.theme`)
		if before == after {
			t.Fatalf("theme did not switch (%s)", before)
		}
		var seen json.RawMessage
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if v, found := env.kvGet("iframe_probe", serverA, "theme_seen"); found {
				seen = v
				break
			}
		}
		if string(seen) != `"`+after+`"` {
			t.Errorf("iframe saw theme %s, want %q", seen, after)
		}
		if got := frameText(t, p.ctx, "/p/iframe_probe/assets/", "#theme"); got != "theme: "+after {
			t.Errorf("iframe shows %q", got)
		}
		p.shot("10-iframe-theme-" + after)
		p.open(widgetsPage)
		p.waitJS(widgetsLoaded)
		p.shot("11-widgets-" + after)
		p.do(chromedp.Click(chromedp.CSS("#theme-toggle")))
		consoleErrors() // the probe provokes CSP errors on purpose
	})

	t.Run("simulator console", func(t *testing.T) {
		p := p.in(t)
		p.open("/s/" + serverA + "/simulator")
		p.waitJS(`document.querySelector('#sim-member').options.length > 0`)
		p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#sim-content').value = 'hello from the browser'`))
		p.do(chromedp.Click(chromedp.CSS(`#sim-post button[type=submit]`)))
		p.waitJS(`document.querySelector('#sim-chat').innerText.includes('hello from the browser')`)
		p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#sim-join-name').value = 'newcomer'`))
		p.do(chromedp.Click(chromedp.CSS(`#sim-join button[type=submit]`)))
		p.waitJS(`Array.from(document.querySelector('#sim-leave-member').options).some(o => o.text === 'newcomer')`)
		p.shot("12-simulator")
		noConsoleErrors(t, consoleErrors)
	})

	t.Run("admin pages", func(t *testing.T) {
		p := p.in(t)
		p.useLink(env.site.AdminLink())
		p.waitJS(`document.querySelector('#server-list') !== null && document.querySelector('#server-list').innerText.includes('Other Server')`)
		p.open("/marketplace")
		p.waitJS(`document.querySelector('#upload-form') !== null`)
		p.shot("13-marketplace")
		p.open("/plugins/widgets/logs")
		p.waitJS(`document.querySelector('#logs') !== null`)
		if txt := eval[string](p, `document.querySelector('#logs').innerText`); !strings.Contains(txt, "kaboom") {
			t.Errorf("logs lack the handler's error: %.300s", txt)
		}
		p.shot("14-logs")
		noConsoleErrors(t, consoleErrors)
	})
}
