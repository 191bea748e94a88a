package dashboard_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// squeezedCellsJS lists the visible table cells with more than three
// characters of text that are under 48 px wide.
const squeezedCellsJS = `Array.from(document.querySelectorAll('td, th'))
	.filter(e => e.offsetParent !== null && e.textContent.trim().length > 3 && e.getBoundingClientRect().width < 48)
	.slice(0, 5).map(e => JSON.stringify(e.textContent.trim().slice(0, 20)) + ' ' + Math.round(e.getBoundingClientRect().width) + 'px')`

// TestEveryPageEveryWidth: every page, in both themes, at 1280 and 390 px
// wide, renders without console errors and without a page wider than the
// window; screenshots go to $MAID_SCREENSHOT_DIR (to look at).
func TestEveryPageEveryWidth(t *testing.T) {
	env, p, consoleErrors := browserEnv(t, newEnv)
	p.signInAdmin(env)
	pages := everyPage(env)
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
					// A table squeezed into a phone's width breaks its words
					// letter by letter ("Wh/en"): a cell with text is never
					// narrower than a few characters.
					if cells := eval[[]string](p, squeezedCellsJS); len(cells) > 0 {
						t.Errorf("%s: table cells too narrow to read: %s", pg.name, strings.Join(cells, ", "))
					}
					p.shot(fmt.Sprintf("page-%s-%s-%d", pg.name, theme, width))
				}
				noConsoleErrors(t, consoleErrors)
			})
		}
	}
	p.do(chromedp.EmulateReset())
}
