package plugin

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// dm builds a dashboard manifest with one page holding the given widgets.
func dm(widgets string) string {
	return `{"pages": [{"id": "p", "title": "P", "widgets": [` + widgets + `]}]}`
}

func TestParseDashboardManifest(t *testing.T) {
	spec000, err := os.ReadFile("testdata/spec000/dashboard_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data string
		want []string // nil = valid
	}{
		{name: "spec 000 example", data: string(spec000)},
		{name: "every widget type", data: dm(`
			{"id": "a", "type": "stat_card", "rpc_method": "dashboard.a"},
			{"id": "b", "type": "chart", "chart_type": "bar", "rpc_method": "dashboard.b"},
			{"id": "c", "type": "chart", "chart_type": "area", "rpc_method": "dashboard.c"},
			{"id": "d", "type": "chart", "chart_type": "pie", "rpc_method": "dashboard.d"},
			{"id": "e", "type": "table", "rpc_method": "dashboard.e"},
			{"id": "f", "type": "list", "rpc_method": "dashboard.f"},
			{"id": "g", "type": "progress_bar", "rpc_method": "dashboard.g"},
			{"id": "h", "type": "text", "rpc_method": "dashboard.h"},
			{"id": "i", "type": "markdown", "rpc_method": "dashboard.i"},
			{"id": "j", "type": "alert", "rpc_method": "dashboard._j9"},
			{"id": "k", "type": "form", "rpc_method": "dashboard.k", "save_method": "dashboard.k_save", "fields": [
				{"name": "a", "label": "A", "type": "text"}, {"name": "b", "label": "B", "type": "textarea"},
				{"name": "c", "label": "C", "type": "number"}, {"name": "d", "label": "D", "type": "checkbox"},
				{"name": "e", "label": "E", "type": "select", "options": [{"value": "x", "label": "X"}, {"value": "", "label": "None"}]},
				{"name": "f", "label": "F", "type": "channel"}, {"name": "g", "label": "G", "type": "role"}, {"name": "h", "label": "H", "type": "user"}]}`)},
		{name: "same widget id on two pages", data: `{"pages": [
			{"id": "a", "title": "A", "widgets": [{"id": "w", "type": "text", "rpc_method": "dashboard.t"}]},
			{"id": "b", "title": "B", "widgets": [{"id": "w", "type": "text", "rpc_method": "dashboard.t"}]}]}`},

		{name: "not JSON", data: `{"pages": [}`, want: []string{
			`dashboard_manifest.json: invalid JSON at line 1, column 12: invalid character '}' looking for beginning of value`}},
		{name: "empty object", data: `{}`, want: []string{`dashboard_manifest.json: pages: is required`}},
		{name: "no pages", data: `{"pages": []}`, want: []string{`dashboard_manifest.json: pages: must have at least one page`}},
		{name: "unknown top-level key", data: `{"pages": [{"id": "p", "title": "P", "widgets": [{"id": "w", "type": "text", "rpc_method": "dashboard.t"}]}], "page": []}`, want: []string{
			`dashboard_manifest.json: page: unknown key (did you mean "pages"?)`}},
		{name: "page rules", data: `{"pages": [
			{"id": "a", "title": "A", "widgets": [{"id": "w", "type": "text", "rpc_method": "dashboard.t"}]},
			{"id": "a", "title": "A", "widgets": []},
			{"id": "b c", "title": " ", "icon": "x"},
			3]}`, want: []string{
			`dashboard_manifest.json: pages[1].id: page id "a" is already used by pages[0]`,
			`dashboard_manifest.json: pages[1].title: page title "A" is already used by pages[0]`,
			`dashboard_manifest.json: pages[1].widgets: must have at least one widget`,
			`dashboard_manifest.json: pages[2].id: must contain only letters, digits, "-" and "_", got "b c"`,
			`dashboard_manifest.json: pages[2].title: must not be empty`,
			`dashboard_manifest.json: pages[2].widgets: is required`,
			`dashboard_manifest.json: pages[2].icon: unknown key (allowed: id, title, widgets)`,
			`dashboard_manifest.json: pages[3]: must be an object, got number`}},
		{name: "widget ids unique per page", data: dm(`{"id": "w", "type": "text", "rpc_method": "dashboard.t"}, {"id": "w", "type": "text", "rpc_method": "dashboard.t"}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[1].id: widget id "w" is already used on this page by widgets[0]`}},
		{name: "widget missing fields", data: dm(`{}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[0].id: is required`,
			`dashboard_manifest.json: pages[0].widgets[0].type: is required`,
			`dashboard_manifest.json: pages[0].widgets[0].rpc_method: is required`}},
		{name: "widget refresh_seconds", data: dm(`
			{"id": "a", "type": "text", "rpc_method": "dashboard.t", "refresh_seconds": 30},
			{"id": "b", "type": "text", "rpc_method": "dashboard.t", "refresh_seconds": 1},
			{"id": "c", "type": "text", "rpc_method": "dashboard.t", "refresh_seconds": 2.5},
			{"id": "d", "type": "text", "rpc_method": "dashboard.t", "refresh_seconds": "30"}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[1].refresh_seconds: must be between 5 and 86400, got 1`,
			`dashboard_manifest.json: pages[0].widgets[2].refresh_seconds: must be a whole number between 5 and 86400, got 2.5`,
			`dashboard_manifest.json: pages[0].widgets[3].refresh_seconds: must be a whole number, got string`}},
		{name: "widget type unknown", data: dm(`{"id": "w", "type": "gauge", "rpc_method": "dashboard.t"}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[0].type: must be one of stat_card, chart, table, list, progress_bar, text, markdown, alert, form, got "gauge"`}},
		{name: "rpc_method forms", data: dm(`
			{"id": "a", "type": "text", "rpc_method": "get_text"},
			{"id": "b", "type": "text", "rpc_method": "dashboard."},
			{"id": "c", "type": "text", "rpc_method": "kv.get"},
			{"id": "d", "type": "text", "rpc_method": "dashboard.get-text"},
			{"id": "e", "type": "text", "rpc_method": "dashboard.9lives"},
			{"id": "f", "type": "text", "rpc_method": "dashboard.a.b"}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[0].rpc_method: must be "dashboard.<handler>" where <handler> is a Python identifier, got "get_text"`,
			`dashboard_manifest.json: pages[0].widgets[1].rpc_method: must be "dashboard.<handler>" where <handler> is a Python identifier, got "dashboard."`,
			`dashboard_manifest.json: pages[0].widgets[2].rpc_method: must be "dashboard.<handler>" where <handler> is a Python identifier, got "kv.get"`,
			`dashboard_manifest.json: pages[0].widgets[3].rpc_method: must be "dashboard.<handler>" where <handler> is a Python identifier, got "dashboard.get-text"`,
			`dashboard_manifest.json: pages[0].widgets[4].rpc_method: must be "dashboard.<handler>" where <handler> is a Python identifier, got "dashboard.9lives"`,
			`dashboard_manifest.json: pages[0].widgets[5].rpc_method: must be "dashboard.<handler>" where <handler> is a Python identifier, got "dashboard.a.b"`}},
		{name: "chart needs chart_type", data: dm(`{"id": "c", "type": "chart", "rpc_method": "dashboard.c"}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[0].chart_type: is required`}},
		{name: "chart_type unknown", data: dm(`{"id": "c", "type": "chart", "chart_type": "radar", "rpc_method": "dashboard.c"}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[0].chart_type: must be one of line, bar, area, pie, got "radar"`}},
		{name: "type-specific keys on the wrong type", data: dm(`{"id": "t", "type": "table", "chart_type": "line", "rpc_method": "dashboard.t", "save_method": "dashboard.s", "fields": []}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[0].chart_type: is only allowed on chart widgets`,
			`dashboard_manifest.json: pages[0].widgets[0].save_method: is only allowed on form widgets`,
			`dashboard_manifest.json: pages[0].widgets[0].fields: is only allowed on form widgets`}},
		{name: "form needs save_method and fields", data: dm(`{"id": "f", "type": "form", "rpc_method": "dashboard.f"}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[0].save_method: is required`,
			`dashboard_manifest.json: pages[0].widgets[0].fields: is required`}},
		{name: "form rules", data: dm(`{"id": "f", "type": "form", "rpc_method": "dashboard.f", "save_method": "save", "fields": [
			{"name": "a", "label": "A", "type": "text"},
			{"name": "a", "label": "", "type": "color"},
			{"name": "s", "label": "S", "type": "select"},
			{"name": "t", "label": "T", "type": "select", "options": [{"value": "x", "label": "X"}, {"value": "x", "label": " "}, {"id": "y"}]},
			{"name": "u", "label": "U", "type": "text", "options": [], "placeholder": "p"},
			{"label": "no name", "type": "text"}]}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[0].save_method: must be "dashboard.<handler>" where <handler> is a Python identifier, got "save"`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[1].name: field name "a" is already used by fields[0]`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[1].label: must not be empty`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[1].type: must be one of text, textarea, number, checkbox, select, channel, role, user, got "color"`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[2].options: is required`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[3].options[1].value: value "x" is already used by pages[0].widgets[0].fields[3].options[0]`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[3].options[1].label: must not be empty`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[3].options[2].value: is required`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[3].options[2].label: is required`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[3].options[2].id: unknown key (allowed: value, label)`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[4].options: is only allowed on select fields`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[4].placeholder: unknown key (allowed: name, label, type, options)`,
			`dashboard_manifest.json: pages[0].widgets[0].fields[5].name: is required`}},
		{name: "form with no fields", data: dm(`{"id": "f", "type": "form", "rpc_method": "dashboard.f", "save_method": "dashboard.s", "fields": []}`), want: []string{
			`dashboard_manifest.json: pages[0].widgets[0].fields: must have at least one field`}},
		{name: "too many pages", data: `{"pages": [` + strings.Repeat(`1,`, MaxDashboardPages) + `1]}`, want: func() []string {
			out := []string{`dashboard_manifest.json: pages: must have at most 32 pages, got 33`}
			for i := range MaxDashboardPages + 1 {
				out = append(out, `dashboard_manifest.json: pages[`+itoa(i)+`]: must be an object, got number`)
			}
			return out
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDashboardManifest([]byte(tt.data))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				if len(d.Pages) == 0 {
					t.Fatal("no pages decoded")
				}
				return
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestDashboardSpec000Decoded(t *testing.T) {
	data, err := os.ReadFile("testdata/spec000/dashboard_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDashboardManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	p := d.Page("overview")
	if p == nil || p.Title != "Overview" || len(p.Widgets) != 3 {
		t.Fatalf("page overview: %+v", p)
	}
	if d.Page("nope") != nil {
		t.Error("Page(nope) found something")
	}
	tests := []struct {
		name        string
		w           Widget
		handler     string
		saveHandler string
	}{
		{name: "stat card", w: p.Widgets[0], handler: "get_active_users"},
		{name: "chart", w: p.Widgets[1], handler: "get_messages_chart"},
		{name: "form", w: p.Widgets[2], handler: "get_settings", saveHandler: "save_settings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.w.Handler(); got != tt.handler {
				t.Errorf("Handler() = %q, want %q", got, tt.handler)
			}
			if got := tt.w.SaveHandler(); got != tt.saveHandler {
				t.Errorf("SaveHandler() = %q, want %q", got, tt.saveHandler)
			}
		})
	}
	if p.Widgets[1].ChartType != "line" {
		t.Errorf("chart_type = %q", p.Widgets[1].ChartType)
	}
	f := p.Widgets[2].Fields
	if len(f) != 2 || !reflect.DeepEqual(f[0], Field{Name: "channel_id", Label: "Welcome channel", Type: "channel"}) {
		t.Errorf("fields = %+v", f)
	}
	want := []string{"get_active_users", "get_messages_chart", "get_settings", "save_settings"}
	if got := d.Handlers(); !slices.Equal(got, want) {
		t.Errorf("Handlers() = %q, want %q", got, want)
	}
}
