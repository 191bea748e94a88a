package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

// tablePageSize is the rows per page a table widget asks its handler for.
const tablePageSize = 10

// Widget size bounds (issue 14). Every widget's HTML is bounded by
// construction (the caps below) and, as a backstop, by a byte budget it is
// rendered into: at most maxWidgetHTML, and a page's widgets share
// maxPageHTML between them. An answer whose view does not fit is rendered
// again with every cap divided by 4, then by 16; what still does not fit
// is replaced by a note. Whatever a widget leaves out, it says so in a
// visible note.
const (
	maxWidgetHTML = 256 << 10
	maxPageHTML   = 2 << 20
)

// renderCaps bound what a widget shows.
type renderCaps struct {
	Rows, Cols, Cells int // table: rows, columns, rows × columns
	Runes             int // a table cell, a label, a list value, a stat
	Series, Points    int // chart: series, and labels × series
	Slices            int // pie chart slices
	Items             int // list items
	Text              int // runes of a text widget, an alert, a form value
	Markdown          int // bytes of markdown source
}

var fullCaps = renderCaps{Rows: 100, Cols: 20, Cells: 1000, Runes: 200, Series: 12, Points: 2000, Slices: 50, Items: 200, Text: 16000, Markdown: 8 << 10}

// scaled divides every cap by div (at least 1; at least 16 runes).
func (c renderCaps) scaled(div int) renderCaps {
	d := func(v, floor int) int { return max(v/div, floor) }
	return renderCaps{Rows: d(c.Rows, 1), Cols: d(c.Cols, 1), Cells: d(c.Cells, 1), Runes: d(c.Runes, 16),
		Series: d(c.Series, 1), Points: d(c.Points, 1), Slices: d(c.Slices, 1), Items: d(c.Items, 1),
		Text: d(c.Text, 16), Markdown: d(c.Markdown, 16)}
}

// widgetBudget is the HTML byte budget of each widget of a page of n.
func widgetBudget(n int) int { return min(maxWidgetHTML, maxPageHTML/max(n, 1)) }

// widgetFragment calls one widget's handler and answers the widget's HTML
// (rendered here, escaped by html/template). A handler error, timeout or
// malformed answer becomes an error state in this widget only.
func (s *Site) widgetFragment(c echo.Context) error {
	_, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// The widget (its handler, type and limits) comes from the version the
	// server runs, whose handler CallDashboard calls, not from the latest.
	st, err := s.eng.PluginState(ctx, sv.ID, c.Param("plugin"))
	if errors.Is(err, engine.ErrNotFound) {
		return errStatus(http.StatusNotFound, "not_found", "no such manifest dashboard")
	}
	if err != nil {
		return err
	}
	pkg := st.Package
	if pkg.Mode != plugin.ModeManifest {
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
	hold, err := s.holdResult(ctx)
	if err != nil {
		return err
	}
	defer hold.release()
	res, err := s.eng.CallDashboard(ctx, pkg.Manifest.ID, sv.ID, w.Handler(), raw)
	out, err := s.renderWidget(ctx, sv.ID, pkg.Manifest.ID, w, res, err, pageNum, widgetBudget(len(page.Widgets)), sessionOf(c).admin)
	if err != nil {
		return err
	}
	res = nil
	if err := hold.grow(ctx, int64(len(out))); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, out)
}

// widgetHTML renders a widget from its handler's answer (or the call's
// error) in at most budget bytes.
func (s *Site) widgetHTML(ctx context.Context, serverID, pluginID string, w *plugin.Widget, res json.RawMessage, callErr error, pageNum, budget int) ([]byte, error) {
	return s.renderWidget(ctx, serverID, pluginID, w, res, callErr, pageNum, budget, true)
}

