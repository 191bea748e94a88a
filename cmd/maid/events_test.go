package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/maidhq/maid/engine"
)

// FuzzReadEvents: a JSONL stream yields events or an error naming the line;
// never a panic, never more events than lines.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("{\"type\":\"message_create\",\"data\":{}}\n# comment\n\n{\"type\":\"guild_member_add\"}\n"))
	f.Add([]byte("{\"type\":\"message_create\"}\r\n{bad}\n"))
	f.Add([]byte(strings.Repeat("{\"type\":\"a\"}\n", 20)))
	f.Add([]byte("\xff\xfe{\"type\":\"a\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		err := readEvents(bytes.NewReader(data), "1", func(ev engine.Event) error {
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
