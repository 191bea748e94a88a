package bench

import (
	"fmt"
	"strings"
)

// markdown renders results.md: one table with the backends side by side
// (ratios to the process backend), the baselines, and what each figure covers.
func markdown(r *Results) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# maid bench results\n\n")
	fmt.Fprintf(&b, "- Date: %s UTC (%.0f s run)\n", r.Date.Format("2006-01-02 15:04"), r.DurationS)
	fmt.Fprintf(&b, "- maid %s, commit `%s`\n", m.MaidVersion, m.MaidCommit)
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %.1f GiB, Linux %s, %s, %s\n", orUnknown(m.CPUModel), m.Cores, float64(m.MemoryBytes)/(1<<30), orUnknown(m.Kernel), m.GoVersion, orUnknown(m.Python))
	fmt.Fprintf(&b, "- Load average (1/5/15 min): %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end\n",
		m.LoadAvgStart[0], m.LoadAvgStart[1], m.LoadAvgStart[2], m.LoadAvgEnd[0], m.LoadAvgEnd[1], m.LoadAvgEnd[2])
	c := r.Config
	fmt.Fprintf(&b, "- Run: %d events per round-trip figure, %d starts per cold-start figure, up to %d plugin instances, %d dispatchers, warm pool %d, budget %.0f MiB, stores %s\n\n",
		c.Events, c.Starts, c.Plugins, c.Concurrency, c.Pool, float64(c.BudgetBytes)/(1<<20), strings.Join(c.Stores, ", "))
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "> **Note:** %s\n\n", n)
	}

	// Columns: every requested backend; ratios against process when it ran.
	var cols []*BackendResult
	for i := range r.Backends {
		cols = append(cols, &r.Backends[i])
	}
	base := r.Backend("process")
	if base != nil && !base.Available {
		base = nil
	}
	fmt.Fprintf(&b, "## Backends side by side\n\n")
	if base != nil {
		fmt.Fprintf(&b, "Ratios in parentheses are to the process backend (a plain python3 subprocess): above 1× is slower/larger for times and sizes, faster for throughputs.\n\n")
	}
	fmt.Fprintf(&b, "| Figure | Unit |")
	for _, col := range cols {
		fmt.Fprintf(&b, " %s |", col.Name)
	}
	fmt.Fprintf(&b, "\n|---|---|")
	for range cols {
		fmt.Fprintf(&b, "---:|")
	}
	fmt.Fprintf(&b, "\n")
	for _, row := range tableRows(cols) {
		fmt.Fprintf(&b, "| %s | %s |", row.label, displayUnit(row.unit))
		var bv float64
		haveBase := false
		if base != nil {
			bv, haveBase = row.value(base)
		}
		for _, col := range cols {
			if !col.Available {
				fmt.Fprintf(&b, " unavailable |")
				continue
			}
			v, ok := row.value(col)
			switch {
			case !ok:
				if f := col.Figure(row.id); f != nil && f.Error != "" {
					fmt.Fprintf(&b, " failed |")
				} else {
					fmt.Fprintf(&b, " – |")
				}
			case haveBase && col != base && bv > 0 && !row.noRatio:
				fmt.Fprintf(&b, " %s (%s×) |", num(v), num(v/bv))
			default:
				fmt.Fprintf(&b, " %s |", num(v))
			}
		}
		fmt.Fprintf(&b, "\n")
	}
	fmt.Fprintf(&b, "\n")
	for _, col := range cols {
		if !col.Available {
			fmt.Fprintf(&b, "- **%s unavailable:** %s\n", col.Name, col.Reason)
		}
		if len(col.Details) > 0 {
			fmt.Fprintf(&b, "- %s ran with %s\n", col.Name, formatDetails(col.Details))
		}
		for _, f := range col.Figures {
			if f.Error != "" {
				fmt.Fprintf(&b, "- **%s %s failed:** %s\n", col.Name, f.ID, f.Error)
			}
			if f.Errors > 0 {
				fmt.Fprintf(&b, "- %s %s: %d of %d samples failed and are not in the figure\n", col.Name, f.ID, f.Errors, f.Samples+f.Errors)
			}
		}
		for _, n := range col.Notes {
			fmt.Fprintf(&b, "- %s: %s\n", col.Name, n)
		}
	}

	b.WriteString(curveMarkdown(r))
	fmt.Fprintf(&b, "\n## Baselines (same run)\n\n| Baseline | p50 | p90 | p99 | Unit | Samples |\n|---|---:|---:|---:|---|---:|\n")
	for _, f := range r.Baselines {
		if f.Dist == nil {
			fmt.Fprintf(&b, "| %s (`%s`) | failed: %s | | | %s | %d |\n", f.Title, f.ID, f.Error, f.Unit, f.Samples)
			continue
		}
		fmt.Fprintf(&b, "| %s (`%s`) | %s | %s | %s | %s | %d |\n", f.Title, f.ID, num(f.Dist.P50), num(f.Dist.P90), num(f.Dist.P99), displayUnit(f.Unit), f.Samples)
	}

	fmt.Fprintf(&b, "\n## What each figure covers\n\n")
	seen := map[string]bool{}
	for _, f := range r.Baselines {
		fmt.Fprintf(&b, "- `%s`: %s.\n", f.ID, f.Covers)
	}
	for _, col := range cols {
		for _, f := range col.Figures {
			if seen[f.ID] || f.Covers == "" {
				continue
			}
			seen[f.ID] = true
			ex := ""
			if f.Extrapolated {
				ex = " *Extrapolated, not measured directly.*"
			}
			fmt.Fprintf(&b, "- `%s`: %s.%s\n", f.ID, f.Covers, ex)
		}
	}
	fmt.Fprintf(&b, "\nPlots: latency.svg (event round-trip distributions), cold_start.svg, throughput.svg, density.svg. Every sample count and unit is in results.json.\n")
	return b.String()
}