// renderWidget is widgetHTML for a viewer: admins see an error's detail,
// managers its plain sentence (and the way to the logs).
func (s *Site) renderWidget(ctx context.Context, serverID, pluginID string, w *plugin.Widget, res json.RawMessage, callErr error, pageNum, budget int, admin bool) ([]byte, error) {
	data := map[string]any{"W": w, "Admin": admin, "LogsURL": "/logs?plugin=" + url.QueryEscape(pluginID) + "&server=" + url.QueryEscape(serverID)}
	render := func() ([]byte, error) {
		lw := &limitWriter{limit: budget}
		if err := s.tmpl.frag.ExecuteTemplate(lw, "widget", data); err != nil {
			if lw.over {
				return nil, errTooLarge
			}
			return nil, fmt.Errorf("render widget: %w", err)
		}
		return lw.buf.Bytes(), nil
	}
	badAnswer := func(err error) map[string]string {
		detail := "the handler " + w.Handler() + " returned " + err.Error()
		if s.eng != nil {
			s.eng.ReportProblem(pluginID, serverID, "dashboard widget "+w.ID+": "+detail)
		}
		return map[string]string{"Code": "bad_answer", "Message": detail, "Plain": plainError("bad_answer")}
	}
	if callErr != nil {
		data["Error"] = widgetErr(callErr)
		return render()
	}
	ans, err := boundedDecode(res, answerLimits)
	if err != nil {
		data["Error"] = badAnswer(fmt.Errorf("%s, not JSON", shorten(string(res))))
		return render()
	}
	for _, div := range []int{1, 4, 16} {
		view, notes, err := s.buildWidget(ctx, serverID, pluginID, w, ans, res, pageNum, fullCaps.scaled(div), budget)
		if errors.Is(err, errTooLarge) {
			continue
		}
		if err != nil {
			data["Error"] = badAnswer(err)
			return render()
		}
		if div > 1 {
			notes = append(notes, "Shortened to fit the page.")
		}
		data["V"], data["Notes"] = view, notes
		out, err := render()
		if !errors.Is(err, errTooLarge) {
			return out, err
		}
	}
	delete(data, "V")
	data["TooLarge"] = fmt.Sprintf("This widget's answer is too large to show: its HTML would be over %d KiB.", budget>>10)
	return render()
}

func widgetErr(err error) map[string]string {
	code := engine.ErrorCode(err)
	msg := err.Error()
	switch code {
	case "timeout":
		msg = "The handler did not answer in time (dashboard handlers must return within 10 seconds)."
	case "not_found":
		msg = "Unavailable: " + msg
	}
	return map[string]string{"Code": code, "Message": msg, "Plain": plainError(code)}
}

// plainError is what a widget error says to a server manager: what
// happened and what to do, in a sentence. Admins also see the detail
// (which reads like the plugin's internals: Go and Python errors).
func plainError(code string) string {
	switch code {
	case "timeout":
		return "The plugin took too long to answer. Try the refresh button in a moment."
	case "plugin_error":
		return "The plugin ran into an error while loading this. The details are in the plugin's logs."
	case "bad_answer":
		return "The plugin sent data this widget cannot show. Its author needs to fix the plugin; the details are in the plugin's logs."
	case "not_found":
		return "The plugin cannot show this right now: it may be disabled, or this version has no handler for it."
	case "unavailable":
		return "The plugin is not running right now. Try again in a moment."
	case "limit":
		return "The plugin's answer was over a limit of this dashboard."
	}
	return "This could not be loaded. Try the refresh button in a moment."
}

// display formats a decoded JSON value for a cell or label in at most n
// runes; cut reports that it was shortened (by the decoder or here).
func display(v any, n int) (s string, cut bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		s = x
	case *jstr:
		s, cut = x.S, true
	case bool:
		return strconv.FormatBool(x), false
	case float64:
		return fmtFloat(x), false
	case json.Number:
		s = x.String()
	default: // *jarr, *jobj: compact JSON, written only as far as shown
		var b strings.Builder
		cut = writeJSON(&b, v, 4*n)
		s = b.String()
	}
	if t := truncRunes(s, n); t != s {
		return t, true
	}
	if cut {
		s += "…"
	}
	return s, cut
}

