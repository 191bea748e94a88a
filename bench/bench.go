// Package bench measures maid's sandbox backends side by side through the
// real engine path (event in → plugin handler → host KV call → reply):
// cold start, event and dashboard round trips, throughput, idle memory and
// KV latency, next to baselines (a Go call, raw pipes, a python3 echo) from
// the same run. Run writes results.json, results.md and SVG plots.
//
// The package never chooses a backend or a store itself: the caller passes
// openers (cmd/maid wires them by name), so the engine's contracts stay
// the only thing it depends on.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/sandbox"
)

// Defaults for Options' zero fields.
const (
	DefaultPlugins     = 100
	DefaultEvents      = 10_000
	DefaultStarts      = 30
	DefaultConcurrency = 4
	DefaultPool        = 2
	DefaultBudget      = 4 << 30
)

// ErrUnavailable: a requested backend could not run and Options.Strict
// is set (as under CI). The outputs are still written.
var ErrUnavailable = errors.New("backend unavailable")

// Options configure a run.
type Options struct {
	// Backends to measure, in column order. Default process, wasm, docker.
	Backends []string
	// OpenBackend starts the named backend with a warm pool of pool
	// instances (0: none). Required.
	OpenBackend func(ctx context.Context, name string, pool int) (sandbox.Backend, error)
	// OpenStore opens a store by DSN (sqlite://PATH or postgres://...). Required.
	OpenStore func(ctx context.Context, dsn string) (engine.Store, error)
	// Plugins is the most plugin instances run at once (density and the
	// largest throughput step). Default 100.
	Plugins int
	// Events is the sample count of each event round-trip figure; other
	// figures scale from it. Default 10,000.
	Events int
	// Starts is the sample count of each cold-start figure. Default 30.
	Starts int
	// Concurrency is how many goroutines dispatch events in the
	// throughput figures. Default 4.
	Concurrency int
	// Pool is the warm pool size for the "with pool" cold starts. Default 2.
	Pool int
	// Budget is the memory budget for the density extrapolation, bytes.
	// Default 4 GiB.
	Budget int64
	// PostgresDSN, if set, adds KV figures on PostgreSQL (the rest of the
	// run uses a fresh SQLite store).
	PostgresDSN string
	// Out is the output directory (created if needed). Required.
	Out string
	// Progress receives progress lines; nil discards them.
	Progress io.Writer
	// Strict makes an unavailable backend an error (CI).
	Strict bool
	// Version is maid's version, for results.json.
	Version string
}

func (o *Options) withDefaults() {
	if len(o.Backends) == 0 {
		o.Backends = []string{"process", "wasm", "docker"}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&o.Plugins, DefaultPlugins)
	setInt(&o.Events, DefaultEvents)
	setInt(&o.Starts, DefaultStarts)
	setInt(&o.Concurrency, DefaultConcurrency)
	setInt(&o.Pool, DefaultPool)
	if o.Budget == 0 {
		o.Budget = DefaultBudget
	}
}

func (o *Options) check() error {
	seen := map[string]bool{}
	for _, b := range o.Backends {
		if b == "" || seen[b] {
			return fmt.Errorf("bench: backends must be distinct non-empty names, got %q", o.Backends)
		}
		seen[b] = true
	}
	switch {
	case o.OpenBackend == nil:
		return errors.New("bench: OpenBackend is required")
	case o.OpenStore == nil:
		return errors.New("bench: OpenStore is required")
	case o.Out == "":
		return errors.New("bench: out dir is required")
	case o.Plugins < 1:
		return fmt.Errorf("bench: plugins must be at least 1, got %d", o.Plugins)
	case o.Events < 1:
		return fmt.Errorf("bench: events must be at least 1, got %d", o.Events)
	case o.Starts < 1:
		return fmt.Errorf("bench: starts must be at least 1, got %d", o.Starts)
	case o.Concurrency < 1:
		return fmt.Errorf("bench: concurrency must be at least 1, got %d", o.Concurrency)
	case o.Pool < 1:
		return fmt.Errorf("bench: pool must be at least 1 (it sizes the warm-pool measurements), got %d", o.Pool)
	case o.Budget < 1:
		return fmt.Errorf("bench: budget must be positive, got %d", o.Budget)
	case o.PostgresDSN != "" && !strings.HasPrefix(o.PostgresDSN, "postgres://") && !strings.HasPrefix(o.PostgresDSN, "postgresql://"):
		return errors.New("bench: the postgres DSN must start with postgres:// or postgresql://")
	}
	return nil
}

