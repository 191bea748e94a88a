package rpc

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestCompactJSON: a CompactJSON value is written as it is (no second
// scan), matches what encoding/json writes for the same value, and one that
// was not made by Compact cannot put a newline into the protocol line.
func TestCompactJSON(t *testing.T) {
	c, err := Compact([]byte(" {\"a\" : [1, 2,\n \"x\"] } "))
	if err != nil {
		t.Fatal(err)
	}
	if string(c) != `{"a":[1,2,"x"]}` {
		t.Fatalf("Compact = %s", c)
	}
	if _, err := Compact([]byte(`{"a":`)); err == nil {
		t.Fatal("Compact accepted invalid JSON")
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{name: "compacted", v: map[string]any{"event": c}, want: `{"event":{"a":[1,2,"x"]}}`},
		{name: "converted with a newline", v: map[string]any{"event": CompactJSON("{\"a\":\n1}")}, want: `{"event":{"a":1}}`},
		{name: "empty", v: map[string]any{"event": CompactJSON(nil)}, want: `{"event":null}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := getEncoder(1<<20, nil)
			defer putEncoder(e)
			if err := e.encode(tc.v); err != nil {
				t.Fatal(err)
			}
			if string(e.buf) != tc.want {
				t.Fatalf("encoded %s, want %s", e.buf, tc.want)
			}
			std, _ := json.Marshal(tc.v)
			if string(std) != tc.want {
				t.Fatalf("encoding/json writes %s, this encoder %s", std, tc.want)
			}
		})
	}
	e := getEncoder(100, nil)
	defer putEncoder(e)
	if err := e.encode(CompactJSON(`"` + strings.Repeat("a", 200) + `"`)); !errors.Is(err, errTooLong) {
		t.Fatalf("a CompactJSON past the line limit: %v, want errTooLong", err)
	}
}
