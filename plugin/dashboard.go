package plugin

import (
	"regexp"
	"slices"
	"strings"
)

// DashboardManifest is a plugin's dashboard_manifest.json (manifest mode,
// spec 000): pages of widgets whose data come from Python handlers.
type DashboardManifest struct {
	Pages []Page `json:"pages"`
}

// Page is one tab of a plugin's dashboard.
type Page struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Widgets []Widget `json:"widgets"`
}

// Widget types (spec 000, "Supported widget types").
const (
	WidgetStatCard    = "stat_card"
	WidgetChart       = "chart"
	WidgetTable       = "table"
	WidgetList        = "list"
	WidgetProgressBar = "progress_bar"
	WidgetText        = "text"
	WidgetMarkdown    = "markdown"
	WidgetAlert       = "alert"
	WidgetForm        = "form"
)

// WidgetTypes lists the widget types in spec order.
var WidgetTypes = []string{WidgetStatCard, WidgetChart, WidgetTable, WidgetList, WidgetProgressBar, WidgetText, WidgetMarkdown, WidgetAlert, WidgetForm}

// ChartTypes lists the chart_type values a chart widget may have.
var ChartTypes = []string{"line", "bar", "area", "pie"}

// FieldTypes lists the form field types.
var FieldTypes = []string{"text", "textarea", "number", "checkbox", "select", "channel", "role", "user"}

// Widget is one block on a page. RPCMethod (and SaveMethod for forms) name
// the plugin's @plugin.on_dashboard handlers as "dashboard.<handler>".
type Widget struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"`
	Title      string  `json:"title,omitempty"`
	ChartType  string  `json:"chart_type,omitempty"`  // chart only, required
	RPCMethod  string  `json:"rpc_method"`            // every widget
	SaveMethod string  `json:"save_method,omitempty"` // form only, required
	Fields     []Field `json:"fields,omitempty"`      // form only, required
	// RefreshSeconds reloads the widget at this interval (maid extension,
	// optional; 0: only when the plugin's data on the server changes, or
	// on the refresh button).
	RefreshSeconds int `json:"refresh_seconds,omitempty"`
}

// Bounds of a widget's refresh_seconds: more often than every 5 s would
// make each open dashboard call the plugin that often.
const (
	MinWidgetRefresh = 5
	MaxWidgetRefresh = 86400
)

// Field is one input of a form widget.
type Field struct {
	Name    string        `json:"name"`
	Label   string        `json:"label"`
	Type    string        `json:"type"`
	Options []FieldOption `json:"options,omitempty"` // select only, required
}

// FieldOption is one entry of a select field.
type FieldOption struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

const rpcPrefix = "dashboard."

// handlerRe: a handler name is a Python identifier (ASCII), as it appears in
// @plugin.on_dashboard("...") and in /p/{plugin_id}/dashboard/rpc/<handler>.
var handlerRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Handler returns the handler name of the widget's rpc_method
// ("dashboard.get_settings" → "get_settings").
func (w Widget) Handler() string { return strings.TrimPrefix(w.RPCMethod, rpcPrefix) }

// SaveHandler returns the handler name of a form's save_method ("" if none).
func (w Widget) SaveHandler() string { return strings.TrimPrefix(w.SaveMethod, rpcPrefix) }

