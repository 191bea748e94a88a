package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maidhq/maid/sandbox"
)

// startTimeout bounds one cold start; on a loaded machine a container can
// take seconds, but never minutes.
const startTimeout = 2 * time.Minute

var startSeq atomic.Int64

// sandboxColdStart times Backend.Start until the guest's first protocol
// line (maid.hello): interpreter and SDK start-up plus loading the plugin,
// without the engine. With env nil the specs carry no Env, which every
// pool serves; the engine's specs always carry some.
func sandboxColdStart(ctx context.Context, p *progress, b sandbox.Backend, dir string, env map[string]string, n, warm int, pause time.Duration) ([]float64, int, error) {
	var samples []float64
	errs := 0
	var last error
	for i := 0; i < warm+n; i++ {
		d, err := sandboxStartOnce(ctx, b, dir, env)
		if err != nil {
			if ctx.Err() != nil {
				return samples, errs, ctx.Err()
			}
			errs++
			last = err
			if errs > n/2+2 {
				return samples, errs, fmt.Errorf("too many failed starts: %w", err)
			}
			continue
		}
		if i >= warm {
			samples = append(samples, millis(d))
		}
		p.tick("starts", i+1, warm+n)
		sleep(ctx, pause)
	}
	if len(samples) == 0 && last != nil {
		return nil, errs, last
	}
	return samples, errs, nil
}

// startBare starts an instance of b without the engine, named after
// spec.PluginID, and drains its stderr. stop kills it and waits for it to
// exit, for at most a minute even when ctx is done by then.
func startBare(ctx context.Context, b sandbox.Backend, spec sandbox.Spec) (inst sandbox.Instance, stop func(), err error) {
	spec.Name = fmt.Sprintf("%s-%d-%d", spec.PluginID, os.Getpid(), startSeq.Add(1))
	inst, err = b.Start(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	go io.Copy(io.Discard, inst.Stderr())
	return inst, func() {
		_ = inst.Kill()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = inst.Wait(wctx)
	}, nil
}

func sandboxStartOnce(ctx context.Context, b sandbox.Backend, dir string, env map[string]string) (time.Duration, error) {
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	t0 := time.Now()
	inst, stop, err := startBare(sctx, b, sandbox.Spec{PluginID: "bench-sb", Dir: dir, Entry: "__main__.py", Env: env})
	if err != nil {
		return 0, err
	}
	defer stop()
	first := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(inst.Stdout()).ReadBytes('\n')
		if err == nil && !bytes.Contains(line, []byte(`"maid.hello"`)) {
			err = fmt.Errorf("first protocol line is not maid.hello: %.100s", line)
		}
		first <- err
	}()
	select {
	case err := <-first:
		return time.Since(t0), err
	case <-sctx.Done():
		return 0, fmt.Errorf("no maid.hello within %v: %w", startTimeout, sctx.Err())
	}
}

// coldResult is the engine-level cold start: total and its parts.
type coldResult struct {
	total, backendStart, handshake []float64 // ms
	errs                           int
}

// engineColdStart re-installs the plugin in dir before each sample, so the
// engine holds no instance of it, then times Dispatch of its first event
// until the handler's completion.
func engineColdStart(ctx context.Context, p *progress, e *env, dir, server string, n, warm int, pause time.Duration) (coldResult, error) {
	var r coldResult
	var last error
	id := ""
	for i := 0; i < warm+n; i++ {
		var err error
		if id != "" {
			// Re-installing the same files keeps the running instance:
			// remove the plugin so the next event really starts one.
			if err := e.eng.Uninstall(ctx, id); err != nil {
				return r, fmt.Errorf("uninstall: %w", err)
			}
		}
		if id, err = e.install(ctx, dir, server); err != nil {
			return r, fmt.Errorf("install: %w", err)
		}
		sleep(ctx, pause)
		started := make(chan time.Time, 1)
		e.obs.started.Store(&started)
		t0 := time.Now()
		d, err := e.dispatchWait(ctx, event(eventNoop, server, i), startTimeout)
		e.obs.started.Store(nil)
		if err != nil {
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			r.errs++
			last = err
			if r.errs > n/2+2 {
				return r, fmt.Errorf("too many failed starts: %w", err)
			}
			continue
		}
		if i < warm {
			continue
		}
		r.total = append(r.total, millis(d))
		r.backendStart = append(r.backendStart, millis(time.Duration(e.rec.lastStart.Load())))
		select {
		case at := <-started:
			r.handshake = append(r.handshake, millis(at.Sub(t0)))
		default:
		}
		p.tick("starts", i+1, warm+n)
	}
	if id != "" {
		if err := e.eng.Uninstall(ctx, id); err != nil {
			return r, fmt.Errorf("uninstall: %w", err)
		}
	}
	if len(r.total) == 0 && last != nil {
		return r, last
	}
	return r, nil
}

