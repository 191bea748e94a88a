package dashboard

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/maidhq/maid/plugin"
)

// emptyDir is a Directory with one channel, role and member.
type emptyDir struct{}

func (emptyDir) Servers(context.Context) ([]Server, error) {
	return []Server{{ID: "1", Name: "s"}}, nil
}
func (emptyDir) Channels(context.Context, string) ([]Channel, error) {
	return []Channel{{ID: "10", Name: "general", Type: "text"}}, nil
}
func (emptyDir) Roles(context.Context, string) ([]Role, error) {
	return []Role{{ID: "20", Name: "mod"}}, nil
}
func (emptyDir) Members(context.Context, string, int) ([]Member, error) {
	return []Member{{ID: "30", Name: "bob"}}, nil
}

func testSite(t testing.TB) *Site {
	tm, err := loadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	return &Site{cfg: Config{Directory: emptyDir{}}, tmpl: tm, renders: newRenderer()}
}

var fuzzWidgets = []plugin.Widget{
	{ID: "a", Type: "stat_card"}, {ID: "b", Type: "chart", ChartType: "line"}, {ID: "c", Type: "chart", ChartType: "bar"},
	{ID: "d", Type: "chart", ChartType: "pie"}, {ID: "e", Type: "chart", ChartType: "area"}, {ID: "f", Type: "table"},
	{ID: "g", Type: "list"}, {ID: "h", Type: "progress_bar"}, {ID: "i", Type: "text"}, {ID: "j", Type: "markdown"},
	{ID: "k", Type: "alert"}, {ID: "l", Type: "form", SaveMethod: "dashboard.save", Fields: []plugin.Field{
		{Name: "t", Label: "T", Type: "text"}, {Name: "c", Label: "C", Type: "channel"}, {Name: "x", Label: "X", Type: "checkbox"},
		{Name: "s", Label: "S", Type: "select", Options: []plugin.FieldOption{{Value: "a", Label: "A"}}},
	}},
}

// fuzzWidget returns the last of fuzzWidgets of type typ ("chart:pie" also
// names the chart type; plain "chart" is the last chart), or a zero Widget.
func fuzzWidget(typ string) plugin.Widget {
	typ, chart, _ := strings.Cut(typ, ":")
	var w plugin.Widget
	for _, fw := range fuzzWidgets {
		if fw.Type == typ && (chart == "" || fw.ChartType == chart) {
			w = fw
		}
	}
	return w
}

// renderOne builds and renders one widget the way widgetFragment does.
func renderOne(s *Site, w *plugin.Widget, raw []byte) (string, error) {
	out, err := s.widgetHTML(context.Background(), "1", "p", w, raw, nil, 1, maxWidgetHTML)
	return string(out), err
}

func TestBuildWidgetShapes(t *testing.T) {
	s := testSite(t)
	tests := []struct {
		name, typ, raw string
		want           []string
		bad            bool
	}{
		{"stat", "stat_card", `{"value": 1234, "change": "-3%"}`, []string{">1234<", "stat-change down"}, false},
		{"stat without value", "stat_card", `{"change": "+1"}`, []string{`no &#34;value&#34;`}, true},
		{"not an object", "text", `[1,2]`, []string{"not a JSON object"}, true},
		{"pie", "chart:pie", `{"labels": ["a", "b"], "series": [{"name": "n", "data": [1, 3]}]}`, []string{`class="slice s0"`, "b: 3"}, false},
		{"chart without series", "chart:line", `{"labels": []}`, []string{"no series"}, true},
		{"negative bars", "chart:bar", `{"labels": ["x"], "series": [{"name": "n", "data": [-5]}]}`, []string{`class="bar s0"`}, false},
		{"table keeps key order", "table", `{"rows": [{"z": 1, "a": 2}], "total": 1}`, []string{"<th>z</th><th>a</th>"}, false},
		{"table html escaped", "table", `{"rows": [{"<b>": "<script>x</script>"}]}`, []string{"&lt;script&gt;"}, false},
		{"progress clamps", "progress_bar", `{"value": 150, "max": 100}`, []string{`value="100"`, "150 / 100"}, false},
		{"alert level", "alert", `{"level": "fatal", "message": "x"}`, []string{`level &#34;fatal&#34;`}, true},
		{"markdown drops html", "markdown", `{"markdown": "<img src=x onerror=alert(1)>**b**"}`, []string{"<strong>b</strong>"}, false},
		{"form unknown channel kept", "form", `{"values": {"c": "99", "x": true}}`, []string{"99 (unknown)", "checked"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := fuzzWidget(tt.typ)
			out, err := renderOne(s, &w, []byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(out, "widget-error"); got != tt.bad {
				t.Fatalf("error state %v, want %v: %s", got, tt.bad, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if bad := unsafeMarkup(out); bad != "" {
				t.Errorf("unsafe output (%s): %s", bad, out)
			}
		})
	}
}

func TestNiceCeil(t *testing.T) {
	tests := []struct{ in, want float64 }{{0, 0}, {1, 1}, {1.2, 2}, {2.2, 2.5}, {7, 10}, {15, 20}, {0.03, 0.05}, {1001, 2000}}
	for _, tt := range tests {
		if got := niceCeil(tt.in); got != tt.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzWidgetAnswer feeds arbitrary handler answers to every widget type: no
// panic, and nothing the plugin sends becomes live markup.
func FuzzWidgetAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"value": 1, "change": "+1%"}`, `{"labels": ["a"], "series": [{"name": "n", "data": [1e308, -1e308]}]}`,
		`{"rows": [{"a": {"b": [1]}}], "total": -5}`, `{"items": [{"label": null}]}`, `{"value": "NaN", "max": 0}`,
		`{"text": "<script>"}`, `{"markdown": "[x](javascript:alert(1)) <iframe>"}`, `{"level": "warn", "message": "<b>"}`,
		`{"values": {"t": "<script>", "c": {"x": 1}}}`, `null`, `"str"`, `{"rows": null}`,
	} {
		f.Add(seed)
	}
	s := testSite(f)
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) {
			return
		}
		for i := range fuzzWidgets {
			out, err := renderOne(s, &fuzzWidgets[i], []byte(raw))
			if err != nil {
				t.Fatalf("%s: render: %v", fuzzWidgets[i].Type, err)
			}
			if bad := unsafeMarkup(out); bad != "" {
				t.Fatalf("%s: answer %q produced %s", fuzzWidgets[i].Type, raw, bad)
			}
		}
	})
}

// unsafeMarkup returns what in an HTML fragment could run script: script
// and frame elements, event handler attributes, javascript: URLs.
func unsafeMarkup(frag string) string {
	z := html.NewTokenizer(strings.NewReader(frag))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "iframe", "object", "embed", "frame", "base", "meta", "link", "style":
				return "<" + tok.Data + ">"
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(v, "javascript:") || (a.Key == "style" && strings.Contains(v, "url(")) {
					return a.Key + "=" + a.Val
				}
			}
		}
	}
}
