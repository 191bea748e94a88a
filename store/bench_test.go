package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/maidhq/maid/engine"
)

// Benchmarks of the store alone (no plugin path): KV set and get on both
// databases, sequential and parallel. Values are small JSON documents.

func benchStore(b *testing.B, open func(testing.TB) *Store) (*Store, engine.Scope) {
	s := open(b)
	ctx := context.Background()
	if err := s.PutPlugin(ctx, engine.PluginRecord{ID: "bench", Version: "1"}); err != nil {
		b.Fatal(err)
	}
	return s, engine.Scope{PluginID: "bench", ServerID: "1"}
}

var benchQuota = engine.Quota{MaxKeys: 10_000, MaxBytes: 10 << 20}

var benchValue = json.RawMessage(`{"user":"123456789012345678","count":42,"tags":["a","b"]}`)

func BenchmarkKVSet(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, sc := benchStore(b, be.open)
			ctx := context.Background()
			b.Run("sequential", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if err := s.KVSet(ctx, sc, fmt.Sprintf("key/%d", i%1000), benchValue, benchQuota); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if err := s.KVSet(ctx, sc, fmt.Sprintf("key/%d", i%1000), benchValue, benchQuota); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			})
		})
	}
}

func BenchmarkKVGet(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, sc := benchStore(b, be.open)
			ctx := context.Background()
			for i := range 1000 {
				if err := s.KVSet(ctx, sc, fmt.Sprintf("key/%d", i), benchValue, benchQuota); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("sequential", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, ok, err := s.KVGet(ctx, sc, fmt.Sprintf("key/%d", i%1000)); err != nil || !ok {
						b.Fatal(ok, err)
					}
					i++
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if _, ok, err := s.KVGet(ctx, sc, fmt.Sprintf("key/%d", i%1000)); err != nil || !ok {
							b.Error(ok, err)
							return
						}
						i++
					}
				})
			})
		})
	}
}
