package wasm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// Figures from these benchmarks are in docs/backends.md ("wasm"). Run:
//
//	go test -run '^$' -bench . -benchtime 50x ./sandbox/wasm/

const echoScript = `
for line in inp:
    out.write(line); out.flush()
`

// echoInstance starts the echo plugin and returns it with a stdout reader.
func echoInstance(tb testing.TB, b *Backend, dir string) (sandbox.Instance, *bufio.Reader) {
	tb.Helper()
	inst, err := b.Start(context.Background(), sandbox.Spec{
		Name: "bench", PluginID: "bench", Dir: dir, Entry: "__main__.py",
		Limits: sandbox.Limits{MemoryBytes: 256 << 20},
	})
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	go io.Copy(io.Discard, inst.Stderr())
	return inst, bufio.NewReaderSize(inst.Stdout(), 64<<10)
}

func echo(tb testing.TB, inst sandbox.Instance, r *bufio.Reader, msg string) {
	tb.Helper()
	if err := tryEcho(inst, r, msg); err != nil {
		tb.Fatal(err)
	}
}

func tryEcho(inst sandbox.Instance, r *bufio.Reader, msg string) error {
	if _, err := io.WriteString(inst.Stdin(), msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	line, err := r.ReadString('\n')
	if err != nil || line != msg {
		return fmt.Errorf("echo of %q: got %q, %v", msg, line, err)
	}
	return nil
}

func stop(tb testing.TB, inst sandbox.Instance) {
	_ = inst.Stdin().Close()
	if _, err := inst.Wait(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// waitPool blocks until the warm pool is full, so each measured start takes
// a warm interpreter (a start that outruns the refill is a cold start).
func waitPool(b *Backend) {
	for b.pool.Ready() < b.cfg.PoolSize {
		time.Sleep(time.Millisecond)
	}
}

func reportPercentiles(b *testing.B, d []time.Duration, unit string, scale time.Duration) {
	slices.Sort(d)
	at := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / float64(scale) }
	b.ReportMetric(at(0.5), "p50-"+unit)
	b.ReportMetric(at(0.9), "p90-"+unit)
	b.ReportMetric(0, "ns/op") // the percentiles are the figures
}

// BenchmarkColdStart: Start to the first echoed line (the plugin has booted
// and handled one message), from the snapshot with and without the warm
// pool, and starting CPython from scratch (Config.FreshStarts).
func BenchmarkColdStart(b *testing.B) {
	for _, tc := range []struct {
		name  string
		pool  int
		fresh bool
	}{
		{"pool=0", 0, false},
		{"pool=2", 2, false},
		{"fresh,pool=0", 0, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			be, err := New(context.Background(), Config{PythonDir: pythonDir(b), CacheDir: cacheDir(b), PoolSize: tc.pool, FreshStarts: tc.fresh})
			if err != nil {
				b.Fatalf("new backend: %v", err)
			}
			b.Cleanup(func() { _ = be.Close() })
			dir := sandboxtest.PluginDir(b, echoScript)
			times := make([]time.Duration, 0, b.N)
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				waitPool(be)
				c0 := cpuTime()
				b.StartTimer()
				t0 := time.Now()
				inst, r := echoInstance(b, be, dir)
				echo(b, inst, r, "ping\n")
				times = append(times, time.Since(t0))
				cpu += cpuTime() - c0
				b.StopTimer()
				stop(b, inst)
				b.StartTimer()
			}
			reportPercentiles(b, times, "ms", time.Millisecond)
			// CPU time is less sensitive to a busy machine than wall time.
			b.ReportMetric(float64(cpu)/float64(len(times))/float64(time.Millisecond), "cpu-ms/op")
		})
	}
}

// BenchmarkRoundTrip: one JSON-sized line to the guest and back.
func BenchmarkRoundTrip(b *testing.B) { benchRoundTrip(b, echoScript) }

// jsonEchoScript decodes each line and answers with it re-encoded: the
// JSON work of one event without the SDK's dispatch.
const jsonEchoScript = `
import json
for line in inp:
    out.write(json.dumps(json.loads(line), separators=(",", ":")).encode() + b"\n"); out.flush()
`

// BenchmarkJSONRoundTrip: one event-sized JSON-RPC line to the guest,
// decoded and re-encoded there, and back.
func BenchmarkJSONRoundTrip(b *testing.B) { benchRoundTrip(b, jsonEchoScript) }

func benchRoundTrip(b *testing.B, script string) {
	be := newBackend(b, 0)
	inst, r := echoInstance(b, be, sandboxtest.PluginDir(b, script))
	defer stop(b, inst)
	msg := `{"jsonrpc":"2.0","id":7,"method":"plugin.event","params":{"call":"c1","type":"message_create","event":{"content":"hello"}}}` + "\n"
	times := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		echo(b, inst, r, msg)
		times = append(times, time.Since(t0))
	}
	reportPercentiles(b, times, "µs", time.Microsecond)
}

