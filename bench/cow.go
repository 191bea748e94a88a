package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/maidhq/maid/sandbox"
)

// UnitPages counts host pages (4 KiB).
const UnitPages = "pages"

// minAvailable is the host memory the density figures leave free: on a
// machine other work shares, they stop starting instances below it rather
// than push the host into the OOM killer.
const minAvailable = 6 << 30

// curveSteps is how many points the density curve has (besides the first
// instance).
const curveSteps = 10

// selfMem is this process's memory as the host accounts it: PSS, which
// splits a page mapped many times (a copy-on-write snapshot image mapped
// by every wasm instance) among its mappings instead of counting it in each
// as RSS does. RSS where smaps_rollup is missing.
func selfMem() int64 {
	if pss := procField("/proc/self/smaps_rollup", "Pss:") << 10; pss > 0 {
		return pss
	}
	return selfRSS()
}

// memAvailable is the host's available memory in bytes (0 if unknown).
func memAvailable() int64 { return procField("/proc/meminfo", "MemAvailable:") << 10 }

// curveBounds are the instance counts at which the density curve is
// measured: 1, then curveSteps even steps up to plugins.
func curveBounds(plugins int) []int {
	out := []int{1}
	for k := 1; k <= curveSteps; k++ {
		if b := plugins * k / curveSteps; b > out[len(out)-1] {
			out = append(out, b)
		}
	}
	if out[len(out)-1] != plugins {
		out = append(out, plugins)
	}
	return out
}

// curveServer is the server on which plugin i is enabled for the density
// curve: dispatching to curve server k starts the plugins between bounds
// k-1 and k.
func curveServer(bounds []int, i int) string {
	k, _ := slices.BinarySearch(bounds, i+1)
	return fmt.Sprintf("d%d", k)
}

// privateMemory is what a backend's instance may report: the bytes of
// memory it owns alone (wasm: pages written since it started from the
// shared snapshot image).
type privateMemory interface {
	PrivateMemory() (int64, error)
}

// dirtyPages measures the pages instances own after start (median over up
// to 200 running instances) and, for pluginID's instance on server, after
// 100 more no-op events. Backends whose instances do not report it get no
// figure.
func dirtyPages(ctx context.Context, e *env, pluginID, server string) ([]Figure, error) {
	pages := func(in sandbox.Instance) (float64, bool) {
		pm, ok := in.(privateMemory)
		if !ok {
			return 0, false
		}
		n, err := pm.PrivateMemory()
		if err != nil {
			return 0, false
		}
		return float64(n) / float64(os.Getpagesize()), true
	}
	var start []float64
	for _, in := range e.rec.instances() {
		if v, ok := pages(in); ok {
			start = append(start, v)
		}
		if len(start) == 200 {
			break
		}
	}
	if len(start) == 0 {
		return nil, nil
	}
	figs := []Figure{valueFigure("dirty_pages_start", "Pages an idle instance owns after start",
		"median over idle instances (each has handled one event) of the linear-memory pages the host holds for that instance alone: pages written since it started from the snapshot image, not the image's shared pages",
		UnitPages, len(start), []float64{median(start)})}
	for i := 0; i < 100; i++ {
		if err := e.eng.Dispatch(ctx, event(eventNoop, server, i)); err != nil {
			return figs, err
		}
	}
	if err := e.eng.Drain(ctx); err != nil {
		return figs, err
	}
	var after []float64
	for _, in := range e.rec.instancesOf(pluginID) {
		if v, ok := pages(in); ok {
			after = append(after, v)
		}
	}
	if len(after) > 0 {
		figs = append(figs, valueFigure("dirty_pages_100_events", "Pages an instance owns after 100 more events",
			"as dirty_pages_start, for one instance after it has handled 100 more no-op events", UnitPages, len(after), []float64{slices.Max(after)}))
	}
	return figs, nil
}

// guestJSONScript is a plugin that answers each line of stdin with the
// line decoded and encoded again, as pipe_python_json does in a host
// python3: the guest's own JSON round trip in the backend's sandbox.
const guestJSONScript = `import json
from maid_sdk import _transport
r, w = _transport.stdin(), _transport.stdout()
w.write(b'{"jsonrpc":"2.0","method":"maid.hello"}\n')
w.flush()
` + pyJSONEchoLoop

func writeGuestJSON(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write guest json plugin: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(guestJSONScript), 0o644); err != nil {
		return fmt.Errorf("write guest json plugin: %w", err)
	}
	return nil
}

// guestJSON times one protocol line through an instance of b whose code
// only decodes and re-encodes it: the floor of an event round trip in that
// backend (stdio, the interpreter, its json module), without the engine or
// the SDK's dispatch.
func guestJSON(ctx context.Context, b sandbox.Backend, dir string, n, warm int) Figure {
	id, title := "guest_json_rtt", "Guest's own JSON round trip (json.loads+dumps echo in the sandbox)"
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	inst, stop, err := startBare(sctx, b, sandbox.Spec{PluginID: "bench-json", Dir: dir, Entry: "__main__.py"})
	if err != nil {
		return failedFigure(id, title, UnitMicros, err)
	}
	defer stop()
	r := bufio.NewReaderSize(inst.Stdout(), 64<<10)
	if _, err := r.ReadSlice('\n'); err != nil { // the hello line
		return failedFigure(id, title, UnitMicros, fmt.Errorf("guest json echo did not start: %w", err))
	}
	samples, errs := echoLoop(inst.Stdin(), r, n, warm)
	return distFigure(id, title,
		"write one plugin.event line to an instance of this backend whose code decodes it with json.loads, encodes it with json.dumps and writes it back; read it. The guest's own floor for an event round trip",
		UnitMicros, samples, errs)
}

// curveMarkdown lists each backend's density curve points.
func curveMarkdown(r *Results) string {
	var b strings.Builder
	for _, be := range r.Backends {
		f := be.Figure("density_curve")
		if f == nil || len(f.Curve) == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n## Density curve (host memory against idle instances, measured at each point)\n\n")
		}
		fmt.Fprintf(&b, "- %s:", be.Name)
		for _, pt := range f.Curve {
			per := ""
			if pt.X > 0 {
				per = fmt.Sprintf(" (%s MiB each)", num(pt.Y/pt.X))
			}
			fmt.Fprintf(&b, " %.0f → %s MiB%s;", pt.X, num(pt.Y), per)
		}
		b.WriteString("\n")
		if f.Note != "" {
			fmt.Fprintf(&b, "  %s: %s\n", be.Name, f.Note)
		}
	}
	return b.String()
}