// warm is the warm-up count before n samples.
func warmup(n int) int { return min(max(n/20, 2), 500) }

// Run measures every backend in o.Backends and writes the outputs to o.Out.
// A backend that cannot start is reported as unavailable (an error too
// when o.Strict). Errors inside one measurement are recorded in its figure
// and the run goes on.
func Run(ctx context.Context, o Options) (*Results, error) {
	o.withDefaults()
	if err := o.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("bench: create out dir: %w", err)
	}
	tmp, err := os.MkdirTemp("", "maid-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)

	p := newProgress(o.Progress)
	res := &Results{Schema: Schema, Date: time.Now().UTC(), Machine: machineInfo(ctx, o.Version)}
	res.Config = Config{
		Backends: o.Backends, Plugins: o.Plugins, Events: o.Events, Starts: o.Starts,
		Concurrency: o.Concurrency, Pool: o.Pool, BudgetBytes: o.Budget, Stores: []string{"sqlite"},
		Dashboard: dashboardMode,
	}
	if o.PostgresDSN != "" {
		res.Config.Stores = append(res.Config.Stores, "postgres")
	}
	p.printf("maid bench: backends %s, %d plugins, %d events, %d starts (load average %.2f)",
		strings.Join(o.Backends, ","), o.Plugins, o.Events, o.Starts, res.Machine.LoadAvgStart[0])

	r := &runner{o: &o, p: p, tmp: tmp}
	if err := r.writePlugins(); err != nil {
		return nil, err
	}
	p.printf("baselines")
	res.Baselines = r.baselines(ctx)
	for _, name := range o.Backends {
		if ctx.Err() != nil {
			break
		}
		p.printf("backend %s", name)
		res.Backends = append(res.Backends, r.backend(ctx, name))
	}
	res.FinishedAt = time.Now().UTC()
	res.DurationS = res.FinishedAt.Sub(res.Date).Seconds()
	res.Machine.LoadAvgEnd = loadAvg()
	res.Notes = runNotes(res)
	if err := writeOutputs(o.Out, res); err != nil {
		return res, err
	}
	p.printf("wrote %s", filepath.Join(o.Out, "results.{json,md}")+" and plots")
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("bench: interrupted: %w", err)
	}
	if o.Strict {
		var missing []string
		for _, b := range res.Backends {
			if !b.Available {
				missing = append(missing, b.Name+": "+b.Reason)
			}
		}
		if len(missing) > 0 {
			return res, fmt.Errorf("bench: %w: %s", ErrUnavailable, strings.Join(missing, "; "))
		}
	}
	return res, nil
}

func runNotes(res *Results) []string {
	var notes []string
	if la := max(res.Machine.LoadAvgStart[0], res.Machine.LoadAvgEnd[0]); res.Machine.Cores > 0 && la > float64(res.Machine.Cores)/2 {
		notes = append(notes, fmt.Sprintf("The machine was busy: 1-minute load average %.2f at the start and %.2f at the end on %d cores. Figures are noisier and slower than on an idle machine.",
			res.Machine.LoadAvgStart[0], res.Machine.LoadAvgEnd[0], res.Machine.Cores))
	}
	return notes
}

// writeOutputs writes results.json, results.md and the plots.
func writeOutputs(dir string, res *Results) error {
	if err := writeJSON(dir, res); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(markdown(res)), 0o644); err != nil {
		return fmt.Errorf("write results.md: %w", err)
	}
	for name, svg := range plots(res) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(svg), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

type runner struct {
	o   *Options
	p   *progress
	tmp string

	benchDirs []string // bench-0 ... bench-(Plugins-1)
	coldDir   string
	jsonDir   string        // guestJSONScript
	poolPause time.Duration // between pooled starts, for the pool to refill
}

