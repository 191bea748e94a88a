package dashboard

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// plain turns a bounded tree back into encoding/json's shapes.
func plain(v any) any {
	switch x := v.(type) {
	case *jarr:
		out := make([]any, 0, len(x.Elems))
		for _, e := range x.Elems {
			out = append(out, plain(e))
		}
		return out
	case *jobj:
		out := map[string]any{}
		for i, k := range x.Keys {
			out[k] = plain(x.Vals[i])
		}
		return out
	case *jstr:
		return x.S
	}
	return v
}

var roomy = decodeLimits{Depth: 64, Elems: 1 << 20, Keys: 1 << 20, Nodes: 1 << 20, StrBytes: 1 << 20, TotalStr: 1 << 24}

// FuzzBoundedDecode: with room for everything, the bounded decoder reads
// any JSON document exactly as encoding/json does, and with tight bounds
// it never keeps more than they allow.
func FuzzBoundedDecode(f *testing.F) {
	for _, s := range []string{
		`{"a": [1, 2.5e3, -0, true, false, null], "b": {"c": "d"}}`,
		` [ "\u00e9\ud83d\ude00\n\t\"\\\/", "é", "\u0000" ] `,
		`{"dup": 1, "dup": 2}`, `"x"`, `123`, `[]`, `{}`, `[[[[[[]]]]]]`,
		`{"k": "` + strings.Repeat("y", 300) + `"}`, "\"\xff\xfe\"", `[1e308, 1e-320]`,
		`{"a":{"b":{"c":{"d":[{"e":[1,[2,[3]]]}]}}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var want any
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			if _, err := boundedDecode([]byte(raw), roomy); err == nil && !json.Valid([]byte(raw)) {
				t.Fatalf("accepted invalid JSON %q", raw)
			}
			return
		}
		got, err := boundedDecode([]byte(raw), roomy)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if p := plain(got.Value); !reflect.DeepEqual(p, want) {
			t.Fatalf("%q: got %#v, want %#v", raw, p, want)
		}
		tight := decodeLimits{Depth: 2, Elems: 2, Keys: 2, Nodes: 5, StrBytes: 4, TotalStr: 8}
		small, err := boundedDecode([]byte(raw), tight)
		if err != nil {
			t.Fatalf("%q tight: %v", raw, err)
		}
		nodes, strs := 0, 0
		var walk func(v any, depth int)
		walk = func(v any, depth int) {
			nodes++
			switch x := v.(type) {
			case *jarr:
				if len(x.Elems) > tight.Elems || depth >= tight.Depth {
					t.Fatalf("%q: array of %d at depth %d kept", raw, len(x.Elems), depth)
				}
				for _, e := range x.Elems {
					walk(e, depth+1)
				}
			case *jobj:
				if len(x.Keys) > tight.Keys || depth >= tight.Depth {
					t.Fatalf("%q: object of %d at depth %d kept", raw, len(x.Keys), depth)
				}
				for i, k := range x.Keys {
					strs += len(k)
					walk(x.Vals[i], depth+1)
				}
			case string:
				strs += len(x)
			case *jstr:
				strs += len(x.S)
			}
		}
		walk(small.Value, 0)
		if nodes > tight.Nodes || strs > tight.TotalStr {
			t.Fatalf("%q: kept %d values and %d string bytes", raw, nodes, strs)
		}
	})
}
