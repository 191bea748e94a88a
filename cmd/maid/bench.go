package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/maidhq/maid/bench"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/sandbox"
)

const benchUsage = `Usage: maid bench [flags]

Measures the sandbox backends side by side through the real engine path
(event in → plugin handler → host KV call → reply): cold start with and
without the warm pool, event and dashboard round trips, throughput with
1, 10 and 100 instances, idle memory per instance, KV latency, and
baselines (Go call, raw pipes, a python3 subprocess) in the same run.
Writes DIR/results.json, DIR/results.md and DIR/*.svg; progress goes to
stderr. See docs/benchmarks.md.

A backend that cannot start is reported as unavailable; with CI=true that
is an error (exit 1).

Flags:
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", benchUsage, stderr)
	var bf backendFlags
	bf.registerTuning(fs, bench.DefaultPool) // no -backend: -backends says which

	backends := fs.String("backends", envOr("BENCH_BACKENDS", "process,wasm,docker"), "comma-separated backends to measure, in column order")
	plugins := fs.Int("plugins", envInt("BENCH_PLUGINS", bench.DefaultPlugins), "most plugin instances at once (density, largest throughput step)")
	events := fs.Int("events", envInt("BENCH_EVENTS", bench.DefaultEvents), "samples per event round-trip figure (other figures scale from it)")
	starts := fs.Int("starts", envInt("BENCH_STARTS", bench.DefaultStarts), "samples per cold-start figure")
	conc := fs.Int("concurrency", envInt("BENCH_CONCURRENCY", bench.DefaultConcurrency), "goroutines dispatching events in the throughput figures")
	budget := fs.String("budget", envOr("BENCH_BUDGET", "4GiB"), "memory budget for the idle-instance density figure (e.g. 4GiB, 512MiB)")
	db := fs.String("db", os.Getenv("MAID_TEST_POSTGRES_DSN"), "PostgreSQL DSN (postgres://...) for extra KV figures; default $MAID_TEST_POSTGRES_DSN. The rest of the run uses a fresh SQLite store")
	out := fs.String("out", envOr("BENCH_OUT", "bench-out"), "output directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "maid bench: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	var names []string
	for _, n := range strings.Split(*backends, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.Contains(Backends, n) {
			fmt.Fprintf(stderr, "maid bench: --backends: unknown backend %q; choose from %v\n", n, Backends)
			return 2
		}
		names = append(names, n)
	}
	budgetBytes, err := parseBytes(*budget)
	if err != nil {
		fmt.Fprintf(stderr, "maid bench: --budget: %v\n", err)
		return 2
	}
	if *db != "" && !strings.HasPrefix(*db, "postgres://") && !strings.HasPrefix(*db, "postgresql://") {
		fmt.Fprintln(stderr, "maid bench: --db: must be a postgres:// DSN (the run always uses a fresh SQLite store; --db adds PostgreSQL)")
		return 2
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := bench.Options{
		Backends: names,
		OpenBackend: func(ctx context.Context, name string, pool int) (sandbox.Backend, error) {
			f := bf
			f.name, f.pool = name, pool
			return openBackend(ctx, f, quiet)
		},
		OpenStore: func(ctx context.Context, dsn string) (engine.Store, error) {
			return openStore(ctx, dsn, "", quiet)
		},
		Plugins: *plugins, Events: *events, Starts: *starts, Concurrency: *conc,
		Pool: bf.pool, Budget: budgetBytes, PostgresDSN: *db, Out: *out,
		Progress: stderr, Strict: os.Getenv("CI") == "true", Version: version,
	}
	if _, err := bench.Run(ctx, opts); err != nil {
		fmt.Fprintf(stderr, "maid bench: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "results in %s/results.md\n", *out)
	return 0
}

// parseBytes reads a size like 4GiB, 512MiB, 100MB or 1073741824.
func parseBytes(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	n := v * float64(mult)
	if err != nil || !(n >= 1) || n > 1<<62 {
		return 0, fmt.Errorf("%q is not a positive size like 4GiB or 512MiB", orig)
	}
	return int64(n), nil
}