func (r *runner) writePlugins() error {
	r.coldDir = filepath.Join(r.tmp, "plugins", "bench-cold")
	if err := writePlugin(r.coldDir, "bench-cold"); err != nil {
		return err
	}
	r.jsonDir = filepath.Join(r.tmp, "plugins", "bench-json")
	if err := writeGuestJSON(r.jsonDir); err != nil {
		return err
	}
	for i := 0; i < r.o.Plugins; i++ {
		id := fmt.Sprintf("bench-%d", i)
		dir := filepath.Join(r.tmp, "plugins", id)
		if err := writePlugin(dir, id); err != nil {
			return err
		}
		r.benchDirs = append(r.benchDirs, dir)
	}
	return nil
}

func (r *runner) baselines(ctx context.Context) []Figure {
	n, w := r.o.Events, warmup(r.o.Events)
	var out []Figure
	step := func(f Figure) {
		out = append(out, f)
		r.p.printf("  %s", oneLine(f))
	}
	step(baselineGoCall(n))
	step(baselineGoJSON(n, w))
	step(baselinePipeGo(n, w))
	step(baselineRPC(ctx, n, w))
	step(baselinePython(ctx, n, w, false))
	step(baselinePython(ctx, n, w, true))
	step(baselinePythonStart(ctx, r.o.Starts, warmup(r.o.Starts)))
	return out
}

// steps returns the throughput instance counts: 1, 10, 100, ... up to
// Plugins, and Plugins itself.
func steps(plugins int) []int {
	var out []int
	for k := 1; k <= plugins; k *= 10 {
		out = append(out, k)
	}
	if out[len(out)-1] != plugins {
		out = append(out, plugins)
	}
	return out
}

func (r *runner) backend(ctx context.Context, name string) BackendResult {
	res := BackendResult{Name: name}
	o, p := r.o, r.p
	add := func(f Figure) {
		res.Figures = append(res.Figures, f)
		p.printf("  %s", oneLine(f))
	}
	fail := func(id, title, unit string, err error) {
		add(failedFigure(id, title, unit, err))
	}

	b, err := o.OpenBackend(ctx, name, 0)
	if err != nil {
		res.Reason = err.Error()
		p.printf("  unavailable: %v", err)
		return res
	}
	res.Available = true
	if d, ok := b.(describer); ok {
		res.Details = d.Describe()
		p.printf("  %s", formatDetails(res.Details))
	}
	dir := filepath.Join(r.tmp, name)
	func() {
		defer b.Close()
		p.printf("  cold start, sandbox only, no pool (%d starts)", o.Starts)
		sbNoPool, errs, err := sandboxColdStart(ctx, p, b, r.coldDir, nil, o.Starts, warmup(o.Starts), 50*time.Millisecond)
		if err != nil {
			fail("sandbox_start_nopool", "Sandbox start to maid.hello, no pool", UnitMillis, err)
		} else {
			add(distFigure("sandbox_start_nopool", "Sandbox start to maid.hello, no pool",
				"Backend.Start until the plugin's first protocol line (maid.hello): interpreter start-up, SDK import, plugin import; no engine", UnitMillis, sbNoPool, errs))
		}
		r.poolPause = poolPause(sbNoPool)
		p.printf("  guest's own JSON round trip (%d lines)", o.Events)
		add(guestJSON(ctx, b, r.jsonDir, o.Events, warmup(o.Events)))

		e, err := startEnv(ctx, o, b, "", dir)
		if err != nil {
			res.Notes = append(res.Notes, "engine did not start: "+err.Error())
			p.printf("  engine did not start: %v", err)
			return
		}
		defer func() {
			p.printf("  stopping %d instances", len(e.rec.instances()))
			if err := e.close(); err != nil {
				res.Notes = append(res.Notes, "engine stop: "+err.Error())
			}
		}()
		r.measureEngine(ctx, e, name, false, add, fail)
		if ctx.Err() == nil {
			r.measureRunning(ctx, e, name, add, fail)
		}
	}()
	if ctx.Err() != nil {
		return res
	}
	// After the first engine stopped: its instances are gone.
	r.measurePerServer(ctx, name, add, fail)
	if ctx.Err() != nil {
		return res
	}
	if o.PostgresDSN != "" {
		r.measurePostgres(ctx, name, add, fail)
	}
	if ctx.Err() != nil {
		return res
	}

	// With the backend's warm pool. The process backend has none: its
	// "pool" figures would repeat the no-pool ones.
	if name == "process" {
		res.Notes = append(res.Notes, "no warm-pool figures: the process backend has no pool")
		return res
	}
	pb, err := o.OpenBackend(ctx, name, o.Pool)
	if err != nil {
		fail("sandbox_start_pool", "Sandbox start to maid.hello, warm pool", UnitMillis, err)
		return res
	}
	defer pb.Close()
	sleep(ctx, 2*r.poolPause) // let the pool fill
	p.printf("  cold start, sandbox only, warm pool of %d (%d starts)", o.Pool, o.Starts)
	sbPool, errs, err := sandboxColdStart(ctx, p, pb, r.coldDir, nil, o.Starts, warmup(o.Starts), r.poolPause)
	if err != nil {
		fail("sandbox_start_pool", "Sandbox start to maid.hello, warm pool", UnitMillis, err)
	} else {
		add(distFigure("sandbox_start_pool", "Sandbox start to maid.hello, warm pool",
			fmt.Sprintf("as sandbox_start_nopool, with a warm pool of %d and a pause between starts for it to refill", o.Pool), UnitMillis, sbPool, errs))
	}
	e, err := startEnv(ctx, o, pb, "", filepath.Join(r.tmp, name+"-pool"))
	if err != nil {
		res.Notes = append(res.Notes, "engine with pool did not start: "+err.Error())
		return res
	}
	r.measureEngine(ctx, e, name, true, add, fail)
	if err := e.close(); err != nil {
		res.Notes = append(res.Notes, "engine stop: "+err.Error())
	}
	return res
}

