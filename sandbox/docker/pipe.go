package docker

import (
	"io"
	"sync"
)

// pipeBuffer bounds how much output one stream may hold unread. Docker
// multiplexes stdout and stderr on one connection: with plain io.Pipes, a
// caller that reads only stdout would stall the plugin as soon as it logs.
// A buffer per stream lets either be read alone until it fills.
const pipeBuffer = 1 << 20

// bufPipe is an in-memory pipe with a bounded buffer: writes block only
// while the buffer is full.
type bufPipe struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	werr   error // set by CloseWrite: readers see it after draining buf
	rerr   bool  // reader closed: writes fail
	closed bool  // writer side closed
	limit  int   // buffered bytes before Write blocks; 0 = no limit
}

func newBufPipe() *bufPipe {
	p := &bufPipe{limit: pipeBuffer}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *bufPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.closed {
		p.cond.Wait()
	}
	if len(p.buf) == 0 {
		return 0, p.werr
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil // let a large drained buffer be collected
	}
	p.cond.Broadcast()
	return n, nil
}

func (p *bufPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	written := 0
	for len(b) > 0 {
		for p.limit > 0 && len(p.buf) >= p.limit && !p.rerr && !p.closed {
			p.cond.Wait()
		}
		if p.rerr || p.closed {
			return written, io.ErrClosedPipe
		}
		n := len(b)
		if p.limit > 0 {
			n = min(n, p.limit-len(p.buf))
		}
		p.buf = append(p.buf, b[:n]...)
		b = b[n:]
		written += n
		p.cond.Broadcast()
	}
	return written, nil
}

// CloseWrite ends the stream: readers get err (io.EOF if nil) once the
// buffer is drained. Only the first call counts.
func (p *bufPipe) CloseWrite(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if err == nil {
		err = io.EOF
	}
	p.closed, p.werr = true, err
	p.cond.Broadcast()
}

// CloseRead abandons the stream: pending and later writes fail, so the
// demultiplexer never blocks on a reader that went away.
func (p *bufPipe) CloseRead() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rerr = true
	p.buf = nil
	p.cond.Broadcast()
}

// Unbound lifts the buffer limit, so writes never block again.
func (p *bufPipe) Unbound() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limit = 0
	p.cond.Broadcast()
}
