package rpc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/rpc"
)

// TestRefusalNeverWaitsForBudget (attack Q1): the refusals dispatch writes
// on the feeding goroutine (the "more than N requests in flight" answer,
// and the answers to a message that is not JSON-RPC 2.0 or is neither a
// request nor a response) echo the peer's id, which a line of at most
// 64 KiB can make just large enough that the answer needs a slot of the
// large-message budget. Feed runs on the guest's own goroutine (wasm), so
// waiting there for a budget that large requests hold would leave a stopped
// guest unable to exit. Such a refusal goes at once, with a null id.
func TestRefusalNeverWaitsForBudget(t *testing.T) {
	// An id that keeps the line at most 64 KiB but the answer over it.
	id := `"` + strings.Repeat("i", 64<<10-60) + `"`
	for _, tc := range []struct {
		name string
		opt  rpc.Options
		fill int    // small "hold" requests fed after the large one
		line string // the refused line
		want string // in the refusal
	}{
		{
			name: "in-flight limit refusal",
			opt:  rpc.Options{MaxLineBytes: 1 << 20, ResultBudget: 1 << 20, MaxInFlight: 2},
			fill: 1,
			line: `{"jsonrpc":"2.0","id":` + id + `,"method":"x"}`,
			want: "requests in flight",
		},
		{
			name: "not JSON-RPC 2.0",
			opt:  rpc.Options{MaxLineBytes: 1 << 20, ResultBudget: 1 << 20},
			line: `{"jsonrpc":"1.0","id":` + id + `,"method":"x"}`,
			want: `must be \"2.0\"`,
		},
		{
			name: "neither request nor response",
			opt:  rpc.Options{MaxLineBytes: 1 << 20, ResultBudget: 1 << 20},
			line: `{"jsonrpc":"2.0","id":` + id + `}`,
			want: "neither a request nor a response",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.line) > 64<<10 {
				t.Fatalf("the refused line is %d bytes; it must be at most 64 KiB", len(tc.line))
			}
			hold := make(chan struct{})
			defer close(hold)
			c, out, _ := linePeer(t, blocked(hold), tc.opt)
			// A large request takes the only slot while it is served.
			big := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"hold","params":{"pad":%q}}`, strings.Repeat("x", 70<<10))
			if err := c.Feed(context.Background(), []byte(big)); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.fill; i++ {
				if err := c.Feed(context.Background(), []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"hold"}`, 10+i))); err != nil {
					t.Fatal(err)
				}
			}
			// The guest is stopped: its Feed ctx ends 100 ms in.
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			fed := make(chan error, 1)
			go func() { fed <- c.Feed(ctx, []byte(tc.line)) }()
			select {
			case <-fed:
			case <-time.After(5 * time.Second):
				t.Fatal("Feed (the guest's goroutine) still waits for the large-message budget 5 s after its ctx ended")
			}
			select {
			case s := <-out:
				if !strings.Contains(s.line, `"id":null`) || !strings.Contains(s.line, tc.want) {
					t.Fatalf("refusal %.200q, want a null id and %q", s.line, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no refusal was sent")
			}
		})
	}
}
