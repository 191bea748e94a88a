package rpc

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// errTooLong is the encoder's answer once a message passes the line limit.
var errTooLong = errors.New("message passes the line limit")

// encoder writes one message as JSON into buf, failing as soon as buf
// passes max. It replaces json.Marshal on the write path because Marshal
// builds the whole message before its size can be checked (and escapes
// '<', '>' and '&' to six bytes each: a 10 MiB KV result became a 60 MiB
// buffer per response). Its output is encoding/json's, with SetEscapeHTML
// (false): the same field names, omitempty, sorted map keys, numbers and
// string escapes. Values it does not walk itself (json.Marshaler and
// encoding.TextMarshaler implementations other than json.RawMessage,
// embedded struct fields, non-string map keys, []byte, ",string" tags)
// go through encoding/json one value at a time and are size-checked when
// appended; those are small host types (time.Time and the like).
type encoder struct {
	buf []byte
	max int
	// big is called once when the message grows past bigMessage bytes, so
	// the conn can count it against its budget of large messages in flight
	// (Options.ResultBudget); an error from it ends the encoding.
	big    func() error
	bigged bool
}

// bigMessage is the size past which a message being built takes a slot of
// the conn's budget of large messages.
const bigMessage = 64 << 10

var encPool = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 4096)} }}

func getEncoder(max int, big func() error) *encoder {
	e := encPool.Get().(*encoder)
	e.buf, e.max, e.big, e.bigged = e.buf[:0], max, big, false
	return e
}

// MarshalBounded encodes v as a Conn writes it (encoding/json's output
// without HTML escaping), failing with ErrLimit as soon as the encoding
// passes max bytes: a value too big costs at most max bytes to find out,
// where json.Marshal would build all of it (six bytes per '<').
func MarshalBounded(v any, max int) ([]byte, error) {
	e := getEncoder(max, nil)
	defer putEncoder(e)
	if err := e.encode(v); err != nil {
		if errors.Is(err, errTooLong) {
			return nil, fmt.Errorf("encode: %w: over %d bytes", ErrLimit, max)
		}
		return nil, fmt.Errorf("encode: %w", err)
	}
	return bytes.Clone(e.buf), nil
}

func putEncoder(e *encoder) {
	if cap(e.buf) > bigMessage {
		return // a large buffer is not kept for the next small message
	}
	e.big = nil
	encPool.Put(e)
}

// check fails once the message passes the limit, and reports a large one.
func (e *encoder) check() error {
	if len(e.buf) > e.max {
		return errTooLong
	}
	if !e.bigged && len(e.buf) > bigMessage && e.big != nil {
		e.bigged = true
		return e.big()
	}
	return nil
}

var (
	rawType           = reflect.TypeFor[json.RawMessage]()
	compactType       = reflect.TypeFor[CompactJSON]()
	numberType        = reflect.TypeFor[json.Number]()
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	byteType          = reflect.TypeFor[byte]()
)

// bytes appends b as encoding/json does ([]byte is a base64 string),
// failing before encoding if it cannot fit.
func (e *encoder) bytes(b []byte) error {
	n := base64.StdEncoding.EncodedLen(len(b))
	if len(e.buf)+n+2 > e.max {
		return errTooLong
	}
	e.buf = append(e.buf, '"')
	e.buf = base64.StdEncoding.AppendEncode(e.buf, b)
	e.buf = append(e.buf, '"')
	return e.check()
}

func (e *encoder) encode(v any) error {
	return e.value(reflect.ValueOf(v))
}

func (e *encoder) value(v reflect.Value) error {
	if !v.IsValid() {
		e.buf = append(e.buf, "null"...)
		return e.check()
	}
	t := v.Type()
	switch {
	case t == rawType:
		return e.raw(v.Bytes())
	case t == compactType:
		return e.compactValue(v.Bytes())
	case t == numberType:
		return e.fallback(v)
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(t.Implements(marshalerType) || t.Implements(textMarshalerType) ||
			reflect.PointerTo(t).Implements(marshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)):
		return e.fallback(v)
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return e.check()
		}
		if t.Kind() == reflect.Pointer && (t.Implements(marshalerType) || t.Implements(textMarshalerType)) {
			return e.fallback(v)
		}
		return e.value(v.Elem())
	case reflect.Bool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return e.float(v.Float(), t.Bits())
	case reflect.String:
		return e.str(v.String())
	case reflect.Map:
		return e.mapValue(v)
	case reflect.Slice:
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return e.check()
		}
		fallthrough
	case reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem() == byteType {
			return e.bytes(v.Bytes()) // a BLOB of a query: base64, checked before it is built
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return e.fallback(v) // numbers ([N]byte) or named bytes: encoding/json's rules
		}
		e.buf = append(e.buf, '[')
		for i := range v.Len() {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case reflect.Struct:
		return e.structValue(v)
	default:
		return fmt.Errorf("json: unsupported type: %s", t)
	}
	return e.check()
}

