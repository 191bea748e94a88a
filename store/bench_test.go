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
	benchKV(b, false, func(ctx context.Context, s *Store, sc engine.Scope, key string) error {
		return s.KVSet(ctx, sc, key, benchValue, benchQuota)
	})
}

func BenchmarkKVGet(b *testing.B) {
	benchKV(b, true, func(ctx context.Context, s *Store, sc engine.Scope, key string) error {
		if _, ok, err := s.KVGet(ctx, sc, key); err != nil || !ok {
			return fmt.Errorf("get %s: found %v: %w", key, ok, err)
		}
		return nil
	})
}

// benchKV runs op over 1,000 keys on each database, sequential and
// parallel; with seed the keys are set first.
func benchKV(b *testing.B, seed bool, op func(ctx context.Context, s *Store, sc engine.Scope, key string) error) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, sc := benchStore(b, be.open)
			ctx := context.Background()
			if seed {
				for i := range 1000 {
					if err := s.KVSet(ctx, sc, fmt.Sprintf("key/%d", i), benchValue, benchQuota); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Run("sequential", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if err := op(ctx, s, sc, fmt.Sprintf("key/%d", i%1000)); err != nil {
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
						if err := op(ctx, s, sc, fmt.Sprintf("key/%d", i%1000)); err != nil {
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