// eventRoundTrips dispatches n events, one at a time, to a server where one
// running plugin handles typ, and times each from Dispatch to completion.
func eventRoundTrips(ctx context.Context, p *progress, e *env, typ, server string, n, warm int) ([]float64, int, error) {
	return roundTrips(ctx, p, "events", n, warm, func(ctx context.Context, i int) (time.Duration, error) {
		return e.dispatchWait(ctx, event(typ, server, i), time.Minute)
	}, func(err error) error {
		return fmt.Errorf("too many failed events (last: %w; plugin: %s)", err, e.obs.lastError())
	})
}

// callRoundTrips calls a dashboard handler n times through the engine
// (CallDashboard: the synchronous path) and times each call.
func callRoundTrips(ctx context.Context, p *progress, call func(ctx context.Context, i int) error, n, warm int) ([]float64, int, error) {
	return roundTrips(ctx, p, "calls", n, warm, func(ctx context.Context, i int) (time.Duration, error) {
		t0 := time.Now()
		err := call(ctx, i)
		return time.Since(t0), err
	}, func(err error) error {
		return fmt.Errorf("too many failed calls: %w", err)
	})
}

// roundTrips runs one timed round trip warm+n times and keeps the
// durations after the first warm, in microseconds. Failures are counted;
// more than n/10+10 of them end the run with tooMany(the last), and so does
// ctx ending. Progress is reported as what, every 256 round trips.
func roundTrips(ctx context.Context, p *progress, what string, n, warm int, trip func(ctx context.Context, i int) (time.Duration, error), tooMany func(error) error) ([]float64, int, error) {
	samples := make([]float64, 0, n)
	errs := 0
	for i := 0; i < warm+n; i++ {
		d, err := trip(ctx, i)
		if err != nil {
			if ctx.Err() != nil {
				return samples, errs, ctx.Err()
			}
			errs++
			if errs > n/10+10 {
				return samples, errs, tooMany(err)
			}
			continue
		}
		if i >= warm {
			samples = append(samples, micros(d))
		}
		if i%256 == 0 {
			p.tick(what, i+1, warm+n)
		}
	}
	return samples, errs, nil
}

// throughput dispatches events to a server where k plugins are enabled
// from conc goroutines and counts handled events per second, start of the
// first Dispatch to the end of Drain. Each rep handles about total events.
//
// With cpu it also returns the host CPU time per handled event (see
// hostCPU), median of the reps: the figure that stays meaningful on a busy
// machine, where a backend's events per second mostly say how much of the
// CPU its threads were given.
func throughput(ctx context.Context, e *env, server string, k, total, conc, reps int, cpu bool) ([]Figure, error) {
	id := fmt.Sprintf("throughput_%d", k)
	title := fmt.Sprintf("Throughput, %d plugin instance%s", k, plural(k))
	m := max(1, int(math.Ceil(float64(total)/float64(k))))
	// Warm-up: start every instance and fill caches.
	for i := 0; i < min(m, 20); i++ {
		if err := e.eng.Dispatch(ctx, event(eventNoop, server, i)); err != nil {
			return nil, err
		}
	}
	if err := e.eng.Drain(ctx); err != nil {
		return nil, err
	}
	var rates, cpus []float64
	handled, errs := 0, 0
	for r := 0; r < reps; r++ {
		before, errBefore := e.obs.events.Load(), e.obs.errs.Load()
		var next atomic.Int64
		var wg sync.WaitGroup
		var derr atomic.Pointer[error]
		cpu0 := hostCPU()
		t0 := time.Now()
		for g := 0; g < conc; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1))
					if i > m {
						return
					}
					if err := e.eng.Dispatch(ctx, event(eventNoop, server, i)); err != nil {
						derr.Store(&err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := e.eng.Drain(ctx); err != nil {
			return nil, err
		}
		el := time.Since(t0)
		used := hostCPU() - cpu0
		if p := derr.Load(); p != nil {
			return nil, *p
		}
		h := int(e.obs.events.Load() - before)
		handled += h
		errs += int(e.obs.errs.Load() - errBefore)
		rates = append(rates, float64(h)/el.Seconds())
		if h > 0 {
			cpus = append(cpus, float64(used.Microseconds())/float64(h))
		}
	}
	f := valueFigure(id, title, fmt.Sprintf(
		"%d events dispatched from %d goroutines to a server with %d plugin%s enabled (each event goes to every one), no-op handler; handled events per second from the first Dispatch to the end of Drain; median of %d reps",
		m, conc, k, plural(k), reps), UnitEventsSec, handled, rates)
	f.Errors = errs
	figs := []Figure{f}
	if cpu && len(cpus) > 0 {
		figs = append(figs, valueFigure(fmt.Sprintf("cpu_per_event_%d", k), fmt.Sprintf("Host CPU per handled event, %d plugin instance%s", k, plural(k)),
			"CPU time (user+system) of the maid process and its child processes during the throughput reps above, divided by the events handled; median of the reps. Wasm guests run inside maid; the process backend's interpreters are its children. On a 2-core machine, 2 s / this figure bounds events per second",
			UnitMicros, handled, cpus))
	}
	return figs, nil
}

