package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/internal/testenv"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/docker"
	"github.com/maidhq/maid/sandbox/process"
	"github.com/maidhq/maid/sandbox/wasm"
	"github.com/maidhq/maid/store"
)

func wasmDir() string {
	if d := os.Getenv("MAID_PYTHON_WASM_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "build", "python-wasi")
}

// openReal opens the real backends, as cmd/maid's wiring does.
func openReal(ctx context.Context, name string, pool int) (sandbox.Backend, error) {
	switch name {
	case "process":
		return process.New(process.Config{})
	case "wasm":
		return wasm.New(ctx, wasm.Config{PythonDir: wasmDir(), PoolSize: pool})
	case "docker":
		return docker.New(ctx, docker.Options{PoolSize: pool})
	}
	return nil, fmt.Errorf("backend %q: %w: unknown", name, sandbox.ErrUnavailable)
}

func openStore(ctx context.Context, dsn string) (engine.Store, error) {
	return store.Open(ctx, dsn, store.Options{})
}

// testBackends is process plus wasm and docker where they can run; under
// CI a missing one fails the test.
func testBackends(t *testing.T) []string {
	t.Helper()
	names := []string{"process"}
	for _, name := range []string{"wasm", "docker"} {
		// A first start compiles python.wasm (and the SDK's bytecode in the
		// guest) under the race detector: minutes on a busy 2-core machine.
		// This bounds a hang, not a speed.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		b, err := openReal(ctx, name, 0)
		cancel()
		if err != nil {
			if testenv.CI() {
				t.Fatalf("%s backend needed under CI=true: %v", name, err)
			}
			t.Logf("not measuring %s (outside CI): %v", name, err)
			continue
		}
		b.Close()
		names = append(names, name)
	}
	return names
}

// TestRunTiny runs the whole tool on a tiny configuration and checks that
// its outputs are well-formed and complete. It never looks at timings.
func TestRunTiny(t *testing.T) {
	names := testBackends(t)
	out := t.TempDir()
	var progress bytes.Buffer
	opts := Options{
		Backends: names, OpenBackend: openReal, OpenStore: openStore,
		Plugins: 2, Events: 20, Starts: 2, Concurrency: 2, Pool: 1, Budget: 1 << 30,
		PostgresDSN: os.Getenv("MAID_TEST_POSTGRES_DSN"),
		Out:         out, Progress: &progress, Strict: true, Version: "test",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "backend process") {
		t.Errorf("no progress lines on the progress writer:\n%s", progress.String())
	}

	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkSchema(t, data, names)
	var back Results
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Schema != Schema || len(back.Backends) != len(names) || back.Machine.Cores != res.Machine.Cores {
		t.Errorf("results.json does not round-trip the results: schema %q, %d backends", back.Schema, len(back.Backends))
	}

	want := []string{
		"sandbox_start_nopool", "cold_start_nopool", "idle_mem_per_instance", "instances_in_budget",
		"event_rtt_noop", "event_rtt_kv", "call_rtt_noop", "call_rtt_kv", "dashboard_http_rpc",
		"throughput_1", "throughput_2", "kv_set_sqlite", "kv_get_sqlite", "kv_set_sqlite_rate",
		"density_curve", "guest_json_rtt", "cold_handshake_nopool",
		"perserver_curve", "perserver_instances", "perserver_mem_per_instance",
	}
	for _, name := range names {
		b := back.Backend(name)
		if b == nil || !b.Available {
			t.Fatalf("backend %s missing or unavailable: %+v", name, b)
		}
		if dp := b.Details["data_path"]; name == "docker" && dp != "socket" && dp != "attach" {
			t.Errorf("docker: details %v name no data path", b.Details)
		}
		ids := want
		if name != "process" {
			ids = append(slices.Clone(want), "sandbox_start_pool", "cold_start_pool")
		}
		if name == "wasm" {
			ids = append(slices.Clone(ids), "dirty_pages_start", "dirty_pages_100_events")
		}
		if name != "docker" {
			// Host CPU per event: maid and its children; docker's containers
			// are not maid's children, so docker has no such figure.
			ids = append(slices.Clone(ids), "cpu_per_event_1", "cpu_per_event_2")
		}
		if c := b.Figure("density_curve"); c != nil && (len(c.Curve) == 0 || c.Curve[len(c.Curve)-1].X != float64(opts.Plugins)) {
			t.Errorf("%s: density curve %v does not end at %d instances", name, c.Curve, opts.Plugins)
		}
		if f := b.Figure("perserver_instances"); f != nil && f.Value != nil && *f.Value != float64(opts.Plugins) {
			t.Errorf("%s: %v per-server instances running, want %d", name, *f.Value, opts.Plugins)
		}
		if opts.PostgresDSN != "" {
			ids = append(slices.Clone(ids), "kv_set_postgres", "kv_get_postgres")
		}
		for _, id := range ids {
			f := b.Figure(id)
			switch {
			case f == nil:
				t.Errorf("%s: figure %s missing", name, id)
			case f.Error != "":
				t.Errorf("%s: figure %s failed: %s", name, id, f.Error)
			case f.Errors > 0:
				t.Errorf("%s: figure %s had %d failed samples", name, id, f.Errors)
			}
		}
		if f := b.Figure("cpu_per_event_1"); f != nil && f.Value != nil && *f.Value <= 0 {
			t.Errorf("%s: cpu_per_event_1 = %v µs, want > 0", name, *f.Value)
		}
		if f := b.Figure("event_rtt_noop"); f != nil && f.Samples != opts.Events {
			t.Errorf("%s: event_rtt_noop has %d samples, want %d", name, f.Samples, opts.Events)
		}
		if f := b.Figure("cold_start_nopool"); f != nil && f.Samples != opts.Starts {
			t.Errorf("%s: cold_start_nopool has %d samples, want %d", name, f.Samples, opts.Starts)
		}
	}
	for _, id := range []string{"go_call", "pipe_go", "rpc_go", "pipe_python", "pipe_python_json", "python_start"} {
		if f := findFigure(back.Baselines, id); f == nil || f.Error != "" || f.Dist == nil {
			t.Errorf("baseline %s missing or failed: %+v", id, f)
		}
	}

	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	header := "| Figure | Unit | " + strings.Join(names, " | ") + " |"
	if !strings.Contains(string(md), header) {
		t.Errorf("results.md lacks the side-by-side header %q", header)
	}
	for _, plot := range []string{"latency.svg", "cold_start.svg", "throughput.svg", "density.svg"} {
		checkSVG(t, filepath.Join(out, plot))
	}
}

// checkSchema checks results.json field by field, as a consumer reading it
// without this package's types would.
func checkSchema(t *testing.T, data []byte, names []string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	for _, k := range []string{"schema", "date", "finished_at", "duration_s", "machine", "config", "baselines", "backends"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("results.json: missing %q", k)
		}
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(doc["date"])); err != nil {
		t.Errorf("results.json: date: %v", err)
	}
	m, _ := doc["machine"].(map[string]any)
	for _, k := range []string{"cpu_model", "cores", "memory_bytes", "kernel", "go_version", "maid_commit", "load_avg_start", "load_avg_end"} {
		if _, ok := m[k]; !ok {
			t.Errorf("results.json: machine.%s missing", k)
		}
	}
	if c, _ := m["cores"].(float64); c < 1 {
		t.Errorf("results.json: machine.cores = %v", m["cores"])
	}
	checkFigures := func(where string, figs []any) {
		for _, fv := range figs {
			f, _ := fv.(map[string]any)
			id, _ := f["id"].(string)
			unit, _ := f["unit"].(string)
			if id == "" || unit == "" {
				t.Errorf("%s: figure without id or unit: %v", where, f)
				continue
			}
			_, hasDist := f["dist"]
			_, hasValue := f["value"]
			_, hasErr := f["error"]
			if hasErr {
				continue
			}
			if hasDist == hasValue {
				t.Errorf("%s: figure %s must have exactly one of dist and value", where, id)
			}
			if n, _ := f["samples"].(float64); n < 1 {
				t.Errorf("%s: figure %s has samples %v", where, id, f["samples"])
			}
			if hasDist {
				d, _ := f["dist"].(map[string]any)
				var prev float64 = math.Inf(-1)
				for _, k := range []string{"min", "p50", "p90", "p99", "max"} {
					v, ok := d[k].(float64)
					if !ok || v < prev {
						t.Errorf("%s: figure %s: dist.%s = %v is missing or out of order", where, id, k, d[k])
					}
					prev = v
				}
			}
		}
	}
	bl, _ := doc["baselines"].([]any)
	checkFigures("baselines", bl)
	bs, _ := doc["backends"].([]any)
	if len(bs) != len(names) {
		t.Fatalf("results.json: %d backends, want %d", len(bs), len(names))
	}
	for i, bv := range bs {
		b, _ := bv.(map[string]any)
		if b["name"] != names[i] {
			t.Errorf("results.json: backend %d is %v, want %s", i, b["name"], names[i])
		}
		figs, _ := b["figures"].([]any)
		checkFigures(names[i], figs)
	}
}

