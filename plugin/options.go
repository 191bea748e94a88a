package plugin

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of the option values a server manager sets (spec 004 sets none).
// Every call to the plugin carries its options, and the dashboard shows
// them on each view, so unbounded values would cost memory on each and,
// past the protocol's line limit, fail every call of the plugin on that
// server.
const (
	// MaxOptionStringLen bounds a string option's value, in characters
	// (Discord's longest text, an embed description, is 4,096).
	MaxOptionStringLen = 4096
	// MaxOptionsBytes bounds the JSON of all the values one server sets
	// for one plugin.
	MaxOptionsBytes = 64 << 10
)

// DefaultOptions returns every option's default value: bool, string (string
// and select) or float64 (number). Options whose default does not decode are
// left out (a parsed manifest has none).
func (m *Manifest) DefaultOptions() map[string]any {
	out := make(map[string]any, len(m.Options))
	for _, o := range m.Options {
		if v, ok := decodeValue(o, o.Default); ok {
			out[o.ID] = v
		}
	}
	return out
}

// ResolveOptions checks one server's stored option values against the
// schema and fills in defaults for the rest. A stored JSON null means "not
// set". Values must match the option's type; a select value must be one of
// its choice ids; a number must be within min and max where they are set
// (spec 004 does not check the manifest's own min/max/default, but user
// input is held to them). Unknown option ids are errors. All problems are
// returned at once as a *ValidationError for file "options", paths being
// option ids. A string value is at most MaxOptionStringLen characters and
// all values together at most MaxOptionsBytes of JSON.
func (m *Manifest) ResolveOptions(stored map[string]json.RawMessage) (map[string]any, error) {
	ps := &problems{}
	total, largest := 0, ""
	for id, raw := range stored {
		total += len(id) + len(raw)
		if largest == "" || len(raw) > len(stored[largest]) || len(raw) == len(stored[largest]) && id < largest {
			largest = id
		}
	}
	if total > MaxOptionsBytes {
		// Decode nothing; the problem is named at the largest value, which
		// is where a form shows it.
		ps.add(quoteKey(largest), "the option values take %d bytes in all, more than the %d byte limit (this one %d)", total, MaxOptionsBytes, len(stored[largest]))
		return nil, ps.err("options")
	}
	out := m.DefaultOptions()
	known := make(map[string]bool, len(m.Options))
	for _, o := range m.Options {
		known[o.ID] = true
		raw, ok := stored[o.ID]
		if !ok || kind(raw) == "null" {
			continue
		}
		if v, ok := checkValue(ps, o, raw); ok {
			out[o.ID] = v
		}
	}
	var unknown []string
	for id := range stored {
		if !known[id] {
			unknown = append(unknown, id)
		}
	}
	slices.Sort(unknown)
	for _, id := range unknown {
		ps.add(quoteKey(id), "unknown option")
	}
	if err := ps.err("options"); err != nil {
		return nil, err
	}
	return out, nil
}

// checkValue validates a user-supplied value for o.
func checkValue(ps *problems, o Option, raw json.RawMessage) (any, bool) {
	k := kind(raw)
	want := map[string]string{OptionBool: "boolean", OptionString: "string", OptionNumber: "number", OptionSelect: "string"}[o.Type]
	if want == "" {
		ps.add(quoteKey(o.ID), "option has unknown type %q", o.Type)
		return nil, false
	}
	if k != want {
		ps.add(quoteKey(o.ID), "must be a %s, got %s", want, k)
		return nil, false
	}
	v, ok := decodeValue(o, raw)
	if !ok {
		ps.add(quoteKey(o.ID), "invalid %s value", want)
		return nil, false
	}
	switch o.Type {
	case OptionNumber:
		f := v.(float64)
		if o.Min != nil && f < *o.Min {
			ps.add(quoteKey(o.ID), "must be at least %s, got %s", fmtNum(*o.Min), fmtNum(f))
			return nil, false
		}
		if o.Max != nil && f > *o.Max {
			ps.add(quoteKey(o.ID), "must be at most %s, got %s", fmtNum(*o.Max), fmtNum(f))
			return nil, false
		}
	case OptionString:
		if n := utf8.RuneCountInString(v.(string)); n > MaxOptionStringLen {
			ps.add(quoteKey(o.ID), "must be at most %d characters, got %d", MaxOptionStringLen, n)
			return nil, false
		}
	case OptionSelect:
		s := v.(string)
		ids := make([]string, 0, len(o.Choices))
		for _, c := range o.Choices {
			if c.ID == s {
				return s, true
			}
			ids = append(ids, c.ID)
		}
		ps.add(quoteKey(o.ID), "%q is not one of the choices (%s)", s, strings.Join(ids, ", "))
		return nil, false
	}
	return v, true
}

// decodeValue decodes raw as the Go value of o's type.
func decodeValue(o Option, raw json.RawMessage) (any, bool) {
	var err error
	var v any
	switch o.Type {
	case OptionBool:
		var b bool
		err = json.Unmarshal(raw, &b)
		v = b
	case OptionString, OptionSelect:
		var s string
		err = json.Unmarshal(raw, &s)
		v = s
	case OptionNumber:
		var f float64
		err = json.Unmarshal(raw, &f)
		v = f
	default:
		return nil, false
	}
	return v, err == nil && len(raw) > 0
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
