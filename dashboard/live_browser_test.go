package dashboard_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/maidhq/maid/discord"
)

// TestLiveWidgets: in Chromium, a simulated message changes the welcome
// plugin's data (its handler records the author as active) and the stat
// widget shows it without a reload of the page, while the settings form the
// user is editing keeps what they typed; the refresh button reloads one
// widget.
func TestLiveWidgets(t *testing.T) {
	env, p, consoleErrors := browserEnv(t, newEnv)
	p.signInAdmin(env)
	p.open("/s/" + serverA + "/p/welcome")
	p.waitJS(widgetsLoaded + ` && document.querySelector('.widgets').dataset.seen !== undefined`)
	before := eval[string](p, `document.querySelector('#w-active_users .stat-value').textContent`)
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		window.notReloaded = true;
		const f = document.querySelector('#w-settings_form form');
		f.message.value = 'typing, not saved';
		f.message.dispatchEvent(new Event('input', {bubbles: true}));
	})()`))
	if err := env.sim.Post(env.ctx, serverA, discord.SimGeneral, "100000000000000303", "hello, live widgets"); err != nil {
		t.Fatal(err)
	}
	p.waitJS(`document.querySelector('#w-active_users .stat-value').textContent !== ` + jsString(before))
	if !eval[bool](p, `window.notReloaded === true`) {
		t.Fatal("the page reloaded")
	}
	if v := eval[string](p, `document.querySelector('#w-settings_form form').message.value`); v != "typing, not saved" {
		t.Fatalf("the form being edited was reloaded: %q", v)
	}
	p.shot("live-widgets")

	// The refresh button reloads its widget (and the form shows the saved value again).
	loads := eval[string](p, `document.querySelector('#w-settings_form').dataset.loads`)
	p.do(chromedp.Click(chromedp.CSS(`#w-settings_form [data-refresh-widget]`)))
	p.waitJS(`document.querySelector('#w-settings_form').dataset.loads !== ` + jsString(loads))
	if v := eval[string](p, `document.querySelector('#w-settings_form form').message.value`); v == "typing, not saved" {
		t.Fatal("refresh kept the unsaved edit")
	}
	noConsoleErrors(t, consoleErrors)
}
