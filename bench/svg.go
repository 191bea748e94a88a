package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Plots are drawn here, as plain SVG, so the tool needs nothing else.

var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f"}

var backendColor = map[string]string{"process": palette[0], "wasm": palette[1], "docker": palette[2]}

func colorOf(name string, i int) string {
	if c, ok := backendColor[name]; ok {
		return c
	}
	return palette[(3+i)%len(palette)]
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func esc(s string) string { return xmlEscaper.Replace(s) }

// plots returns the SVG files of a run by name.
func plots(r *Results) map[string]string {
	return map[string]string{
		"latency.svg":    latencyPlot(r),
		"cold_start.svg": coldStartPlot(r),
		"throughput.svg": throughputPlot(r),
		"density.svg":    densityPlot(r),
	}
}

type svgDoc struct {
	b    strings.Builder
	w, h float64
}

func newSVG(w, h float64, title string) *svgDoc {
	d := &svgDoc{w: w, h: h}
	fmt.Fprintf(&d.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&d.b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	d.text(w/2, 22, "middle", 15, title)
	return d
}

func (d *svgDoc) text(x, y float64, anchor string, size float64, s string) {
	fmt.Fprintf(&d.b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%.0f">%s</text>`+"\n", x, y, anchor, size, esc(s))
}

// vtext writes a y-axis label, rotated to read bottom to top.
func (d *svgDoc) vtext(x, y float64, s string) {
	fmt.Fprintf(&d.b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="12" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n", x, y, x, y, esc(s))
}

func (d *svgDoc) line(x1, y1, x2, y2 float64, stroke string, width float64, dash string) {
	extra := ""
	if dash != "" {
		extra = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(&d.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", x1, y1, x2, y2, stroke, width, extra)
}

func (d *svgDoc) rect(x, y, w, h float64, fill string) {
	fmt.Fprintf(&d.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y, w, max(h, 0), fill)
}

func (d *svgDoc) String() string { return d.b.String() + "</svg>\n" }

// plot area margins
const (
	padL, padR, padT, padB = 70.0, 20.0, 40.0, 60.0
)

// --- CDF plot with a logarithmic x axis ---

type cdfLine struct {
	name   string
	color  string
	dash   string
	width  float64
	sorted []float64
}

func cdfPlot(title, xLabel string, lines []cdfLine) string {
	const w, h = 860.0, 480.0
	d := newSVG(w, h, title)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		if len(l.sorted) == 0 {
			continue
		}
		lo = min(lo, l.sorted[0])
		hi = max(hi, l.sorted[len(l.sorted)-1])
	}
	legendW := 260.0
	pw, ph := w-padL-padR-legendW, h-padT-padB
	if math.IsInf(lo, 0) || lo <= 0 {
		lo = 0.1
	}
	if math.IsInf(hi, 0) || hi <= lo {
		hi = lo * 10
	}
	x0, x1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if x1 == x0 {
		x1++
	}
	xpos := func(v float64) float64 {
		return padL + (math.Log10(max(v, math.Pow(10, x0)))-x0)/(x1-x0)*pw
	}
	ypos := func(q float64) float64 { return padT + ph - q*ph }
	// axes and grid
	for e := x0; e <= x1; e++ {
		x := xpos(math.Pow(10, e))
		d.line(x, padT, x, padT+ph, "#dddddd", 1, "")
		d.text(x, padT+ph+16, "middle", 11, fmt.Sprintf("%g", math.Pow(10, e)))
	}
	for _, q := range []float64{0, 0.25, 0.5, 0.75, 0.9, 1} {
		y := ypos(q)
		d.line(padL, y, padL+pw, y, "#eeeeee", 1, "")
		d.text(padL-6, y+4, "end", 11, fmt.Sprintf("%g", q))
	}
	d.line(padL, padT+ph, padL+pw, padT+ph, "#333333", 1, "")
	d.line(padL, padT, padL, padT+ph, "#333333", 1, "")
	d.text(padL+pw/2, h-22, "middle", 12, xLabel+" (log scale)")
	d.vtext(18, padT+ph/2, "fraction of samples ≤ x")
	for i, l := range lines {
		if len(l.sorted) == 0 {
			continue
		}
		var pts []string
		n := len(l.sorted)
		stride := max(1, n/300)
		for j := 0; j < n; j += stride {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpos(l.sorted[j]), ypos(float64(j+1)/float64(n))))
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpos(l.sorted[n-1]), ypos(1)))
		dash := ""
		if l.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, l.dash)
		}
		fmt.Fprintf(&d.b, `<polyline fill="none" stroke="%s" stroke-width="%.1f"%s points="%s"/>`+"\n", l.color, l.width, dash, strings.Join(pts, " "))
		ly := padT + 10 + float64(i)*20
		lx := w - legendW - padR + 20
		d.line(lx, ly, lx+28, ly, l.color, l.width, l.dash)
		d.text(lx+34, ly+4, "start", 11, l.name)
	}
	return d.String()
}

