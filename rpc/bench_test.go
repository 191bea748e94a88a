package rpc_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/maidhq/maid/rpc"
)

// BenchmarkCall measures one round trip through two Conns over pipes:
// encode, write, decode, dispatch, answer. Run with -benchmem for allocs/call.
func BenchmarkCall(b *testing.B) {
	h := func(ctx context.Context, method string, params json.RawMessage) (any, error) { return params, nil }
	a, _ := pair(b, nil, h, rpc.Options{})
	params := map[string]any{"call": "c1", "key": "active_user:1234", "value": 42}
	b.ReportAllocs()
	for b.Loop() {
		var out json.RawMessage
		if err := a.Call(context.Background(), "kv.set", params, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallParallel measures the dispatcher under concurrent callers.
func BenchmarkCallParallel(b *testing.B) {
	h := func(ctx context.Context, method string, params json.RawMessage) (any, error) { return params, nil }
	a, _ := pair(b, nil, h, rpc.Options{MaxInFlight: 1024})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := a.Call(context.Background(), "echo", 1, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
