package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/maidhq/maid/sandbox"
)

// MaxEventLine bounds one line of an events JSONL file.
const MaxEventLine = 1 << 20

// ReadEvents decodes JSONL events ({"type", "discord_srv_id", "data"} per
// line; blank lines and lines starting with # are skipped) and calls fn for
// each. defaultServer fills a missing discord_srv_id. Errors name the line.
func ReadEvents(r io.Reader, defaultServer string, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxEventLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		ev, err := DecodeEvent(line, defaultServer)
		if err != nil {
			return fmt.Errorf("events line %d: %w", n, err)
		}
		if err := fn(ev); err != nil {
			return fmt.Errorf("events line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("events line %d: %w: longer than %d bytes", n+1, ErrLimit, MaxEventLine)
		}
		return fmt.Errorf("read events: %w", err)
	}
	return nil
}

// DecodeEvent decodes and checks one event object.
func DecodeEvent(data []byte, defaultServer string) (Event, error) {
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return Event{}, fmt.Errorf("%w: %v (want {\"type\", \"discord_srv_id\", \"data\"})", ErrInvalid, err)
	}
	if dec.More() {
		return Event{}, fmt.Errorf("%w: one JSON object per line", ErrInvalid)
	}
	if ev.ServerID == "" {
		ev.ServerID = defaultServer
	}
	if !eventTypeRe.MatchString(ev.Type) {
		return Event{}, fmt.Errorf("%w: type %q must be a lower snake case gateway event name like message_create", ErrInvalid, ev.Type)
	}
	if err := checkServerID(ev.ServerID); err != nil {
		return Event{}, err
	}
	// null is no data, as an Event with nil Data marshals: one round trip
	// through JSONL must not turn a valid event into an invalid one.
	if string(ev.Data) == "null" {
		ev.Data = nil
	}
	if len(ev.Data) > 0 && (ev.Data[0] != '{') {
		return Event{}, fmt.Errorf("%w: data must be a JSON object", ErrInvalid)
	}
	return ev, nil
}

// ErrorCode names an engine error for JSON error bodies ({"error": {"code",
// "message"}}), shared by the CLI and the HTTP API.
func ErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrCapability), errors.Is(err, ErrSQLDenied):
		return "capability"
	case errors.Is(err, ErrQuota), errors.Is(err, ErrLimit), errors.Is(err, ErrSQLLimit), errors.Is(err, ErrOverflow):
		return "limit"
	case errors.Is(err, ErrPlugin):
		return "plugin_error"
	case errors.Is(err, ErrUnavailable), errors.Is(err, sandbox.ErrUnavailable):
		return "unavailable"
	}
	return "internal"
}