// checkSVG parses an SVG file as XML with an <svg> root.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := parseSVG(data); err != nil {
		t.Errorf("%s: %v", filepath.Base(path), err)
	}
}

func parseSVG(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	elems := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			elems++
		}
	}
	if root != "svg" || elems < 3 {
		return fmt.Errorf("root <%s> with %d elements; want an <svg> drawing", root, elems)
	}
	return nil
}

func TestUnavailableBackend(t *testing.T) {
	ghost := func(ctx context.Context, name string, pool int) (sandbox.Backend, error) {
		return nil, fmt.Errorf("ghost backend: %w: nothing here", sandbox.ErrUnavailable)
	}
	tests := []struct {
		name    string
		strict  bool
		wantErr bool
	}{
		{name: "reported", strict: false, wantErr: false},
		{name: "error under CI", strict: true, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			res, err := Run(context.Background(), Options{
				Backends: []string{"ghost"}, OpenBackend: ghost, OpenStore: openStore,
				Events: 5, Starts: 1, Plugins: 1, Out: out, Strict: tc.strict,
			})
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrUnavailable)) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			b := res.Backend("ghost")
			if b == nil || b.Available || !strings.Contains(b.Reason, "nothing here") {
				t.Fatalf("ghost backend result = %+v, want unavailable with the reason", b)
			}
			md, err := os.ReadFile(filepath.Join(out, "results.md"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(md), "ghost unavailable:** ghost backend") {
				t.Errorf("results.md does not report the unavailable backend:\n%s", md)
			}
			for _, plot := range []string{"latency.svg", "cold_start.svg", "throughput.svg", "density.svg"} {
				checkSVG(t, filepath.Join(out, plot))
			}
		})
	}
}

