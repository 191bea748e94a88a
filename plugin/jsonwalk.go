package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The manifests are decoded by walking the JSON by hand rather than with
// json.Unmarshal into structs: that way every problem (wrong type, unknown
// or duplicate key, missing field) is reported at once with its path, where
// the decoder would stop at the first.

// walker decodes JSON values at paths, collecting problems.
type walker struct {
	ps *problems
}

// object is a decoded JSON object whose keys are checked off as they are read.
type object struct {
	w    *walker
	path string
	keys []string // in document order
	vals map[string]json.RawMessage
	used map[string]bool
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// kind names the JSON type of raw for messages.
func kind(raw json.RawMessage) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// openDocument parses a manifest file's data, at most MaxManifestBytes,
// as its top-level object; problems go to ps.
func openDocument(ps *problems, data []byte) (*walker, *object, bool) {
	if len(data) > MaxManifestBytes {
		ps.add("", "is %d bytes, more than the %d byte limit", len(data), MaxManifestBytes)
		return nil, nil, false
	}
	w := &walker{ps: ps}
	o, ok := w.parseDocument(data)
	return w, o, ok
}

// parseDocument checks that data is one JSON object and returns it. Syntax
// errors are reported with line and column.
func (w *walker) parseDocument(data []byte) (*object, bool) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // editors on Windows add a BOM
	if !utf8.Valid(data) {
		w.ps.add("", "is not valid UTF-8")
		return nil, false
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		var se *json.SyntaxError
		if ok := asSyntax(err, &se); ok {
			// Offset counts the offending byte; at the end of input there is none.
			off := se.Offset - 1
			if strings.HasPrefix(se.Error(), "unexpected end") {
				off = se.Offset
			}
			line, col := lineCol(data, off)
			w.ps.add("", "invalid JSON at line %d, column %d: %s", line, col, se.Error())
		} else {
			w.ps.add("", "invalid JSON: %v", err)
		}
		return nil, false
	}
	return w.object("", data)
}

func asSyntax(err error, se **json.SyntaxError) bool {
	s, ok := err.(*json.SyntaxError)
	if ok {
		*se = s
	}
	return ok
}

// lineCol turns a byte offset into a 1-based line and column (in characters).
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

// object decodes raw as a JSON object, reporting duplicate keys (which the
// standard decoder silently merges: the first value would be lost unseen).
func (w *walker) object(path string, raw json.RawMessage) (*object, bool) {
	if k := kind(raw); k != "object" {
		w.ps.add(path, "must be an object, got %s", k)
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		w.ps.add(path, "invalid JSON object: %v", err)
		return nil, false
	}
	o := &object{w: w, path: path, vals: map[string]json.RawMessage{}, used: map[string]bool{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			w.ps.add(path, "invalid JSON object: %v", err)
			return nil, false
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			w.ps.add(path, "invalid JSON object: %v", err)
			return nil, false
		}
		if _, dup := o.vals[key]; dup {
			w.ps.add(joinPath(path, key), "key appears more than once")
			continue
		}
		o.keys = append(o.keys, key)
		o.vals[key] = v
	}
	return o, true
}

// objects walks the elements of the array at path as objects, reporting
// (and skipping) each element that is not one; it yields an object's index.
func (w *walker) objects(path string, elems []json.RawMessage) iter.Seq2[int, *object] {
	return func(yield func(int, *object) bool) {
		for i, raw := range elems {
			if o, ok := w.object(indexPath(path, i), raw); ok && !yield(i, o) {
				return
			}
		}
	}
}

// get returns the value of key and marks key as known. A JSON null counts as
// present (and then fails the type check): null is never a valid value here.
func (o *object) get(key string) (json.RawMessage, bool) {
	o.used[key] = true
	v, ok := o.vals[key]
	return v, ok
}

// has reports whether key is present, without marking it.
func (o *object) has(key string) bool {
	_, ok := o.vals[key]
	return ok
}

// field returns key's value and path, reporting it if required and missing.
func (o *object) field(key string, required bool) (json.RawMessage, string, bool) {
	raw, ok := o.get(key)
	path := joinPath(o.path, key)
	if !ok && required {
		o.w.ps.add(path, "is required")
	}
	return raw, path, ok
}

// str reads a string field. Missing required fields are reported.
func (o *object) str(key string, required bool) (string, bool) {
	raw, path, ok := o.field(key, required)
	if !ok {
		return "", false
	}
	return o.w.str(path, raw)
}

// text reads a required string that must not be blank, which is reported;
// a blank one is still returned, with true, as str would.
func (o *object) text(key string) (string, bool) {
	v, ok := o.str(key, true)
	if ok && strings.TrimSpace(v) == "" {
		o.w.ps.add(joinPath(o.path, key), "must not be empty")
	}
	return v, ok
}

