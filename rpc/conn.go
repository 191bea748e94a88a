// Package rpc implements maid's plugin protocol transport: JSON-RPC 2.0 over
// newline-delimited JSON, with requests in both directions and many calls in
// flight at once (docs/protocol.md). It knows nothing of sandboxes or plugins:
// every backend's byte stream goes through this one Conn.
package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
)

// Handler serves one request from the peer. Its result is marshalled as the
// response's result; a returned error becomes the response's error object
// (see CodeOf). For notifications the result is discarded.
type Handler func(ctx context.Context, method string, params json.RawMessage) (any, error)

// Options bound a connection. Zero values take the defaults.
type Options struct {
	MaxLineBytes int // longest accepted line; default 1 MiB
	MaxInFlight  int // concurrent incoming requests, and pending outgoing calls; default 64
	// ResultBudget bounds the bytes of large messages (over 64 KiB) in
	// flight at once: requests read and being served, results being built
	// (see Reserve) and messages being encoded. It is counted in slots of
	// one line limit each, at least one; default 4 × MaxLineBytes. Without
	// it 64 handlers could each hold a line limit's worth of result at once.
	ResultBudget int
	// Inline, if set, names the requests a line conn serves on Feed's
	// goroutine (the transport's; for wasm, the guest's own) instead of a
	// goroutine of their own: the call skips a goroutine start (and the
	// stack growth of a fresh goroutine) and its answer is queued before
	// the peer next reads, so the peer never sleeps waiting for it. The
	// peer sends nothing while such a request is served, so only methods
	// whose caller waits for the answer anyway belong here, and only
	// handlers that never wait for the peer: no Reserve (the budget may be
	// held by requests to a peer that is not reading) and a prompt return
	// once ctx ends (ctx also ends with Feed's, when the instance stops,
	// whose guest cannot exit meanwhile). An answer that would wait for
	// the budget (over 64 KiB while it is spent: the peer controls the id
	// and what errors echo) is written by a goroutine of its own instead.
	// MaxInFlight still counts them. Stream conns ignore it.
	Inline func(method string) bool
}

// Defaults for Options.
const (
	DefaultMaxLineBytes = 1 << 20
	DefaultMaxInFlight  = 64
)

func (o Options) withDefaults() Options {
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.ResultBudget <= 0 {
		o.ResultBudget = 4 * o.MaxLineBytes
	}
	return o
}

// Conn is one JSON-RPC peer connection. Run reads (or, for a line conn,
// waits while Feed is given lines); Call writes.
type Conn struct {
	opt     Options
	r       *bufio.Reader // nil for a line conn
	handler Handler

	wmu sync.Mutex
	// w gets each message and its newline in one Write. No bufio.Writer:
	// every message was flushed at once anyway, so its 64 KiB buffer only
	// cost an extra copy and memory for every idle instance.
	w io.Writer // nil for a line conn

	// A line conn (NewLineConn) sends through send and is fed by Feed.
	send    SendFunc
	feed    sync.Mutex      // one Feed at a time; guards the fields below
	fed     chan struct{}   // closed when Run starts: Feed may dispatch
	fctx    context.Context // Run's ctx, for the handlers Feed starts
	fwg     *sync.WaitGroup // Run's handlers
	fended  bool            // no more lines are dispatched
	fendErr error           // what Feed returns once fended
	fend    chan error      // the feed's end (nil: EOF), for Run; buffered

	nextID atomic.Uint64
	mu     sync.Mutex
	pend   map[uint64]chan response
	err    error // why the conn closed; set once
	done   chan struct{}

	sem     chan struct{} // incoming requests being served
	big     chan struct{} // slots of ResultBudget: large messages in flight
	dropped atomic.Uint64 // responses to no pending call (late or forged)
}

type response struct {
	result json.RawMessage
	err    *Error
}

