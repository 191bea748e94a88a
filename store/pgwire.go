package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

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
// TLS is negotiated by frameDialer itself (pgTLS below), so the parser
// reads the plaintext. Only TLS settings it does not reproduce leave TLS to
// lib/pq, whose encrypted stream cannot be parsed: such connections pass
// through unbounded (counted in tlsConns; docs/security.md says so).

// errFrameTooLarge is the cause of a refused message.
var errFrameTooLarge = errors.New("a single value, row or message from the plugin's database is larger than maid reads")

// frameDialer dials plugin connections with a message size bound read from
// limit at each message (<= 0: unbounded).
type frameDialer struct {
	d     net.Dialer
	limit *atomic.Int64
	// stall, when > 0, bounds how long one read waits for the server (ns).
	stall *atomic.Int64
	// tls counts connections that went to TLS and are not bounded.
	tls *atomic.Int64
	// start, when use is set, negotiates TLS before lib/pq speaks.
	start pgTLS
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
	if fd.start.use && network != "unix" {
		tc, err := fd.start.startTLS(ctx, c)
		if err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	return &frameLimitConn{Conn: c, limit: fd.limit, tlsCount: fd.tls, stall: fd.stall}, nil
}

// frameLimitConn passes the backend's bytes to lib/pq only up to the header
// of a message longer than the limit.
type frameLimitConn struct {
	net.Conn
	limit    *atomic.Int64
	tlsCount *atomic.Int64
	// stall bounds each wait for the server. lib/pq, when a statement's
	// context ends, sends a cancel request and keeps waiting for the
	// answer; a backend in a loop without interrupt checks (PostgreSQL's
	// replace, translate, 2-argument ltrim of long strings ran for
	// minutes) would keep maid's call waiting that long. A read that
	// waits longer fails, and lib/pq drops the connection.
	stall *atomic.Int64

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
	if c.stall != nil {
		if d := c.stall.Load(); d > 0 {
			c.Conn.SetReadDeadline(time.Now().Add(time.Duration(d)))
		}
	}
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

// pgTLS is how frameDialer itself negotiates TLS for plugin connections, so
// that the framing parser sits on the plaintext side: lib/pq is given
// sslmode=disable and sees an already encrypted connection as a plain one.
// It follows lib/pq's meaning of sslmode: "" and require encrypt without
// verifying (or verify the chain when a root certificate is configured),
// prefer falls back to plaintext when the server refuses, verify-ca
// verifies the chain, verify-full the chain and the host name.
type pgTLS struct {
	use      bool // send SSLRequest
	optional bool // prefer: plaintext if the server answers 'N'
	conf     *tls.Config
	caOnly   bool // verify the chain but not the host name
}

// pluginTLS works out the TLS of plugin connections from maid's DSN and
// returns the DSN lib/pq gets for them. handled is false for settings it
// does not reproduce (custom pqgo- modes, inline certificates, direct
// negotiation): lib/pq then does TLS itself, unbounded (tlsConns counts it).
func pluginTLS(dsn *url.URL) (u url.URL, t pgTLS, handled bool, err error) {
	u = *dsn
	cfg, err := pq.NewConfig(dsn.String())
	if err != nil {
		return u, t, false, fmt.Errorf("parse postgres DSN: %w", err)
	}
	mode := string(cfg.SSLMode)
	if nw, _ := netOf(cfg); nw == "unix" {
		mode = "disable"
	}
	switch {
	case mode == "disable" || mode == "allow":
		return u, t, true, nil
	case strings.HasPrefix(mode, "pqgo-") || cfg.SSLInline || cfg.SSLNegotiation == pq.SSLNegotiationDirect:
		return u, t, false, nil
	}
	t = pgTLS{use: true, optional: mode == "prefer", conf: &tls.Config{MinVersion: tls.VersionTLS12}}
	if cfg.SSLSNI || mode == "verify-full" {
		t.conf.ServerName = cfg.Host
	}
	switch mode {
	case "", "require", "prefer":
		t.conf.InsecureSkipVerify = true
		if cfg.SSLRootCert != "" && cfg.SSLRootCert != "system" {
			if _, err := os.Stat(cfg.SSLRootCert); err == nil {
				t.caOnly = true
			}
		}
	case "verify-ca":
		t.conf.InsecureSkipVerify = true
		t.caOnly = true
	case "verify-full":
	default:
		return u, t, false, nil
	}
	if cfg.SSLRootCert != "" && cfg.SSLRootCert != "system" && (t.caOnly || mode == "verify-full") {
		pem, err := os.ReadFile(cfg.SSLRootCert)
		if err != nil {
			return u, t, false, fmt.Errorf("read sslrootcert: %w", err)
		}
		t.conf.RootCAs = x509.NewCertPool()
		if !t.conf.RootCAs.AppendCertsFromPEM(pem) {
			return u, t, false, fmt.Errorf("sslrootcert %s holds no certificate", cfg.SSLRootCert)
		}
	}
	if cfg.SSLCert != "" || cfg.SSLKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.SSLCert, cfg.SSLKey)
		if err != nil {
			return u, t, false, fmt.Errorf("load sslcert/sslkey: %w", err)
		}
		t.conf.Certificates = []tls.Certificate{cert}
	} else if home, err := os.UserHomeDir(); err == nil {
		if _, err := os.Stat(filepath.Join(home, ".postgresql", "postgresql.crt")); err == nil {
			return u, t, false, nil // lib/pq's default client certificate
		}
	}
	q := u.Query()
	for _, k := range []string{"sslrootcert", "sslcert", "sslkey", "sslsni", "sslnegotiation", "ssl_min_protocol_version", "ssl_max_protocol_version"} {
		q.Del(k)
	}
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u, t, true, nil
}

func netOf(cfg pq.Config) (string, string) {
	if strings.HasPrefix(cfg.Host, "/") {
		return "unix", cfg.Host
	}
	return "tcp", cfg.Host
}

// startTLS sends SSLRequest on c and, if the server agrees, returns the
// handshaken TLS connection.
func (t pgTLS) startTLS(ctx context.Context, c net.Conn) (net.Conn, error) {
	req := make([]byte, 8)
	binary.BigEndian.PutUint32(req[0:4], 8)
	binary.BigEndian.PutUint32(req[4:8], sslRequestCode)
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
		defer c.SetDeadline(time.Time{})
	}
	if _, err := c.Write(req); err != nil {
		return nil, fmt.Errorf("send SSLRequest: %w", err)
	}
	var answer [1]byte
	if _, err := io.ReadFull(c, answer[:]); err != nil {
		return nil, fmt.Errorf("read SSLRequest answer: %w", err)
	}
	switch answer[0] {
	case 'S':
	case 'N':
		if t.optional {
			return c, nil
		}
		return nil, errors.New("pq: SSL is not enabled on the server")
	default:
		return nil, fmt.Errorf("unexpected answer %q to SSLRequest", answer[0])
	}
	tc := tls.Client(c, t.conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	if t.caOnly {
		certs := tc.ConnectionState().PeerCertificates
		if len(certs) == 0 {
			return nil, errors.New("tls: server sent no certificate")
		}
		opts := x509.VerifyOptions{Intermediates: x509.NewCertPool(), Roots: t.conf.RootCAs}
		for _, cert := range certs[1:] {
			opts.Intermediates.AddCert(cert)
		}
		if _, err := certs[0].Verify(opts); err != nil {
			return nil, fmt.Errorf("tls: verify server certificate: %w", err)
		}
	}
	return tc, nil
}
