// Package pipe is the bounded in-memory pipe behind the wasm and docker
// backends' standard streams. Both need what io.Pipe lacks: a buffer, so a
// guest can write before the caller reads (io.Pipe has none, so a caller
// that drains stderr only after Wait would deadlock a chatty plugin), and a
// bound on that buffer, so a caller that stops reading stops the guest
// instead of letting it fill the host's memory.
//
// The bound is the backend's: wasm matches a Linux pipe (the process
// backend's), docker holds more because one attach connection carries both
// streams (see each backend's constant).
package pipe

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// ErrFull is Put's answer when a line that may not wait does not fit.
var ErrFull = errors.New("pipe full")

// Pipe is a bounded in-memory pipe. Reads block until data or EOF; writes
// block while the buffer is full. It is safe for one reader and any number
// of writers.
//
// State changes are broadcast by closing and replacing a channel rather than
// with a sync.Cond: WaitReadable must wait with a timeout, which a Cond
// cannot.
type Pipe struct {
	mu      sync.Mutex
	buf     []byte
	limit   int           // buffered bytes before Write blocks; 0 = no limit
	changed chan struct{} // closed and replaced on every state change
	wclosed bool          // writer closed: werr once drained
	werr    error         // what Read returns once drained after CloseWrite
	rclosed bool          // reader gone: writes fail, reads EOF
	onRead  func()        // called once, on the first Read
}

// New returns a pipe that holds at most limit unread bytes (0: no limit).
func New(limit int) *Pipe {
	return &Pipe{limit: limit, changed: make(chan struct{})}
}

// OnFirstRead arranges for f to run once, on the first Read, before it
// blocks: the wasm pool learns so that a guest is waiting for its boot line.
func (p *Pipe) OnFirstRead(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onRead = f
}

// notify wakes every waiter; callers hold mu.
func (p *Pipe) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait releases mu until the next state change; callers hold mu.
func (p *Pipe) wait() {
	ch := p.changed
	p.mu.Unlock()
	<-ch
	p.mu.Lock()
}

// Read implements io.Reader. After CloseRead it returns io.EOF; after
// CloseWrite, the buffered bytes and then CloseWrite's error.
func (p *Pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.onRead; f != nil {
		p.onRead = nil
		p.mu.Unlock()
		f()
		p.mu.Lock()
	}
	for {
		if p.rclosed {
			return 0, io.EOF
		}
		if len(p.buf) > 0 {
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = nil // let a burst's backing array go
			}
			p.notify()
			return n, nil
		}
		if p.wclosed {
			return 0, p.werr
		}
		p.wait()
	}
}

// Write implements io.Writer. It fails with io.ErrClosedPipe once either
// side is closed, having written what fit before.
func (p *Pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for len(b) > 0 {
		if p.rclosed || p.wclosed {
			return n, io.ErrClosedPipe
		}
		k := len(b)
		if p.limit > 0 {
			room := p.limit - len(p.buf)
			if room <= 0 {
				p.wait()
				continue
			}
			k = min(k, room)
		}
		p.buf = append(p.buf, b[:k]...)
		b = b[k:]
		n += k
		p.notify()
	}
	return n, nil
}

// Put writes line and a newline whole, never interleaved with another
// writer's bytes. If wait, it waits while the buffer holds bytes and the
// line does not fit under the limit (a line longer than the limit goes
// alone into an empty buffer), until ctx ends. If not, it never waits: the
// line may pass the limit by up to over bytes, and beyond that Put fails
// with ErrFull. It fails with io.ErrClosedPipe once either side is closed.
func (p *Pipe) Put(ctx context.Context, line []byte, wait bool, over int) error {
	n := len(line) + 1
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.rclosed || p.wclosed {
			return io.ErrClosedPipe
		}
		if len(p.buf) == 0 || p.limit == 0 || len(p.buf)+n <= p.limit {
			break
		}
		if !wait {
			if len(p.buf)+n <= p.limit+over {
				break
			}
			return ErrFull
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			return ctx.Err()
		}
		p.mu.Lock()
	}
	p.buf = append(append(p.buf, line...), '\n')
	p.notify()
	return nil
}

// Detach ends the pipe for both sides like CloseRead, but hands back the
// bytes still buffered: their reader changes to another transport.
func (p *Pipe) Detach() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.buf
	p.rclosed = true
	p.buf = nil
	p.notify()
	return b
}

// WaitReadable blocks until a Read would not block, or timeout passes
// (negative: no timeout), and reports which. wazero's poll_oneoff waits on a
// guest's stdin through it.
func (p *Pipe) WaitReadable(timeout time.Duration) bool {
	var expired <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	p.mu.Lock()
	for {
		if len(p.buf) > 0 || p.wclosed || p.rclosed {
			p.mu.Unlock()
			return true
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-expired:
			return false
		}
		p.mu.Lock()
	}
}

// CloseWrite ends the stream: the reader gets err (io.EOF if nil) once the
// buffer is drained. Only the first call counts.
func (p *Pipe) CloseWrite(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wclosed {
		return
	}
	if err == nil {
		err = io.EOF
	}
	p.wclosed, p.werr = true, err
	p.notify()
}

// CloseRead abandons the stream: it drops the buffered bytes, blocked and
// later writes fail, and reads return io.EOF. It unblocks a guest (or a
// demultiplexer) writing to a reader that went away.
func (p *Pipe) CloseRead() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.rclosed {
		p.rclosed = true
		p.buf = nil
		p.notify()
	}
}

// Unbound lifts the limit, so writes never block again: for when what is
// still to come is bounded (the guest has exited) and nobody may read it.
func (p *Pipe) Unbound() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limit = 0
	p.notify()
}
