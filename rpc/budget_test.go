package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maidhq/maid/rpc"
)

// TestOversizedResultIsNotBuilt: a handler result far past the line limit
// is answered with a limit error naming the limit, and encoding it
// allocates a bounded amount, not the whole (HTML-escaped: 6×) message.
// (Issue 14 attack, position 1 finding 1: kv.get_many results of '<' were
// marshalled whole, ~60 MiB per response.)
func TestOversizedResultIsNotBuilt(t *testing.T) {
	huge := strings.Repeat("<", 64<<20)
	rawHuge := json.RawMessage(`"` + strings.Repeat("<", 64<<20) + `"`)
	h := func(_ context.Context, method string, _ json.RawMessage) (any, error) {
		if method == "raw" {
			return map[string]any{"values": map[string]json.RawMessage{"k": rawHuge}}, nil
		}
		return map[string]any{"value": huge}, nil
	}
	a, _ := pair(t, nil, h, rpc.Options{})
	for _, tc := range []struct{ name, method string }{
		{name: "string", method: "string"},
		{name: "raw message", method: "raw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := a.Call(context.Background(), tc.method, nil, nil)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, rpc.ErrLimit) || !strings.Contains(err.Error(), "1048576-byte line limit") {
				t.Fatalf("err = %v, want a limit error naming the 1048576-byte line limit", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("answering allocated %d MiB; want at most 16 MiB", alloc>>20)
			}
		})
	}
}

// TestResultBudget: however many requests are in flight, at most the
// budget's slots (4 line limits by default) hold large requests or
// reserved results at once. Without the budget 32 would.
func TestResultBudget(t *testing.T) {
	// A 256 KiB line limit keeps the test quick; the budget is 4 of them.
	big := strings.Repeat("x", 200<<10)
	tests := []struct {
		name    string
		params  any
		reserve bool
	}{
		{name: "reserved results", params: map[string]string{"p": "small"}, reserve: true},
		{name: "large requests", params: map[string]string{"p": big}},
	}
	for _, tr := range transports {
		for _, tc := range tests {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				var active, peak atomic.Int64
				h := func(ctx context.Context, _ string, _ json.RawMessage) (any, error) {
					if tc.reserve {
						if err := rpc.Reserve(ctx); err != nil {
							return nil, err
						}
					}
					n := active.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					time.Sleep(100 * time.Millisecond) // long enough for many to arrive without the budget
					active.Add(-1)
					return map[string]string{"r": big}, nil
				}
				a, _ := tr.pair(t, nil, h, rpc.Options{MaxLineBytes: 256 << 10})
				var wg sync.WaitGroup
				errs := make(chan error, 32)
				for range 32 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						var res map[string]string
						if err := a.Call(ctx, "m", tc.params, &res); err != nil {
							errs <- err
						} else if len(res["r"]) != len(big) {
							errs <- errors.New("short result")
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				if p := peak.Load(); p > 4 {
					t.Errorf("%d large results in flight at once; the budget is 4", p)
				}
			})
		}
	}
}

// TestReserveOutsideConn: Reserve does nothing for a ctx no Conn gave (the
// dashboard bridge calls the same host methods).
func TestReserveOutsideConn(t *testing.T) {
	if err := rpc.Reserve(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestConnIdleMemory: a Conn holds one read buffer and no write buffer
// (each message goes out in one Write), so an idle connection, one per
// plugin instance, costs about 64 KiB; a line conn none of either. (A
// 64 KiB bufio.Writer per conn was an eighth of an idle wasm instance.)
func TestConnIdleMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func() *rpc.Conn
		max  uint64 // bytes per conn
	}{
		{name: "stream", make: func() *rpc.Conn { return rpc.NewConn(strings.NewReader(""), io.Discard, nil, rpc.Options{}) }, max: 80 << 10},
		{name: "lines", make: func() *rpc.Conn {
			return rpc.NewLineConn(func(context.Context, []byte, bool) error { return nil }, nil, rpc.Options{})
		}, max: 16 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 100
			conns := make([]*rpc.Conn, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range conns {
				conns[i] = tc.make()
			}
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(conns)
			if per := (after.TotalAlloc - before.TotalAlloc) / n; per > tc.max {
				t.Errorf("%d bytes allocated per conn, want at most %d", per, tc.max)
			}
		})
	}
}