func latencyPlot(r *Results) string {
	var lines []cdfLine
	for i, b := range r.Backends {
		for _, id := range []string{"event_rtt_noop", "event_rtt_kv"} {
			f := b.Figure(id)
			if f == nil || len(f.raw) == 0 {
				continue
			}
			l := cdfLine{name: b.Name + ", " + strings.TrimPrefix(id, "event_rtt_"), color: colorOf(b.Name, i), width: 2, sorted: sorted(f.raw)}
			if id == "event_rtt_kv" {
				l.dash = "6,3"
			}
			lines = append(lines, l)
		}
	}
	for i, id := range []string{"pipe_go", "rpc_go", "pipe_python", "pipe_python_json"} {
		f := findFigure(r.Baselines, id)
		if f == nil || len(f.raw) == 0 {
			continue
		}
		grey := []string{"#999999", "#777777", "#555555", "#333333"}[i]
		lines = append(lines, cdfLine{name: "baseline " + id, color: grey, width: 1, dash: "2,2", sorted: sorted(f.raw)})
	}
	return cdfPlot("Event round trip through the engine (no-op and one KV write) vs baselines", "microseconds", lines)
}

func sorted(xs []float64) []float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}

// --- grouped bar chart ---

type barSeries struct {
	name   string
	color  string
	values []float64 // per group; NaN: missing
	whisk  []float64 // optional upper whisker per group (e.g. p99); NaN: none
	labels []string  // optional text above each bar
}

func barPlot(title, yLabel string, groups []string, series []barSeries) string {
	const w, h = 860.0, 480.0
	d := newSVG(w, h, title)
	legendW := 250.0
	pw, ph := w-padL-padR-legendW, h-padT-padB
	top := 0.0
	for _, s := range series {
		for i, v := range s.values {
			if !math.IsNaN(v) {
				top = max(top, v)
			}
			if s.whisk != nil && !math.IsNaN(s.whisk[i]) {
				top = max(top, s.whisk[i])
			}
		}
	}
	if top <= 0 {
		top = 1
	}
	step := niceStep(top / 5)
	top = math.Ceil(top/step) * step
	ypos := func(v float64) float64 { return padT + ph - v/top*ph }
	for v := 0.0; v <= top+step/2; v += step {
		y := ypos(v)
		d.line(padL, y, padL+pw, y, "#eeeeee", 1, "")
		d.text(padL-6, y+4, "end", 11, strconv.FormatFloat(v, 'g', 6, 64))
	}
	d.line(padL, padT+ph, padL+pw, padT+ph, "#333333", 1, "")
	d.line(padL, padT, padL, padT+ph, "#333333", 1, "")
	d.vtext(18, padT+ph/2, yLabel)
	if len(groups) == 0 || len(series) == 0 {
		d.text(padL+pw/2, padT+ph/2, "middle", 14, "no data")
		return d.String()
	}
	gw := pw / float64(len(groups))
	bw := gw * 0.8 / float64(len(series))
	for g, name := range groups {
		gx := padL + float64(g)*gw + gw*0.1
		d.text(padL+float64(g)*gw+gw/2, padT+ph+18, "middle", 12, name)
		for s, sr := range series {
			v := sr.values[g]
			if math.IsNaN(v) {
				continue
			}
			x := gx + float64(s)*bw
			d.rect(x+1, ypos(v), bw-2, padT+ph-ypos(v), sr.color)
			if sr.whisk != nil && !math.IsNaN(sr.whisk[g]) {
				wy := ypos(sr.whisk[g])
				d.line(x+bw/2, ypos(v), x+bw/2, wy, "#222222", 1, "")
				d.line(x+bw/2-4, wy, x+bw/2+4, wy, "#222222", 1, "")
			}
			label := num(v)
			if sr.labels != nil && sr.labels[g] != "" {
				label = sr.labels[g]
			}
			d.text(x+bw/2, ypos(v)-4, "middle", 10, label)
		}
	}
	for s, sr := range series {
		ly := padT + 10 + float64(s)*20
		lx := w - legendW - padR + 20
		d.rect(lx, ly-8, 14, 12, sr.color)
		d.text(lx+20, ly+3, "start", 11, sr.name)
	}
	return d.String()
}

