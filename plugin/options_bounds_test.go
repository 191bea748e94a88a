package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestOptionValueBounds (browser attack, finding 2): the values a server
// manager sets are bounded — a string option to MaxOptionStringLen
// characters, all of one plugin's values on one server to MaxOptionsBytes
// of JSON — and the error names the option. (30 MB in one string option
// made every call of the plugin on that server fail, and each page view
// cost memory.)
func TestOptionValueBounds(t *testing.T) {
	m := spec004(t)
	for i := range 20 {
		m.Options = append(m.Options, Option{ID: fmt.Sprintf("s%02d", i), Name: "S", Type: OptionString, Default: json.RawMessage(`""`)})
	}
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	many := map[string]json.RawMessage{}
	for i := range 20 {
		many[fmt.Sprintf("s%02d", i)] = str(strings.Repeat("x", 4000-i))
	}
	for _, tt := range []struct {
		name   string
		stored map[string]json.RawMessage
		errs   []string // nil: accepted
	}{
		{"at the limit, in characters not bytes", map[string]json.RawMessage{"my_textbox": str(strings.Repeat("é", MaxOptionStringLen))}, nil},
		{"one character over", map[string]json.RawMessage{"my_textbox": str(strings.Repeat("x", MaxOptionStringLen+1))},
			[]string{"options: my_textbox: must be at most 4096 characters, got 4097"}},
		{"30 MB in one option", map[string]json.RawMessage{"my_textbox": str(strings.Repeat("x", 30<<20))},
			[]string{fmt.Sprintf("options: my_textbox: the option values take %d bytes in all, more than the 65536 byte limit (this one %d)", len("my_textbox")+30<<20+2, 30<<20+2)}},
		{"many options each under the limit", many,
			[]string{fmt.Sprintf("options: s00: the option values take %d bytes in all, more than the 65536 byte limit (this one 4002)", 20*(3+4002)-190)}},
		{"an unknown option's size counts too", map[string]json.RawMessage{"zz": str(strings.Repeat("x", 70000))},
			[]string{fmt.Sprintf("options: zz: the option values take %d bytes in all, more than the 65536 byte limit (this one 70002)", 70004)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.ResolveOptions(tt.stored)
			if tt.errs == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("want %q, got %v", tt.errs, err)
			}
			if lines := Lines(err); !slices.Equal(lines, tt.errs) {
				t.Errorf("errors:\n got %q\nwant %q", lines, tt.errs)
			}
		})
	}
}
