// Package memtest measures the memory a piece of code makes this process
// hold, for tests that bound what a plugin or a browser can make the host
// allocate. One sampler for every such test, so they all measure the same
// thing the same way.
package memtest

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Growth is how far a measure rose above its level before the code ran, in
// bytes (never negative).
type Growth struct {
	// Heap is the peak growth of the Go heap in use (runtime HeapInuse):
	// what a decoder or buffer allocates, even if freed before fn returns.
	Heap int64
	// Alloc is the peak growth of live heap objects (runtime HeapAlloc):
	// finer than Heap, for callers that also make the collector eager
	// (debug.SetGCPercent) so garbage does not count as growth.
	Alloc int64
	// RSS is the peak growth of the resident set: it also sees memory
	// outside the Go heap (cgo SQLite, wazero's linear memories, mmaps).
	RSS int64
}

// interval is how often Peak samples: short enough to catch a buffer that
// lives for a few milliseconds, long enough that reading MemStats (which
// stops the world briefly) does not dominate the code being measured.
const interval = 2 * time.Millisecond

// Peak runs fn and returns the peak growth of the heap and the resident set
// over their levels just before it, sampled every few milliseconds while fn
// runs and once after it returns.
func Peak(fn func()) Growth {
	runtime.GC()
	base := read()
	var (
		mu   sync.Mutex
		peak = base
	)
	sample := func() {
		g := read()
		mu.Lock()
		peak = Growth{Heap: max(peak.Heap, g.Heap), Alloc: max(peak.Alloc, g.Alloc), RSS: max(peak.RSS, g.RSS)}
		mu.Unlock()
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	sample()
	return Growth{Heap: peak.Heap - base.Heap, Alloc: peak.Alloc - base.Alloc, RSS: peak.RSS - base.RSS}
}

// read returns the current levels (not growths) in a Growth.
func read() Growth {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Growth{Heap: int64(ms.HeapInuse), Alloc: int64(ms.HeapAlloc), RSS: RSS()}
}

// RSS is this process's resident set size in bytes, from /proc/self/statm
// (0 where that file does not exist, so a bound on growth still holds).
func RSS() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