// hostCPU is the CPU time used so far by this process, by its child
// processes still running (the process backend's interpreters, read from
// /proc) and by those it has reaped. docker's containers are not children
// of maid, so their CPU is not in it.
func hostCPU() time.Duration {
	var self, reaped syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &reaped)
	d := time.Duration(self.Utime.Nano() + self.Stime.Nano() + reaped.Utime.Nano() + reaped.Stime.Nano())
	me := os.Getpid()
	for _, pr := range procs() {
		if pr.ppid == me {
			d += procCPU(pr.pid)
		}
	}
	return d
}

// procCPU is a live process's user+system CPU time from /proc/PID/stat
// (utime and stime, fields 14 and 15, in clock ticks of 1/100 s: Linux's
// USER_HZ on every architecture Go supports).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	r := strings.LastIndexByte(s, ')')
	if r < 0 {
		return 0
	}
	f := strings.Fields(s[r+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}

// density starts one idle instance of each plugin enabled on the chunk
// servers, one chunk after the other (the density curve), and measures
// memory growth; see the covers text of each figure. It stops starting
// chunks while the host has less than minAvailable memory left.
func density(ctx context.Context, e *env, backend string, chunks []string, n int, budget int64) ([]Figure, error) {
	me := os.Getpid()
	childMem := func() (rss []float64, pss int64) {
		for _, pr := range procs() {
			if pr.ppid == me {
				r, s := memOf(pr.pid)
				rss = append(rss, float64(r))
				pss += s
			}
		}
		return rss, pss
	}
	shimMem := func() (pss int64) {
		for _, pr := range procs() {
			if strings.HasPrefix(pr.comm, "containerd-shim") {
				_, s := memOf(pr.pid)
				pss += s
			}
		}
		return pss
	}
	settleHeap()
	sleep(ctx, 500*time.Millisecond)
	baseSelf := selfMem()
	_, baseChild := childMem()
	baseShim := shimMem()
	mib := func(b float64) float64 { return b / (1 << 20) }
	errBefore := e.obs.errs.Load()
	curve := valueFigure("density_curve", "Host memory against idle instances",
		"growth of the maid process's PSS plus its children's PSS (process backend) as idle instances are started in steps, Go heap returned to the OS before each reading; the value is the last point's. Measured at each point, not extrapolated",
		UnitMiB, 0, nil)
	stopped := ""
	for _, server := range chunks {
		if avail := memAvailable(); avail > 0 && avail < minAvailable {
			stopped = fmt.Sprintf("stopped starting instances at %d of %d: the host had %.1f GiB available, below the %.0f GiB the bench leaves free",
				len(e.rec.instances()), n, float64(avail)/(1<<30), float64(minAvailable)/(1<<30))
			break
		}
		if err := e.eng.Dispatch(ctx, event(eventNoop, server, 0)); err != nil {
			return nil, err
		}
		if err := e.eng.Drain(ctx); err != nil {
			return nil, err
		}
		if d := e.obs.errs.Load() - errBefore; d > 0 {
			// Keep measuring what did start (a host limit such as open
			// files may stop the last few); the figure counts the failures.
			curve.Errors = int(d)
			curve.Note = fmt.Sprintf("%d of %d instances failed to start (last: %s)", d, n, e.obs.lastError())
		}
		settleHeap()
		_, child := childMem()
		curve.Curve = append(curve.Curve, Point{X: float64(len(e.rec.instances())), Y: mib(float64(selfMem() - baseSelf + child - baseChild))})
	}
	sleep(ctx, 2*time.Second) // let start-up garbage and page faults settle
	settleHeap()
	insts := e.rec.instances()
	if len(insts) == 0 {
		return nil, errors.New("no instance is running")
	}
	count := float64(len(insts))
	hostSide := float64(selfMem()-baseSelf) / count
	var figs []Figure
	if len(curve.Curve) > 0 {
		last := curve.Curve[len(curve.Curve)-1].Y
		curve.Value, curve.Samples, curve.Reps = &last, len(insts), []float64{last}
		curve.Note = strings.TrimSpace(curve.Note + " " + stopped)
		figs = append(figs, curve)
	}
	add := func(id, title, covers string, v float64) {
		figs = append(figs, valueFigure(id, title, covers, UnitMiB, len(insts), []float64{v}))
	}
	add("idle_mem_host", "Idle instance: maid process growth",
		"growth of the maid process's PSS (RSS where unavailable) per idle instance after starting them all (Go heap returned to the OS before both readings): engine bookkeeping, pipes, buffers and, for wasm, the whole guest; PSS counts a page every wasm instance maps from the snapshot image once, not once per instance",
		mib(hostSide))
	total := hostSide
	switch backend {
	case "wasm":
		stats := statsMemory(insts, len(insts))
		add("idle_mem_guest_linear", "Idle instance: wasm linear memory size",
			"median size of an instance's wasm linear memory (allocated address space, of which RSS counts only touched pages; included in the process growth above)",
			mib(median(stats)))
	case "process":
		rss, pss := childMem()
		add("idle_rss_child", "Idle instance: python3 child RSS",
			"median resident set size of one plugin's python3 process (what ps shows; shared library pages counted in each)", mib(median(rss)))
		guest := float64(pss-baseChild) / count
		add("idle_pss_child", "Idle instance: python3 child PSS",
			"proportional set size per plugin process (shared pages split among the processes sharing them)", mib(guest))
		total += guest
	case "docker":
		stats := statsMemory(insts, 20)
		cm := median(stats)
		shim := float64(shimMem()-baseShim) / count
		add("idle_mem_container", "Idle instance: container memory",
			fmt.Sprintf("median container memory from the engine's stats, page cache excluded (like docker stats), over %d containers", len(stats)), mib(cm))
		add("idle_mem_shim", "Idle instance: containerd-shim PSS",
			"growth of all containerd-shim processes' PSS per container (the runtime's per-container cost on the host)", mib(shim))
		total += cm + shim
	default:
		stats := statsMemory(insts, 20)
		add("idle_mem_guest", "Idle instance: guest memory (backend stats)", "median of the backend's Stats().MemoryBytes", mib(median(stats)))
		total += median(stats)
	}
	add("idle_mem_per_instance", "Idle instance: memory per instance",
		"total memory one more idle instance costs the host: the sum of the parts measured for this backend", mib(total))
	fits := 0.0
	if total > 0 {
		fits = math.Floor(float64(budget) / total)
	}
	f := valueFigure("instances_in_budget", "Idle instances that fit the budget",
		fmt.Sprintf("%.0f MiB budget divided by the measured memory per idle instance (extrapolated from %d measured instances; start-up peaks and the host's fixed memory not included)", mib(float64(budget)), len(insts)),
		UnitInstances, len(insts), []float64{fits})
	f.Extrapolated = true
	figs = append(figs, f)
	return figs, nil
}

// statsMemory reads Stats().MemoryBytes of up to limit instances in
// parallel (a container's stats are an engine API call).
func statsMemory(insts []sandbox.Instance, limit int) []float64 {
	if len(insts) > limit {
		insts = insts[:limit]
	}
	out := make([]float64, len(insts))
	var wg sync.WaitGroup
	for i, in := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = float64(in.Stats().MemoryBytes)
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(v float64) bool { return v <= 0 })
}

