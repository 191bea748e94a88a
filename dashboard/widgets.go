package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

// tablePageSize is the rows per page a table widget asks its handler for.
const tablePageSize = 10

// widgetFragment calls one widget's handler and answers the widget's HTML
// (rendered here, escaped by html/template). A handler error, timeout or
// malformed answer becomes an error state in this widget only.
func (s *Site) widgetFragment(c echo.Context) error {
	_, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pkg, ok := s.eng.Plugin(c.Param("plugin"))
	if !ok || pkg.Mode != plugin.ModeManifest {
		return errStatus(http.StatusNotFound, "not_found", "no such manifest dashboard")
	}
	page := pkg.Dashboard.Page(c.Param("page"))
	if page == nil {
		return errStatus(http.StatusNotFound, "not_found", "no such dashboard page")
	}
	var w *plugin.Widget
	for i := range page.Widgets {
		if page.Widgets[i].ID == c.Param("widget") {
			w = &page.Widgets[i]
		}
	}
	if w == nil {
		return errStatus(http.StatusNotFound, "not_found", "no such widget")
	}
	params := map[string]any{}
	pageNum := 1
	if w.Type == plugin.WidgetTable {
		if n, err := strconv.Atoi(c.QueryParam("p")); err == nil && n > 0 && n < 1_000_000 {
			pageNum = n
		}
		params = map[string]any{"page": pageNum, "page_size": tablePageSize, "offset": (pageNum - 1) * tablePageSize, "limit": tablePageSize}
	}
	raw, _ := json.Marshal(params)
	data := map[string]any{"W": w, "Src": c.Request().URL.Path}
	res, err := s.eng.CallDashboard(ctx, pkg.Manifest.ID, sv.ID, w.Handler(), raw)
	if err != nil {
		data["Error"] = widgetErr(err, s.eng)
	} else if view, err := s.buildWidget(ctx, sv.ID, pkg.Manifest.ID, w, res, pageNum); err != nil {
		data["Error"] = map[string]string{"Code": "bad_answer", "Message": "the handler " + w.Handler() + " returned " + err.Error()}
	} else {
		data["V"] = view
	}
	var b bytes.Buffer
	if err := s.tmpl.frag.ExecuteTemplate(&b, "widget", data); err != nil {
		return fmt.Errorf("render widget: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, b.Bytes())
}

func widgetErr(err error, _ *engine.Engine) map[string]string {
	code := engine.ErrorCode(err)
	msg := err.Error()
	switch code {
	case "timeout":
		msg = "The handler did not answer in time (dashboard handlers must return within 10 seconds)."
	case "not_found":
		msg = "Unavailable: " + msg
	}
	return map[string]string{"Code": code, "Message": msg}
}

// display formats a JSON value for a cell or label.
func display(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return fmtFloat(x)
	case json.Number:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// orderedKeys returns an object's keys in document order.
func orderedKeys(raw json.RawMessage) ([]string, map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, nil, err
		}
	}
	return keys, m, nil
}

type statView struct{ Value, Change, Dir string }
type listItem struct{ Label, Value string }
type tableView struct {
	Columns            []string
	Rows               [][]string
	Total, Page, Pages int
	From, To           int
}
type progressView struct {
	Value, Max, Label, Percent string
	V, M                       float64
}
type alertView struct{ Level, Message string }
type formField struct {
	Name, Label, Type, Value string
	Checked                  bool
	Options                  []formOption
}
type formOption struct {
	Value, Label string
	Selected     bool
}
type formView struct {
	Fields  []formField
	SaveURL string
}

func (s *Site) buildWidget(ctx context.Context, serverID, pluginID string, w *plugin.Widget, raw json.RawMessage, pageNum int) (any, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%s, not a JSON object", shorten(string(raw)))
	}
	get := func(k string) any {
		var v any
		if r, ok := obj[k]; ok {
			_ = json.Unmarshal(r, &v)
		}
		return v
	}
	switch w.Type {
	case plugin.WidgetStatCard:
		if _, ok := obj["value"]; !ok {
			return nil, fmt.Errorf("no \"value\" (want {\"value\": 1234, \"change\": \"+12%%\"})")
		}
		sv := statView{Value: display(get("value")), Change: display(get("change"))}
		switch {
		case strings.HasPrefix(sv.Change, "+"):
			sv.Dir = "up"
		case strings.HasPrefix(sv.Change, "-"), strings.HasPrefix(sv.Change, "−"):
			sv.Dir = "down"
		}
		return sv, nil
	case plugin.WidgetChart:
		var ch chartData
		if err := json.Unmarshal(raw, &ch); err != nil {
			return nil, fmt.Errorf("a chart that does not decode: %v (want {\"labels\": [...], \"series\": [{\"name\", \"data\"}]})", err)
		}
		if len(ch.Series) == 0 {
			return nil, fmt.Errorf("no series (want {\"labels\": [...], \"series\": [{\"name\", \"data\"}]})")
		}
		return renderChart(w.ChartType, ch), nil
	case plugin.WidgetTable:
		var t struct {
			Rows  []json.RawMessage `json:"rows"`
			Total *float64          `json:"total"`
		}
		if err := json.Unmarshal(raw, &t); err != nil || t.Rows == nil {
			return nil, fmt.Errorf("no \"rows\" list (want {\"rows\": [{...}], \"total\": 100})")
		}
		tv := tableView{Page: pageNum}
		seen := map[string]bool{}
		var maps []map[string]any
		for i, r := range t.Rows {
			keys, m, err := orderedKeys(r)
			if err != nil {
				return nil, fmt.Errorf("rows[%d] that is not an object", i)
			}
			for _, k := range keys {
				if !seen[k] {
					seen[k] = true
					tv.Columns = append(tv.Columns, k)
				}
			}
			maps = append(maps, m)
		}
		for _, m := range maps {
			row := make([]string, len(tv.Columns))
			for i, col := range tv.Columns {
				row[i] = display(m[col])
			}
			tv.Rows = append(tv.Rows, row)
		}
		tv.Total = len(t.Rows)
		if t.Total != nil && *t.Total >= 0 {
			tv.Total = int(*t.Total)
		}
		tv.Pages = max(1, (tv.Total+tablePageSize-1)/tablePageSize)
		tv.From = (pageNum-1)*tablePageSize + 1
		tv.To = tv.From + len(tv.Rows) - 1
		return tv, nil
	case plugin.WidgetList:
		var l struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(raw, &l); err != nil || l.Items == nil {
			return nil, fmt.Errorf("no \"items\" list (want {\"items\": [{\"label\", \"value\"}]})")
		}
		out := make([]listItem, 0, len(l.Items))
		for _, it := range l.Items {
			out = append(out, listItem{Label: display(it["label"]), Value: display(it["value"])})
		}
		return out, nil
	case plugin.WidgetProgressBar:
		v, ok := number(get("value"))
		if !ok {
			return nil, fmt.Errorf("no numeric \"value\" (want {\"value\": 75, \"max\": 100, \"label\": \"...\"})")
		}
		m, ok := number(get("max"))
		if !ok || m <= 0 {
			m = 100
		}
		clamped := math.Max(0, math.Min(v, m))
		return progressView{Value: fmtFloat(v), Max: fmtFloat(m), Label: display(get("label")), V: clamped, M: m,
			Percent: strconv.FormatFloat(clamped/m*100, 'f', 0, 64) + "%"}, nil
	case plugin.WidgetText:
		t, ok := get("text").(string)
		if !ok {
			return nil, fmt.Errorf("no \"text\" string")
		}
		return t, nil
	case plugin.WidgetMarkdown:
		md, ok := get("markdown").(string)
		if !ok {
			return nil, fmt.Errorf("no \"markdown\" string")
		}
		return s.renders.markdown(md)
	case plugin.WidgetAlert:
		lvl, _ := get("level").(string)
		if lvl != "info" && lvl != "warn" && lvl != "error" {
			return nil, fmt.Errorf("level %q; want info, warn or error", lvl)
		}
		return alertView{Level: lvl, Message: display(get("message"))}, nil
	case plugin.WidgetForm:
		var f struct {
			Values map[string]any `json:"values"`
		}
		if err := json.Unmarshal(raw, &f); err != nil || f.Values == nil {
			return nil, fmt.Errorf("no \"values\" object (want {\"values\": {...}})")
		}
		return s.buildForm(ctx, serverID, pluginID, w, f.Values)
	}
	return nil, fmt.Errorf("a widget of unknown type %q", w.Type)
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func (s *Site) buildForm(ctx context.Context, serverID, pluginID string, w *plugin.Widget, values map[string]any) (formView, error) {
	fv := formView{SaveURL: "/p/" + pluginID + "/dashboard/rpc/" + w.SaveHandler() + "?discord_srv_id=" + serverID}
	dir := s.cfg.Directory
	for _, f := range w.Fields {
		ff := formField{Name: f.Name, Label: f.Label, Type: f.Type}
		v := values[f.Name]
		switch f.Type {
		case "checkbox":
			ff.Checked, _ = v.(bool)
		default:
			ff.Value = display(v)
		}
		var opts []formOption
		switch f.Type {
		case "select":
			for _, o := range f.Options {
				opts = append(opts, formOption{Value: o.Value, Label: o.Label})
			}
		case "channel":
			chans, err := dir.Channels(ctx, serverID)
			if err != nil {
				return fv, fmt.Errorf("(channels unavailable: %v)", err)
			}
			for _, ch := range chans {
				if ch.Type == "" || ch.Type == "text" {
					opts = append(opts, formOption{Value: ch.ID, Label: "#" + ch.Name})
				}
			}
		case "role":
			roles, err := dir.Roles(ctx, serverID)
			if err != nil {
				return fv, fmt.Errorf("(roles unavailable: %v)", err)
			}
			for _, r := range roles {
				opts = append(opts, formOption{Value: r.ID, Label: "@" + r.Name})
			}
		case "user":
			members, err := dir.Members(ctx, serverID, 200)
			if err != nil {
				return fv, fmt.Errorf("(members unavailable: %v)", err)
			}
			for _, m := range members {
				opts = append(opts, formOption{Value: m.ID, Label: m.Name})
			}
		}
		if opts != nil || f.Type == "select" || f.Type == "channel" || f.Type == "role" || f.Type == "user" {
			found := false
			for i := range opts {
				if opts[i].Value == ff.Value {
					opts[i].Selected, found = true, true
				}
			}
			if !found && ff.Value != "" {
				opts = append(opts, formOption{Value: ff.Value, Label: ff.Value + " (unknown)", Selected: true})
			}
			if f.Type != "select" {
				opts = append([]formOption{{Value: "", Label: "— none —", Selected: ff.Value == ""}}, opts...)
			}
			ff.Options = opts
		}
		fv.Fields = append(fv.Fields, ff)
	}
	return fv, nil
}

// chartData is the chart widget's answer (spec 000).
type chartData struct {
	Labels []any `json:"labels"`
	Series []struct {
		Name string    `json:"name"`
		Data []float64 `json:"data"`
	} `json:"series"`
}

type chartView struct {
	SVG    template.HTML
	Legend []listItem // Label: name, Value: css class
}

// renderChart draws a chart as inline SVG. Colors come from the theme's CSS
// classes (.s0...), so the chart follows the dark/light switch.
func renderChart(kind string, ch chartData) chartView {
	const W, H, left, right, top, bottom = 640.0, 240.0, 48.0, 12.0, 12.0, 30.0
	esc := template.HTMLEscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s chart" xmlns="http://www.w3.org/2000/svg">`, int(W), int(H), esc(kind))
	n := len(ch.Labels)
	for _, s := range ch.Series {
		n = max(n, len(s.Data))
	}
	label := func(i int) string {
		if i < len(ch.Labels) {
			return display(ch.Labels[i])
		}
		return strconv.Itoa(i + 1)
	}
	var view chartView
	for i, s := range ch.Series {
		view.Legend = append(view.Legend, listItem{Label: s.Name, Value: "s" + strconv.Itoa(i%6)})
	}
	if kind == "pie" {
		renderPie(&b, ch, label, W, H)
		b.WriteString(`</svg>`)
		view.Legend = nil
		for i := 0; i < n && len(ch.Series) > 0; i++ {
			v := 0.0
			if i < len(ch.Series[0].Data) {
				v = ch.Series[0].Data[i]
			}
			view.Legend = append(view.Legend, listItem{Label: label(i) + ": " + fmtFloat(v), Value: "s" + strconv.Itoa(i%6)})
		}
		view.SVG = template.HTML(b.String())
		return view
	}
	hi, lo := 0.0, 0.0
	for _, s := range ch.Series {
		for _, v := range s.Data {
			hi, lo = math.Max(hi, v), math.Min(lo, v)
		}
	}
	hi = niceCeil(hi)
	if lo < 0 {
		lo = -niceCeil(-lo)
	}
	if hi == lo {
		hi = lo + 1
	}
	pw, ph := W-left-right, H-top-bottom
	y := func(v float64) float64 { return top + ph - (v-lo)/(hi-lo)*ph }
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		yy := y(v)
		cls := "grid"
		if i == 0 {
			cls = "axis"
		}
		fmt.Fprintf(&b, `<line class="%s" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, cls, left, yy, W-right, yy)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, left-6, yy+4, esc(compactNum(v)))
	}
	if n == 0 {
		b.WriteString(`</svg>`)
		view.SVG = template.HTML(b.String())
		return view
	}
	slot := pw / float64(n)
	step := max(1, (n+7)/8) // at most ~8 x labels
	for i := 0; i < n; i += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, left+slot*(float64(i)+0.5), H-10, esc(truncRunes(label(i), 12)))
	}
	switch kind {
	case "bar":
		k := float64(len(ch.Series))
		bw := slot * 0.8 / k
		for si, s := range ch.Series {
			for i, v := range s.Data {
				x := left + slot*float64(i) + slot*0.1 + bw*float64(si)
				y0, y1 := y(math.Max(v, 0)), y(math.Min(v, 0))
				fmt.Fprintf(&b, `<rect class="bar s%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s · %s: %s</title></rect>`,
					si%6, x, y0, math.Max(bw-1, 1), math.Max(y1-y0, 0.5), esc(s.Name), esc(label(i)), esc(fmtFloat(v)))
			}
		}
	default: // line and area
		for si, s := range ch.Series {
			var p strings.Builder
			for i, v := range s.Data {
				cmd := "L"
				if i == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&p, "%s%.1f %.1f ", cmd, left+slot*(float64(i)+0.5), y(v))
			}
			if len(s.Data) == 0 {
				continue
			}
			if kind == "area" {
				fmt.Fprintf(&b, `<path class="area s%d" d="%sL%.1f %.1f L%.1f %.1f Z"/>`, si%6, p.String(),
					left+slot*(float64(len(s.Data)-1)+0.5), y(math.Max(lo, 0)), left+slot*0.5, y(math.Max(lo, 0)))
			}
			fmt.Fprintf(&b, `<path class="line s%d" d="%s"/>`, si%6, strings.TrimSpace(p.String()))
			for i, v := range s.Data {
				fmt.Fprintf(&b, `<circle class="dot s%d" cx="%.1f" cy="%.1f" r="3"><title>%s · %s: %s</title></circle>`,
					si%6, left+slot*(float64(i)+0.5), y(v), esc(s.Name), esc(label(i)), esc(fmtFloat(v)))
			}
		}
	}
	b.WriteString(`</svg>`)
	view.SVG = template.HTML(b.String()) // built above from numbers and escaped text only
	return view
}

