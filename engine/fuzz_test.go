package engine_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
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

// FuzzReadEvents: a JSONL stream yields events or an error naming the line;
// never a panic, never more events than lines.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("{\"type\":\"message_create\",\"data\":{}}\n# comment\n\n{\"type\":\"guild_member_add\"}\n"))
	f.Add([]byte("{\"type\":\"message_create\"}\r\n{bad}\n"))
	f.Add([]byte(strings.Repeat("{\"type\":\"a\"}\n", 20)))
	f.Add([]byte("\xff\xfe{\"type\":\"a\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		err := engine.ReadEvents(bytes.NewReader(data), "1", func(ev engine.Event) error {
			n++
			return nil
		})
		if err != nil && !strings.Contains(err.Error(), "line") && !strings.Contains(err.Error(), "read events") {
			t.Fatalf("error names no line: %v", err)
		}
		if lines := bytes.Count(data, []byte("\n")) + 1; n > lines {
			t.Fatalf("%d events from %d lines", n, lines)
		}
	})
}