// enum reads the required string key, which must be one of allowed. It
// returns the value read ("" if none) and, if allowed, the value again
// (else ""), so a caller can tell a known type from a reported one.
func (o *object) enum(key string, allowed []string) (v, known string) {
	v, ok := o.str(key, true)
	switch {
	case !ok:
	case slices.Contains(allowed, v):
		known = v
	default:
		o.w.ps.add(joinPath(o.path, key), "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	}
	return v, known
}

// uniqueKey reads the required string key of element i of list: a value
// that check accepts (checkID, checkCommandName) must not repeat an
// earlier element's, which rule reports as firstUse.claim does.
func (o *object) uniqueKey(key string, check func(ps *problems, path, v string) bool, seen firstUse, rule string, i int, list string) (string, bool) {
	v, ok := o.str(key, true)
	if ok {
		path := joinPath(o.path, key)
		if check(o.w.ps, path, v) {
			seen.claim(o.w.ps, path, rule, v, i, list)
		}
	}
	return v, ok
}

func (w *walker) str(path string, raw json.RawMessage) (string, bool) {
	if k := kind(raw); k != "string" {
		w.ps.add(path, "must be a string, got %s", k)
		return "", false
	}
	// Fast path: the document is already known to be valid JSON and UTF-8,
	// so a string without escapes is its bytes between the quotes.
	if t := bytes.TrimSpace(raw); bytes.IndexByte(t, '\\') < 0 && len(t) >= 2 {
		return string(t[1 : len(t)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		w.ps.add(path, "invalid string: %v", err)
		return "", false
	}
	return s, true
}

// boolean reads a bool field.
func (o *object) boolean(key string, required bool) (bool, bool) {
	raw, path, ok := o.field(key, required)
	if !ok {
		return false, false
	}
	if k := kind(raw); k != "boolean" {
		o.w.ps.add(path, "must be a boolean (true or false), got %s", k)
		return false, false
	}
	return bytes.HasPrefix(bytes.TrimSpace(raw), []byte("true")), true
}

// number reads a finite JSON number.
func (o *object) number(key string) (*float64, bool) {
	raw, ok := o.get(key)
	if !ok {
		return nil, false
	}
	f, ok := o.w.number(joinPath(o.path, key), raw)
	if !ok {
		return nil, false
	}
	return &f, true
}

func (w *walker) number(path string, raw json.RawMessage) (float64, bool) {
	if k := kind(raw); k != "number" {
		w.ps.add(path, "must be a number, got %s", k)
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		w.ps.add(path, "number %s is out of range", bytes.TrimSpace(raw))
		return 0, false
	}
	return f, true
}

// integer reads a whole number in [lo, hi].
func (o *object) integer(key string, lo, hi int64) (int64, bool) {
	raw, ok := o.get(key)
	if !ok {
		return 0, false
	}
	path := joinPath(o.path, key)
	if k := kind(raw); k != "number" {
		o.w.ps.add(path, "must be a whole number, got %s", k)
		return 0, false
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		o.w.ps.add(path, "must be a whole number between %d and %d, got %s", lo, hi, bytes.TrimSpace(raw))
		return 0, false
	}
	if n < lo || n > hi {
		o.w.ps.add(path, "must be between %d and %d, got %d", lo, hi, n)
		return 0, false
	}
	return n, true
}

// array reads an array field and returns its elements.
func (o *object) array(key string, required bool) ([]json.RawMessage, bool) {
	raw, path, ok := o.field(key, required)
	if !ok {
		return nil, false
	}
	return o.w.array(path, raw)
}

func (w *walker) array(path string, raw json.RawMessage) ([]json.RawMessage, bool) {
	if k := kind(raw); k != "array" {
		w.ps.add(path, "must be an array, got %s", k)
		return nil, false
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		w.ps.add(path, "invalid array: %v", err)
		return nil, false
	}
	return elems, true
}

// child reads a nested object field.
func (o *object) child(key string, required bool) (*object, bool) {
	raw, path, ok := o.field(key, required)
	if !ok {
		return nil, false
	}
	return o.w.object(path, raw)
}

// done reports every key that no reader asked for, with a suggestion when
// one of the allowed keys is close: typos must not pass silently.
func (o *object) done(allowed ...string) {
	for _, k := range o.keys {
		if o.used[k] {
			continue
		}
		if o.w.ps.full() { // skip the suggestion work; the line is not shown
			o.w.ps.dropped++
			continue
		}
		msg := "unknown key"
		if s := suggest(k, allowed); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(allowed) > 0 {
			msg += " (allowed: " + strings.Join(allowed, ", ") + ")"
		}
		o.w.ps.add(joinPath(o.path, quoteKey(k)), "%s", msg)
	}
}

// quoteKey keeps odd keys readable inside a path.
func quoteKey(k string) string {
	for _, r := range k {
		if !(r == '_' || r == '-' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

// suggest returns the allowed key closest to k, if it is close enough to be
// a typo.
func suggest(k string, allowed []string) string {
	if len(k) > 64 {
		return ""
	}
	best, bestD := "", 3
	for _, a := range allowed {
		if strings.EqualFold(a, k) {
			return a
		}
		if d := distance(strings.ToLower(k), a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b (by bytes; keys are ASCII).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
