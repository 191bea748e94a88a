package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/maidhq/maid/dashboard"
)

// TestSignInInBrowser: in Chromium, a signed-out visit to a deep page shows
// the sign-in page (which explains `maid admin link`); a link minted as
// `maid admin link` does (on the store alone) signs in and returns to that
// page; the session survives a restart of the dashboard; signing out ends
// it, and the used link does not sign in again.
func TestSignInInBrowser(t *testing.T) {
	env, p, consoleErrors := browserEnv(t, newEnvNoApprovals)
	deep := "/s/" + serverA + "/p/widgets?page=more"

	p.open(deep)
	p.waitJS(`document.querySelector('#admin-link-cmd') !== null`)
	if txt := eval[string](p, `document.body.innerText`); !strings.Contains(txt, "maid admin link") || strings.Contains(txt, "Widget gallery") {
		t.Fatalf("signed-out page: %.400s", txt)
	}
	p.shot("signin-page")

	link, err := dashboard.NewSignInLink(env.ctx, env.st, env.srv.URL, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.Navigate(link))
	p.shot("signin-link")
	p.do(chromedp.Click(chromedp.CSS("#admin-signin")))
	p.waitJS(`location.pathname + location.search === ` + jsString(deep) + ` && document.querySelector('#w-more_text') !== null`)

	env.restart()
	p.do(chromedp.Reload())
	p.waitJS(`document.querySelector('#w-more_text') !== null && document.querySelector('#user-name') !== null`)

	p.do(chromedp.Click(chromedp.CSS(`.user form button[type=submit]`)))
	p.waitJS(`location.pathname === '/login'`)
	p.open(deep)
	p.waitJS(`document.querySelector('#admin-link-cmd') !== null`)
	p.useLink(link)
	p.waitJS(`document.body.innerText.includes('already used')`)
	if errs := consoleErrors(); len(errs) > 0 {
		// The 401 answers of signed-out pages are the pages working.
		for _, e := range errs {
			if !strings.Contains(e, "status of 401") {
				t.Errorf("console error: %s", e)
			}
		}
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
