package dashboard_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestEveryPageEveryWidth: every page, in both themes, at 1280 and 390 px
// wide, renders without console errors and without a page wider than the
// window; screenshots go to $MAID_SCREENSHOT_DIR (to look at).
func TestEveryPageEveryWidth(t *testing.T) {
	env, p, consoleErrors := browserEnv(t, newEnv)
	p.signInAdmin(env)
	env.sim.Post(env.ctx, serverA, "100000000000000101", "100000000000000302", "hello there")
	env.admin().do("GET", "/s/"+serverA+"/p/widgets/w/overview/broken", "", nil) // a log line
	pages := []struct{ name, path, ready string }{
		{"servers", "/servers", `document.querySelector('#server-list')`},
		{"server", "/s/" + serverA, `document.querySelector('#plugin-list')`},
		{"widgets", "/s/" + serverA + "/p/widgets", widgetsLoaded},
		{"widgets-edge", "/s/" + serverA + "/p/widgets?page=edge", widgetsLoaded},
		{"welcome", "/s/" + serverA + "/p/welcome", widgetsLoaded},
		{"iframe", "/s/" + serverA + "/p/iframe_stats", `document.querySelector('#plugin-frame')`},
		{"marketplace", "/marketplace", `document.querySelector('#market-list')`},
		{"logs", "/logs", `document.querySelector('#logs')`},
		{"simulator", "/s/" + serverA + "/simulator", `document.querySelector('#sim-chat').innerText.includes('hello there')`},
		// A link's page (only its button would use the made-up token).
		{"sign-in-link", "/auth/admin?token=" + strings.Repeat("x", 43), `document.querySelector('#admin-signin')`},
	}
	for _, theme := range []string{"dark", "light"} {
		for _, width := range []int64{1280, 390} {
			t.Run(fmt.Sprintf("%s-%d", theme, width), func(t *testing.T) {
				p := p.in(t)
				p.do(chromedp.EmulateViewport(width, 900), chromedp.Evaluate[chromedp.Void](`localStorage.setItem('maid-theme', '`+theme+`')`))
				for _, pg := range pages {
					p.open(pg.path)
					p.waitJS(pg.ready)
					if sw, iw := eval[int](p, `document.documentElement.scrollWidth`), eval[int](p, `window.innerWidth`); sw > iw {
						t.Errorf("%s: the page is %d px wide in a %d px window", pg.name, sw, iw)
					}
					p.shot(fmt.Sprintf("page-%s-%s-%d", pg.name, theme, width))
				}
				noConsoleErrors(t, consoleErrors)
			})
		}
	}
	p.do(chromedp.EmulateReset())
}