// NewConn returns a connection reading r and writing w. h serves the peer's
// requests; it may be nil if the peer never calls.
func NewConn(r io.Reader, w io.Writer, h Handler, opt Options) *Conn {
	c := newConn(h, opt)
	c.r = bufio.NewReaderSize(r, 64<<10)
	c.w = w
	return c
}

func newConn(h Handler, opt Options) *Conn {
	opt = opt.withDefaults()
	return &Conn{
		opt:     opt,
		handler: h,
		pend:    make(map[uint64]chan response),
		done:    make(chan struct{}),
		sem:     make(chan struct{}, opt.MaxInFlight),
		big:     make(chan struct{}, max(1, opt.ResultBudget/opt.MaxLineBytes)),
	}
}

// SendFunc hands one outgoing message to a line transport, as one line
// without its newline; line is only valid during the call. It may be called
// from many goroutines at once. A request (reply false) may wait while the
// peer's queue is full, until ctx ends; a reply (the answer to one of the
// peer's requests) must not wait for the peer to read: the transport queues
// it, or fails if the peer leaves more than Options.ReplyBytes of replies
// unread. Waiting there would deadlock a peer that sends its next request
// from the goroutine that reads its answers (see Feed).
type SendFunc func(ctx context.Context, line []byte, reply bool) error

// NewLineConn returns a connection over a message transport instead of a
// byte stream: each outgoing message goes to send as one line, and the
// transport feeds each incoming line to Feed and the stream's end to
// EndFeed. Run serves until EndFeed, a protocol error or ctx's end. The
// bounds are those of NewConn.
func NewLineConn(send SendFunc, h Handler, opt Options) *Conn {
	c := newConn(h, opt)
	c.send = send
	c.fed = make(chan struct{})
	c.fend = make(chan error, 1)
	return c
}

// ReplyBytes is how many bytes of replies a line transport should hold for
// a peer that has not read them yet (see SendFunc) before giving up on it:
// a small answer for every request in flight plus the budget's large ones.
// A peer that reads its answers never comes near it.
func (o Options) ReplyBytes() int {
	o = o.withDefaults()
	return o.MaxInFlight*bigMessage + max(1, o.ResultBudget/o.MaxLineBytes)*(o.MaxLineBytes+1)
}

// wire forms
type inMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *Error          `json:"error"`
}

type outRequest struct {
	JSONRPC string  `json:"jsonrpc"`
	ID      *uint64 `json:"id,omitempty"`
	Method  string  `json:"method"`
	Params  any     `json:"params,omitempty"`
}

type outResult struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result"`
}

type outError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   *Error          `json:"error"`
}

var nullID = json.RawMessage("null")

// Run reads and serves messages until the stream ends, the peer breaks the
// protocol, or ctx ends. It returns nil on a clean EOF. Handlers started by
// Run (or by Feed) finish before it returns. A Read blocked in the
// underlying stream is not interrupted by ctx: the owner closes the stream
// (stops the instance). For a line conn Run reads nothing: it serves what
// Feed is given until EndFeed, a protocol error in a fed line, or ctx's end.
func (c *Conn) Run(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		if c.send != nil {
			// No Feed may start a handler once wg is waited for. A Feed
			// still dispatching holds c.feed until its waits end with ctx.
			c.feed.Lock()
			c.endFeedLocked(fmt.Errorf("feed: %w", ErrClosed))
			c.feed.Unlock()
		}
		wg.Wait()
		c.close(err)
	}()
	stop := context.AfterFunc(ctx, func() { c.close(ctx.Err()) })
	defer stop()

	if c.send != nil {
		c.feed.Lock()
		c.fctx, c.fwg = ctx, &wg
		c.feed.Unlock()
		close(c.fed)
		select {
		case err := <-c.fend:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		line, rerr := c.readLine()
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			return rerr
		}
		if err := c.dispatch(ctx, &wg, line, nil); err != nil {
			return err
		}
	}
}

