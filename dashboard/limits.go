package dashboard

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// What one visitor can make maid hold, whoever they are: connections
// (file descriptors), request bytes (memory and, for multipart forms, temp
// files) and the time both are held. A reverse proxy in front of maid is
// still advised for a public dashboard (docs/operations.md): these bounds
// keep maid alive under a flood, they do not keep it responsive to
// everyone during one.

// Defaults of the Config fields that bound connections and requests.
const (
	defaultMaxConns          = 512
	defaultReadHeaderTimeout = 10 * time.Second
	defaultBodyTimeout       = 30 * time.Second
	defaultUploadTimeout     = 5 * time.Minute
	defaultWriteTimeout      = 2 * time.Minute
	defaultIdleTimeout       = 30 * time.Second
	maxHeaderBytes           = 64 << 10
)

// maxFormBody bounds the body of every request but an upload: forms and
// JSON bodies are small (readParams allows 1 MiB of JSON). Nothing reads a
// body larger than this, so nothing parses, buffers or spills one.
const maxFormBody = maxBody

// uploadPath is the one route that takes a large body (admins only).
const uploadPath = "/marketplace/upload"

// limitBody runs before any handler or session check reads a body: a
// declared length over the route's limit is refused unread (net/http then
// closes the connection rather than drain it), any body is cut at the limit
// whatever its encoding, and reading it must finish within the body
// timeout, so a slow sender cannot hold a connection, memory or a temp
// file open. The response must be written (and read by the client) within
// the write timeout, so a client that stops reading cannot hold its
// connection either. Only the admin upload route has a larger limit and
// more time.
func (s *Site) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		limit, timeout, write := int64(maxFormBody), s.cfg.BodyTimeout, s.cfg.WriteTimeout
		if c.Path() == uploadPath {
			limit, timeout, write = s.cfg.MaxUploadBytes+1<<20, s.cfg.UploadTimeout, s.cfg.UploadTimeout+s.cfg.WriteTimeout
		}
		rc := http.NewResponseController(c.Response())
		// A server without deadline support (httptest recorders) has no
		// connection to hold; the byte bound still applies.
		if err := rc.SetWriteDeadline(time.Now().Add(write)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return fmt.Errorf("set write deadline: %w", err)
		}
		if req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		if req.ContentLength > limit {
			return errBodyTooLarge(limit)
		}
		body := &deadlineBody{ReadCloser: http.MaxBytesReader(c.Response(), req.Body, limit), rc: rc, start: time.Now(), end: time.Now().Add(timeout)}
		if err := rc.SetReadDeadline(body.deadline()); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return fmt.Errorf("set body deadline: %w", err)
		}
		req.Body = body
		err := next(c)
		if err != nil && !body.done {
			// A refused request's body (no session, no CSRF token, too
			// large...) is never read: the answer closes the connection,
			// and net/http's read of the rest to reuse it fails at once, so
			// a slow sender cannot hold its slot for the body timeout.
			c.Response().Header().Set("Connection", "close")
			_ = rc.SetReadDeadline(time.Now()) // nothing to do if unsupported
		}
		return err
	}
}

// A body must keep arriving: after bodyGrace, at minBodyRate on average
// (and all of it within the body timeout), else its read fails and the
// connection closes. A sender trickling a byte a second holds one of the
// capped connections for seconds, not for the body timeout.
const (
	bodyGrace   = 5 * time.Second
	minBodyRate = 16 << 10 // bytes per second
)

func errBodyTooLarge(limit int64) error {
	return errStatus(http.StatusRequestEntityTooLarge, "limit", fmt.Sprintf("request body larger than %d KiB", limit>>10))
}

// deadlineBody moves the body's read deadline as the body arrives (the
// time by which its bytes so far had to come at minBodyRate, within the
// body timeout), and lifts it once the body is read: a read deadline still
// set while the handler runs would cancel the request's context when it
// passes (net/http's background read), and handlers may run longer than a
// body takes to arrive.
type deadlineBody struct {
	io.ReadCloser
	rc         *http.ResponseController
	start, end time.Time
	n          int64 // bytes read so far
	done       bool
}

// deadline is when the body's next byte must have come.
func (b *deadlineBody) deadline() time.Time {
	d := b.start.Add(bodyGrace + time.Duration(b.n)*time.Second/minBodyRate)
	if d.After(b.end) {
		return b.end
	}
	return d
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if !b.done {
		_ = b.rc.SetReadDeadline(b.deadline()) // nothing to do if unsupported
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && !b.done {
		b.done = true
		if err == io.EOF {
			_ = b.rc.SetReadDeadline(time.Time{}) // nothing to do if unsupported
		}
	}
	return n, err
}

// requireAdminFirst refuses anyone but an admin or a trusted publisher
// before anything reads the request body (the upload route: its body may
// be 50 MiB).
func (s *Site) requireAdminFirst(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.canPublish(sessionOf(c)) {
			return errAdminOnly
		}
		return next(c)
	}
}

// formToken reads the _csrf field of a form body: urlencoded, or multipart
// on the upload route only (whose sender requireAdminFirst already checked).
// Any other body is not parsed for a token at all.
func formToken(c echo.Context) string {
	ct := strings.ToLower(c.Request().Header.Get("Content-Type"))
	switch {
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
	case strings.HasPrefix(ct, "multipart/form-data") && c.Path() == uploadPath:
	default:
		return ""
	}
	return c.FormValue("_csrf")
}

// connLimiter caps the connections the dashboard holds open. At the cap
// it first closes idle keep-alive connections (they cost a descriptor and
// serve no one), then the connection that has waited longest for its first
// request's headers, if that is over evictAfter (a client that has not
// sent a request line and headers by then is slow or hostile; a flood of
// them then cannot keep new clients out until ReadHeaderTimeout), and
// only then refuses the new connection by closing it at once. A
// connection never waits unaccepted for a descriptor, and maid's other
// descriptors (plugins, databases) are never starved by visitors.
type connLimiter struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Int64

	mu      sync.Mutex
	idle    map[net.Conn]struct{}
	pending map[net.Conn]time.Time // accepted, first request not yet read
}

// evictAfter is how long a new connection may wait for its first request
// before a full limiter may close it for a newcomer.
const evictAfter = time.Second

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: int64(max), idle: map[net.Conn]struct{}{}, pending: map[net.Conn]time.Time{}}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Load() >= l.max {
			l.closeIdle()
		}
		if l.open.Load() >= l.max {
			l.evictPending()
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused.Add(1)
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l}, nil
	}
}

// closeIdle closes every connection that waits for a next request.
func (l *connLimiter) closeIdle() {
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.idle))
	for c := range l.idle {
		conns = append(conns, c)
	}
	clear(l.idle)
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// evictPending closes the connection that has waited longest for its first
// request, if it has waited evictAfter.
func (l *connLimiter) evictPending() {
	l.mu.Lock()
	var oldest net.Conn
	var since time.Time
	for c, t := range l.pending {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest == nil || time.Since(since) < evictAfter {
		l.mu.Unlock()
		return
	}
	delete(l.pending, oldest)
	l.mu.Unlock()
	oldest.Close()
}

// connState is the http.Server's ConnState hook: it tracks idle and new
// connections for closeIdle and evictPending.
func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.idle, c)
	delete(l.pending, c)
	switch st {
	case http.StateIdle:
		l.idle[c] = struct{}{}
	case http.StateNew:
		l.pending[c] = time.Now()
	}
}

// limitedConn gives its slot back once, however often it is closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
