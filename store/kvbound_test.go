package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/maidhq/maid/engine"
)

// TestKVResultBound: kv.get_many and kv.list results stop at their byte
// bound with ErrLimit, on SQLite and PostgreSQL, and results within it are
// whole. (Issue 14 attack, position 1 finding 1: a get_many of the whole
// 10 MiB quota was read whole, 64 at a time.)
func TestKVResultBound(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		install(t, ctx, s, "kvbound")
		sc := engine.Scope{PluginID: "kvbound", ServerID: "1"}
		val := json.RawMessage(`"` + strings.Repeat("<", 10_000) + `"`)
		values := map[string]json.RawMessage{}
		var keys []string
		for i := range 50 {
			k := fmt.Sprintf("k%02d", i)
			values[k] = val
			keys = append(keys, k)
		}
		must(t, s.KVSetMany(ctx, sc, values, engine.Quota{}))
		one := int64(len(keys[0]) + len(val)) // one key and value
		tests := []struct {
			name    string
			run     func(max int64) (int, error)
			max     int64
			want    int // entries; -1: ErrLimit
			wantErr string
		}{
			{name: "get_many within", run: func(max int64) (int, error) { m, err := s.KVGetManyMax(ctx, sc, keys, max); return len(m), err }, max: 50 * one, want: 50},
			{name: "get_many past", run: func(max int64) (int, error) { m, err := s.KVGetManyMax(ctx, sc, keys, max); return len(m), err }, max: 50*one - 1, want: -1, wantErr: "pass 500249 bytes"},
			{name: "get_many unbounded", run: func(max int64) (int, error) { m, err := s.KVGetManyMax(ctx, sc, keys, max); return len(m), err }, max: 0, want: 50},
			{name: "list within", run: func(max int64) (int, error) { l, err := s.KVListMax(ctx, sc, "k", 0, max); return len(l), err }, max: 150, want: 50},
			{name: "list past", run: func(max int64) (int, error) { l, err := s.KVListMax(ctx, sc, "k", 0, max); return len(l), err }, max: 149, want: -1, wantErr: "pass 149 bytes"},
			{name: "list past but limited", run: func(max int64) (int, error) { l, err := s.KVListMax(ctx, sc, "k", 10, max); return len(l), err }, max: 30, want: 10},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				n, err := tc.run(tc.max)
				if tc.want < 0 {
					wantErr(t, err, engine.ErrLimit)
					if !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("error %q does not name the bound (%q)", err, tc.wantErr)
					}
					return
				}
				must(t, err)
				if n != tc.want {
					t.Fatalf("got %d entries, want %d", n, tc.want)
				}
			})
		}
	})
}
