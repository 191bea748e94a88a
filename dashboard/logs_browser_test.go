package dashboard_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestLogsInBrowser: in Chromium, a server's manager opens the Logs page
// and sees their server's plugin error but not another server's, and a
// new error on their server appears while they watch (Follow live).
func TestLogsInBrowser(t *testing.T) {
	env, p, _ := browserEnv(t, newEnvNoApprovals)
	admin := env.admin()
	admin.do("GET", "/s/"+serverB+"/p/widgets/w/edge/bad", "", nil) // another server's error
	admin.do("GET", "/s/"+serverA+"/p/widgets/w/overview/broken", "", nil)

	p.signInDiscord(env, alice)
	p.open("/logs")
	p.waitJS(`document.querySelector('#logs') !== null && document.querySelector('#logs').innerText.includes('kaboom')`)
	txt := eval[string](p, `document.querySelector('#logs').innerText`)
	if strings.Contains(txt, "dashboard widget bad") || strings.Contains(txt, "Other Server") || strings.Contains(txt, "[stderr]") {
		t.Fatalf("the manager of A sees another server's or the host's lines:\n%s", txt)
	}
	if !strings.Contains(txt, "Maid Test Server") {
		t.Errorf("lines do not name their server:\n%s", txt)
	}
	p.shot("logs-manager")
	// Followed live: an error on A shows up without a reload.
	p.do(chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	admin.do("GET", "/s/"+serverA+"/p/widgets/w/edge/bad", "", nil)
	p.waitJS(`document.querySelector('#logs').innerText.includes('dashboard widget bad')`)
	if !eval[bool](p, `window.notReloaded === true`) {
		t.Fatal("the page reloaded")
	}
	// The level filter.
	p.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#logs-level'); s.value = 'error'; s.dispatchEvent(new Event('change')); })()`))
	p.waitJS(`location.search.includes('level=error')`)
}