// Feed gives a line conn one incoming line, without its newline; line may
// be reused once Feed returns. It runs on the caller's goroutine (the
// transport's reader; for wasm, the guest's own): a response completes its
// Call right here, a request starts its handler under the same bounds as
// Run's (MaxInFlight, the line limit, the large-message budget, for which
// Feed may wait: backpressure), or runs it here if Options.Inline names its
// method (Feed returns once its answer is queued). Feed never waits for
// the peer to read. It waits until Run has started, and returns an error
// once the feed has ended (protocol error, EndFeed, Run's end); the
// transport then stops feeding.
// When ctx ends (the transport's peer is gone) Feed stops waiting and
// returns ctx's error without ending the feed: the transport's EndFeed
// follows. Calls must not overlap.
func (c *Conn) Feed(ctx context.Context, line []byte) error {
	select {
	case <-c.fed:
	case <-c.done:
		return fmt.Errorf("feed: %w", ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("feed: %w", ctx.Err())
	}
	c.feed.Lock()
	defer c.feed.Unlock()
	if c.fended {
		return c.fendErr
	}
	if len(line) > c.opt.MaxLineBytes {
		err := fmt.Errorf("read message: %w: line longer than %d bytes: %w", ErrProtocol, c.opt.MaxLineBytes, ErrLimit)
		c.endFeedLocked(err)
		return err
	}
	if err := c.dispatch(c.fctx, c.fwg, line, ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("feed: %w", ctx.Err())
		}
		c.endFeedLocked(err)
		return err
	}
	return nil
}

// EndFeed tells a line conn that no more lines will come: err nil for a
// clean end of the stream, else how the stream broke the protocol (a line
// over the limit, a last line without its newline). Run then returns.
func (c *Conn) EndFeed(err error) {
	if err != nil {
		err = fmt.Errorf("read message: %w: %w", ErrProtocol, err)
	}
	c.feed.Lock()
	defer c.feed.Unlock()
	c.endFeedLocked(err)
}

// endFeedLocked ends the feed once (first reason wins); callers hold c.feed.
func (c *Conn) endFeedLocked(err error) {
	if c.fended {
		return
	}
	c.fended = true
	c.fendErr = err
	if err == nil {
		c.fendErr = fmt.Errorf("feed: %w: %w", ErrClosed, io.EOF)
	}
	c.fend <- err
}