// writeJSON writes v as compact JSON until b holds limit bytes; it reports
// whether it stopped early or v had been cut by the decoder.
func writeJSON(b *strings.Builder, v any, limit int) (cut bool) {
	if b.Len() >= limit {
		return true
	}
	switch x := v.(type) {
	case *jarr:
		b.WriteByte('[')
		for i, e := range x.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			if writeJSON(b, e, limit) {
				return true
			}
		}
		b.WriteByte(']')
		return x.N > len(x.Elems)
	case *jobj:
		b.WriteByte('{')
		for i, k := range x.Keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			if writeJSON(b, x.Vals[i], limit) {
				return true
			}
		}
		b.WriteByte('}')
		return x.N > len(x.Keys)
	case *jstr:
		sb, _ := json.Marshal(x.S)
		b.Write(sb)
		return true
	}
	vb, _ := json.Marshal(v)
	b.Write(vb)
	return false
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

// notes collects what a widget left out, for the note under it.
type notes struct {
	list      []string
	shortened bool // some value was cut to its rune cap
}

func (n *notes) add(format string, args ...any) {
	n.list = append(n.list, fmt.Sprintf(format, args...))
}

// show is display that records a shortened value.
func (n *notes) show(v any, runes int) string {
	s, cut := display(v, runes)
	n.shortened = n.shortened || cut
	return s
}

func (n *notes) done() []string {
	if n.shortened {
		n.list = append(n.list, "Long values are shortened.")
	}
	return n.list
}

