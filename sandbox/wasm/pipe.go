package wasm

import (
	"errors"
	"io"
	"sync"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// pipeBufferBytes matches a Linux pipe: a guest can log or answer this much
// before a caller that is not reading yet blocks it, as with the process
// backend. io.Pipe has no buffer, so a caller that only drains stderr after
// Wait would deadlock a chatty plugin.
const pipeBufferBytes = 64 << 10

// errPipeClosed is what a writer sees once the reading side has gone.
var errPipeClosed = errors.New("pipe closed")

// pipe is a bounded in-memory pipe. Reads block until data or EOF; writes
// block while the buffer is full. It is safe for one reader and any number
// of writers.
type pipe struct {
	mu      sync.Mutex
	buf     []byte
	changed chan struct{} // closed and replaced on every state change
	wclosed bool          // writer closed: EOF once drained
	rclosed bool          // reader gone: writes fail, reads EOF
	onRead  func()        // called once, on the first Read (pool readiness)
}

func newPipe() *pipe {
	return &pipe{changed: make(chan struct{})}
}

// notify wakes every waiter; callers hold mu.
func (p *pipe) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Read implements io.Reader.
func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	if f := p.onRead; f != nil {
		p.onRead = nil
		p.mu.Unlock()
		f()
		p.mu.Lock()
	}
	for {
		if p.rclosed {
			p.mu.Unlock()
			return 0, io.EOF
		}
		if len(p.buf) > 0 {
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = nil // let a burst's backing array go
			}
			p.notify()
			p.mu.Unlock()
			return n, nil
		}
		if p.wclosed {
			p.mu.Unlock()
			return 0, io.EOF
		}
		ch := p.changed
		p.mu.Unlock()
		<-ch
		p.mu.Lock()
	}
}

// Write implements io.Writer.
func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for len(b) > 0 {
		if p.rclosed || p.wclosed {
			return n, errPipeClosed
		}
		room := pipeBufferBytes - len(p.buf)
		if room <= 0 {
			ch := p.changed
			p.mu.Unlock()
			<-ch
			p.mu.Lock()
			continue
		}
		k := min(room, len(b))
		p.buf = append(p.buf, b[:k]...)
		b = b[k:]
		n += k
		p.notify()
	}
	return n, nil
}

// Poll lets wazero's poll_oneoff wait on a guest's stdin (select, asyncio
// selectors) instead of treating it as always ready.
func (p *pipe) Poll(flag experimentalsys.Pflag, timeoutMillis int32) (bool, experimentalsys.Errno) {
	if flag != experimentalsys.POLLIN {
		return false, experimentalsys.ENOTSUP
	}
	var timeout <-chan time.Time
	if timeoutMillis >= 0 {
		t := time.NewTimer(time.Duration(timeoutMillis) * time.Millisecond)
		defer t.Stop()
		timeout = t.C
	}
	p.mu.Lock()
	for {
		if len(p.buf) > 0 || p.wclosed || p.rclosed {
			p.mu.Unlock()
			return true, 0
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			return false, 0
		}
		p.mu.Lock()
	}
}

// closeWrite ends the stream: the reader sees EOF after the buffered bytes.
func (p *pipe) closeWrite() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.wclosed {
		p.wclosed = true
		p.notify()
	}
}

// closeRead drops buffered bytes and makes blocked and future writes fail,
// and reads return EOF. Used to unblock a guest (or caller) on kill or exit.
func (p *pipe) closeRead() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.rclosed {
		p.rclosed = true
		p.buf = nil
		p.notify()
	}
}

// stdinWriter is the caller's end of a guest's stdin.
type stdinWriter struct{ p *pipe }

func (w stdinWriter) Write(b []byte) (int, error) { return w.p.Write(b) }
func (w stdinWriter) Close() error                { w.p.closeWrite(); return nil }

// reader is the caller's end of stdout or stderr. It hides Poll and the
// pipe's other methods from type assertions.
type reader struct{ p *pipe }

func (r reader) Read(b []byte) (int, error) { return r.p.Read(b) }

// guestStdin is the guest's end of stdin: wazero type-asserts Pollable.
type guestStdin struct{ p *pipe }

func (g guestStdin) Read(b []byte) (int, error) { return g.p.Read(b) }
func (g guestStdin) Poll(flag experimentalsys.Pflag, timeoutMillis int32) (bool, experimentalsys.Errno) {
	return g.p.Poll(flag, timeoutMillis)
}
