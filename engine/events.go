package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DecodeEvent decodes and checks one event object ({"type",
// "discord_srv_id", "data"}, the shape Event marshals to). defaultServer
// fills a missing discord_srv_id.
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