func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// buildWidget turns a bounded answer into the view its template shows,
// within caps, and the notes on what it left out. raw is the answer as
// sent, for error messages only.
func (s *Site) buildWidget(ctx context.Context, serverID, pluginID string, w *plugin.Widget, ans decoded, raw json.RawMessage, pageNum int, caps renderCaps, budget int) (any, []string, error) {
	obj, ok := ans.Value.(*jobj)
	if !ok {
		return nil, nil, fmt.Errorf("%s, not a JSON object", shorten(string(raw)))
	}
	get := func(k string) any { v, _ := obj.get(k); return v }
	var n notes
	switch w.Type {
	case plugin.WidgetStatCard:
		if _, ok := obj.get("value"); !ok {
			return nil, nil, fmt.Errorf("no \"value\" (want {\"value\": 1234, \"change\": \"+12%%\"})")
		}
		sv := statView{Value: n.show(get("value"), caps.Runes), Change: n.show(get("change"), min(caps.Runes, 64))}
		switch {
		case strings.HasPrefix(sv.Change, "+"):
			sv.Dir = "up"
		case strings.HasPrefix(sv.Change, "-"), strings.HasPrefix(sv.Change, "−"):
			sv.Dir = "down"
		}
		return sv, n.done(), nil
	case plugin.WidgetChart:
		ch, err := chartFrom(obj, w.ChartType, caps, &n)
		if err != nil {
			return nil, nil, err
		}
		return renderChart(w.ChartType, ch), n.done(), nil
	case plugin.WidgetTable:
		tv, err := tableFrom(obj, pageNum, caps, &n)
		return tv, n.done(), err
	case plugin.WidgetList:
		items, ok := get("items").(*jarr)
		if !ok {
			return nil, nil, fmt.Errorf("no \"items\" list (want {\"items\": [{\"label\", \"value\"}]})")
		}
		shown := items.Elems[:min(len(items.Elems), caps.Items)]
		out := make([]listItem, 0, len(shown))
		for _, e := range shown {
			it, ok := e.(*jobj)
			if !ok {
				return nil, nil, fmt.Errorf("an item that is not an object (want {\"items\": [{\"label\", \"value\"}]})")
			}
			l, _ := it.get("label")
			v, _ := it.get("value")
			out = append(out, listItem{Label: n.show(l, caps.Runes), Value: n.show(v, caps.Runes)})
		}
		if items.N > len(out) {
			n.add("Showing the first %s of %s items.", count(len(out)), count(items.N))
		}
		return out, n.done(), nil
	case plugin.WidgetProgressBar:
		v, ok := number(get("value"))
		if !ok {
			return nil, nil, fmt.Errorf("no numeric \"value\" (want {\"value\": 75, \"max\": 100, \"label\": \"...\"})")
		}
		m, ok := number(get("max"))
		if !ok || m <= 0 {
			m = 100
		}
		clamped := math.Max(0, math.Min(v, m))
		return progressView{Value: fmtFloat(v), Max: fmtFloat(m), Label: n.show(get("label"), caps.Runes), V: clamped, M: m,
			Percent: strconv.FormatFloat(clamped/m*100, 'f', 0, 64) + "%"}, n.done(), nil
	case plugin.WidgetText:
		t := get("text")
		switch t.(type) {
		case string, *jstr:
		default:
			return nil, nil, fmt.Errorf("no \"text\" string")
		}
		txt, cut := display(t, caps.Text)
		if cut {
			n.add("The text is shortened to %s characters.", count(caps.Text))
		}
		return txt, n.list, nil
	case plugin.WidgetMarkdown:
		var md string
		switch x := get("markdown").(type) {
		case string:
			md = x
		case *jstr:
			md = x.S
			n.add("Showing the first %s bytes of the markdown.", count(len(md)))
		default:
			return nil, nil, fmt.Errorf("no \"markdown\" string")
		}
		if len(md) > caps.Markdown {
			cutAt := caps.Markdown
			for cutAt > 0 && !utf8.RuneStart(md[cutAt]) {
				cutAt--
			}
			md = md[:cutAt]
			n.list = []string{fmt.Sprintf("Showing the first %s bytes of the markdown (the limit is %s).", count(len(md)), count(fullCaps.Markdown))}
		}
		h, err := s.renders.markdown(md, budget)
		return h, n.list, err
	case plugin.WidgetAlert:
		lvl, _ := get("level").(string)
		if lvl != "info" && lvl != "warn" && lvl != "error" {
			return nil, nil, fmt.Errorf("level %q; want info, warn or error", truncRunes(lvl, 32))
		}
		return alertView{Level: lvl, Message: n.show(get("message"), caps.Text)}, n.done(), nil
	case plugin.WidgetForm:
		values, ok := get("values").(*jobj)
		if !ok {
			return nil, nil, fmt.Errorf("no \"values\" object (want {\"values\": {...}})")
		}
		fv, err := s.buildForm(ctx, serverID, pluginID, w, values, caps, &n)
		return fv, n.done(), err
	}
	return nil, nil, fmt.Errorf("a widget of unknown type %q", w.Type)
}

