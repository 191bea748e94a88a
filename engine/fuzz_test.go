package engine_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/maidhq/maid/engine"
)

// FuzzDecodeEvent: any bytes decode to a valid event or a clear
// ErrInvalid; a decoded event is one Dispatch accepts and survives a JSON
// round trip unchanged.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"message_create","discord_srv_id":"1","data":{"content":"hi"}}`,
		`{"type":"guild_member_add","data":{}}`,
		`{"type":"message_create","data":null}`,
		`{"type":"MESSAGE_CREATE"}`,
		`{"type":"x","discord_srv_id":"../../etc","data":{}}`,
		`{"type":"x","data":[1]}`,
		`{"type":"x","extra":1}`,
		`{"type":"x"} {"type":"y"}`,
		`{"type":"x","data": {"a":"\u0000"}}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s), "1")
	}
	f.Fuzz(func(t *testing.T, data []byte, def string) {
		ev, err := engine.DecodeEvent(data, def)
		if err != nil {
			if !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if len(ev.Data) > 0 && (!json.Valid(ev.Data) || ev.Data[0] != '{') {
			t.Fatalf("decoded data is not a JSON object: %q", ev.Data)
		}
		line, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", ev, err)
		}
		again, err := engine.DecodeEvent(line, "")
		if err != nil {
			t.Fatalf("round trip of %s: %v", line, err)
		}
		if again.Type != ev.Type || again.ServerID != ev.ServerID || !jsonEqual(again.Data, ev.Data) {
			t.Fatalf("round trip changed %+v into %+v", ev, again)
		}
	})
}

// jsonEqual compares two JSON texts by value: re-encoding may legitimately
// change spelling (encoding/json escapes "&" as \u0026), never meaning.
func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b) || string(a) == "null" || string(b) == "null"
	}
	x, errX := decodeValue(a)
	y, errY := decodeValue(b)
	return errX == nil && errY == nil && reflect.DeepEqual(x, y)
}

func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep 1e400 and 1.0 apart from their float images
	var v any
	err := dec.Decode(&v)
	return v, err
}