// poolPause is how long to let a pool refill between starts: a few fresh
// start times (bounded), so each pooled start finds a warm instance.
func poolPause(fresh []float64) time.Duration {
	d := time.Duration(1.5 * median(fresh) * float64(time.Millisecond))
	return min(max(d, 200*time.Millisecond), 5*time.Second)
}

// measureEngine takes the engine-level cold start.
func (r *runner) measureEngine(ctx context.Context, e *env, name string, pool bool, add func(Figure), fail func(id, title, unit string, err error)) {
	o, p := r.o, r.p
	suffix, label, pause := "nopool", "no pool", 50*time.Millisecond
	if pool {
		suffix, label, pause = "pool", fmt.Sprintf("warm pool of %d", o.Pool), r.poolPause
	}
	p.printf("  cold start through the engine, %s (%d starts)", label, o.Starts)
	id, title := "cold_start_"+suffix, "Cold start to first handled event, "+label
	cr, err := engineColdStart(ctx, p, e, r.coldDir, "cold", o.Starts, warmup(o.Starts), pause)
	if err != nil {
		fail(id, title, UnitMillis, err)
		return
	}
	add(distFigure(id, title,
		"Dispatch of the first event to an installed plugin with no instance, until its no-op handler has returned: backend start, interpreter and SDK start-up, plugin import, handshake, the event call",
		UnitMillis, cr.total, cr.errs))
	add(distFigure("cold_backend_start_"+suffix, "Cold start part: inside Backend.Start, "+label,
		"time inside Backend.Start during those cold starts (process spawn, module instantiation or container create+start)", UnitMillis, cr.backendStart, 0))
	add(distFigure("cold_handshake_"+suffix, "Cold start part: until maid.hello answered, "+label,
		"Dispatch until the engine has the plugin's maid.hello (everything but the first event call)", UnitMillis, cr.handshake, 0))
}

