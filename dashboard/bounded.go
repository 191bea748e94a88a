package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// boundedParser reads a JSON document that json.Valid accepted. It skips
// what it does not keep by scanning bytes, without decoding or allocating:
// json.Decoder's Token took 1.4 s for a 1 MiB answer of numbers.
type boundedParser struct {
	b     []byte
	i     int
	lim   decodeLimits
	nodes int
	str   int
	cut   bool
}

var errSyntax = errors.New("invalid JSON")

// boundedDecode decodes one JSON document within lim. It fails only on
// invalid JSON; every bound is met by leaving values out.
func boundedDecode(raw []byte, lim decodeLimits) (decoded, error) {
	if !json.Valid(raw) {
		return decoded{}, fmt.Errorf("decode answer: %w", errSyntax)
	}
	p := &boundedParser{b: raw, lim: lim}
	v, err := p.value(0)
	if err != nil {
		return decoded{}, fmt.Errorf("decode answer: %w", err)
	}
	return decoded{Value: v, Cut: p.cut}, nil
}

func (p *boundedParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte (0 at the end).
func (p *boundedParser) next() byte {
	p.ws()
	if p.i >= len(p.b) {
		return 0
	}
	return p.b[p.i]
}

// value reads the next value at the given depth.
func (p *boundedParser) value(depth int) (any, error) {
	c := p.next()
	p.nodes++
	if p.nodes > p.lim.Nodes || (depth >= p.lim.Depth && (c == '[' || c == '{')) {
		p.cut = true
		return nil, p.skip()
	}
	switch c {
	case '[':
		p.i++
		a := &jarr{}
		if p.next() == ']' {
			p.i++
			return a, nil
		}
		for {
			a.N++
			if len(a.Elems) >= p.lim.Elems || p.nodes >= p.lim.Nodes {
				p.cut = true
				if err := p.skip(); err != nil {
					return nil, err
				}
			} else {
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				a.Elems = append(a.Elems, v)
			}
			switch p.next() {
			case ',':
				p.i++
			case ']':
				p.i++
				return a, nil
			default:
				return nil, errSyntax
			}
		}
	case '{':
		p.i++
		o := &jobj{}
		if p.next() == '}' {
			p.i++
			return o, nil
		}
		for {
			if p.next() != '"' {
				return nil, errSyntax
			}
			start := p.i
			if err := p.skipString(); err != nil {
				return nil, err
			}
			rawKey := p.b[start:p.i]
			if p.next() != ':' {
				return nil, errSyntax
			}
			p.i++
			o.N++
			// The raw length first, so a huge key is never decoded; the
			// decoded one can be longer (an invalid byte becomes U+FFFD).
			var k string
			keep := len(o.Keys) < p.lim.Keys && p.nodes < p.lim.Nodes && p.str+len(rawKey) <= p.lim.TotalStr
			if keep {
				var err error
				if k, err = unquote(rawKey); err != nil {
					return nil, err
				}
				keep = p.str+len(k) <= p.lim.TotalStr
			}
			if !keep {
				p.cut = true
				if err := p.skip(); err != nil {
					return nil, err
				}
			} else {
				p.str += len(k)
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				o.Keys = append(o.Keys, k)
				o.Vals = append(o.Vals, v)
			}
			switch p.next() {
			case ',':
				p.i++
			case '}':
				p.i++
				return o, nil
			default:
				return nil, errSyntax
			}
		}
	case '"':
		start := p.i
		if err := p.skipString(); err != nil {
			return nil, err
		}
		s, err := unquote(p.b[start:p.i])
		if err != nil {
			return nil, err
		}
		return p.keepString(s), nil
	case 't', 'f', 'n':
		for _, lit := range []struct {
			text string
			v    any
		}{{"true", true}, {"false", false}, {"null", nil}} {
			if bytes.HasPrefix(p.b[p.i:], []byte(lit.text)) {
				p.i += len(lit.text)
				return lit.v, nil
			}
		}
		return nil, errSyntax
	}
	start := p.i
	for p.i < len(p.b) && strings.IndexByte("+-0123456789.eE", p.b[p.i]) >= 0 {
		p.i++
	}
	text := string(p.b[start:p.i])
	f, err := strconv.ParseFloat(text, 64)
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, strconv.ErrRange) && text != "":
		// Out of float64's range (1e999): kept as its text instead of
		// failing the whole answer.
		return p.keepString(text), nil
	}
	return nil, errSyntax
}

// unquote decodes a JSON string literal (quotes included).
func unquote(raw []byte) (string, error) {
	plain := utf8.Valid(raw)
	for _, c := range raw {
		if c == '\\' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errSyntax
	}
	return s, nil
}

// keepString keeps s whole when it fits both string bounds, else a copy of
// its longest fitting prefix (a copy, so the whole string is not held).
func (p *boundedParser) keepString(s string) any {
	room := min(p.lim.StrBytes, p.lim.TotalStr-p.str)
	if len(s) <= room {
		p.str += len(s)
		return s
	}
	p.cut = true
	room = max(room, 0)
	for room > 0 && !utf8.RuneStart(s[room]) {
		room--
	}
	p.str += room
	return &jstr{S: strings.Clone(s[:room])}
}

// skipString moves past the string literal at p.i.
func (p *boundedParser) skipString() error {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return errSyntax
	}
	for p.i++; p.i < len(p.b); p.i++ {
		switch p.b[p.i] {
		case '\\':
			p.i++
		case '"':
			p.i++
			return nil
		}
	}
	return errSyntax
}

// skip moves past the next value without decoding it.
func (p *boundedParser) skip() error {
	switch p.next() {
	case 0:
		return errSyntax
	case '"':
		return p.skipString()
	case '[', '{':
		for depth := 0; p.i < len(p.b); {
			switch p.b[p.i] {
			case '"':
				if err := p.skipString(); err != nil {
					return err
				}
				continue
			case '[', '{':
				depth++
			case ']', '}':
				if depth--; depth == 0 {
					p.i++
					return nil
				}
			}
			p.i++
		}
		return errSyntax
	}
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return nil
		}
		p.i++
	}
	return nil
}