func (e *encoder) float(f float64, bits int) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, bits))
	}
	// encoding/json's format: ES6 number-to-string, 'e' for tiny and huge.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	e.buf = strconv.AppendFloat(e.buf, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(e.buf)
		if n >= 4 && e.buf[n-4] == 'e' && e.buf[n-3] == '-' && e.buf[n-2] == '0' {
			e.buf[n-2] = e.buf[n-1]
			e.buf = e.buf[:n-1]
		}
	}
	return e.check()
}

const hexDigits = "0123456789abcdef"

// str appends s quoted as encoding/json does without HTML escaping,
// checking the limit as it goes: a string is never copied whole past it.
func (e *encoder) str(s string) error {
	if len(e.buf)+len(s)+2 > e.max {
		return errTooLong // escaping only lengthens
	}
	e.buf = append(e.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if len(e.buf)+(i-start) > e.max {
			return errTooLong
		}
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			e.buf = append(e.buf, s[start:i]...)
			switch c {
			case '\\', '"':
				e.buf = append(e.buf, '\\', c)
			case '\b':
				e.buf = append(e.buf, '\\', 'b')
			case '\f':
				e.buf = append(e.buf, '\\', 'f')
			case '\n':
				e.buf = append(e.buf, '\\', 'n')
			case '\r':
				e.buf = append(e.buf, '\\', 'r')
			case '\t':
				e.buf = append(e.buf, '\\', 't')
			default:
				e.buf = append(e.buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			e.buf = append(e.buf, s[start:i]...)
			e.buf = append(e.buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are escaped as encoding/json always does.
		if r == '\u2028' || r == '\u2029' {
			e.buf = append(e.buf, s[start:i]...)
			e.buf = append(e.buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	e.buf = append(e.buf, s[start:]...)
	e.buf = append(e.buf, '"')
	return e.check()
}

// raw appends a json.RawMessage compacted (as encoding/json does), which
// also keeps newlines out of the line; invalid JSON is an error.
func (e *encoder) raw(b []byte) error {
	if len(b) == 0 {
		e.buf = append(e.buf, "null"...)
		return e.check()
	}
	if len(e.buf)+len(b) <= e.max {
		// It fits whatever its spaces: compact (and validate) in one pass
		// of encoding/json's own code.
		buf := bytes.NewBuffer(e.buf)
		if err := json.Compact(buf, b); err != nil {
			return fmt.Errorf("json: invalid json.RawMessage: %w", err)
		}
		e.buf = buf.Bytes()
		return e.check()
	}
	// Compact first, stopping at the limit, and validate after: a huge
	// value fails at the limit without being scanned whole.
	inStr, esc := false, false
	for _, c := range b {
		if len(e.buf) > e.max {
			return errTooLong
		}
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		e.buf = append(e.buf, c)
	}
	if !json.Valid(b) {
		return errors.New("json: invalid json.RawMessage")
	}
	return e.check()
}

func (e *encoder) mapValue(v reflect.Value) error {
	if v.IsNil() {
		e.buf = append(e.buf, "null"...)
		return e.check()
	}
	kt := v.Type().Key()
	if kt.Kind() != reflect.String || kt.Implements(textMarshalerType) {
		return e.fallback(v)
	}
	keys := v.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.str(k.String()); err != nil {
			return err
		}
		e.buf = append(e.buf, ':')
		if err := e.value(v.MapIndex(k)); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return e.check()
}

// field is one encoded struct field.
type field struct {
	index     int
	name      string
	omitEmpty bool
}

// fieldCache maps a struct type to its fields, or to nil when encoding/json
// should encode it (embedded fields, ",string", omitzero).
var fieldCache sync.Map // reflect.Type → []field (nil: fallback)

func structFields(t reflect.Type) ([]field, bool) {
	if f, ok := fieldCache.Load(t); ok {
		fs := f.([]field)
		return fs, fs != nil
	}
	fs := []field{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			fs = nil
			break
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "string") || strings.Contains(opts, "omitzero") || !validTagName(name) {
			fs = nil
			break
		}
		if name == "" {
			name = sf.Name
		}
		fs = append(fs, field{index: i, name: name, omitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
	}
	fieldCache.Store(t, fs)
	return fs, fs != nil
}

// validTagName accepts the plain names maid's types use; anything unusual
// goes to encoding/json, which knows its rules.
func validTagName(s string) bool {
	for _, c := range s {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

func (e *encoder) structValue(v reflect.Value) error {
	fs, ok := structFields(v.Type())
	if !ok {
		return e.fallback(v)
	}
	e.buf = append(e.buf, '{')
	first := true
	for _, f := range fs {
		fv := v.Field(f.index)
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		if err := e.str(f.name); err != nil {
			return err
		}
		e.buf = append(e.buf, ':')
		if err := e.value(fv); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return e.check()
}

// fallback encodes one value with encoding/json (HTML escaping off) and
// appends it. Only values this encoder does not walk come here.
func (e *encoder) fallback(v reflect.Value) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v.Interface()); err != nil {
		return err
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if len(e.buf)+len(out) > e.max {
		return errTooLong
	}
	e.buf = append(e.buf, out...)
	return e.check()
}