// measureRunning takes the figures of running instances: density, round
// trips, throughput and KV.
func (r *runner) measureRunning(ctx context.Context, e *env, name string, add func(Figure), fail func(id, title, unit string, err error)) {
	o, p := r.o, r.p
	ks := steps(o.Plugins)
	p.printf("  installing %d plugins", o.Plugins)
	bounds := curveBounds(o.Plugins)
	var chunks []string
	for k := range bounds {
		chunks = append(chunks, fmt.Sprintf("d%d", k))
	}
	for i, dir := range r.benchDirs {
		servers := []string{curveServer(bounds, i)}
		for _, k := range ks {
			if i < k {
				servers = append(servers, fmt.Sprintf("t%d", k))
			}
		}
		if _, err := e.install(ctx, dir, servers...); err != nil {
			fail("install", "Install bench plugins", "", err)
			return
		}
	}

	p.printf("  density: starting %d idle instances in %d steps", o.Plugins, len(chunks))
	if figs, err := density(ctx, e, name, chunks, o.Plugins, o.Budget); err != nil {
		fail("idle_mem_per_instance", "Idle instance: memory per instance", UnitMiB, err)
	} else {
		for _, f := range figs {
			add(f)
		}
	}
	// The density steps stop early on low host memory: no later figure may
	// start more instances than they did.
	running := len(e.rec.instances())
	if figs, err := dirtyPages(ctx, e, "bench-0", "t1"); err != nil {
		fail("dirty_pages_100_events", "Pages an instance owns after 100 more events", UnitPages, err)
	} else {
		for _, f := range figs {
			add(f)
		}
	}

	n, w := o.Events, warmup(o.Events)
	p.printf("  event round trip, no-op handler (%d events)", n)
	s, errs, err := eventRoundTrips(ctx, p, e, eventNoop, "t1", n, w)
	if err != nil {
		fail("event_rtt_noop", "Event round trip, no-op handler", UnitMicros, err)
	} else {
		add(distFigure("event_rtt_noop", "Event round trip, no-op handler",
			"engine.Dispatch of one event (validation, enabled-plugins lookup in the store, queueing) until the running plugin's no-op handler has returned and the engine has its reply; one event in flight",
			UnitMicros, s, errs))
	}
	p.printf("  event round trip, one KV write (%d events)", n)
	s, errs, err = eventRoundTrips(ctx, p, e, eventKV, "t1", n, w)
	if err != nil {
		fail("event_rtt_kv", "Event round trip, handler doing one KV write", UnitMicros, err)
	} else {
		add(distFigure("event_rtt_kv", "Event round trip, handler doing one KV write",
			"as event_rtt_noop, and the handler calls ctx.kv.set once: a plugin→host kv.set call and a store write (SQLite) inside the round trip",
			UnitMicros, s, errs))
	}

	nc := max(n/4, 1)
	for _, h := range []struct{ handler, id, title, covers string }{
		{"noop", "call_rtt_noop", "Dashboard call through the engine, no-op handler",
			"engine.CallDashboard (the synchronous call the dashboard's RPC endpoint makes) until the handler's result is back; no HTTP"},
		{"kv_set", "call_rtt_kv", "Dashboard call through the engine, one KV write",
			"as call_rtt_noop with a handler that calls ctx.kv.set once"},
	} {
		p.printf("  %s (%d calls)", h.id, nc)
		params := json.RawMessage(`{"n": 1}`)
		s, errs, err := callRoundTrips(ctx, p, func(ctx context.Context, i int) error {
			_, err := e.eng.CallDashboard(ctx, "bench-0", "t1", h.handler, params)
			return err
		}, nc, warmup(nc))
		if err != nil {
			fail(h.id, h.title, UnitMicros, err)
			continue
		}
		add(distFigure(h.id, h.title, h.covers, UnitMicros, s, errs))
	}

	p.printf("  dashboard RPC over HTTP (%d calls)", nc)
	if f, err := dashboardHTTP(ctx, p, e, "bench-0", "t1", nc, warmup(nc)); err != nil {
		fail("dashboard_http_rpc", "Dashboard RPC over HTTP", UnitMicros, err)
	} else {
		add(f)
	}

	for _, k := range ks {
		if k > running {
			fail(fmt.Sprintf("throughput_%d", k), fmt.Sprintf("Throughput, %d instances", k), UnitEventsSec,
				fmt.Errorf("skipped: only %d instances could start within the host memory the bench leaves free", running))
			continue
		}
		p.printf("  throughput with %d instance%s", k, plural(k))
		figs, err := throughput(ctx, e, fmt.Sprintf("t%d", k), k, max(n/2, 1), o.Concurrency, 3, name != "docker")
		if err != nil {
			fail(fmt.Sprintf("throughput_%d", k), fmt.Sprintf("Throughput, %d instances", k), UnitEventsSec, err)
			continue
		}
		for _, f := range figs {
			add(f)
		}
	}

	r.measureKV(ctx, e, "sqlite", add, fail)
}

