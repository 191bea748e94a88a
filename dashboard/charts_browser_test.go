package dashboard_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestChartsInBrowser: in Chromium at 1400 and 390 px wide, chart text is
// drawn at a readable size (measured on screen, not the CSS value), a chart
// of counts has whole-number ticks, dates are short, an empty chart says
// there is no data, and a long unbroken table cell wraps instead of
// widening the page.
func TestChartsInBrowser(t *testing.T) {
	env, p, consoleErrors := browserEnv(t, newEnvNoApprovals)
	p.signInAdmin(env)
	for _, width := range []int64{1400, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			p := p.in(t)
			p.do(chromedp.EmulateViewport(width, 900))
			p.open("/s/" + serverA + "/p/widgets?page=edge")
			p.waitJS(widgetsLoaded)
			sizes := eval[[]float64](p, `Array.from(document.querySelectorAll('.chart text')).filter(e => e.getBoundingClientRect().height > 0).map(e => e.getBoundingClientRect().height)`)
			if len(sizes) == 0 {
				t.Fatal("no chart text drawn")
			}
			for _, h := range sizes {
				if h < 10 || h > 20 {
					t.Fatalf("chart text drawn %.1f px high at %d px wide, want 10-20 (all: %v)", h, width, sizes)
				}
			}
			ticks := eval[[]string](p, `Array.from(document.querySelectorAll('#w-counts text.yl')).map(e => e.textContent)`)
			if len(ticks) < 2 {
				t.Fatalf("ticks %v", ticks)
			}
			for _, tk := range ticks {
				if strings.Contains(tk, ".") {
					t.Errorf("a chart of counts has tick %q (all: %v)", tk, ticks)
				}
			}
			dates := eval[[]string](p, `Array.from(document.querySelectorAll('#w-dates text.xl')).filter(e => getComputedStyle(e).display !== 'none').map(e => e.firstChild.textContent)`)
			if len(dates) == 0 || dates[0] != "Nov 24" {
				t.Errorf("date labels %v, want short ones from Nov 24", dates)
			}
			// Shown x labels do not overlap.
			if overlap := eval[bool](p, `(() => { const r = Array.from(document.querySelectorAll('#w-dates text.xl')).filter(e => getComputedStyle(e).display !== 'none').map(e => e.getBoundingClientRect()); return r.some((a, i) => i > 0 && a.left < r[i-1].right); })()`); overlap {
				t.Errorf("x labels overlap at %d px", width)
			}
			for _, w := range []string{"empty_pie", "empty_line"} {
				if txt := eval[string](p, `document.querySelector('#w-`+w+` .widget-body').innerText`); !strings.Contains(txt, "No data yet") {
					t.Errorf("%s shows %q", w, txt)
				}
			}
			if sw, iw := eval[int](p, `document.documentElement.scrollWidth`), eval[int](p, `window.innerWidth`); sw > iw {
				t.Errorf("the page is %d px wide in a %d px window (the long table cell)", sw, iw)
			}
			p.shot(fmt.Sprintf("charts-%d", width))
		})
	}
	p.do(chromedp.EmulateReset())
	noConsoleErrors(t, consoleErrors)
}
