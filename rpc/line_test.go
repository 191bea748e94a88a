package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/rpc"
)

// linePair returns two line Conns (a↔b) joined by queues, each drained
// into the other's Feed by a pump goroutine: the shape of the wasm
// backend's transport, with the guest's goroutine played by the pump.
func linePair(t testing.TB, ha, hb rpc.Handler, opt rpc.Options) (*rpc.Conn, *rpc.Conn) {
	t.Helper()
	ab, ba := make(chan []byte, 1024), make(chan []byte, 1024)
	sender := func(ch chan []byte) rpc.SendFunc {
		return func(ctx context.Context, line []byte, _ bool) error {
			select {
			case ch <- append([]byte(nil), line...):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	a := rpc.NewLineConn(sender(ab), ha, opt)
	b := rpc.NewLineConn(sender(ba), hb, opt)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	pump := func(ch chan []byte, to *rpc.Conn) {
		defer wg.Done()
		for {
			select {
			case line := <-ch:
				_ = to.Feed(ctx, line)
			case <-ctx.Done():
				to.EndFeed(nil)
				return
			}
		}
	}
	wg.Add(4)
	go pump(ab, b)
	go pump(ba, a)
	go func() { defer wg.Done(); a.Run(ctx) }()
	go func() { defer wg.Done(); b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return a, b
}

// transports runs a test over both kinds of Conn.
var transports = []struct {
	name string
	pair func(t testing.TB, ha, hb rpc.Handler, opt rpc.Options) (*rpc.Conn, *rpc.Conn)
}{
	{name: "stream", pair: pair},
	{name: "lines", pair: linePair},
}

// sent is one message a line Conn handed its transport.
type sent struct {
	line  string
	reply bool
}

// linePeer drives a line Conn by hand: feed gives it lines as the guest's
// writes would, and every message it sends arrives on out.
func linePeer(t *testing.T, h rpc.Handler, opt rpc.Options) (c *rpc.Conn, out chan sent, done chan error) {
	t.Helper()
	out = make(chan sent, 256)
	c = rpc.NewLineConn(func(ctx context.Context, line []byte, reply bool) error {
		select {
		case out <- sent{string(line), reply}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, h, opt)
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-c.Done()
	})
	return c, out, done
}

// TestLineWireErrors: a line Conn answers and ends on the lines a stream
// Conn does (one dispatch), and sends every answer as a reply.
func TestLineWireErrors(t *testing.T) {
	tests := append(slices.Clone(wireCases), wireCase{name: "blank line ignored", line: "  "})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, out, done := linePeer(t, echo, rpc.Options{MaxLineBytes: 1024})
			ferr := c.Feed(context.Background(), []byte(tc.line))
			if tc.wantReply != "" {
				s := <-out
				if !strings.Contains(s.line, tc.wantReply) || !s.reply {
					t.Fatalf("reply %q (reply %v), want a reply containing %s", s.line, s.reply, tc.wantReply)
				}
			}
			if tc.wantEnd != nil {
				if !errors.Is(ferr, tc.wantEnd) {
					t.Fatalf("Feed = %v, want %v", ferr, tc.wantEnd)
				}
				if err := <-done; !errors.Is(err, tc.wantEnd) {
					t.Fatalf("Run = %v, want %v", err, tc.wantEnd)
				}
				if err := c.Feed(context.Background(), []byte(`{"jsonrpc":"2.0","id":7,"method":"echo"}`)); err == nil {
					t.Fatal("Feed after a protocol error succeeded")
				}
				return
			}
			if ferr != nil {
				t.Fatalf("Feed = %v", ferr)
			}
			if err := c.Feed(context.Background(), []byte(`{"jsonrpc":"2.0","id":7,"method":"echo","params":"next"}`)); err != nil {
				t.Fatal(err)
			}
			if s := <-out; !strings.Contains(s.line, `"id":7`) {
				t.Fatalf("next answer %q", s.line)
			}
			if tc.name == "forged response ignored" && c.Dropped() != 1 {
				t.Fatalf("dropped = %d, want 1", c.Dropped())
			}
		})
	}
}

// TestLineEnd: how the feed's end reaches Run and pending calls.
func TestLineEnd(t *testing.T) {
	tests := []struct {
		name    string
		end     error
		wantRun error // nil: a clean end
	}{
		{name: "clean end", end: nil},
		{name: "stream broke the protocol", end: errors.New("stdout ended mid-line"), wantRun: rpc.ErrProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, out, done := linePeer(t, nil, rpc.Options{})
			errc := make(chan error, 1)
			go func() { errc <- c.Call(context.Background(), "never", nil, nil) }()
			if s := <-out; s.reply || !strings.Contains(s.line, `"method":"never"`) {
				t.Fatalf("sent %+v, want the request, not as a reply", s)
			}
			c.EndFeed(tc.end)
			if err := <-done; !errors.Is(err, tc.wantRun) || (tc.wantRun == nil && err != nil) {
				t.Fatalf("Run = %v, want %v", err, tc.wantRun)
			}
			if err := <-errc; !errors.Is(err, rpc.ErrClosed) {
				t.Fatalf("pending call: %v, want ErrClosed", err)
			}
			if err := c.Call(context.Background(), "after", nil, nil); !errors.Is(err, rpc.ErrClosed) {
				t.Fatalf("call after the end: %v, want ErrClosed", err)
			}
			if err := c.Feed(context.Background(), []byte(`{"jsonrpc":"2.0","id":1,"result":1}`)); err == nil {
				t.Fatal("Feed after the end succeeded")
			}
		})
	}
}

