package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints what the run is doing, with the time since it began.
type progress struct {
	w     io.Writer
	start time.Time

	mu   sync.Mutex
	last time.Time
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, start: time.Now()}
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start).Round(time.Second)
	fmt.Fprintf(p.w, "[%6s] %s\n", el, fmt.Sprintf(format, args...))
	p.last = time.Now()
}

// tick reports a long loop's progress at most every few seconds.
func (p *progress) tick(what string, done, total int) {
	p.mu.Lock()
	quiet := time.Since(p.last) < 3*time.Second
	p.mu.Unlock()
	if !quiet {
		p.printf("  %s %d/%d", what, done, total)
	}
}
