package rpc_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/rpc"
)

// pair returns two connected Conns (a↔b) running until the test ends.
func pair(t testing.TB, ha, hb rpc.Handler, opt rpc.Options) (*rpc.Conn, *rpc.Conn) {
	t.Helper()
	ar, bw := io.Pipe()
	br, aw := io.Pipe()
	a := rpc.NewConn(ar, aw, ha, opt)
	b := rpc.NewConn(br, bw, hb, opt)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.Run(ctx); aw.Close() }()
	go func() { defer wg.Done(); b.Run(ctx); bw.Close() }()
	t.Cleanup(func() {
		cancel()
		ar.Close()
		br.Close()
		wg.Wait()
	})
	return a, b
}

func echo(ctx context.Context, method string, params json.RawMessage) (any, error) {
	switch method {
	case "echo":
		return params, nil
	case "fail":
		return nil, rpc.Errorf(rpc.ErrCapability, "needs storage:kv")
	case "plain":
		return nil, errors.New("plain failure")
	case "slow":
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
		return "late", nil
	}
	return nil, rpc.Errorf(rpc.ErrMethodNotFound, "%s", method)
}

// blocked answers "done" to every request once release is closed.
func blocked(release <-chan struct{}) rpc.Handler {
	return func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		<-release
		return "done", nil
	}
}

// TestCall: calls and their errors cross both kinds of Conn alike.
func TestCall(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		params  any
		want    string
		wantErr error
	}{
		{name: "echo object", method: "echo", params: map[string]int{"x": 1}, want: `{"x":1}`},
		{name: "echo unicode", method: "echo", params: []string{"ünï\n"}, want: `["ünï\n"]`},
		{name: "sentinel error crosses the wire", method: "fail", wantErr: rpc.ErrCapability},
		{name: "plain error is internal", method: "plain", wantErr: rpc.ErrInternal},
		{name: "unknown method", method: "nope", wantErr: rpc.ErrMethodNotFound},
	}
	for _, tr := range transports {
		a, _ := tr.pair(t, nil, echo, rpc.Options{})
		for _, tc := range tests {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				var got json.RawMessage
				err := a.Call(context.Background(), tc.method, tc.params, &got)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("err = %v, want %v", err, tc.wantErr)
					}
					return
				}
				if err != nil || string(got) != tc.want {
					t.Fatalf("got %s, %v; want %s", got, err, tc.want)
				}
			})
		}
	}
}

func TestCallTimeoutDropsLateAnswer(t *testing.T) {
	a, _ := pair(t, nil, echo, rpc.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := a.Call(ctx, "slow", nil, nil)
	if !errors.Is(err, rpc.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	// The conn is still usable.
	var got string
	if err := a.Call(context.Background(), "echo", "ok", &got); err != nil || got != "ok" {
		t.Fatalf("after timeout: %q %v", got, err)
	}
}

// rawPeer drives a Conn with hand-written lines.
func rawPeer(t *testing.T, h rpc.Handler, opt rpc.Options) (*rpc.Conn, io.WriteCloser, *bufio.Reader, chan error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := rpc.NewConn(inR, outW, h, opt)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()); outW.Close() }()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	return c, inW, bufio.NewReader(outR), done
}

// wireCase is a line from the peer, for an echo Conn with MaxLineBytes
// 1024, and what the Conn does with it.
type wireCase struct {
	name      string
	line      string
	wantReply string // substring of the reply line, "" for none
	wantEnd   error  // Run's error, nil if it keeps going
}

// wireCases hold for both kinds of Conn.
var wireCases = []wireCase{
	{name: "not json", line: "{oops", wantReply: `"code":-32700`, wantEnd: rpc.ErrProtocol},
	{name: "wrong version", line: `{"jsonrpc":"1.0","id":1,"method":"echo"}`, wantReply: `"code":-32600`, wantEnd: rpc.ErrProtocol},
	{name: "neither request nor response", line: `{"jsonrpc":"2.0","id":1}`, wantReply: `"code":-32600`, wantEnd: rpc.ErrProtocol},
	{name: "oversize line", line: `{"jsonrpc":"2.0","method":"echo","params":"` + strings.Repeat("x", 2000) + `"}`, wantEnd: rpc.ErrLimit},
	{name: "string id echoed", line: `{"jsonrpc":"2.0","id":"abc","method":"echo","params":[1]}`, wantReply: `{"jsonrpc":"2.0","id":"abc","result":[1]}`},
	{name: "forged response ignored", line: `{"jsonrpc":"2.0","id":999,"result":{}}`},
	{name: "notification gets no reply", line: `{"jsonrpc":"2.0","method":"echo","params":[1]}`},
}