func TestOptionsCheck(t *testing.T) {
	good := func() Options {
		return Options{Backends: []string{"process"}, OpenBackend: openReal, OpenStore: openStore, Out: "x"}
	}
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string // "" means valid
	}{
		{name: "defaults", mutate: func(*Options) {}},
		{name: "duplicate backend", mutate: func(o *Options) { o.Backends = []string{"wasm", "wasm"} }, want: "backends"},
		{name: "no opener", mutate: func(o *Options) { o.OpenBackend = nil }, want: "OpenBackend"},
		{name: "no store", mutate: func(o *Options) { o.OpenStore = nil }, want: "OpenStore"},
		{name: "no out", mutate: func(o *Options) { o.Out = "" }, want: "out dir"},
		{name: "negative plugins", mutate: func(o *Options) { o.Plugins = -1 }, want: "plugins"},
		{name: "negative events", mutate: func(o *Options) { o.Events = -3 }, want: "events"},
		{name: "negative concurrency", mutate: func(o *Options) { o.Concurrency = -1 }, want: "concurrency"},
		{name: "negative budget", mutate: func(o *Options) { o.Budget = -1 }, want: "budget"},
		{name: "sqlite as postgres", mutate: func(o *Options) { o.PostgresDSN = "sqlite://x.db" }, want: "postgres"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.mutate(&o)
			o.withDefaults()
			err := o.check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("check = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Dist
	}{
		{name: "one", in: []float64{7}, want: Dist{Min: 7, Mean: 7, P50: 7, P90: 7, P99: 7, Max: 7}},
		{name: "ten unsorted", in: []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, want: Dist{Min: 1, Mean: 5.5, P50: 5, P90: 9, P99: 10, Max: 10}},
		{name: "hundred", in: seq(100), want: Dist{Min: 1, Mean: 50.5, P50: 50, P90: 90, P99: 99, Max: 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			if got := summarize(tc.in); got != tc.want {
				t.Fatalf("summarize = %+v, want %+v", got, tc.want)
			}
			if !slices.Equal(in, tc.in) {
				t.Fatal("summarize modified its input")
			}
		})
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median = %v, want 2.5", got)
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(n - i)
	}
	return out
}

// TestPlotsEdgeCases draws plots from results with missing, failed and
// escaped data: they must still be well-formed SVG.
func TestPlotsEdgeCases(t *testing.T) {
	v := 3.5
	res := &Results{Config: Config{BudgetBytes: 1 << 30}, Backends: []BackendResult{
		{Name: "a<&>", Available: true, Figures: []Figure{
			distFigure("event_rtt_noop", "x", "y", UnitMicros, []float64{1, 2, 3}, 0),
			{ID: "idle_mem_per_instance", Unit: UnitMiB, Value: &v, Samples: 1},
			failedFigure("cold_start_nopool", "t", UnitMillis, errors.New(`bad "quote" & <tag>`)),
			distFigure("throughput_1", "t", "c", UnitEventsSec, nil, 3),
		}},
		{Name: "b", Available: false, Reason: "gone"},
	}}
	for name, svg := range plots(res) {
		if err := parseSVG([]byte(svg)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	md := markdown(res)
	if !strings.Contains(md, "| a<&> | b |") || !strings.Contains(md, "b unavailable:** gone") {
		t.Errorf("markdown:\n%s", md)
	}
}

// benchEngine starts a real engine on the named backend with a SQLite
// store and the bench plugin installed on server "1".
func benchEngine(b *testing.B, backend string) *env {
	b.Helper()
	ctx := context.Background()
	be, err := openReal(ctx, backend, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = be.Close() })
	dir := b.TempDir()
	e, err := startEnv(ctx, &Options{OpenStore: openStore}, be, "", dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.close() })
	pdir := filepath.Join(dir, "src", "bench-0")
	if err := writePlugin(pdir, "bench-0"); err != nil {
		b.Fatal(err)
	}
	if _, err := e.install(ctx, pdir, "1"); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkEngineCallDashboard measures one dashboard call through a real
// engine on the process backend with a SQLite store, for benchstat:
//
//	go test -run '^$' -bench EngineCallDashboard -benchmem -count 10 ./bench/
func BenchmarkEngineCallDashboard(b *testing.B) {
	ctx := context.Background()
	e := benchEngine(b, "process")
	params := json.RawMessage(`{"n": 1}`)
	for _, handler := range []string{"noop", "kv_set"} {
		b.Run(handler, func(b *testing.B) {
			warmLoop(b, func() error {
				_, err := e.eng.CallDashboard(ctx, "bench-0", "1", handler, params)
				return err
			})
		})
	}
}

// BenchmarkEngineDispatch measures one event from Dispatch until the
// plugin's no-op handler has returned (the engine's asynchronous path), on
// the process and wasm backends:
//
//	go test -run '^$' -bench EngineDispatch -benchmem -count 10 ./bench/
func BenchmarkEngineDispatch(b *testing.B) {
	for _, name := range []string{"process", "wasm"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			e := benchEngine(b, name)
			ev := event(eventNoop, "1", 0)
			warmLoop(b, func() error {
				_, err := e.dispatchWait(ctx, ev, time.Minute)
				return err
			})
		})
	}
}