// niceStep rounds a grid step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func availableNames(r *Results) []string {
	var out []string
	for _, b := range r.Backends {
		if b.Available {
			out = append(out, b.Name)
		}
	}
	return out
}

func coldStartPlot(r *Results) string {
	names := availableNames(r)
	kinds := []struct{ id, name string }{
		{"sandbox_start_nopool", "sandbox start, no pool"},
		{"sandbox_start_pool", "sandbox start, warm pool"},
		{"cold_start_nopool", "engine cold start, no pool"},
		{"cold_start_pool", "engine cold start, warm pool"},
	}
	var series []barSeries
	for k, kind := range kinds {
		s := barSeries{name: kind.name + " (p50, whisker p99)", color: palette[k]}
		for _, n := range names {
			f := r.Backend(n).Figure(kind.id)
			if f == nil || f.Dist == nil {
				s.values = append(s.values, math.NaN())
				s.whisk = append(s.whisk, math.NaN())
				continue
			}
			s.values = append(s.values, f.Dist.P50)
			s.whisk = append(s.whisk, f.Dist.P99)
		}
		series = append(series, s)
	}
	return barPlot("Cold start to first handled event (ms)", "milliseconds", names, series)
}

func throughputPlot(r *Results) string {
	var groups []string
	ids := map[string]bool{}
	for _, b := range r.Backends {
		for _, f := range b.Figures {
			if strings.HasPrefix(f.ID, "throughput_") && !ids[f.ID] {
				ids[f.ID] = true
				groups = append(groups, f.ID)
			}
		}
	}
	var series []barSeries
	for i, b := range r.Backends {
		if !b.Available {
			continue
		}
		s := barSeries{name: b.Name, color: colorOf(b.Name, i)}
		for _, id := range groups {
			f := b.Figure(id)
			if f == nil || f.Value == nil {
				s.values = append(s.values, math.NaN())
				continue
			}
			s.values = append(s.values, *f.Value)
		}
		series = append(series, s)
	}
	labels := make([]string, len(groups))
	for i, g := range groups {
		k := strings.TrimPrefix(g, "throughput_")
		labels[i] = k + " instance"
		if k != "1" {
			labels[i] += "s"
		}
	}
	return barPlot("Throughput: handled events per second", "events/s", labels, series)
}

func densityPlot(r *Results) string {
	names := availableNames(r)
	s := barSeries{name: "MiB per idle instance", color: palette[0]}
	for _, n := range names {
		b := r.Backend(n)
		f := b.Figure("idle_mem_per_instance")
		if f == nil || f.Value == nil {
			s.values = append(s.values, math.NaN())
			s.labels = append(s.labels, "")
			continue
		}
		s.values = append(s.values, *f.Value)
		label := num(*f.Value) + " MiB"
		if fit := b.Figure("instances_in_budget"); fit != nil && fit.Value != nil {
			label += fmt.Sprintf(" · %.0f fit", *fit.Value)
		}
		s.labels = append(s.labels, label)
	}
	title := fmt.Sprintf("Memory per idle instance; how many fit in %.0f MiB (extrapolated)", float64(r.Config.BudgetBytes)/(1<<20))
	return barPlot(title, "MiB", names, []barSeries{s})
}