// measureKV takes KV get/set figures through the plugin path on e's store.
func (r *runner) measureKV(ctx context.Context, e *env, storeName string, add func(Figure), fail func(id, title, unit string, err error)) {
	ops := max(r.o.Events/5, 10)
	for _, op := range []string{"set", "get"} {
		id := "kv_" + op + "_" + storeName
		title := fmt.Sprintf("ctx.kv.%s from plugin code, %s", op, storeName)
		r.p.printf("  %s (%d operations)", id, ops)
		lat, rate, err := kvLoop(ctx, e, "bench-0", "t1", op, ops, 500)
		if err != nil {
			fail(id, title, UnitMicros, err)
			continue
		}
		add(distFigure(id, title, fmt.Sprintf(
			"one ctx.kv.%s as the plugin waits for it (timed inside the plugin with time.perf_counter_ns): protocol call to the host, store %s over 100 keys, reply", op, op),
			UnitMicros, lat, 0))
		add(valueFigure(id+"_rate", title+", throughput",
			"operations per second of a plugin calling it back to back (plugin-side time)", UnitOpsSec, len(lat), []float64{rate}))
	}
}

// measurePostgres runs the KV figures against a PostgreSQL store.
func (r *runner) measurePostgres(ctx context.Context, name string, add func(Figure), fail func(id, title, unit string, err error)) {
	r.p.printf("  KV on PostgreSQL")
	b, err := r.o.OpenBackend(ctx, name, 0)
	if err != nil {
		fail("kv_set_postgres", "ctx.kv.set from plugin code, postgres", UnitMicros, err)
		return
	}
	defer b.Close()
	e, err := startEnv(ctx, r.o, b, r.o.PostgresDSN, filepath.Join(r.tmp, name+"-pg"))
	if err != nil {
		fail("kv_set_postgres", "ctx.kv.set from plugin code, postgres", UnitMicros, err)
		return
	}
	defer e.close()
	id, err := e.install(ctx, r.benchDirs[0], "t1")
	if err != nil {
		fail("kv_set_postgres", "ctx.kv.set from plugin code, postgres", UnitMicros, err)
		return
	}
	r.measureKV(ctx, e, "postgres", add, fail)
	// Leave the database as found: the bench plugin's data goes with it.
	if err := e.eng.Uninstall(ctx, id); err != nil {
		fail("postgres_cleanup", "Remove the bench plugin from PostgreSQL", "", err)
	}
}

// oneLine is a figure in a progress line.
func oneLine(f Figure) string {
	switch {
	case f.Error != "":
		return fmt.Sprintf("%-28s FAILED: %s", f.ID, f.Error)
	case f.Dist != nil:
		return fmt.Sprintf("%-28s p50 %s  p90 %s  p99 %s  max %s %s  (n=%d%s)", f.ID,
			num(f.Dist.P50), num(f.Dist.P90), num(f.Dist.P99), num(f.Dist.Max), f.Unit, f.Samples, errNote(f.Errors))
	case f.Value != nil:
		return fmt.Sprintf("%-28s %s %s  (n=%d%s)", f.ID, num(*f.Value), f.Unit, f.Samples, errNote(f.Errors))
	}
	return f.ID
}

func errNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d errors", n)
}

// num formats a figure with about three significant digits.
func num(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
}
