package dashboard_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// contrastJS lists the visible text of the page whose rendered contrast is
// under WCAG AA: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
// The text color (with its alpha and the element's opacities) is blended
// over the backgrounds behind it, walking up the tree; the ratio is the
// WCAG formula on relative luminance.
const contrastJS = `(() => {
  const parse = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (f, b) => [0,1,2].map(i => f[i] * f[3] + b[i] * (1 - f[3])).concat([1]);
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const bgOf = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let b = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) b = over(layers[i], b);
    return b;
  };
  const bad = [];
  const seen = new Set();
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg, script, style, option, .maid-toasts')) continue;
    if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const r = el.getBoundingClientRect(); const cs = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden') continue;
    let op = 1; for (let e = el; e; e = e.parentElement) op *= Number(getComputedStyle(e).opacity);
    const fg = parse(cs.color); fg[3] *= op;
    const bg = bgOf(el);
    const cr = ratio(over(fg, bg), bg);
    const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (cr < need) {
      const key = el.tagName + '.' + el.className + ' ' + cs.color;
      if (seen.has(key)) continue; seen.add(key);
      bad.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
        ' "' + el.textContent.trim().slice(0, 30) + '" ' + cr.toFixed(2) + ':1 (need ' + need + ')');
    }
  }
  return bad;
})()`

// TestContrast: every page's text, links and buttons (everyPage, then the
// uninstall question and the sign-in page) meet WCAG AA in both themes,
// measured from the colors Chromium renders.
func TestContrast(t *testing.T) {
	env, p, _ := browserEnv(t, newEnv)
	p.signInAdmin(env)
	pages := everyPage(env)
	for _, theme := range []string{"dark", "light"} {
		t.Run(theme, func(t *testing.T) {
			p := p.in(t)
			p.do(chromedp.Evaluate[chromedp.Void](`localStorage.setItem('maid-theme', '` + theme + `')`))
			for _, pg := range pages {
				p.open(pg.path)
				p.waitJS(pg.ready)
				if got := eval[string](p, `document.documentElement.dataset.theme`); got != theme {
					t.Fatalf("theme %q", got)
				}
				if bad := eval[[]string](p, contrastJS); len(bad) > 0 {
					t.Errorf("%s (%s): text under WCAG AA:\n  %s", pg.name, theme, strings.Join(bad, "\n  "))
				}
				if pg.name == "marketplace" {
					// The uninstall question: a red "Uninstall", not a gold "OK".
					p.do(chromedp.Click(chromedp.CSS(`form[data-confirm] button[type=submit]`)))
					p.waitJS(`document.querySelector('.maid-modal') !== null`)
					if got := eval[string](p, `(document.querySelector('.maid-modal .maid-btn-danger-solid') || {}).textContent`); got != "Uninstall" {
						t.Errorf("the uninstall confirmation's button is %q", got)
					}
					if bad := eval[[]string](p, contrastJS); len(bad) > 0 {
						t.Errorf("uninstall question (%s): text under WCAG AA:\n  %s", theme, strings.Join(bad, "\n  "))
					}
					p.shot("contrast-uninstall-" + theme)
					p.do(chromedp.Click(chromedp.CSS(`.maid-modal .maid-btn:not(.maid-btn-danger-solid)`)))
				}
				p.shot("contrast-" + strings.ReplaceAll(pg.name, " ", "-") + "-" + theme)
			}
			// The sign-in page, signed out; then in again for the next theme.
			p.open("/servers")
			p.waitJS(`document.querySelector('.user form') !== null`)
			p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('.user form').submit()`))
			p.waitJS(`location.pathname === '/login' && document.querySelector('#admin-link-cmd') !== null`)
			if bad := eval[[]string](p, contrastJS); len(bad) > 0 {
				t.Errorf("sign-in (%s): text under WCAG AA:\n  %s", theme, strings.Join(bad, "\n  "))
			}
			p.shot("contrast-login-" + theme)
			p.signInAdmin(env)
		})
	}
}