// TestLineLateAnswer: an answer fed after its call timed out reaches nobody.
func TestLineLateAnswer(t *testing.T) {
	c, out, _ := linePeer(t, nil, rpc.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Call(ctx, "slow", nil, nil); !errors.Is(err, rpc.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	var req struct{ ID uint64 }
	if err := json.Unmarshal([]byte((<-out).line), &req); err != nil {
		t.Fatal(err)
	}
	if err := c.Feed(context.Background(), []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":"late"}`, req.ID))); err != nil {
		t.Fatal(err)
	}
	if c.Dropped() != 1 {
		t.Fatalf("dropped = %d, want 1", c.Dropped())
	}
}

// TestLineInFlightLimit: past MaxInFlight requests being served, a fed
// request is refused at once with a limit error, and Feed does not wait.
func TestLineInFlightLimit(t *testing.T) {
	block := make(chan struct{})
	c, out, _ := linePeer(t, blocked(block), rpc.Options{MaxInFlight: 2})
	for id := range 3 {
		if err := c.Feed(context.Background(), []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"x"}`, id))); err != nil {
			t.Fatal(err)
		}
	}
	if s := <-out; !strings.Contains(s.line, `"id":2`) || !strings.Contains(s.line, "more than 2 requests in flight") || !s.reply {
		t.Fatalf("third request answered %+v, want a limit error as a reply", s)
	}
	close(block)
	for range 2 {
		if s := <-out; !strings.Contains(s.line, `"result":"done"`) {
			t.Fatalf("answer %q", s.line)
		}
	}
}

// TestLineFeedAbort: a Feed waiting for a slot of the large-message budget
// (backpressure) stops waiting when its ctx ends, without ending the feed:
// a stopped guest must not stay blocked in it.
func TestLineFeedAbort(t *testing.T) {
	hold := make(chan struct{})
	h := func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		if method == "hold" {
			<-hold
		}
		return "ok", nil
	}
	c, out, _ := linePeer(t, h, rpc.Options{MaxLineBytes: 256 << 10, ResultBudget: 256 << 10})
	defer close(hold)
	big := func(id int, method string) []byte {
		return []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":"%s"}`, id, method, strings.Repeat("b", 100<<10)))
	}
	if err := c.Feed(context.Background(), big(1, "hold")); err != nil { // takes the one slot
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fed := make(chan error, 1)
	go func() { fed <- c.Feed(ctx, big(2, "echo")) }()
	cancel()
	if err := <-fed; !errors.Is(err, context.Canceled) {
		t.Fatalf("Feed = %v, want context.Canceled", err)
	}
	if err := c.Feed(context.Background(), []byte(`{"jsonrpc":"2.0","id":3,"method":"echo"}`)); err != nil {
		t.Fatalf("Feed after an aborted one: %v", err)
	}
	if s := <-out; !strings.Contains(s.line, `"id":3`) {
		t.Fatalf("answer %q", s.line)
	}
}

// TestLineInline: a request Options.Inline names is served on Feed's
// goroutine (its answer is queued when Feed returns, and its handler's ctx
// ends with Feed's, so a stopped guest is not held by it), still counts
// against MaxInFlight, and other requests keep their own goroutines.
func TestLineInline(t *testing.T) {
	// hold: "hold" waits for it to close; waiting: "wait" says it waits,
	// and ended gets why its wait ended.
	var hold, waiting chan struct{}
	ended := make(chan error, 1)
	h := func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		switch method {
		case "hold":
			<-hold
		case "wait":
			close(waiting)
			<-ctx.Done()
			ended <- ctx.Err()
			return nil, ctx.Err()
		}
		return "ok", nil
	}
	opt := rpc.Options{MaxInFlight: 2, Inline: func(m string) bool { return m == "fast" || m == "wait" }}
	req := func(id int, method string) []byte {
		return []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q}`, id, method))
	}
	answer := func(t *testing.T, out chan sent) sent {
		t.Helper()
		select {
		case s := <-out:
			return s
		case <-time.After(30 * time.Second): // a hang guard, not a timing
			t.Fatal("no answer")
			return sent{}
		}
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *rpc.Conn, out chan sent)
	}{
		{name: "answered before Feed returns", run: func(t *testing.T, c *rpc.Conn, out chan sent) {
			if err := c.Feed(context.Background(), req(1, "fast")); err != nil {
				t.Fatal(err)
			}
			select {
			case s := <-out:
				if !strings.Contains(s.line, `"result":"ok"`) || !s.reply {
					t.Fatalf("answer %+v", s)
				}
			default:
				t.Fatal("the inline request was not answered when Feed returned")
			}
		}},
		{name: "other methods keep their goroutine", run: func(t *testing.T, c *rpc.Conn, out chan sent) {
			if err := c.Feed(context.Background(), req(1, "hold")); err != nil { // returns while held
				t.Fatal(err)
			}
			close(hold)
			if s := answer(t, out); !strings.Contains(s.line, `"id":1`) {
				t.Fatalf("answer %q", s.line)
			}
		}},
		{name: "handler ctx ends with Feed's", run: func(t *testing.T, c *rpc.Conn, out chan sent) {
			ctx, cancel := context.WithCancel(context.Background())
			fed := make(chan error, 1)
			go func() { fed <- c.Feed(ctx, req(1, "wait")) }()
			<-waiting
			cancel()
			select {
			case err := <-ended:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("handler ctx ended with %v", err)
				}
			case <-time.After(30 * time.Second): // a hang guard, not a timing
				t.Fatal("the handler's ctx did not end with Feed's")
			}
			// The answer may or may not be sent (its ctx has ended): a
			// stopped guest reads nothing more anyway.
			if err := <-fed; err != nil {
				t.Fatalf("Feed = %v", err)
			}
		}},
		{name: "counts against MaxInFlight", run: func(t *testing.T, c *rpc.Conn, out chan sent) {
			defer close(hold)
			for id := range 2 {
				if err := c.Feed(context.Background(), req(id, "hold")); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Feed(context.Background(), req(3, "fast")); err != nil {
				t.Fatal(err)
			}
			if s := answer(t, out); !strings.Contains(s.line, `"id":3`) || !strings.Contains(s.line, "more than 2 requests in flight") {
				t.Fatalf("answer %q, want a limit error", s.line)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hold, waiting = make(chan struct{}), make(chan struct{})
			c, out, _ := linePeer(t, h, opt)
			tc.run(t, c, out)
		})
	}
}

// TestLineInlineNeverWaitsForBudget: an inline request whose answer is
// over 64 KiB (the peer controls the echoed id and what an error echoes)
// while the large-message budget is held elsewhere does not hold Feed, the
// guest's own goroutine: its answer is written by a goroutine of its own
// once the budget frees. (Attack finding: Feed waited until the other
// request ended.)
func TestLineInlineNeverWaitsForBudget(t *testing.T) {
	hold := make(chan struct{})
	h := func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		switch method {
		case "hold":
			<-hold
			return "ok", nil
		case "echo":
			var p struct{ Call string }
			_ = json.Unmarshal(params, &p)
			return nil, rpc.Errorf(rpc.ErrScope, "call %q is not in progress", p.Call)
		}
		return "ok", nil
	}
	opt := rpc.Options{MaxLineBytes: 1 << 20, ResultBudget: 1 << 20, Inline: func(m string) bool { return m == "echo" }}
	c, out, _ := linePeer(t, h, opt)
	// A large request takes the only slot of the budget while it is served.
	big := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"hold","params":{"pad":%q}}`, strings.Repeat("x", 70<<10))
	if err := c.Feed(context.Background(), []byte(big)); err != nil {
		t.Fatal(err)
	}
	// Under 64 KiB itself, with an answer over it.
	line := `{"jsonrpc":"2.0","id":"` + strings.Repeat("i", 30<<10) + `","method":"echo","params":{"call":"` +
		strings.Repeat("\u2028", 8<<10) + `"}}` // U+2028 raw: 3 bytes here, 7 once quoted and escaped
	if len(line) >= 64<<10 {
		t.Fatalf("the inline request is %d bytes; it must stay under 64 KiB to take no budget slot itself", len(line))
	}
	fed := make(chan error, 1)
	go func() { fed <- c.Feed(context.Background(), []byte(line)) }()
	select {
	case err := <-fed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		close(hold)
		t.Fatal("Feed of an inline request waited for the large-message budget held by another request")
	}
	close(hold)
	got := map[string]int{}
	for range 2 {
		s := <-out
		switch {
		case strings.Contains(s.line, `"id":1,`):
			got["hold"] = len(s.line)
		case strings.Contains(s.line, "is not in progress"):
			got["echo"] = len(s.line)
		default:
			t.Fatalf("unexpected answer %.200q", s.line)
		}
	}
	if got["echo"] <= 64<<10 || got["hold"] == 0 {
		t.Fatalf("answers %v: want both, the inline one over 64 KiB", got)
	}
}
