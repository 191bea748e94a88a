package store

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
)

func TestJSONValue(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123000000, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name   string
		in     any
		dbType string
		want   any
	}{
		{"nil", nil, "", nil},
		{"int", int64(5), "INT8", int64(5)},
		{"float", 1.5, "FLOAT8", 1.5},
		{"nan", math.NaN(), "FLOAT8", "NaN"},
		{"inf", math.Inf(-1), "FLOAT8", "-Inf"},
		{"bytes", []byte("héllo"), "BYTEA", "héllo"},
		{"blob", []byte{0, 1}, "", "\x00\x01"},
		{"numeric small", []byte("12.50"), "NUMERIC", 12.5},
		{"numeric huge", []byte("123456789012345678901234567890"), "NUMERIC", "123456789012345678901234567890"},
		{"jsonb", []byte(`{"a": [1]}`), "JSONB", json.RawMessage(`{"a": [1]}`)},
		{"time", at, "TIMESTAMPTZ", "2026-05-06T07:08:09.123+01:00"},
		{"bool", true, "BOOL", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := jsonValue(tc.in, tc.dbType)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Fatalf("not JSON-encodable: %v", err)
			}
		})
	}
}

func TestBindArgs(t *testing.T) {
	got, err := bindArgs([]any{nil, true, "s", 3.0, 2.5, json.Number("7"), json.Number("1e3"), 4})
	must(t, err)
	want := []any{nil, true, "s", int64(3), 2.5, int64(7), int64(1000), int64(4)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	for _, bad := range [][]any{{[]any{1}}, {map[string]any{}}, {math.NaN()}, {"a\x00"}} {
		if _, err := bindArgs(bad); err == nil {
			t.Errorf("%#v accepted", bad)
		}
	}
}

// TestPostgresResultTypes: PostgreSQL-only types come back JSON-friendly.
func TestPostgresResultTypes(t *testing.T) {
	s := openTestPostgres(t)
	ctx := testCtx(t)
	install(t, ctx, s, "types")
	r, err := s.SQLQuery(ctx, sqlScope("types"), `SELECT 1.25::numeric AS n, '{"a":1}'::jsonb AS j, '2026-01-02T03:04:05Z'::timestamptz AS ts,
		'\x0102'::bytea AS b, true AS t, 'NaN'::float8 AS nan, sum(x) AS total FROM (VALUES (1), (2)) v(x)`, nil, sqlLim) // sum(int) is bigint
	must(t, err)
	row := r.Rows[0]
	if row[0] != 1.25 || string(row[1].(json.RawMessage)) != `{"a": 1}` || !strings.HasPrefix(row[2].(string), "2026-01-02T03:04:05") ||
		row[3] != "\x01\x02" || row[4] != true || row[5] != "NaN" || row[6] != int64(3) {
		t.Fatalf("row: %#v", row)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

// TestLongPluginID: the longest allowed id works for KV and SQL on both
// (PostgreSQL names are shortened with a hash to fit 63 bytes).
func TestLongPluginID(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		long1 := strings.Repeat("a", 127) + "1"
		long2 := strings.Repeat("a", 127) + "2"
		for _, id := range []string{long1, long2} {
			install(t, ctx, s, id)
			must(t, s.KVSet(ctx, engine.Scope{PluginID: id, ServerID: "1"}, "k", raw(`1`), noQuota))
			_, err := s.SQLExec(ctx, sqlScope(id), "CREATE TABLE t (v TEXT)", nil, sqlLim)
			must(t, err)
			_, err = s.SQLExec(ctx, sqlScope(id), "INSERT INTO t (v) VALUES (?)", []any{id}, sqlLim)
			must(t, err)
		}
		for _, id := range []string{long1, long2} {
			r, err := s.SQLQuery(ctx, sqlScope(id), "SELECT v FROM t", nil, sqlLim)
			must(t, err)
			if len(r.Rows) != 1 || r.Rows[0][0] != id {
				t.Fatalf("%s sees %v", id[120:], r.Rows)
			}
		}
		must(t, s.DeletePlugin(ctx, long1))
		r, err := s.SQLQuery(ctx, sqlScope(long2), "SELECT v FROM t", nil, sqlLim)
		must(t, err)
		if len(r.Rows) != 1 {
			t.Fatal("deleting one long id touched the other")
		}
		if n := pgName("maid_p_", long1); len(n) > 63 || n == pgName("maid_p_", long2) {
			t.Fatalf("pg names: %q", n)
		}
	})
}