// tableFrom builds a table view: columns are the rows' keys in order of
// first appearance, at most caps.Cols of them, and at most caps.Rows rows
// and caps.Cells cells.
func tableFrom(obj *jobj, pageNum int, caps renderCaps, n *notes) (tableView, error) {
	rowsV, _ := obj.get("rows")
	rows, ok := rowsV.(*jarr)
	if !ok {
		return tableView{}, fmt.Errorf("no \"rows\" list (want {\"rows\": [{...}], \"total\": 100})")
	}
	tv := tableView{Page: pageNum}
	shown := rows.Elems[:min(len(rows.Elems), caps.Rows)]
	col := map[string]int{}
	moreCols := false
	for i, r := range shown {
		o, ok := r.(*jobj)
		if !ok {
			return tableView{}, fmt.Errorf("rows[%d] that is not an object", i)
		}
		moreCols = moreCols || o.N > len(o.Keys)
		for _, k := range o.Keys {
			if _, seen := col[k]; seen {
				continue
			}
			if len(tv.Columns) == caps.Cols {
				moreCols = true
				continue
			}
			col[k] = len(tv.Columns)
			tv.Columns = append(tv.Columns, truncRunes(k, min(caps.Runes, 64)))
		}
	}
	if len(tv.Columns) > 0 {
		shown = shown[:min(len(shown), caps.Cells/len(tv.Columns))]
	}
	for _, r := range shown {
		o := r.(*jobj)
		row := make([]string, len(tv.Columns))
		for i, k := range o.Keys {
			if c, ok := col[k]; ok {
				row[c] = n.show(o.Vals[i], caps.Runes) // a repeated key: the last one wins
			}
		}
		tv.Rows = append(tv.Rows, row)
	}
	if rows.N > len(tv.Rows) {
		n.add("Showing the first %s of %s rows the handler returned.", count(len(tv.Rows)), count(rows.N))
	}
	if moreCols {
		n.add("Showing the first %s columns; the rows have more.", count(len(tv.Columns)))
	}
	tv.Total = rows.N
	if t, ok := obj.get("total"); ok {
		if f, ok := t.(float64); ok && f >= 0 {
			tv.Total = int(math.Min(f, 1e12)) // a page count, not an overflow
		}
	}
	tv.Pages = max(1, (tv.Total+tablePageSize-1)/tablePageSize)
	tv.From = (pageNum-1)*tablePageSize + 1
	tv.To = tv.From + len(tv.Rows) - 1
	return tv, nil
}

