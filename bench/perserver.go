package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// writePerServerPlugin writes the bench plugin with "instances":
// "per_server": the engine runs one instance of it per server.
func writePerServerPlugin(dir, id string) error {
	if err := writePlugin(dir, id); err != nil {
		return err
	}
	path := filepath.Join(dir, "manifest.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("write bench plugin: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("write bench plugin: %w", err)
	}
	m["instances"] = "per_server"
	if data, err = json.MarshalIndent(m, "", "  "); err != nil {
		return fmt.Errorf("write bench plugin: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write bench plugin: %w", err)
	}
	return nil
}

// childPSS is the PSS of this process's children (the process backend's
// interpreters).
func childPSS() int64 {
	me := os.Getpid()
	var pss int64
	for _, pr := range procs() {
		if pr.ppid == me {
			_, s := memOf(pr.pid)
			pss += s
		}
	}
	return pss
}

// measurePerServer starts Plugins (plugin, server) instances of one
// per_server plugin, enabled on Plugins servers, on a fresh engine, one
// event to each server, and measures the host's memory as they start (a
// curve) and once all are idle. It stops early, saying so, when the host
// runs low on memory.
func (r *runner) measurePerServer(ctx context.Context, name string, add func(Figure), fail func(id, title, unit string, err error)) {
	const id, title = "perserver_mem_per_instance", "Per-server instances: memory per idle (plugin, server) instance"
	n := r.o.Plugins
	b, err := r.o.OpenBackend(ctx, name, 0)
	if err != nil {
		fail(id, title, UnitMiB, err)
		return
	}
	defer b.Close()
	e, err := startEnv(ctx, r.o, b, "", filepath.Join(r.tmp, name+"-perserver"))
	if err != nil {
		fail(id, title, UnitMiB, err)
		return
	}
	defer e.close()
	dir := filepath.Join(r.tmp, "plugins", "bench-perserver")
	if err := writePerServerPlugin(dir, "bench-perserver"); err != nil {
		fail(id, title, UnitMiB, err)
		return
	}
	servers := make([]string, n)
	for i := range servers {
		servers[i] = fmt.Sprintf("p%d", i)
	}
	r.p.printf("  per-server instances: enabling one per_server plugin on %d servers", n)
	if _, err := e.install(ctx, dir, servers...); err != nil {
		fail(id, title, UnitMiB, err)
		return
	}
	settleHeap()
	sleep(ctx, 500*time.Millisecond)
	base := selfMem() + childPSS()
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	curve := valueFigure("perserver_curve", "Per-server instances: host memory against (plugin, server) instances",
		"growth of the maid process's PSS plus its children's PSS as instances of one per_server plugin start, one per server, in steps (Go heap returned to the OS before each reading); measured at each point, not extrapolated",
		UnitMiB, 0, nil)
	errBefore := e.obs.errs.Load()
	started, stopped := 0, ""
	r.p.printf("  per-server instances: starting %d", n)
	for _, bound := range curveBounds(n) {
		if avail := memAvailable(); avail > 0 && avail < minAvailable {
			stopped = fmt.Sprintf("stopped starting instances at %d of %d: the host had %.1f GiB available, below the %.0f GiB the bench leaves free",
				started, n, float64(avail)/(1<<30), float64(minAvailable)/(1<<30))
			break
		}
		for ; started < bound; started++ {
			if err := e.eng.Dispatch(ctx, event(eventNoop, servers[started], started)); err != nil {
				fail(id, title, UnitMiB, err)
				return
			}
		}
		if err := e.eng.Drain(ctx); err != nil {
			fail(id, title, UnitMiB, err)
			return
		}
		if d := e.obs.errs.Load() - errBefore; d > 0 {
			fail(id, title, UnitMiB, fmt.Errorf("%d of %d instances failed to start (last: %s)", d, started, e.obs.lastError()))
			return
		}
		settleHeap()
		curve.Curve = append(curve.Curve, Point{X: float64(e.eng.Stats().Instances), Y: mib(selfMem() + childPSS() - base)})
		r.p.printf("    %d instances: %.0f MiB", started, curve.Curve[len(curve.Curve)-1].Y)
	}
	sleep(ctx, 2*time.Second)
	settleHeap()
	running := int(e.eng.Stats().Instances)
	if running == 0 {
		fail(id, title, UnitMiB, fmt.Errorf("no instance is running"))
		return
	}
	growth := selfMem() + childPSS() - base
	if len(curve.Curve) > 0 {
		last := curve.Curve[len(curve.Curve)-1].Y
		curve.Value, curve.Samples, curve.Reps, curve.Note = &last, running, []float64{last}, stopped
		add(curve)
	}
	cnt := valueFigure("perserver_instances", "Per-server instances started and idle",
		fmt.Sprintf("(plugin, server) instances of one per_server plugin running idle at once, of %d asked (--plugins)", n), UnitInstances, running, []float64{float64(running)})
	cnt.Note = stopped
	add(cnt)
	add(valueFigure(id, title,
		"host memory growth (maid's PSS plus its children's) divided by the running (plugin, server) instances, all idle, measured with all of them running",
		UnitMiB, running, []float64{mib(growth) / float64(running)}))
}
