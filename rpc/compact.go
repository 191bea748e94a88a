package rpc

import (
	"bytes"
	"encoding/json"
)

// CompactJSON is JSON already validated and compacted (Compact's output).
// The encoder appends it as it is, where a json.RawMessage is scanned and
// compacted again in every message that carries it: an event payload
// checked once on arrival is then copied, not re-parsed, into the call of
// each plugin it goes to.
type CompactJSON []byte

// MarshalJSON returns c (for encoding/json, outside this encoder).
func (c CompactJSON) MarshalJSON() ([]byte, error) {
	if len(c) == 0 {
		return []byte("null"), nil
	}
	return c, nil
}

// Compact validates b and returns it compacted.
func Compact(b []byte) (CompactJSON, error) {
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return CompactJSON(buf.Bytes()), nil
}

// compactValue appends c. A value not made by Compact (a conversion from
// arbitrary bytes) could hold a newline that would end the protocol line:
// one memchr (far cheaper than a scan) sends those through raw instead.
func (e *encoder) compactValue(c []byte) error {
	if len(c) == 0 || bytes.IndexByte(c, '\n') >= 0 || bytes.IndexByte(c, '\r') >= 0 {
		return e.raw(c)
	}
	if len(e.buf)+len(c) > e.max {
		return errTooLong
	}
	e.buf = append(e.buf, c...)
	return e.check()
}