// kvLoop runs the plugin's kv_loop handler until total operations are
// done; it returns each operation's latency as the plugin measured it (µs)
// and operations per second of plugin time.
func kvLoop(ctx context.Context, e *env, pluginID, server, op string, total, batch int) ([]float64, float64, error) {
	var lat []float64
	var busy int64
	run := func(n int, keep bool) error {
		params, _ := json.Marshal(map[string]any{"op": op, "n": n})
		raw, err := e.eng.CallDashboard(ctx, pluginID, server, "kv_loop", params)
		if err != nil {
			return err
		}
		var res struct {
			TotalNS int64   `json:"total_ns"`
			LatNS   []int64 `json:"lat_ns"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("kv_loop result: %w", err)
		}
		if len(res.LatNS) != n {
			return fmt.Errorf("kv_loop returned %d latencies for %d operations", len(res.LatNS), n)
		}
		if keep {
			busy += res.TotalNS
			for _, ns := range res.LatNS {
				lat = append(lat, float64(ns)/1e3)
			}
		}
		return nil
	}
	if err := run(min(50, total), false); err != nil { // warm-up
		return nil, 0, err
	}
	for done := 0; done < total; {
		n := min(batch, total-done)
		if err := run(n, true); err != nil {
			return lat, 0, err
		}
		done += n
	}
	if busy <= 0 {
		return lat, 0, errors.New("kv_loop reported no time")
	}
	return lat, float64(len(lat)) / (float64(busy) / 1e9), nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
