package dashboard

import (
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/memtest"
)

// heapGrowth runs fn and returns how far the Go heap grew above what it was
// before, at its highest (sampled every millisecond, with the collector
// made eager so that garbage does not count as growth), and fn's result.
func heapGrowth[T any](fn func() T) (uint64, T) {
	old := debug.SetGCPercent(5)
	defer debug.SetGCPercent(old)
	var out T
	g := memtest.Peak(func() { out = fn() })
	return uint64(g.Alloc), out
}

// hostileAnswers are widget answers built to make rendering explode: each
// is at most one protocol line (1 MiB), the most a handler can send.
func hostileAnswers() []struct{ name, typ, raw, note string } {
	var b strings.Builder
	obj := func(fill func()) string { b.Reset(); fill(); return b.String() }
	return []struct{ name, typ, raw, note string }{
		// Issue 14's reproduction, smaller: every row has its own key, so
		// rows × keys cells.
		{"table wide and long", "table", obj(func() {
			b.WriteString(`{"total": 1e300, "rows": [`)
			for i := range 1500 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"k%x": 0}`, i)
			}
			b.WriteString(`]}`)
		}), "columns; the rows have more"},
		{"table one wide row", "table", obj(func() {
			b.WriteString(`{"rows": [{`)
			for i := range 50000 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"k%x": "%s"`, i, strings.Repeat(`\"`, 4))
			}
			b.WriteString(`}]}`)
		}), "columns; the rows have more"},
		{"table of empty rows", "table", `{"rows": [` + strings.Repeat(`{},`, 300000) + `{}]}`, "of 300,001 rows"},
		{"table of long quoted cells", "table", `{"rows": [` + strings.Repeat(`{"a": "`+strings.Repeat(`\"`, 3000)+`", "b": "`+strings.Repeat("<", 3000)+`"},`, 80) + `{}]}`, "Long values are shortened"},
		{"chart labels × series", "chart:bar", obj(func() {
			b.WriteString(`{"labels": [`)
			for i := range 20000 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"%d<>"`, i)
			}
			b.WriteString(`], "series": [`)
			for s := range 30 {
				if s > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"name": "s%d", "data": [%s1]}`, s, strings.Repeat("7,", 12000))
			}
			b.WriteString(`]}`)
		}), "series"},
		{"line chart points", "chart:line", `{"series": [{"name": "n", "data": [` + strings.Repeat("1.5,", 250000) + `1]}]}`, "of 250,001 points"},
		{"pie slices", "chart:pie", `{"labels": [` + strings.Repeat(`"slice",`, 100000) + `"x"], "series": [{"name": "n", "data": [` + strings.Repeat("1,", 100000) + `1]}]}`, "points"},
		{"list items", "list", `{"items": [` + strings.Repeat(`{"label": "<b>", "value": "&&&&"},`, 30000) + `{}]}`, "of 30,001 items"},
		{"list of nested values", "list", `{"items": [` + strings.Repeat(`{"label": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]], "value": {"a": {"b": {"c": [1,2,3,4,5,6,7,8,9]}}}},`, 6000) + `{}]}`, "items"},
		{"stat of quotes", "stat_card", `{"value": "` + strings.Repeat(`\"`, 400000) + `", "change": "+` + strings.Repeat("<", 100000) + `"}`, "Long values are shortened"},
		{"text of quotes", "text", `{"text": "` + strings.Repeat(`\"`, 500000) + `"}`, "shortened"},
		{"alert of markup", "alert", `{"level": "warn", "message": "` + strings.Repeat(`<i>`, 300000) + `"}`, "Long values are shortened"},
		{"markdown link references", "markdown", `{"markdown": "[a]: http://x/` + strings.Repeat("y", 2000) + `\n\n` + strings.Repeat("[a] ", 200000) + `"}`, "Truncated"},
		{"markdown nested quotes", "markdown", `{"markdown": "` + strings.Repeat(">", 500000) + ` x"}`, "Truncated"},
		{"markdown nested lists", "markdown", `{"markdown": "` + strings.Repeat(`- a\n  `, 100000) + `"}`, "Truncated"},
		// A GFM table pads every row to its header's width: a wide header
		// over many short lines is rows × columns cells in the parser.
		{"markdown table padding", "markdown", `{"markdown": "|` + strings.Repeat("a|", 1000) + `\n|` + strings.Repeat("-|", 1000) + `\n` + strings.Repeat(`x\n`, 100000) + `"}`, "Truncated"},
		{"markdown quoted table padding", "markdown", `{"markdown": "> |` + strings.Repeat("a|", 1000) + `\n> |` + strings.Repeat("-|", 1000) + `\n` + strings.Repeat(`> x\n`, 50000) + `"}`, "Truncated"},
		{"markdown brackets and emphasis", "markdown", `{"markdown": "` + strings.Repeat(`[*_a`, 200000) + `"}`, "Truncated"},
		{"form values", "form", `{"values": {"t": "` + strings.Repeat(`\"`, 400000) + `", "c": "` + strings.Repeat("<", 100000) + `"}}`, "Long values are shortened"},
		{"deep and wide junk beside a stat", "stat_card", `{"value": 1, "junk": [` + strings.Repeat(`{"a": [{}]},`, 80000) + `{}], "deep": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, ""},
	}
}

// TestWidgetBounds renders each hostile answer the way a page view does and
// checks that the HTML stays within the widget's budget, maid's heap grows
// by at most a few MiB doing it, the widget says what it left out, and
// nothing becomes live markup.
func TestWidgetBounds(t *testing.T) {
	s := testSite(t)
	const heapBound = 8 << 20
	for _, tt := range hostileAnswers() {
		t.Run(tt.name, func(t *testing.T) {
			w := fuzzWidget(tt.typ)
			if len(tt.raw) > 1<<20 {
				t.Fatalf("answer of %d bytes: more than a protocol line", len(tt.raw))
			}
			raw := []byte(tt.raw)
			for _, widgets := range []int{1, 64} { // alone on its page, and one of 64
				budget := widgetBudget(widgets)
				start := time.Now()
				grew, res := heapGrowth(func() struct {
					out []byte
					err error
				} {
					out, err := s.widgetHTML(t.Context(), "1", "p", &w, raw, nil, 1, budget)
					return struct {
						out []byte
						err error
					}{out, err}
				})
				took := time.Since(start)
				if res.err != nil {
					t.Fatalf("render: %v", res.err)
				}
				out := string(res.out)
				t.Logf("%d widgets on the page: %d KiB of HTML (budget %d KiB), heap grew %d KiB, %v", widgets, len(out)>>10, budget>>10, grew>>10, took)
				if len(out) > budget {
					t.Errorf("%d bytes of HTML, budget %d", len(out), budget)
				}
				if grew > heapBound {
					t.Errorf("heap grew by %d KiB rendering it (bound %d KiB)", grew>>10, heapBound>>10)
				}
				if strings.Contains(out, "widget-error") {
					t.Errorf("rendered as an error, want a truncated widget: %.500s", out)
				}
				if tt.note != "" && (!strings.Contains(out, `class="widget-truncated"`) || !strings.Contains(out, tt.note)) {
					t.Errorf("no truncation note with %q: %.300s … %.600s", tt.note, out, out[max(0, len(out)-600):])
				}
				if bad := unsafeMarkup(out); bad != "" {
					t.Errorf("unsafe output: %s", bad)
				}
			}
		})
	}
}