func displayUnit(u string) string {
	if u == UnitMicros {
		return "µs"
	}
	return u
}

// rowOrder puts related figures next to each other; figures not listed
// follow in the order they were measured.
var rowOrder = []string{
	"sandbox_start_nopool", "sandbox_start_pool",
	"cold_start_nopool", "cold_backend_start_nopool", "cold_handshake_nopool",
	"cold_start_pool", "cold_backend_start_pool", "cold_handshake_pool",
	"event_rtt_noop", "event_rtt_kv", "call_rtt_noop", "call_rtt_kv", "dashboard_http_rpc",
	"idle_mem_host", "idle_rss_child", "idle_pss_child", "idle_mem_guest_linear",
	"idle_mem_container", "idle_mem_shim", "idle_mem_per_instance", "instances_in_budget",
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// row is one line of the side-by-side table.
type row struct {
	id, label, unit string
	noRatio         bool // a ratio would mislead (parts, speed-ups)
	value           func(*BackendResult) (float64, bool)
}

// tableRows lists the figures in first-seen order, with p50/p90/p99 (and
// max for round trips) of distributions, then the warm-pool speed-ups.
func tableRows(cols []*BackendResult) []row {
	var rows []row
	seen := map[string]bool{}
	var figs []*Figure
	for _, id := range rowOrder {
		for _, col := range cols {
			if f := col.Figure(id); f != nil {
				figs = append(figs, f)
				break
			}
		}
	}
	for _, col := range cols {
		for i := range col.Figures {
			figs = append(figs, &col.Figures[i])
		}
	}
	for _, f := range figs {
		if seen[f.ID] || f.Unit == "" {
			continue
		}
		seen[f.ID] = true
		id := f.ID
		if f.Dist != nil || f.Value == nil {
			stats := []string{"p50", "p90", "p99"}
			switch {
			case strings.Contains(id, "rtt"):
				stats = append(stats, "max")
			case strings.HasPrefix(id, "cold_backend_start_"), strings.HasPrefix(id, "cold_handshake_"):
				stats = []string{"p50"}
			}
			for _, s := range stats {
				rows = append(rows, row{id: id, label: f.Title + ", " + s, unit: f.Unit, value: distValue(id, s)})
			}
			continue
		}
		label := f.Title
		if f.Extrapolated {
			label += " (extrapolated)"
		}
		rows = append(rows, row{id: id, label: label, unit: f.Unit, value: func(b *BackendResult) (float64, bool) {
			g := b.Figure(id)
			if g == nil || g.Value == nil {
				return 0, false
			}
			return *g.Value, true
		}})
	}
	for _, sp := range []struct{ slow, fast, label string }{
		{"sandbox_start_nopool", "sandbox_start_pool", "Warm-pool speed-up, sandbox start (p50 no pool / p50 pool)"},
		{"cold_start_nopool", "cold_start_pool", "Warm-pool speed-up, cold start through the engine (p50 no pool / p50 pool)"},
		{"event_rtt_noop", "guest_json_rtt", "Event round trip p50 / the guest's own JSON round trip p50"},
	} {
		if !seen[sp.slow] || !seen[sp.fast] {
			continue
		}
		slow, fast := distValue(sp.slow, "p50"), distValue(sp.fast, "p50")
		rows = append(rows, row{id: sp.fast, label: sp.label, unit: "×", noRatio: true, value: func(b *BackendResult) (float64, bool) {
			s, ok1 := slow(b)
			f, ok2 := fast(b)
			if !ok1 || !ok2 || f <= 0 {
				return 0, false
			}
			return s / f, true
		}})
	}
	return rows
}

func distValue(id, stat string) func(*BackendResult) (float64, bool) {
	return func(b *BackendResult) (float64, bool) {
		f := b.Figure(id)
		if f == nil || f.Dist == nil {
			return 0, false
		}
		switch stat {
		case "p50":
			return f.Dist.P50, true
		case "p90":
			return f.Dist.P90, true
		case "p99":
			return f.Dist.P99, true
		case "max":
			return f.Dist.Max, true
		}
		return 0, false
	}
}