func shorten(s string) string {
	if len(s) > 80 {
		cut := 80
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}

func (s *Site) buildForm(ctx context.Context, serverID, pluginID string, w *plugin.Widget, values *jobj, caps renderCaps, n *notes) (formView, error) {
	fv := formView{SaveURL: "/p/" + pluginID + "/dashboard/rpc/" + w.SaveHandler() + "?discord_srv_id=" + serverID}
	dir := s.cfg.Directory
	for _, f := range w.Fields {
		ff := formField{Name: f.Name, Label: f.Label, Type: f.Type}
		v, _ := values.get(f.Name)
		switch f.Type {
		case "checkbox":
			ff.Checked, _ = v.(bool)
		default:
			ff.Value = n.show(v, caps.Text)
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
				opts = append(opts, formOption{Value: r.ID, Label: "@" + strings.TrimPrefix(r.Name, "@")}) // not "@@everyone"
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

// chartData is the chart widget's answer (spec 000), bounded: labels as
// shown, and every series' data.
type chartData struct {
	Labels []string
	Series []chartSeries
}

type chartSeries struct {
	Name string
	Data []float64
}

// chartMaxAbs is the largest magnitude a chart draws (float64 is exact for
// integers up to 2^53, about 9e15).
const chartMaxAbs = 1e15

const chartShape = `(want {"labels": [...], "series": [{"name", "data"}]})`

// chartFrom reads a chart answer within caps: at most caps.Series series
// and caps.Points points in all (so labels × series), caps.Slices for a
// pie's single series.
func chartFrom(obj *jobj, kind string, caps renderCaps, n *notes) (chartData, error) {
	var ch chartData
	var labels, series *jarr
	clipped := false
	if v, ok := obj.get("labels"); ok && v != nil {
		if labels, ok = v.(*jarr); !ok {
			return ch, fmt.Errorf("\"labels\" that is not a list %s", chartShape)
		}
	}
	if v, ok := obj.get("series"); ok && v != nil {
		if series, ok = v.(*jarr); !ok {
			return ch, fmt.Errorf("\"series\" that is not a list %s", chartShape)
		}
	}
	if series == nil || len(series.Elems) == 0 {
		return ch, fmt.Errorf("no series %s", chartShape)
	}
	nSeries := min(len(series.Elems), caps.Series)
	if series.N > nSeries {
		n.add("Showing the first %s of %s series.", count(nSeries), count(series.N))
	}
	// Points per series: every series gets the same share.
	perSeries := max(caps.Points/nSeries, 1)
	if kind == "pie" { // one series, one slice and legend entry per point
		perSeries = min(caps.Slices, caps.Points)
	}
	width := 0
	if labels != nil {
		width = labels.N
	}
	for i, e := range series.Elems[:nSeries] {
		o, ok := e.(*jobj)
		if !ok {
			return ch, fmt.Errorf("series[%d] that is not an object %s", i, chartShape)
		}
		name, _ := o.get("name")
		cs := chartSeries{Name: n.show(name, min(caps.Runes, 64))}
		if d, ok := o.get("data"); ok && d != nil {
			data, ok := d.(*jarr)
			if !ok {
				return ch, fmt.Errorf("series[%d].data that is not a list %s", i, chartShape)
			}
			width = max(width, data.N)
			for j, v := range data.Elems[:min(len(data.Elems), perSeries)] {
				switch x := v.(type) {
				case nil:
					cs.Data = append(cs.Data, 0)
				case float64:
					if math.Abs(x) > chartMaxAbs {
						// Beyond this, sums and spans overflow to ±Inf and
						// the axis and coordinates become NaN.
						x = math.Copysign(chartMaxAbs, x)
						clipped = true
					}
					cs.Data = append(cs.Data, x)
				default:
					return ch, fmt.Errorf("series[%d].data[%d] that is not a number %s", i, j, chartShape)
				}
			}
		}
		ch.Series = append(ch.Series, cs)
	}
	if clipped {
		n.add("Values beyond ±%s are drawn at ±%s.", fmtFloat(chartMaxAbs), fmtFloat(chartMaxAbs))
	}
	shownWidth := min(width, perSeries)
	if labels != nil {
		for _, l := range labels.Elems[:min(len(labels.Elems), shownWidth)] {
			ch.Labels = append(ch.Labels, n.show(l, min(caps.Runes, 64)))
		}
	}
	if width > shownWidth {
		n.add("Showing the first %s of %s points.", count(shownWidth), count(width))
	}
	return ch, nil
}

type chartView struct {
	SVG    template.HTML
	Legend []listItem // Label: name, Value: css class
}

// renderChart draws a chart as inline SVG. Colors come from the theme's CSS
// classes (.s0...), so the chart follows the dark/light switch.
//
// The SVG has no viewBox: its height is fixed (chartH px) and its width is
// the widget's, so its text is the page's size at every width (a viewBox
// scaled text with the width: huge on a desktop, 5 px on a phone). Text,
// dots and grid lines are placed in px vertically and in % horizontally;
// lines, areas and bars are drawn in a nested SVG stretched to the plot
// (preserveAspectRatio="none", strokes kept at their width). A chart with
// no data says so instead of drawing empty axes or a grey circle.
func renderChart(kind string, ch chartData) chartView {
	esc := template.HTMLEscapeString
	n := len(ch.Labels)
	points := 0 // non-zero values: a chart of zeros has no data yet
	for _, s := range ch.Series {
		n = max(n, len(s.Data))
		for _, v := range s.Data {
			if v != 0 {
				points++
			}
		}
	}
	label := func(i int) string {
		if i < len(ch.Labels) {
			return ch.Labels[i]
		}
		return strconv.Itoa(i + 1)
	}
	var view chartView
	for i, s := range ch.Series {
		view.Legend = append(view.Legend, listItem{Label: s.Name, Value: "s" + strconv.Itoa(i%6)})
	}
	empty := template.HTML(`<div class="chart-empty maid-empty" role="note">No data yet.</div>`)
	if kind == "pie" {
		var b strings.Builder
		if !renderPie(&b, ch, label) {
			return chartView{SVG: empty}
		}
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
	if n == 0 || points == 0 {
		return chartView{SVG: empty}
	}
	const top, bottom = 16.0, 26.0 // px: room for the top tick's label, and the x labels
	ph := chartH - top - bottom
	hi, lo, whole := 0.0, 0.0, true
	for _, s := range ch.Series {
		for _, v := range s.Data {
			hi, lo = math.Max(hi, v), math.Min(lo, v)
			whole = whole && v == math.Trunc(v)
		}
	}
	lo, hi, step := niceTicks(lo, hi, whole)
	y := func(v float64) float64 { return top + ph - (v-lo)/(hi-lo)*ph }
	xPct := func(i int) float64 { return (float64(i) + 0.5) / float64(n) * 100 }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart-svg" height="%d" role="img" aria-label="%s chart" xmlns="http://www.w3.org/2000/svg">`, int(chartH), esc(kind))
	for i := 0; ; i++ {
		v := lo + step*float64(i)
		if v > hi+step/2 {
			break
		}
		yy := y(v)
		cls := "grid"
		if v == 0 || i == 0 && lo > 0 {
			cls = "axis"
		}
		fmt.Fprintf(&b, `<line class="%s" x1="0" y1="%.1f" x2="100%%" y2="%.1f"/>`, cls, yy, yy)
		fmt.Fprintf(&b, `<text class="yl" x="2" y="%.1f">%s</text>`, yy-4, esc(compactNum(v)))
	}
	short := shortLabels(ch.Labels)
	lab := func(i int) string {
		if i < len(short) {
			return short[i]
		}
		return label(i)
	}
	stepX := max(1, (n+7)/8) // at most ~8 x labels; narrow widths hide every other (CSS)
	shown := (n + stepX - 1) / stepX
	for k, i := 0, 0; i < n; k, i = k+1, i+stepX {
		cls := "xl"
		if k%2 == 1 && shown > 4 {
			cls += " odd"
		}
		fmt.Fprintf(&b, `<text class="%s" x="%.2f%%" y="%.1f" text-anchor="middle">%s<title>%s</title></text>`, cls, xPct(i), chartH-8, esc(truncRunes(lab(i), 12)), esc(label(i)))
	}
	// The plot: x in 0..1000 (stretched to the width), y in px.
	fmt.Fprintf(&b, `<svg class="plot" x="0" y="0" width="100%%" height="%d" viewBox="0 0 1000 %d" preserveAspectRatio="none">`, int(chartH), int(chartH))
	xu := func(i int) float64 { return (float64(i) + 0.5) / float64(n) * 1000 }
	slot := 1000 / float64(n)
	switch kind {
	case "bar":
		k := float64(len(ch.Series))
		bw := slot * 0.7 / k
		for si, s := range ch.Series {
			for i, v := range s.Data {
				x := slot*float64(i) + slot*0.15 + bw*float64(si)
				y0, y1 := y(math.Max(v, 0)), y(math.Min(v, 0))
				fmt.Fprintf(&b, `<rect class="bar s%d" x="%.2f" y="%.1f" width="%.2f" height="%.1f"><title>%s · %s: %s</title></rect>`,
					si%6, x, y0, math.Max(bw*0.92, 0.5), math.Max(y1-y0, 0.5), esc(s.Name), esc(label(i)), esc(fmtFloat(v)))
			}
		}
		b.WriteString(`</svg>`)
	default: // line and area
		for si, s := range ch.Series {
			if len(s.Data) == 0 {
				continue
			}
			var p strings.Builder
			for i, v := range s.Data {
				cmd := "L"
				if i == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&p, "%s%.2f %.1f ", cmd, xu(i), y(v))
			}
			if kind == "area" {
				base := y(math.Max(lo, 0))
				fmt.Fprintf(&b, `<path class="area s%d" d="%sL%.2f %.1f L%.2f %.1f Z"/>`, si%6, p.String(), xu(len(s.Data)-1), base, xu(0), base)
			}
			fmt.Fprintf(&b, `<path class="line s%d" d="%s"/>`, si%6, strings.TrimSpace(p.String()))
		}
		b.WriteString(`</svg>`)
		// Dots outside the stretched plot, so they stay round.
		for si, s := range ch.Series {
			for i, v := range s.Data {
				fmt.Fprintf(&b, `<circle class="dot s%d" cx="%.2f%%" cy="%.1f" r="3"><title>%s · %s: %s</title></circle>`,
					si%6, xPct(i), y(v), esc(s.Name), esc(label(i)), esc(fmtFloat(v)))
			}
		}
	}
	b.WriteString(`</svg>`)
	view.SVG = template.HTML(b.String()) // built above from numbers and escaped text only
	return view
}

// chartH is a chart's height in px (CSS pixels, at every width).
const chartH = 220.0

// niceTicks widens [lo, hi] (lo <= 0 <= hi) to whole multiples of a round
// step (1, 2 or 5 times a power of ten, and at least 1 for whole numbers:
// no 1.25 or 3.75 on a chart of counts), with 2 to 6 intervals.
func niceTicks(lo, hi float64, whole bool) (nlo, nhi, step float64) {
	span := hi - lo
	if span <= 0 {
		span = 1
	}
	raw := span / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * p
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			step = m * p
			break
		}
	}
	if whole && step < 1 {
		step = 1
	}
	nlo = math.Floor(lo/step) * step
	nhi = math.Ceil(hi/step) * step
	if nhi <= nlo {
		nhi = nlo + step
	}
	return nlo, nhi, step
}

// shortLabels shortens date labels for the x axis ("2026-11-24" and full
// ISO times become "Nov 24"; times of one day "15:04"); other labels stay.
// The full label stays in the tooltip.
func shortLabels(labels []string) []string {
	if len(labels) == 0 {
		return nil
	}
	times := make([]time.Time, len(labels))
	dateOnly := true
	for i, l := range labels {
		var err error
		if times[i], err = time.Parse(time.DateOnly, l); err == nil {
			continue
		}
		dateOnly = false
		if times[i], err = time.Parse(time.RFC3339Nano, l); err != nil {
			if times[i], err = time.Parse("2006-01-02T15:04:05", l); err != nil {
				return labels
			}
		}
	}
	layout := "Jan 2"
	sameDay, sameYear := true, true
	for _, t := range times[1:] {
		sameDay = sameDay && t.YearDay() == times[0].YearDay() && t.Year() == times[0].Year()
		sameYear = sameYear && t.Year() == times[0].Year()
	}
	switch {
	case !dateOnly && sameDay:
		layout = "15:04"
	case !sameYear:
		layout = "Jan 2 2006"
	}
	out := make([]string, len(labels))
	for i, t := range times {
		out[i] = t.Format(layout)
	}
	return out
}

// renderPie draws a pie (in a square viewBox: it scales as a whole and has
// no text). It reports false when there is nothing to draw.
func renderPie(b *strings.Builder, ch chartData, label func(int) string) bool {
	if len(ch.Series) == 0 {
		return false
	}
	data := ch.Series[0].Data
	total := 0.0
	for _, v := range data {
		if v > 0 {
			total += v
		}
	}
	if total <= 0 {
		return false
	}
	const cx, cy, r = 100.0, 100.0, 96.0
	b.WriteString(`<svg class="pie-svg" viewBox="0 0 200 200" role="img" aria-label="pie chart" xmlns="http://www.w3.org/2000/svg">`)
	defer b.WriteString(`</svg>`)
	a := -math.Pi / 2
	for i, v := range data {
		if v <= 0 {
			continue
		}
		frac := v / total
		title := template.HTMLEscapeString(label(i) + ": " + fmtFloat(v))
		if frac >= 0.9999 {
			fmt.Fprintf(b, `<circle class="slice s%d" cx="%.1f" cy="%.1f" r="%.1f"><title>%s</title></circle>`, i%6, cx, cy, r, title)
			return true
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
	return true
}

// truncRunes shortens s to n runes, the last one "…".
func truncRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	runes := 0
	for i := range s {
		if runes == n-1 {
			if _, size := utf8.DecodeRuneInString(s[i:]); len(s)-i > size {
				return s[:i] + "…"
			}
			return s
		}
		runes++
	}
	return s
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