// BenchmarkLineRoundTrip and BenchmarkLineJSONRoundTrip are the round
// trips above over the line transport the engine uses for wasm
// (sandbox.LineInstance): the line goes straight into the guest's stdin
// queue, and its answer reaches a channel from the guest's own goroutine.
func BenchmarkLineRoundTrip(b *testing.B)     { benchLineRoundTrip(b, echoScript) }
func BenchmarkLineJSONRoundTrip(b *testing.B) { benchLineRoundTrip(b, jsonEchoScript) }

func benchLineRoundTrip(b *testing.B, script string) {
	be := newBackend(b, 0)
	inst, err := be.Start(context.Background(), sandbox.Spec{
		Name: "bench", PluginID: "bench", Dir: sandboxtest.PluginDir(b, script), Entry: "__main__.py",
		Limits: sandbox.Limits{MemoryBytes: 256 << 20},
	})
	if err != nil {
		b.Fatalf("start: %v", err)
	}
	go io.Copy(io.Discard, inst.Stderr())
	got := make(chan string, 1)
	li := inst.(sandbox.LineInstance)
	if err := li.ServeLines(sandbox.LineConfig{
		MaxLineBytes: 1 << 20, ReplyBytes: 1 << 20,
		Line: func(_ context.Context, line []byte) error { got <- string(line); return nil },
		End:  func(error) {},
	}); err != nil {
		b.Fatal(err)
	}
	defer stop(b, inst)
	msg := `{"jsonrpc":"2.0","id":7,"method":"plugin.event","params":{"call":"c1","type":"message_create","event":{"content":"hello"}}}`
	times := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		if err := li.SendLine(context.Background(), []byte(msg), false); err != nil {
			b.Fatal(err)
		}
		if line := <-got; line != msg {
			b.Fatalf("echo: got %q", line)
		}
		times = append(times, time.Since(t0))
	}
	reportPercentiles(b, times, "µs", time.Microsecond)
}

// BenchmarkIdleRSS: host RSS added per booted, idle plugin instance.
func BenchmarkIdleRSS(b *testing.B) {
	const n = 50
	be := newBackend(b, 0)
	dir := sandboxtest.PluginDir(b, echoScript)
	for b.Loop() {
		runtime.GC()
		debug.FreeOSMemory()
		before := rss(b)
		insts := make([]sandbox.Instance, n)
		for i := range insts {
			inst, r := echoInstance(b, be, dir)
			echo(b, inst, r, "up\n")
			insts[i] = inst
		}
		runtime.GC()
		debug.FreeOSMemory()
		after := rss(b)
		b.ReportMetric(float64(after-before)/n/(1<<20), "MiB/instance")
		for _, inst := range insts {
			stop(b, inst)
		}
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkConcurrent100: 100 instances alive at once: all boot in
// parallel and answer once, then all echo 20 lines in parallel. Any failure
// fails the benchmark.
func BenchmarkConcurrent100(b *testing.B) {
	const n, rounds = 100, 20
	be := newBackend(b, 0)
	dir := sandboxtest.PluginDir(b, echoScript)
	// parallel runs f for every instance at once and fails on any error.
	parallel := func(insts []sandbox.Instance, readers []*bufio.Reader, f func(i int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, len(insts))
		for i := range insts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := f(i); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Error(err)
		}
	}
	for b.Loop() {
		t0 := time.Now()
		insts := make([]sandbox.Instance, n)
		readers := make([]*bufio.Reader, n)
		for i := range insts {
			insts[i], readers[i] = echoInstance(b, be, dir)
		}
		parallel(insts, readers, func(i int) error { return tryEcho(insts[i], readers[i], "up\n") })
		booted := time.Since(t0)
		t1 := time.Now()
		parallel(insts, readers, func(i int) error {
			for j := range rounds {
				if err := tryEcho(insts[i], readers[i], fmt.Sprintf("%d-%d\n", i, j)); err != nil {
					return err
				}
			}
			return nil
		})
		worked := time.Since(t1)
		for _, inst := range insts {
			stop(b, inst)
		}
		b.ReportMetric(booted.Seconds(), "s-all-100-booted")
		b.ReportMetric(float64(n*rounds)/worked.Seconds(), "echoes/s")
	}
	b.ReportMetric(0, "ns/op")
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss reads this process's resident set size in bytes (Linux).
func rss(tb testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				tb.Fatalf("parse VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	tb.Fatal("VmRSS missing")
	return 0
}
