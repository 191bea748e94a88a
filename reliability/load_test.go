package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/memtest"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/sandbox"
)

// mixed runs each plugin on one of several backends, chosen by plugin id,
// so one engine hosts plugins on every backend at once.
type mixed struct {
	pick func(pluginID string) sandbox.Backend
}

func (m mixed) Name() string { return "mixed" }
func (m mixed) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	return m.pick(spec.PluginID).Start(ctx, spec)
}
func (m mixed) Close() error { return nil } // the shared backends are closed by TestMain

// counterPlugin writes a copy of testdata/counter with its own id.
func counterPlugin(t *testing.T, id string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("testdata", "counter")
	for _, name := range []string{"manifest.json", "__main__.py"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "manifest.json" {
			data = []byte(strings.Replace(string(data), `"id": "counter"`, `"id": "`+id+`"`, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSustainedLoad runs plugins on mixed backends under a stream of
// events: no event is lost or duplicated (each plugin counts and checks
// sequence numbers in KV), the host's memory stays under a stated bound,
// and latency percentiles are reported (not asserted).
//
// Short form: 5 plugins × 200 events. MAID_STRESS=1: 50 plugins,
// 100,000 events.
func TestSustainedLoad(t *testing.T) {
	plugins, perPlugin := 5, 200
	if stress() {
		plugins, perPlugin = 50, 2000
	}
	bs := backends(t)
	// Memory bound: 256 MiB of Go heap and 512 MiB of RSS for maid itself,
	// plus each wasm guest's memory limit on both (a guest's linear memory
	// is a Go allocation in this process); times memFactor under -race.
	wasmGuests := 0
	for i := range plugins {
		if bs[i%len(bs)].name == "wasm" {
			wasmGuests++
		}
	}
	guests := int64(wasmGuests) * int64(engine.DefaultLimits.MemoryMB) << 20
	heapBound := memFactor * (int64(256<<20) + guests)
	rssBound := memFactor * (int64(512<<20) + guests)

	assign := map[string]sandbox.Backend{}
	var ids []string
	for i := range plugins {
		id := fmt.Sprintf("load-%02d", i)
		ids = append(ids, id)
		assign[id] = bs[i%len(bs)].b
	}
	lim := testLimits()
	lim.EventTimeout = 30 * time.Second // load, not hostility: nothing may time out
	dir := t.TempDir()
	r := startEngine(t, mixed{pick: func(id string) sandbox.Backend { return assign[id] }}, "sqlite://"+filepath.Join(dir, "maid.db"), dir, lim)
	for i, id := range ids {
		installEnabled(t, r.eng, counterPlugin(t, id), fmt.Sprintf("s%02d", i))
	}

	var (
		mu              sync.Mutex
		maxRSS, maxHeap int64
		stopSample      = make(chan struct{})
		sampled         sync.WaitGroup
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss := memtest.RSS()
		mu.Lock()
		maxRSS = max(maxRSS, rss)
		maxHeap = max(maxHeap, int64(ms.HeapInuse))
		mu.Unlock()
	}
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				sample()
			case <-stopSample:
				return
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	lat := make([][]time.Duration, plugins)
	var wg sync.WaitGroup
	errs := make(chan error, plugins)
	for i := range plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := fmt.Sprintf("s%02d", i)
			for seq := 1; seq <= perPlugin; seq++ {
				t0 := time.Now()
				if err := r.eng.Dispatch(ctx, enginetest.Message(srv, "1", fmt.Sprint(seq))); err != nil {
					errs <- fmt.Errorf("dispatch %s #%d: %w", srv, seq, err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := r.eng.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	close(stopSample)
	sampled.Wait()
	sample()

	total := 0
	for i, id := range ids {
		srv := fmt.Sprintf("s%02d", i)
		get := func(k string) int {
			v, _, err := r.st.KVGet(ctx, engine.Scope{PluginID: id, ServerID: srv}, k)
			if err != nil {
				t.Fatal(err)
			}
			return atoi(string(v))
		}
		n, gaps, dups := get("events"), get("gaps"), get("dups")
		if n != perPlugin || gaps != 0 || dups != 0 || get("last") != perPlugin {
			logs, _ := r.eng.Logs(id, 20)
			t.Errorf("%s: %d events, %d gaps, %d duplicates, last %d; want %d, 0, 0, %d\n%s", id, n, gaps, dups, get("last"), perPlugin, perPlugin, dumpLogs(logs))
		}
		total += n
	}
	st := r.eng.Stats()
	if total != plugins*perPlugin || st.Overflow != 0 {
		t.Errorf("counted %d of %d events; overflow %d", total, plugins*perPlugin, st.Overflow)
	}
	var admit []time.Duration
	for _, l := range lat {
		admit = append(admit, l...)
	}
	r.obs.mu.Lock()
	handle := slices.Clone(r.obs.lat)
	r.obs.mu.Unlock()
	t.Logf("%d plugins on %d backends (%s), %d events in %v (%.0f events/s)",
		plugins, len(bs), backendNames(bs), total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	t.Logf("event handling latency (host call to plugin, ack): %s", percentiles(handle))
	t.Logf("dispatch latency (queue admission, backpressure included): %s", percentiles(admit))
	t.Logf("memory: max Go heap in use %d MiB (bound %d MiB = %d × (256 + %d wasm guests × %d)), max RSS %d MiB (bound %d MiB = %d × (512 + %d × %d))",
		maxHeap>>20, heapBound>>20, memFactor, wasmGuests, engine.DefaultLimits.MemoryMB, maxRSS>>20, rssBound>>20, memFactor, wasmGuests, engine.DefaultLimits.MemoryMB)
	if maxHeap > heapBound {
		t.Errorf("Go heap in use reached %d MiB, bound %d MiB", maxHeap>>20, heapBound>>20)
	}
	if maxRSS > rssBound {
		t.Errorf("RSS reached %d MiB, bound %d MiB", maxRSS>>20, rssBound>>20)
	}
}

func backendNames(bs []namedBackend) string {
	var names []string
	for _, b := range bs {
		names = append(names, b.name)
	}
	return strings.Join(names, ", ")
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "no samples"
	}
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[int(q*float64(len(d)-1))].Round(10 * time.Microsecond) }
	return fmt.Sprintf("p50 %v p90 %v p99 %v max %v (n=%d)", p(.5), p(.9), p(.99), d[len(d)-1].Round(10*time.Microsecond), len(d))
}
