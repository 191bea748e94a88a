package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Results of plugins and of their data (bridge calls, rpc calls, widget
// answers) can each be a protocol line (1 MiB by default) or an SQL result
// (4 MiB), and a client that reads its answer slowly keeps it in memory
// until the write timeout. Every such request therefore takes bytes from
// one process-wide budget before the result is read from the store or the
// plugin, and gives them back once its answer is written: many slow
// readers cannot make maid hold more than the budget of results at once.
// A request that finds the budget spent waits briefly, then gets 503.
const (
	defaultResultBudget = 64 << 20
	// resultReserve is what a request takes before its result exists: a
	// line of data (1 MiB by default) as read, decoded and encoded, with
	// the encoder's growing buffer. An encoded answer larger than a
	// quarter of it takes the difference before it is written.
	resultReserve = 4 << 20
	// resultWait is how long a request waits for bytes of the budget.
	resultWait = 2 * time.Second
)

var errResultBudget = errStatus(http.StatusServiceUnavailable, "busy", "the dashboard holds as many plugin results as it may; try again shortly")

// byteBudget is a weighted semaphore of bytes.
type byteBudget struct {
	mu    sync.Mutex
	max   int64
	used  int64
	freed chan struct{} // closed (and replaced) whenever bytes come back
}

func newByteBudget(max int64) *byteBudget {
	return &byteBudget{max: max, freed: make(chan struct{})}
}

// acquire takes n bytes (at most the whole budget), waiting up to wait.
func (b *byteBudget) acquire(ctx context.Context, n int64, wait time.Duration) error {
	n = min(n, b.max)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-timer.C:
			return errResultBudget
		case <-ctx.Done():
			return fmt.Errorf("wait for the result budget: %w", ctx.Err())
		}
	}
}

func (b *byteBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// resultHold is one request's share of the budget.
type resultHold struct {
	b    *byteBudget
	held int64
}

// holdResult takes resultReserve bytes for a result about to be read.
// The caller releases the hold after writing its answer.
func (s *Site) holdResult(ctx context.Context) (*resultHold, error) {
	if err := s.results.acquire(ctx, resultReserve, resultWait); err != nil {
		return nil, err
	}
	return &resultHold{b: s.results, held: min(resultReserve, s.results.max)}, nil
}

// grow makes the hold cover an answer of n bytes: the memory that built
// it (the result as read and decoded, the encoder's buffers) is about
// four times the answer and stays in the heap until collected, so the
// hold is never less than the reserve and at least 4n.
func (h *resultHold) grow(ctx context.Context, n int64) error {
	n = min(4*n, h.b.max)
	if n <= h.held {
		return nil
	}
	if err := h.b.acquire(ctx, n-h.held, resultWait); err != nil {
		return err
	}
	h.held = n
	return nil
}

func (h *resultHold) release() {
	h.b.release(h.held)
	h.held = 0
}

// answerJSON answers v as JSON held by h: encoded once into one buffer,
// without HTML escaping (answers are application/json with nosniff, so
// '<' is not markup, and escaping it would make each one 6 bytes), and
// the hold grows to cover a larger answer before it is written.
func answerJSON(c echo.Context, h *resultHold, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode the answer: %w", err)
	}
	return answerBlob(c, h, buf.Bytes())
}

// answerBlob answers an already encoded JSON value held by h.
func answerBlob(c echo.Context, h *resultHold, b []byte) error {
	if err := h.grow(c.Request().Context(), int64(len(b))); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}