func TestWireErrors(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			c, in, out, done := rawPeer(t, echo, rpc.Options{MaxLineBytes: 1024})
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				io.WriteString(in, tc.line+"\n")
			}()
			if tc.wantReply != "" {
				line, err := out.ReadString('\n')
				if err != nil || !strings.Contains(line, tc.wantReply) {
					t.Fatalf("reply %q (%v), want it to contain %s", line, err, tc.wantReply)
				}
			}
			if tc.wantEnd != nil {
				if err := <-done; !errors.Is(err, tc.wantEnd) {
					t.Fatalf("Run = %v, want %v", err, tc.wantEnd)
				}
				return
			}
			// Still serving: a follow-up request is answered. It goes in
			// after the line under test, so the conn has read that one.
			go func() {
				<-wrote
				io.WriteString(in, `{"jsonrpc":"2.0","id":7,"method":"echo","params":"next"}`+"\n")
			}()
			for {
				line, err := out.ReadString('\n')
				if err != nil {
					t.Fatalf("conn stopped serving: %v", err)
				}
				if strings.Contains(line, `"id":7`) {
					break
				}
			}
			if tc.name == "forged response ignored" && c.Dropped() != 1 {
				t.Fatalf("dropped = %d, want 1", c.Dropped())
			}
		})
	}
}

func TestInFlightLimit(t *testing.T) {
	block := make(chan struct{})
	a, _ := pair(t, nil, blocked(block), rpc.Options{MaxInFlight: 2})
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- a.Call(context.Background(), "x", nil, nil) }()
	}
	// Two calls are pending; the third is refused at once, on one side or the other.
	if err := <-errs; !errors.Is(err, rpc.ErrLimit) {
		t.Fatalf("third call: %v, want ErrLimit", err)
	}
	close(block)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloseFailsPending(t *testing.T) {
	inR, inW := io.Pipe()
	c := rpc.NewConn(inR, io.Discard, nil, rpc.Options{})
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	errc := make(chan error, 1)
	go func() { errc <- c.Call(context.Background(), "never", nil, nil) }()
	time.Sleep(10 * time.Millisecond)
	inW.Close() // peer went away
	if err := <-errc; !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("pending call: %v, want ErrClosed", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("clean EOF: Run = %v", err)
	}
	if err := c.Call(context.Background(), "after", nil, nil); !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
}

// TestHammer: many goroutines call both ways at once, and handlers call
// back into the peer while serving (as plugins do with kv.* during events).
func TestHammer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			var b *rpc.Conn
			hA := func(ctx context.Context, method string, params json.RawMessage) (any, error) {
				return params, nil
			}
			hB := func(ctx context.Context, method string, params json.RawMessage) (any, error) {
				var n int
				json.Unmarshal(params, &n)
				var back int
				if err := b.Call(ctx, "nested", n*2, &back); err != nil {
					return nil, err
				}
				return back + 1, nil
			}
			var a *rpc.Conn
			a, b = tr.pair(t, hA, hB, rpc.Options{MaxInFlight: 256})
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for g := range 16 {
				wg.Add(2)
				go func() {
					defer wg.Done()
					for i := range 200 {
						n := g*1000 + i
						var got int
						if err := a.Call(context.Background(), "work", n, &got); err != nil || got != 2*n+1 {
							errs <- fmt.Errorf("a→b %d: got %d, %v", n, got, err)
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					for i := range 200 {
						var got string
						want := fmt.Sprintf("b%d-%d", g, i)
						if err := b.Call(context.Background(), "echo", want, &got); err != nil || got != want {
							errs <- fmt.Errorf("b→a: got %q, %v", got, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bytes to a Conn: it must never panic, and must
// either serve or end with an error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":1}}`,
		`{"jsonrpc":"2.0","id":1,"result":{}}`,
		`{"jsonrpc":"2.0","id":"x","error":{"code":-32000,"message":"m"}}`,
		`{"jsonrpc":"2.0","method":"n"}`,
		"[1,2]", "null", "{}", "\n\n", `{"jsonrpc":"2.0","id":1,"method":"fail"}`,
	} {
		f.Add([]byte(s + "\n"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := rpc.NewConn(strings.NewReader(string(data)), io.Discard, echo, rpc.Options{MaxLineBytes: 4096, MaxInFlight: 4})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Run(ctx)
	})
}

// TestOversizedErrorAnswered: an error whose text passes the line limit
// (it may quote the request) is answered with a short limit error on both
// transports, not dropped, which left the caller waiting for its deadline.
func TestOversizedErrorAnswered(t *testing.T) {
	h := func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		return nil, rpc.Errorf(rpc.ErrInvalidParams, "bad value %s", strings.Repeat("x", 2<<20))
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			a, _ := tr.pair(t, nil, h, rpc.Options{MaxLineBytes: 1 << 20})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := a.Call(ctx, "x", nil, nil)
			if !errors.Is(err, rpc.ErrLimit) || !strings.Contains(err.Error(), "error answer of x is over") {
				t.Fatalf("err = %v, want a limit error naming the error answer", err)
			}
		})
	}
}
