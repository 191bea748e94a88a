package dashboard_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/maidhq/maid/engine"
)

// TestMarketBrowser drives the marketplace in Chromium as a server
// manager: the catalogue (Markdown description with no way to run script,
// capabilities in plain words, icon), installing through the consent page,
// an update asking for a new capability held back on every server until
// approved, the approval, a rollback that brings back the server's
// settings, and the audit log showing each action.
func TestMarketBrowser(t *testing.T) {
	env, p, consoleErrors := browserEnv(t, newEnv)
	admin := env.admin()
	if resp, body := upload(admin, zipFiles(t, mktPlugin("1.0.0", "number", "storage:kv"))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.0.0: %d %.500s", resp.StatusCode, body)
	}

	p.signInDiscord(env, alice)

	entry := `document.querySelector('#market-list [data-plugin="mkt"]')`
	t.Run("catalogue", func(t *testing.T) {
		p := p.in(t)
		p.open("/marketplace")
		p.waitJS(entry + ` !== null`)
		p.waitJS(entry + `.querySelector('img.plugin-icon').complete && ` + entry + `.querySelector('img.plugin-icon').naturalWidth === 4`)
		desc := eval[string](p, entry+`.querySelector('.plugin-description').innerHTML`)
		if !strings.Contains(desc, "<strong>Counts</strong>") || !strings.Contains(desc, `href="https://example.com/docs"`) {
			t.Errorf("description not rendered as Markdown: %s", desc)
		}
		for _, bad := range []string{"<script", "onerror", "javascript:", "data:text/html", "<img"} {
			if strings.Contains(strings.ToLower(desc), bad) {
				t.Errorf("description HTML contains %q: %s", bad, desc)
			}
		}
		if got := eval[bool](p, `window.__xss === undefined`); !got {
			t.Error("script from the description ran")
		}
		caps := eval[string](p, entry+`.querySelector('.caps').innerText`)
		if !strings.Contains(caps, "Store its own data for your server") {
			t.Errorf("capabilities in plain words: %q", caps)
		}
		if sig := eval[string](p, entry+`.querySelector('[data-sig]').dataset.sig`); sig != "unsigned" {
			t.Errorf("signature status %q", sig)
		}
		// Search and capability filter.
		p.open("/marketplace?q=counter")
		p.waitJS(entry + ` !== null && document.querySelector('#market-list [data-plugin="widgets"]') === null`)
		p.open("/marketplace?cap=discord:manage_roles")
		p.waitJS(`document.querySelector('#market-list') !== null && ` + entry + ` === null`)
		p.open("/marketplace")
		p.waitJS(entry + ` !== null`)
		p.shot("30-catalogue")
		noConsoleErrors(t, consoleErrors)
	})

	t.Run("install from the catalogue", func(t *testing.T) {
		p := p.in(t)
		p.open("/marketplace")
		p.waitJS(entry + `.querySelector('[data-server="` + serverA + `"] a.install') !== null`)
		if n := eval[int](p, entry+`.querySelectorAll('[data-server="`+serverB+`"]').length`); n != 0 {
			t.Fatal("the catalogue offers alice a server she does not manage")
		}
		p.do(chromedp.Click(chromedp.CSS(`#market-list [data-plugin="mkt"] [data-server="` + serverA + `"] a.install`)))
		p.waitJS(`document.querySelector('#consent-caps') !== null`)
		if got := eval[string](p, `document.querySelector('#consent-caps').innerText`); !strings.Contains(got, "Store its own data for your server") {
			t.Fatalf("consent page: %q", got)
		}
		if st, _ := env.eng.PluginState(env.ctx, serverA, "mkt"); st.Enabled {
			t.Fatal("enabled before consent")
		}
		p.shot("31-consent")
		p.do(chromedp.Click(chromedp.CSS("#consent-allow")))
		p.waitJS(`document.querySelector('#running-version') !== null && document.querySelector('#running-version').innerText === '1.0.0'`)
		if st, _ := env.eng.PluginState(env.ctx, serverA, "mkt"); !st.Enabled || st.Version != "1.0.0" {
			t.Fatalf("after consent: enabled %v version %s", st.Enabled, st.Version)
		}
		noConsoleErrors(t, consoleErrors)
	})

	// The admin enables it on B too, alice sets n = 7 on A and stores data.
	actx := engine.WithActor(env.ctx, "admin")
	if err := env.eng.SetEnabled(actx, serverB, "mkt", true); err != nil {
		t.Fatal(err)
	}
	if _, err := env.eng.SetOptions(engine.WithActor(env.ctx, "user:"+alice.ID+" (alice)"), serverA, "mkt", map[string]json.RawMessage{"n": json.RawMessage("7")}); err != nil {
		t.Fatal(err)
	}
	if err := env.st.KVSet(env.ctx, engine.Scope{PluginID: "mkt", ServerID: serverA}, "k", json.RawMessage(`"kept"`), engine.Quota{}); err != nil {
		t.Fatal(err)
	}
	if resp, body := upload(admin, zipFiles(t, mktPlugin("1.1.0", "string", "storage:kv", "discord:send_messages"))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish 1.1.0: %d %.500s", resp.StatusCode, body)
	}

	t.Run("update waits for approval on every server", func(t *testing.T) {
		p := p.in(t)
		for _, s := range []string{serverA, serverB} {
			if v := runningVersion(t, env, s, "mkt"); v != "1.0.0" {
				t.Fatalf("server %s runs %s before any approval, want 1.0.0", s, v)
			}
		}
		p.open("/marketplace")
		p.waitJS(entry + `.querySelector('[data-server="` + serverA + `"] a.review-update') !== null`)
		p.do(chromedp.Click(chromedp.CSS(`#market-list [data-plugin="mkt"] [data-server="` + serverA + `"] a.review-update`)))
		p.waitJS(`document.querySelector('#consent-new') !== null`)
		if got := eval[string](p, `document.querySelector('#consent-new').innerText`); !strings.Contains(got, "Send, edit and delete messages") || strings.Contains(got, "Store its own data") {
			t.Fatalf("new capabilities listed: %q", got)
		}
		p.shot("32-update-consent")
		p.do(chromedp.Click(chromedp.CSS("#consent-allow")))
		p.waitJS(`document.querySelector('#running-version') !== null && document.querySelector('#running-version').innerText === '1.1.0'`)
		if got := eval[string](p, `document.querySelector('#option-resets') ? document.querySelector('#option-resets').innerText : ''`); !strings.Contains(got, `n: 7 reset to "five"`) {
			t.Errorf("the option reset is not shown: %q", got)
		}
		if v := runningVersion(t, env, serverB, "mkt"); v != "1.0.0" {
			t.Fatalf("server B runs %s after A's approval, want 1.0.0", v)
		}
		if v := runningVersion(t, env, serverA, "mkt"); v != "1.1.0" {
			t.Fatalf("server A runs %s after approval", v)
		}
		p.shot("33-versions")
		noConsoleErrors(t, consoleErrors)
	})

	t.Run("rollback", func(t *testing.T) {
		p := p.in(t)
		p.open("/s/" + serverA + "/p/mkt/versions")
		p.waitJS(`document.querySelector('#rollback') !== null`)
		if got := eval[string](p, `document.querySelector('#version-list').innerHTML`); strings.Contains(got, "javascript:") || !strings.Contains(got, "<b>changes</b>") && !strings.Contains(got, "changes") {
			t.Errorf("changelog HTML: %.500s", got)
		}
		// The form asks for confirmation (app.js); confirm it up front.
		p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#rollback').form.dataset.confirmed = '1'`))
		p.do(chromedp.Click(chromedp.CSS("#rollback")))
		p.waitJS(`document.querySelector('#running-version') !== null && document.querySelector('#running-version').innerText === '1.0.0'`)
		st, err := env.eng.PluginState(env.ctx, serverA, "mkt")
		if err != nil || st.Version != "1.0.0" || st.Options["n"] != float64(7) || !st.Enabled {
			t.Fatalf("after rollback: %+v %v, want 1.0.0 enabled with n = 7", st, err)
		}
		if v, found := env.kvGet("mkt", serverA, "k"); !found || string(v) != `"kept"` {
			t.Fatalf("data after rollback: %s %v", v, found)
		}
		p.shot("34-rollback")
		noConsoleErrors(t, consoleErrors)
	})

	t.Run("audit log", func(t *testing.T) {
		p := p.in(t)
		p.open("/audit")
		p.waitJS(`document.querySelector('#audit') !== null`)
		rows := eval[[]string](p, `Array.from(document.querySelectorAll('#audit tbody tr')).map(r => r.dataset.action + ' ' + r.dataset.server + ' ' + r.innerText)`)
		text := strings.Join(rows, "\n")
		for _, want := range []string{"enable " + serverA, "approve " + serverA, "options " + serverA, "options_reset " + serverA, "rollback " + serverA} {
			if !strings.Contains(text, want) {
				t.Errorf("alice's audit log lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, serverB) || strings.Contains(text, "publish") {
			t.Errorf("alice's audit log shows another server's or server-less entries:\n%s", text)
		}
		p.shot("35-audit")
		noConsoleErrors(t, consoleErrors)
	})
}