// Handlers returns every handler name the dashboard calls, sorted, each once.
func (d *DashboardManifest) Handlers() []string {
	var out []string
	for _, p := range d.Pages {
		for _, w := range p.Widgets {
			out = append(out, w.Handler())
			if w.SaveMethod != "" {
				out = append(out, w.SaveHandler())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Page returns the page with the given id, or nil.
func (d *DashboardManifest) Page(id string) *Page {
	for i := range d.Pages {
		if d.Pages[i].ID == id {
			return &d.Pages[i]
		}
	}
	return nil
}

// ParseDashboardManifest parses and validates dashboard_manifest.json,
// returning a *ValidationError that lists every problem.
func ParseDashboardManifest(data []byte) (*DashboardManifest, error) {
	d, ps := parseDashboard(data)
	if err := ps.err(dashboardManifestFileName); err != nil {
		return nil, err
	}
	return d, nil
}

func parseDashboard(data []byte) (*DashboardManifest, *problems) {
	ps := &problems{}
	d := &DashboardManifest{}
	w, o, ok := openDocument(ps, data)
	if !ok {
		return d, ps
	}
	if elems, ok := o.array("pages", true); ok {
		checkCount(ps, "pages", len(elems), MaxDashboardPages, "page")
		ids, titles := firstUse{}, firstUse{}
		for i, po := range w.objects("pages", elems) {
			d.Pages = append(d.Pages, parsePage(po, i, ids, titles))
		}
	}
	o.done("pages")
	return d, ps
}

// checkCount reports a list at path of n elements that has none or more
// than max; noun names one element ("page"), its plural adds an s.
func checkCount(ps *problems, path string, n, max int, noun string) {
	switch {
	case n == 0:
		ps.add(path, "must have at least one %s", noun)
	case n > max:
		ps.add(path, "must have at most %d %ss, got %d", max, noun, n)
	}
}

func parsePage(o *object, i int, ids, titles firstUse) Page {
	w, ps, p := o.w, o.w.ps, o.path
	var page Page
	if id, ok := o.uniqueKey("id", checkID, ids, "page id %q is already used by %s", i, "pages"); ok {
		page.ID = id
	}
	if t, ok := o.text("title"); ok {
		page.Title = t
		if strings.TrimSpace(t) != "" {
			titles.claim(ps, joinPath(p, "title"), "page title %q is already used by %s", t, i, "pages")
		}
	}
	if elems, ok := o.array("widgets", true); ok {
		wp := joinPath(p, "widgets")
		checkCount(ps, wp, len(elems), MaxWidgetsPerPage, "widget")
		seen := firstUse{}
		for j, wo := range w.objects(wp, elems) {
			page.Widgets = append(page.Widgets, parseWidget(wo, j, seen))
		}
	}
	o.done("id", "title", "widgets")
	return page
}

func parseWidget(o *object, i int, seen firstUse) Widget {
	w, ps, p := o.w, o.w.ps, o.path
	var wd Widget
	if id, ok := o.uniqueKey("id", checkID, seen, "widget id %q is already used on this page by %s", i, "widgets"); ok {
		wd.ID = id
	}
	var typ string // the type if known, else ""
	wd.Type, typ = o.enum("type", WidgetTypes)
	if t, ok := o.str("title", false); ok {
		wd.Title = t
	}
	if m, ok := o.str("rpc_method", true); ok {
		wd.RPCMethod = m
		checkMethod(ps, joinPath(p, "rpc_method"), m)
	}

	// Type-specific keys: required on their type, refused elsewhere (a
	// chart_type on a table is a mistake the author should hear about).
	if ct, ok := o.str("chart_type", typ == WidgetChart); ok {
		wd.ChartType = ct
		if o.onlyOn("chart_type", typ, WidgetChart, "chart widgets") && !slices.Contains(ChartTypes, ct) {
			ps.add(joinPath(p, "chart_type"), "must be one of %s, got %q", strings.Join(ChartTypes, ", "), ct)
		}
	}
	if m, ok := o.str("save_method", typ == WidgetForm); ok {
		wd.SaveMethod = m
		if o.onlyOn("save_method", typ, WidgetForm, "form widgets") {
			checkMethod(ps, joinPath(p, "save_method"), m)
		}
	}
	if elems, ok := o.array("fields", typ == WidgetForm); ok {
		fp := joinPath(p, "fields")
		if o.onlyOn("fields", typ, WidgetForm, "form widgets") {
			checkCount(ps, fp, len(elems), MaxFormFields, "field")
		}
		names := firstUse{}
		for j, fo := range w.objects(fp, elems) {
			wd.Fields = append(wd.Fields, parseField(fo, j, names))
		}
	}
	if n, ok := o.integer("refresh_seconds", MinWidgetRefresh, MaxWidgetRefresh); ok {
		wd.RefreshSeconds = int(n)
	}
	o.done("id", "type", "title", "chart_type", "rpc_method", "save_method", "fields", "refresh_seconds")
	return wd
}

func parseField(o *object, i int, names firstUse) Field {
	w, ps, p := o.w, o.w.ps, o.path
	var f Field
	if n, ok := o.uniqueKey("name", checkID, names, "field name %q is already used by %s", i, "fields"); ok {
		f.Name = n
	}
	if l, ok := o.text("label"); ok {
		f.Label = l
	}
	var typ string // the type if known, else ""
	f.Type, typ = o.enum("type", FieldTypes)
	if elems, ok := o.array("options", typ == "select"); ok {
		op := joinPath(p, "options")
		if o.onlyOn("options", typ, "select", "select fields") {
			checkCount(ps, op, len(elems), MaxSelectFieldOptions, "option")
		}
		values := firstUse{}
		for j, oo := range w.objects(op, elems) {
			var fo FieldOption
			if v, ok := oo.str("value", true); ok {
				fo.Value = v
				values.claim(ps, joinPath(oo.path, "value"), "value %q is already used by %s", v, j, op)
			}
			if l, ok := oo.text("label"); ok {
				fo.Label = l
			}
			oo.done("value", "label")
			f.Options = append(f.Options, fo)
		}
	}
	o.done("name", "label", "type", "options")
	return f
}

// onlyOn reports key, present on an object of type typ ("" if unknown,
// which was reported already), unless typ is want; where names the objects
// that may have it ("chart widgets"). It returns whether key may be there.
func (o *object) onlyOn(key, typ, want, where string) bool {
	if typ != want && typ != "" {
		o.w.ps.add(joinPath(o.path, key), "is only allowed on %s", where)
		return false
	}
	return true
}

func checkMethod(ps *problems, p, m string) {
	h, ok := strings.CutPrefix(m, rpcPrefix)
	if !ok || !handlerRe.MatchString(h) {
		ps.add(p, `must be "dashboard.<handler>" where <handler> is a Python identifier, got %q`, m)
	}
}
