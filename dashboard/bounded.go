package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A handler's answer is at most one protocol line (1 MiB), but decoding it
// whole into Go values multiplies it: every `{}` becomes a map of a few
// hundred bytes, every number a boxed float. Widgets therefore decode the
// answer with boundedDecode, which streams it and keeps only what a widget
// can show: a bounded number of values, elements per array, members per
// object and string bytes, and a bounded depth. Whatever is left out is
// counted, so the widget can say what it did not show.

// decodeLimits bound what an answer may become in memory.
type decodeLimits struct {
	Depth    int // containers nested deeper are kept as null
	Elems    int // elements kept per array
	Keys     int // members kept per object
	Nodes    int // values kept in all
	StrBytes int // bytes kept per string
	TotalStr int // string bytes kept in all (keys and values)
}

// answerLimits holds the largest of every widget's render caps (below), so
// decoding never drops what a widget could show. Worst case: 10,000 values
// (~40 bytes each) and 256 KiB of strings, about 1 MiB.
var answerLimits = decodeLimits{Depth: 16, Elems: 2000, Keys: 64, Nodes: 10000, StrBytes: 64 << 10, TotalStr: 256 << 10}

// jarr is a JSON array of which the first len(Elems) of N elements were kept.
type jarr struct {
	Elems []any
	N     int
}

// jobj is a JSON object in document order, of which the first len(Keys) of
// N members were kept.
type jobj struct {
	Keys []string
	Vals []any
	N    int
}

// get returns the value of key k (the last one if k repeats, as
// encoding/json does).
func (o *jobj) get(k string) (any, bool) {
	if o == nil {
		return nil, false
	}
	for i := len(o.Keys) - 1; i >= 0; i-- {
		if o.Keys[i] == k {
			return o.Vals[i], true
		}
	}
	return nil, false
}

// jstr is a string that was cut to the per-string or total byte bound; S
// holds its kept prefix (valid UTF-8).
type jstr struct{ S string }

// decoded is a bounded answer: Value is nil, bool, float64, string, *jstr,
// *jarr or *jobj. Cut reports that something was left out anywhere.
type decoded struct {
	Value any
	Cut   bool
}

type boundedDecoder struct {
	dec   *json.Decoder
	lim   decodeLimits
	nodes int
	str   int
	cut   bool
}

// boundedDecode decodes one JSON document within lim. It fails only on
// invalid JSON or trailing data; every bound is met by leaving values out.
func boundedDecode(raw []byte, lim decodeLimits) (decoded, error) {
	d := &boundedDecoder{dec: json.NewDecoder(bytes.NewReader(raw)), lim: lim}
	// Numbers as text first: one out of float64's range (1e999) is kept as
	// its text instead of failing the whole answer.
	d.dec.UseNumber()
	v, err := d.value(0)
	if err != nil {
		return decoded{}, fmt.Errorf("decode answer: %w", err)
	}
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		return decoded{}, fmt.Errorf("decode answer: data after the JSON value")
	}
	return decoded{Value: v, Cut: d.cut}, nil
}

// value reads the next value at the given depth.
func (d *boundedDecoder) value(depth int) (any, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, err
	}
	d.nodes++
	if d.nodes > d.lim.Nodes || (depth >= d.lim.Depth && isOpen(tok)) {
		d.cut = true
		return nil, d.skipRest(tok)
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			a := &jarr{}
			for d.dec.More() {
				a.N++
				if len(a.Elems) >= d.lim.Elems || d.nodes >= d.lim.Nodes {
					d.cut = true
					if err := d.skip(); err != nil {
						return nil, err
					}
					continue
				}
				v, err := d.value(depth + 1)
				if err != nil {
					return nil, err
				}
				a.Elems = append(a.Elems, v)
			}
			_, err := d.dec.Token() // ']'
			return a, err
		}
		o := &jobj{}
		for d.dec.More() {
			kt, err := d.dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			o.N++
			if len(o.Keys) >= d.lim.Keys || d.nodes >= d.lim.Nodes || d.str+len(k) > d.lim.TotalStr {
				d.cut = true
				if err := d.skip(); err != nil {
					return nil, err
				}
				continue
			}
			d.str += len(k)
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			o.Keys = append(o.Keys, k)
			o.Vals = append(o.Vals, v)
		}
		_, err := d.dec.Token() // '}'
		return o, err
	case string:
		return d.keepString(t), nil
	case json.Number:
		if f, err := strconv.ParseFloat(string(t), 64); err == nil {
			return f, nil
		}
		return d.keepString(string(t)), nil
	}
	return tok, nil // nil, bool, float64
}

// keepString keeps s whole when it fits both string bounds, else a copy of
// its longest fitting prefix (a copy, so the decoder's buffer is not held).
func (d *boundedDecoder) keepString(s string) any {
	room := min(d.lim.StrBytes, d.lim.TotalStr-d.str)
	if len(s) <= room {
		d.str += len(s)
		return s
	}
	d.cut = true
	room = max(room, 0)
	for room > 0 && !utf8.RuneStart(s[room]) {
		room--
	}
	d.str += room
	return &jstr{S: strings.Clone(s[:room])}
}

func isOpen(tok json.Token) bool {
	dl, ok := tok.(json.Delim)
	return ok && (dl == '[' || dl == '{')
}

// skip reads and drops the next value.
func (d *boundedDecoder) skip() error {
	tok, err := d.dec.Token()
	if err != nil {
		return err
	}
	return d.skipRest(tok)
}

// skipRest drops the rest of a value whose first token was tok.
func (d *boundedDecoder) skipRest(tok json.Token) error {
	if !isOpen(tok) {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := d.dec.Token()
		if err != nil {
			return err
		}
		if dl, ok := t.(json.Delim); ok {
			if dl == '[' || dl == '{' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}
