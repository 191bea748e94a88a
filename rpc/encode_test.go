package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

type tagged struct {
	A     string          `json:"a"`
	B     int             `json:"b,omitempty"`
	C     []string        `json:"c"`
	D     json.RawMessage `json:"d,omitempty"`
	Skip  string          `json:"-"`
	Plain float64
	P     *int           `json:"p"`
	M     map[string]any `json:"m,omitempty"`
	T     time.Time      `json:"t"`
	Bytes []byte         `json:"bytes"`
	hide  int
}

type embeds struct {
	tagged
	X int `json:"x"`
}

type numKeys map[int]string

// TestEncodeMatchesEncodingJSON: the bounded encoder writes what
// encoding/json (HTML escaping off) writes, for the shapes host methods
// return and the odd ones it hands to encoding/json.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	seven := 7
	tests := []struct {
		name string
		v    any
	}{
		{name: "nil", v: nil},
		{name: "scalars", v: []any{true, false, 0, -12, uint8(200), 1.5, 1e21, 1e-7, 123456789.0, float32(0.1), 3e-9}},
		{name: "strings", v: []string{"", "plain", "<&>", "quote\" back\\", "\n\r\t\b\f\x00\x1f", "é ü 漢", "\u2028\u2029", "bad \xff utf8", strings.Repeat("a", 5000)}},
		{name: "raw", v: map[string]json.RawMessage{"x": json.RawMessage(` { "a" : [1, 2 , "<b> \" x"] } `), "y": json.RawMessage(`null`), "z": nil}},
		{name: "map sorted", v: map[string]any{"b": 1, "a": []any{map[string]any{"z": nil, "y": "<"}}, "": 2}},
		{name: "nil collections", v: map[string]any{"s": []string(nil), "m": map[string]int(nil), "p": (*int)(nil)}},
		{name: "struct", v: tagged{A: "<a>", C: []string{"x"}, D: json.RawMessage(`{"k":1}`), Skip: "no", Plain: 2, P: &seven, M: map[string]any{"k": "v"}, T: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Bytes: []byte("hi"), hide: 3}},
		{name: "struct empty", v: tagged{}},
		{name: "pointer to struct", v: &tagged{A: "x"}},
		{name: "embedded", v: embeds{tagged: tagged{A: "in"}, X: 1}},
		{name: "int keys", v: numKeys{2: "b", 1: "a"}},
		{name: "number", v: json.Number("12.5e3")},
		{name: "array", v: [3]int{1, 2, 3}},
		{name: "blobs", v: [][]any{{[]byte("\x00\xffblob<>"), []byte{}, []byte(nil)}}},
		{name: "nested any", v: []any{[][]any{{"a", 1.0, nil}}, map[string]any{"rows": [][]any{{int64(1), "x"}}}}},
		{name: "error object", v: outError{"2.0", json.RawMessage(`"id"`), &Error{Code: -32001, Message: "<limit>", Data: json.RawMessage(`{"a":1}`)}}},
		{name: "request", v: outRequest{JSONRPC: "2.0", Method: "m", Params: map[string]any{"k": "v"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(tc.v); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			e := getEncoder(1<<20, nil)
			defer putEncoder(e)
			if err := e.encode(tc.v); err != nil {
				t.Fatalf("encode: %v", err)
			}
			if got := string(e.buf); got != strings.TrimSuffix(want.String(), "\n") {
				t.Errorf("got  %s\nwant %s", got, want.String())
			}
		})
	}
}

// TestEncodeErrors: values encoding/json refuses are refused, and a message
// past the limit fails without being built whole.
func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		max  int
		want error
	}{
		{name: "NaN", v: math.NaN(), max: 1 << 20},
		{name: "channel", v: make(chan int), max: 1 << 20},
		{name: "invalid raw", v: json.RawMessage(`{`), max: 1 << 20},
		{name: "long string", v: strings.Repeat("<", 2<<20), max: 1 << 20, want: errTooLong},
		{name: "escapes past limit", v: strings.Repeat("\x01", 200<<10), max: 1 << 20, want: errTooLong},
		{name: "long blob", v: []any{make([]byte, 1<<20)}, max: 1 << 20, want: errTooLong},
		{name: "long raw", v: json.RawMessage(`"` + strings.Repeat("a", 2<<20) + `"`), max: 1 << 20, want: errTooLong},
		{name: "many small", v: map[string]any{"values": strings.Split(strings.Repeat("abcdefgh,", 200_000), ",")}, max: 1 << 20, want: errTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := getEncoder(tc.max, nil)
			defer putEncoder(e)
			err := e.encode(tc.v)
			if err == nil {
				t.Fatalf("encoded %d bytes, want an error", len(e.buf))
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			// Never more than the limit plus one escaped rune or one small value.
			if len(e.buf) > tc.max+64 || cap(e.buf) > 4*tc.max {
				t.Errorf("built %d bytes (cap %d) for a %d-byte limit", len(e.buf), cap(e.buf), tc.max)
			}
		})
	}
}

// TestMarshalBounded: MarshalBounded gives a Conn's encoding (no HTML
// escaping) and fails with ErrLimit once past its bound, which the engine's
// recorder relies on to encode a host call's answer only up to the room
// its recording has left (attack Q1).
func TestMarshalBounded(t *testing.T) {
	tests := []struct {
		name    string
		v       any
		max     int
		want    string
		wantErr error
	}{
		{name: "fits", v: map[string]any{"v": "<a & b>"}, max: 100, want: `{"v":"<a & b>"}`},
		{name: "exactly fits", v: "<<", max: 4, want: `"<<"`},
		{name: "raw compacted", v: json.RawMessage(`{ "a" : [1, 2] }`), max: 100, want: `{"a":[1,2]}`},
		{name: "past the bound", v: map[string]any{"v": strings.Repeat("<", 1000)}, max: 100, wantErr: ErrLimit},
		{name: "no room", v: nil, max: 0, wantErr: ErrLimit},
		{name: "not encodable", v: math.Inf(1), max: 100, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MarshalBounded(tt.v, tt.max)
			switch {
			case tt.wantErr == errAny && err != nil:
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("MarshalBounded: %q, %v; want %v", got, err, tt.wantErr)
			case tt.wantErr == nil && (err != nil || string(got) != tt.want):
				t.Fatalf("MarshalBounded: %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// errAny stands for any error in TestMarshalBounded.
var errAny = errors.New("any error")
