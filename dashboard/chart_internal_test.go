package dashboard

import (
	"strings"
	"testing"

	"github.com/maidhq/maid/plugin"
)

// TestChartExtremeValues (browser attack, finding 5): a chart of values
// near float64's limits draws finite coordinates and axis labels (±1e308
// made NaN coordinates and a "+InfG" label): values beyond ±1e15 are drawn
// there, with a note.
func TestChartExtremeValues(t *testing.T) {
	s := testSite(t)
	for _, tt := range []struct{ name, kind, raw string }{
		{"line of ±1e308", "line", `{"labels": ["a", "b", "c"], "series": [{"name": "x", "data": [1e308, -1e308, 1]}]}`},
		{"area of 1.7e308", "area", `{"series": [{"name": "x", "data": [1.7976931348623157e308, 1.7976931348623157e308]}]}`},
		{"bar of -1e308", "bar", `{"series": [{"name": "x", "data": [-1e308, 5]}, {"name": "y", "data": [1e300, 0]}]}`},
		{"pie of 1e308 twice", "pie", `{"labels": ["a", "b"], "series": [{"name": "x", "data": [1e308, 1e308]}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := &plugin.Widget{ID: "c", Type: "chart", ChartType: tt.kind}
			out, err := renderOne(s, w, []byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"NaN", "Inf", "widget-error"} {
				if strings.Contains(out, bad) {
					t.Errorf("the chart contains %q: %.600s", bad, out)
				}
			}
			if !strings.Contains(out, "Values beyond ±1000000000000000 are drawn at ±1000000000000000.") {
				t.Errorf("no note on the clipped values: %.600s", out)
			}
		})
	}
}
