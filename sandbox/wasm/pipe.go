package wasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/internal/pipe"
)

// pipeBufferBytes matches a Linux pipe: a guest can log or answer this much
// before a caller that is not reading yet blocks it, as with the process
// backend. io.Pipe has no buffer, so a caller that only drains stderr after
// Wait would deadlock a chatty plugin.
const pipeBufferBytes = 64 << 10

func newPipe() *pipe.Pipe { return pipe.New(pipeBufferBytes) }

// stdinWriter is the caller's end of a guest's stdin.
type stdinWriter struct{ p *pipe.Pipe }

func (w stdinWriter) Write(b []byte) (int, error) { return w.p.Write(b) }
func (w stdinWriter) Close() error                { w.p.CloseWrite(nil); return nil }

// reader is the caller's end of stdout or stderr. It hides the pipe's other
// methods from type assertions.
type reader struct{ p *pipe.Pipe }

func (r reader) Read(b []byte) (int, error) { return r.p.Read(b) }

// guestStdin is the guest's end of stdin: wazero type-asserts Pollable, so
// poll_oneoff (select, asyncio selectors) waits on it instead of treating
// it as always ready.
type guestStdin struct{ p *pipe.Pipe }

func (g guestStdin) Read(b []byte) (int, error) { return g.p.Read(b) }
func (g guestStdin) Poll(flag experimentalsys.Pflag, timeoutMillis int32) (bool, experimentalsys.Errno) {
	if flag != experimentalsys.POLLIN {
		return false, experimentalsys.ENOTSUP
	}
	return g.p.WaitReadable(time.Duration(timeoutMillis) * time.Millisecond), 0
}

// guestStdout is the guest's end of stdout. Until ServeLines it writes to
// the stdout pipe; from then on it splits what the guest writes into lines
// and hands each to the caller's LineConfig.Line on the guest's goroutine,
// holding at most one unfinished line of at most MaxLineBytes.
type guestStdout struct {
	pipe    *pipe.Pipe
	stopped atomic.Bool     // the instance was stopped: lines go nowhere
	ctx     context.Context // ends when the instance stops (Line's ctx)

	mu       sync.Mutex // held while lines are delivered: one writer of lines at a time
	cfg      *sandbox.LineConfig
	streamed bool   // Stdout was called: ServeLines would lose what was read
	partial  []byte // the unfinished line
	ended    bool   // cfg.End was called
	exited   bool   // the guest has exited
}

// errLinesEnded is a guest write's error once its line stream has ended.
var errLinesEnded = errors.New("stdout closed")

func (g *guestStdout) Write(b []byte) (int, error) {
	g.mu.Lock()
	lines := g.cfg != nil
	g.mu.Unlock()
	n := 0
	if !lines {
		var err error
		if n, err = g.pipe.Write(b); err == nil {
			return n, nil
		}
		g.mu.Lock()
		lines = g.cfg != nil
		g.mu.Unlock()
		if !lines {
			return n, err
		}
		// ServeLines detached the pipe after n bytes, and delivered them.
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.feedLocked(b[n:]); err != nil {
		return n, err
	}
	return len(b), nil
}

// feedLocked hands every complete line in b to cfg.Line and keeps the
// rest as the unfinished line; callers hold mu and set cfg.
func (g *guestStdout) feedLocked(b []byte) error {
	if g.ended || g.stopped.Load() {
		return errLinesEnded
	}
	max := g.cfg.MaxLineBytes
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(g.partial)+len(b) > max {
				return g.endLocked(fmt.Errorf("stdout line longer than %d bytes", max))
			}
			g.partial = append(g.partial, b...)
			return nil
		}
		if len(g.partial)+i > max {
			return g.endLocked(fmt.Errorf("stdout line longer than %d bytes", max))
		}
		line := b[:i]
		if len(g.partial) > 0 {
			g.partial = append(g.partial, line...)
			line = g.partial
		}
		if err := g.cfg.Line(g.ctx, line); err != nil {
			if g.stopped.Load() {
				return errLinesEnded // stopped, not a broken stream: exit ends it
			}
			return g.endLocked(err)
		}
		if cap(g.partial) > 4<<10 {
			g.partial = nil // an idle instance keeps no long line's buffer
		} else {
			g.partial = g.partial[:0]
		}
		b = b[i+1:]
	}
	return nil
}

// endLocked calls cfg.End once and returns err (errLinesEnded for nil).
func (g *guestStdout) endLocked(err error) error {
	if !g.ended {
		g.ended = true
		g.cfg.End(err)
	}
	if err == nil {
		return errLinesEnded
	}
	return err
}

// serveLines implements sandbox.LineInstance.ServeLines.
func (g *guestStdout) serveLines(cfg sandbox.LineConfig) error {
	if cfg.Line == nil || cfg.End == nil || cfg.MaxLineBytes <= 0 || cfg.ReplyBytes <= 0 {
		return fmt.Errorf("serve lines: %w: need Line, End, MaxLineBytes and ReplyBytes", sandbox.ErrBadSpec)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.cfg != nil:
		return errors.New("serve lines: already serving lines")
	case g.streamed:
		return errors.New("serve lines: stdout is already read as a stream")
	}
	g.cfg = &cfg
	// What the guest wrote before now is delivered here, on the caller's
	// goroutine; the guest, if it writes meanwhile, waits for mu.
	// A stream that ended here has had its End; one that refused the lines
	// because the instance was stopped has not, and its guest may already
	// have exited (exit saw no cfg), so End is owed here: endLocked calls
	// it at most once either way.
	_ = g.feedLocked(g.pipe.Detach())
	if g.exited {
		g.exitLocked()
	}
	return nil
}

// exit ends the line stream when the guest has exited.
func (g *guestStdout) exit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.exited = true
	if g.cfg != nil {
		g.exitLocked()
	}
}

func (g *guestStdout) exitLocked() {
	var err error
	if len(g.partial) > 0 {
		err = errors.New("stdout ended mid-line")
	}
	g.endLocked(err)
}

// reader returns the stream end of stdout for Stdout.
func (g *guestStdout) reader() io.Reader {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cfg == nil {
		g.streamed = true
	}
	return reader{g.pipe}
}