// warmLoop runs op once unmeasured (it starts the plugin's instance), then
// measures it with b.Loop.
func warmLoop(b *testing.B, op func() error) {
	b.Helper()
	if err := op(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEngineThroughput dispatches no-op events to 10 plugins enabled
// on one server from 4 goroutines (each event goes to all 10); one op is
// one dispatched event, so handled events per second are 10 × ops/s.
func BenchmarkEngineThroughput(b *testing.B) {
	for _, name := range []string{"process", "wasm"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			e := benchEngine(b, name)
			for i := 1; i < 10; i++ {
				id := fmt.Sprintf("bench-%d", i)
				pdir := filepath.Join(b.TempDir(), id)
				if err := writePlugin(pdir, id); err != nil {
					b.Fatal(err)
				}
				if _, err := e.install(ctx, pdir, "1"); err != nil {
					b.Fatal(err)
				}
			}
			ev := event(eventNoop, "1", 0)
			for range 20 {
				if err := e.eng.Dispatch(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			if err := e.eng.Drain(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := e.eng.Dispatch(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if err := e.eng.Drain(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestRecBackendKeepsLines: the bench's backend wrapper passes a
// sandbox.LineInstance through, so the engine under measurement takes the
// line transport it takes in maid serve (a wrapper that hid it once made
// every wasm figure measure the byte streams instead).
func TestRecBackendKeepsLines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	be, err := openReal(ctx, "wasm", 0)
	if err != nil {
		testenv.Unavailable(t, "python.wasm", "make python-wasm", err)
	}
	defer be.Close()
	rb := newRecBackend(be)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte("import sys\nsys.stdin.buffer.read()\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inst, err := rb.Start(ctx, sandbox.Spec{Name: "lines", PluginID: "lines", Dir: dir, Entry: "__main__.py"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = inst.Kill()
		_, _ = inst.Wait(ctx)
	}()
	if _, ok := inst.(sandbox.LineInstance); !ok {
		t.Fatalf("recBackend.Start returned %T, which hides the wasm instance's sandbox.LineInstance", inst)
	}
	if got := len(rb.instances()); got != 1 {
		t.Errorf("recBackend sees %d live instances, want 1", got)
	}
}

// BenchmarkEngineKVSet measures one ctx.kv.set from plugin code (the
// bench plugin's kv_loop, 500 writes per dashboard call) through a real
// engine with a SQLite store, on the process and wasm backends; one op is
// one kv.set. For a profile of the host side of the call:
//
//	go test -run '^$' -bench EngineKVSet/wasm -cpuprofile cpu.out ./bench/
func BenchmarkEngineKVSet(b *testing.B) {
	for _, name := range []string{"process", "wasm"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			e := benchEngine(b, name)
			loop := func(n int) {
				params, _ := json.Marshal(map[string]any{"op": "set", "n": n})
				if _, err := e.eng.CallDashboard(ctx, "bench-0", "1", "kv_loop", params); err != nil {
					b.Fatal(err)
				}
			}
			loop(50) // start the instance, warm the store
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(500, b.N-done)
				loop(n)
				done += n
			}
		})
	}
}