// dispatch serves one incoming line: a request goes to its handler, a
// response to its Call. It returns an error when the line breaks the
// protocol, having answered it where the protocol says to; the conn must
// then stop reading. Run and Feed share it, so both transports have one
// set of rules. abort, if not nil, also ends dispatch's wait for a slot.
func (c *Conn) dispatch(ctx context.Context, wg *sync.WaitGroup, line []byte, abort context.Context) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	var m inMessage
	if jerr := json.Unmarshal(line, &m); jerr != nil {
		_ = c.write(outError{"2.0", nullID, wireError(ErrParse, "parse error: "+jerr.Error())})
		return fmt.Errorf("read message: %w: %w", ErrProtocol, ErrParse)
	}
	if m.JSONRPC != "2.0" {
		c.refuse(ctx, idOrNull(m.ID), wireError(ErrInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`), &slot{c: c})
		return fmt.Errorf("read message: %w: %w", ErrProtocol, ErrInvalidRequest)
	}
	switch {
	case m.Method != "":
		sl := &slot{c: c}
		if len(line) > bigMessage {
			// A large request holds a slot from now until its answer is
			// written; waiting here stops reading the peer (backpressure)
			// rather than holding more of its requests in memory.
			wctx := ctx
			if abort != nil {
				var cancel context.CancelFunc
				wctx, cancel = context.WithCancel(ctx)
				stop := context.AfterFunc(abort, cancel)
				defer func() { stop(); cancel() }()
			}
			if err := sl.take(wctx); err != nil {
				return fmt.Errorf("read message: %w", err)
			}
		}
		c.serve(ctx, wg, m, sl, abort)
	case len(m.ID) > 0 && (m.Result != nil || m.Error != nil):
		c.deliver(m)
	default:
		c.refuse(ctx, idOrNull(m.ID), wireError(ErrInvalidRequest, "invalid request: neither a request nor a response"), &slot{c: c})
		return fmt.Errorf("read message: %w: %w", ErrProtocol, ErrInvalidRequest)
	}
	return nil
}

// refuse writes an error answer on the reading goroutine (Run's reader,
// or the guest's own in Feed), which must never wait for the large-message
// budget: requests to a peer that is not reading may hold all of it, and
// with Feed that peer is this goroutine's guest, which could then be
// neither run nor stopped. Only the echoed id can make a refusal large
// (the peer controls it: attack Q1), so one that would wait, or pass the
// line limit, goes with a null id instead, as JSON-RPC answers a request
// whose id cannot be used.
func (c *Conn) refuse(ctx context.Context, id json.RawMessage, e *Error, sl *slot) {
	sl.setNoWait(true)
	err := c.writeSlot(ctx, outError{"2.0", id, e}, sl)
	sl.setNoWait(false)
	if errors.Is(err, errWouldWait) || errors.Is(err, ErrLimit) {
		_ = c.writeSlot(ctx, outError{"2.0", nullID, e}, &slot{c: c})
	}
}

func idOrNull(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return nullID
	}
	return id
}

// readLine returns one line without its newline, refusing lines longer than
// MaxLineBytes without buffering them whole.
func (c *Conn) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		if len(buf)+len(chunk) > c.opt.MaxLineBytes+1 {
			return nil, fmt.Errorf("read message: %w: line longer than %d bytes: %w", ErrProtocol, c.opt.MaxLineBytes, ErrLimit)
		}
		switch {
		case err == nil:
			if buf == nil {
				return chunk[:len(chunk)-1], nil
			}
			buf = append(buf, chunk...)
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			buf = append(buf, chunk...)
		case errors.Is(err, io.EOF) && len(buf)+len(chunk) > 0:
			return nil, fmt.Errorf("read message: %w: stream ended mid-line", ErrProtocol)
		default:
			return nil, err
		}
	}
}

// serve answers one request, on a goroutine of its own, or on the caller's
// for a fed request Options.Inline names (abort is Feed's ctx, nil for Run).
func (c *Conn) serve(ctx context.Context, wg *sync.WaitGroup, m inMessage, sl *slot, abort context.Context) {
	notify := len(m.ID) == 0 || bytes.Equal(m.ID, nullID)
	select {
	case c.sem <- struct{}{}:
	default:
		if !notify {
			c.refuse(ctx, m.ID, wireError(ErrLimit, fmt.Sprintf("limit exceeded: more than %d requests in flight", c.opt.MaxInFlight)), sl)
		}
		sl.release()
		return
	}
	wg.Add(1)
	// finish releases what the request holds, once its answer is written.
	finish := func() {
		sl.release()
		<-c.sem
		wg.Done()
	}
	// answer serves the request and writes its answer; with inline set it
	// runs on the feeding goroutine, which must never wait for the
	// large-message budget (requests to a peer that is not reading may
	// hold all of it, and that peer is this goroutine's guest): an answer
	// that would wait is handed to a goroutine of its own instead.
	answer := func(actx context.Context, inline bool) {
		hctx := context.WithValue(actx, slotKey{}, sl)
		var (
			res any
			err error
		)
		if c.handler == nil {
			err = Errorf(ErrMethodNotFound, "%s", m.Method)
		} else {
			res, err = c.handler(hctx, m.Method, m.Params)
		}
		if notify {
			finish()
			return
		}
		var msg any = outResult{"2.0", m.ID, res}
		if err != nil {
			msg = outError{"2.0", m.ID, toWire(err)}
		}
		if inline {
			sl.setNoWait(true)
			werr := c.writeSlot(hctx, msg, sl)
			sl.setNoWait(false)
			if !errors.Is(werr, errWouldWait) {
				c.answered(hctx, m, msg, werr, sl)
				finish()
				return
			}
			// On Run's ctx (serve's), not the handler's: this outlives
			// the Feed.
			go func() {
				defer finish()
				c.answered(ctx, m, msg, c.writeSlot(ctx, msg, sl), sl)
			}()
			return
		}
		c.answered(hctx, m, msg, c.writeSlot(hctx, msg, sl), sl)
		finish()
	}
	if abort != nil && c.opt.Inline != nil && c.opt.Inline(m.Method) {
		// Ends with Run's ctx or Feed's, whichever first: a stopped
		// instance's guest waits for this handler before it can exit.
		hctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(abort, cancel)
		answer(hctx, true)
		stop()
		cancel()
		return
	}
	go answer(ctx, false)
}

// answered follows up an answer's write that failed: an answer over the
// line limit (a result, or an error whose text quotes too much of the
// request) or a result that could not be encoded still gets a short error
// answer rather than leave the peer waiting for its deadline.
func (c *Conn) answered(ctx context.Context, m inMessage, msg any, werr error, sl *slot) {
	_, isResult := msg.(outResult)
	what := "result"
	if !isResult {
		what = "error answer"
	}
	switch {
	case werr == nil, errors.Is(werr, ErrClosed):
	case errors.Is(werr, ErrLimit):
		_ = c.writeSlot(ctx, outError{"2.0", m.ID, wireError(ErrLimit, fmt.Sprintf("limit exceeded: the %s of %s is over the %d-byte line limit", what, m.Method, c.opt.MaxLineBytes))}, sl)
	case isResult:
		// The result could not be encoded: tell the peer rather than leave it waiting.
		_ = c.writeSlot(ctx, outError{"2.0", m.ID, wireError(ErrInternal, "encode result: "+werr.Error())}, sl)
	}
}

func (c *Conn) deliver(m inMessage) {
	id, err := strconv.ParseUint(string(m.ID), 10, 64)
	if err != nil {
		c.dropped.Add(1)
		return
	}
	c.mu.Lock()
	ch, ok := c.pend[id]
	delete(c.pend, id)
	c.mu.Unlock()
	if !ok {
		c.dropped.Add(1) // late (timed out) or forged: never reaches a caller
		return
	}
	ch <- response{result: m.Result, err: m.Error}
}

// Call sends a request and waits for its response, ctx's end, or the conn's
// close. If result is non-nil the response's result is unmarshalled into it.
// Errors from the peer are *Error values that unwrap to this package's sentinels.
func (c *Conn) Call(ctx context.Context, method string, params, result any) error {
	id := c.nextID.Add(1)
	ch := make(chan response, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("call %s: %w: %w", method, ErrClosed, err)
	}
	if len(c.pend) >= c.opt.MaxInFlight {
		c.mu.Unlock()
		return fmt.Errorf("call %s: %w: more than %d calls pending", method, ErrLimit, c.opt.MaxInFlight)
	}
	c.pend[id] = ch
	c.mu.Unlock()

	sl := &slot{c: c}
	err := c.writeSlot(ctx, outRequest{JSONRPC: "2.0", ID: &id, Method: method, Params: params}, sl)
	sl.release()
	if err != nil {
		c.forget(id)
		return fmt.Errorf("call %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return r.err
		}
		if result != nil {
			if err := json.Unmarshal(r.result, result); err != nil {
				return fmt.Errorf("call %s: decode result: %w: %w", method, ErrInvalidParams, err)
			}
		}
		return nil
	case <-ctx.Done():
		c.forget(id)
		return fmt.Errorf("call %s: %w: %w", method, ErrTimeout, ctx.Err())
	case <-c.done:
		return fmt.Errorf("call %s: %w: %w", method, ErrClosed, c.Err())
	}
}

func (c *Conn) forget(id uint64) {
	c.mu.Lock()
	delete(c.pend, id)
	c.mu.Unlock()
}

func (c *Conn) write(v any) error {
	sl := &slot{c: c}
	defer sl.release()
	return c.writeSlot(context.Background(), v, sl)
}

// writeSlot encodes v into a buffer that fails as soon as it passes the
// line limit, so no message larger than the limit is ever built; past
// 64 KiB the message takes sl's slot of the budget (if sl holds none yet),
// waiting for one until ctx ends.
func (c *Conn) writeSlot(ctx context.Context, v any, sl *slot) error {
	e := getEncoder(c.opt.MaxLineBytes, func() error { return sl.take(ctx) })
	defer putEncoder(e)
	if err := e.encode(v); err != nil {
		if errors.Is(err, errTooLong) {
			return fmt.Errorf("encode message: %w: over the %d-byte line limit", ErrLimit, c.opt.MaxLineBytes)
		}
		if errors.Is(err, ErrClosed) {
			return err
		}
		return fmt.Errorf("encode message: %w", err)
	}
	if c.send != nil {
		return c.sendLine(ctx, v, e.buf)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	e.buf = append(e.buf, '\n')
	if _, err := c.w.Write(e.buf); err != nil {
		c.close(err)
		return fmt.Errorf("write message: %w: %w", ErrClosed, err)
	}
	return nil
}

// sendLine hands a line conn's encoded message to its transport. Answers
// to the peer's requests go as replies, which never wait for the peer.
func (c *Conn) sendLine(ctx context.Context, v any, line []byte) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	reply := true
	if _, ok := v.(outRequest); ok {
		reply = false
	}
	if err := c.send(ctx, line, reply); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// Nothing was sent: the conn is as good as before.
			return fmt.Errorf("write message: %w: %w", ErrTimeout, err)
		}
		c.close(err)
		return fmt.Errorf("write message: %w: %w", ErrClosed, err)
	}
	return nil
}

// close marks the conn closed (first reason wins) and fails pending calls.
func (c *Conn) close(reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	if reason == nil {
		reason = io.EOF
	}
	c.err = reason
	close(c.done)
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err reports why the connection ended (io.EOF for a clean end), or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Dropped counts responses that matched no pending call (late or forged).
func (c *Conn) Dropped() uint64 { return c.dropped.Load() }

// slot is one request's (or one write's) share of the conn's budget of
// large messages: at most one slot, taken at the first of Reserve, a large
// request line, or a large encoding, and released when the answer is
// written.
type slot struct {
	c    *Conn
	mu   sync.Mutex
	held bool
	// noWait: take fails with errWouldWait instead of waiting (an inline
	// answer, written on the peer's own goroutine).
	noWait bool
}

// errWouldWait is take's answer when the slot is wanted without waiting
// and the budget is spent.
var errWouldWait = errors.New("the large-message budget is in use")

func (s *slot) setNoWait(v bool) {
	s.mu.Lock()
	s.noWait = v
	s.mu.Unlock()
}

type slotKey struct{}

// take acquires the slot unless held, waiting for ctx's end or the conn's.
func (s *slot) take(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		return nil
	}
	if s.noWait {
		select {
		case s.c.big <- struct{}{}:
			s.held = true
			return nil
		default:
			return errWouldWait
		}
	}
	select {
	case s.c.big <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for result budget: %w: %w", ErrTimeout, ctx.Err())
	case <-s.c.done:
		return ErrClosed
	}
}

func (s *slot) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		s.held = false
		<-s.c.big
	}
}

// Reserve takes, for the request ctx belongs to, one line limit of the
// conn's ResultBudget until its answer is written, waiting while the budget
// is spent. A handler calls it before building a result that may be large
// (a batch read, a query), so that results built at once are bounded by the
// budget, not by MaxInFlight × the line limit. Outside a Conn's handler it
// does nothing.
func Reserve(ctx context.Context) error {
	sl, ok := ctx.Value(slotKey{}).(*slot)
	if !ok {
		return nil
	}
	return sl.take(ctx)
}
