package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/maidhq/maid/engine"
)

// Plugin SQL sessions on PostgreSQL can make the server send arbitrarily
// large messages: a row of repeat('x', 1e9), a string_agg over millions of
// rows, an error message quoting a huge value. lib/pq allocates a buffer of
// a message's announced length as soon as it reads the 5-byte header, and
// reads the whole message, before maid sees any of it. So the plugin's
// connections are dialed through frameLimitConn, which parses the backend's
// message framing below lib/pq and fails the read that would hand lib/pq the
// header of a message longer than the limit. lib/pq then marks the
// connection bad and maid drops it.
//
// A TLS session cannot be parsed here (lib/pq wraps this connection in TLS
// itself), so when the server accepts lib/pq's SSLRequest the connection is
// passed through unbounded; docs/security.md says so.

// errFrameTooLarge is the cause of a refused message.
var errFrameTooLarge = errors.New("a single value, row or message from the plugin's database is larger than maid reads")

// frameDialer dials plugin connections with a message size bound read from
// limit at each message (<= 0: unbounded).
type frameDialer struct {
	d     net.Dialer
	limit *atomic.Int64
	// tls counts connections that went to TLS and are not bounded.
	tls *atomic.Int64
}

func (fd frameDialer) Dial(network, address string) (net.Conn, error) {
	return fd.DialContext(context.Background(), network, address)
}

func (fd frameDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return fd.DialContext(ctx, network, address)
}

func (fd frameDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := fd.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &frameLimitConn{Conn: c, limit: fd.limit, tlsCount: fd.tls}, nil
}

// frameLimitConn passes the backend's bytes to lib/pq only up to the header
// of a message longer than the limit.
type frameLimitConn struct {
	net.Conn
	limit    *atomic.Int64
	tlsCount *atomic.Int64

	wrote     bool   // the client has written its first message
	sslAsked  bool   // that message was an SSLRequest: one answer byte comes first
	opaque    bool   // TLS: nothing can be parsed
	pending   []byte // read from the server, not yet returned
	safe      int    // pending[:safe] is checked and may be returned
	remaining int64  // body bytes of the current message after pending[safe:]
	failed    error  // returned once pending[:safe] is gone
}

// sslRequestCode is the protocol's SSLRequest (and GSSENCRequest) codes.
const (
	sslRequestCode    = 80877103
	gssencRequestCode = 80877104
)

func (c *frameLimitConn) Write(p []byte) (int, error) {
	if !c.wrote {
		c.wrote = true
		if len(p) >= 8 && binary.BigEndian.Uint32(p[0:4]) == 8 {
			switch binary.BigEndian.Uint32(p[4:8]) {
			case sslRequestCode, gssencRequestCode:
				c.sslAsked = true
			}
		}
	}
	return c.Conn.Write(p)
}

func (c *frameLimitConn) Read(p []byte) (int, error) {
	if c.opaque {
		if len(c.pending) > 0 {
			return c.drain(p), nil
		}
		return c.Conn.Read(p)
	}
	for c.safe == 0 {
		if len(c.pending) > 0 && !c.sslAsked {
			c.scan()
			if c.safe > 0 {
				break
			}
		}
		if c.failed != nil {
			return 0, c.failed
		}
		buf := make([]byte, max(len(p), 4096))
		n, err := c.Conn.Read(buf)
		if n == 0 {
			return 0, err
		}
		c.pending = append(c.pending, buf[:n]...)
		if c.sslAsked {
			// The answer to SSLRequest is one unframed byte: 'S' starts
			// TLS (unparseable from here), 'N' continues in the clear.
			c.sslAsked = false
			if c.pending[0] == 'S' {
				c.opaque = true
				if c.tlsCount != nil {
					c.tlsCount.Add(1)
				}
				return c.drain(p), nil
			}
			c.safe = 1
		}
	}
	n := copy(p, c.pending[:c.safe])
	c.pending = c.pending[n:]
	c.safe -= n
	if len(c.pending) == 0 {
		c.pending = nil // let the buffer go
	}
	return n, nil
}

// drain returns what is buffered (after the switch to TLS).
func (c *frameLimitConn) drain(p []byte) int {
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return n
}

// scan checks pending from safe on and advances safe over every byte of
// messages within the limit. An incomplete header stays unchecked until
// more bytes arrive; a header announcing a message over the limit is cut
// off, with the read error that follows.
func (c *frameLimitConn) scan() {
	for c.safe < len(c.pending) && c.failed == nil {
		if c.remaining > 0 {
			step := min(c.remaining, int64(len(c.pending)-c.safe))
			c.remaining -= step
			c.safe += int(step)
			continue
		}
		// A header: type byte and int32 length (which counts itself).
		if len(c.pending)-c.safe < 5 {
			return
		}
		body := int64(binary.BigEndian.Uint32(c.pending[c.safe+1:c.safe+5])) - 4
		if lim := c.limit.Load(); lim > 0 && body > lim {
			c.failed = &net.OpError{Op: "read", Net: "tcp", Err: fmt.Errorf("%w: message of %d bytes, limit %d: %w", errFrameTooLarge, body, lim, engine.ErrSQLLimit)}
			c.pending = c.pending[:c.safe] // never hand lib/pq this header
			return
		}
		c.safe += 5
		c.remaining = max(body, 0)
	}
}