func renderPie(b *strings.Builder, ch chartData, label func(int) string, W, H float64) {
	data := ch.Series[0].Data
	total := 0.0
	for _, v := range data {
		if v > 0 {
			total += v
		}
	}
	cx, cy, r := W/2, H/2, H/2-10
	if total <= 0 {
		fmt.Fprintf(b, `<circle class="axis" cx="%.1f" cy="%.1f" r="%.1f" fill="none"/>`, cx, cy, r)
		return
	}
	a := -math.Pi / 2
	for i, v := range data {
		if v <= 0 {
			continue
		}
		frac := v / total
		title := template.HTMLEscapeString(label(i) + ": " + fmtFloat(v))
		if frac >= 0.9999 {
			fmt.Fprintf(b, `<circle class="slice s%d" cx="%.1f" cy="%.1f" r="%.1f"><title>%s</title></circle>`, i%6, cx, cy, r, title)
			return
		}
		a2 := a + frac*2*math.Pi
		large := 0
		if frac > 0.5 {
			large = 1
		}
		fmt.Fprintf(b, `<path class="slice s%d" d="M%.1f %.1f L%.1f %.1f A%.1f %.1f 0 %d 1 %.1f %.1f Z"><title>%s</title></path>`,
			i%6, cx, cy, cx+r*math.Cos(a), cy+r*math.Sin(a), r, r, large, cx+r*math.Cos(a2), cy+r*math.Sin(a2), title)
		a = a2
	}
}

func truncRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func compactNum(v float64) string {
	av := math.Abs(v)
	switch {
	case av >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', -1, 64) + "G"
	case av >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case av >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
