package engine

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestRecorderBounds: a recording stops growing at its bounds (host calls,
// bytes, entropy reads) and says it was truncated.
func TestRecorderBounds(t *testing.T) {
	tests := []struct {
		name   string
		fill   func(r *recorder)
		calls  int
		trunc  bool
		maxLen int
	}{
		{name: "small", fill: func(r *recorder) {
			r.hostCall("kv.get", json.RawMessage(`{"key":"a","call":"x"}`), map[string]any{"found": false}, nil)
		}, calls: 1},
		{name: "too many calls", fill: func(r *recorder) {
			for range MaxRecordedCalls + 5 {
				r.hostCall("kv.get", json.RawMessage(`{"key":"a"}`), map[string]any{"found": false}, nil)
			}
		}, calls: MaxRecordedCalls, trunc: true},
		{name: "too many bytes", fill: func(r *recorder) {
			big := strings.Repeat("x", 200<<10)
			for range 10 {
				r.hostCall("kv.get", json.RawMessage(`{"key":"a"}`), map[string]any{"value": big}, nil)
			}
		}, calls: 5, trunc: true}, // 5 × 200 KiB fit in 1 MiB
		// Counted as sent, not HTML-escaped (six bytes per '<'), so as
		// many fit as of any other byte (attack Q1).
		{name: "html characters", fill: func(r *recorder) {
			big := strings.Repeat("<", 200<<10)
			for range 10 {
				r.hostCall("kv.get", json.RawMessage(`{"key":"a"}`), map[string]any{"value": big}, nil)
			}
		}, calls: 5, trunc: true},
		{name: "random reads", fill: func(r *recorder) {
			for range MaxRecordedEntropy + 10 {
				r.entropy(EntropyRead{Kind: "rand", Bytes: make([]byte, 8)})
			}
		}, trunc: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder(Recording{Params: json.RawMessage(`{}`)})
			tt.fill(r)
			rec := r.finish(nil, nil)
			if len(rec.HostCalls) != tt.calls || rec.Truncated != tt.trunc || len(rec.Entropy) > MaxRecordedEntropy {
				t.Fatalf("%d calls (want %d), truncated %v (want %v), %d entropy reads", len(rec.HostCalls), tt.calls, rec.Truncated, tt.trunc, len(rec.Entropy))
			}
			body, _ := encodeRecording(rec)
			if len(body) > MaxRecordingBytes*2 {
				t.Fatalf("recording is %d bytes", len(body))
			}
			for _, c := range rec.HostCalls {
				if strings.Contains(string(c.Params), `"call"`) {
					t.Fatalf("call token recorded: %s", c.Params)
				}
			}
		})
	}
}

// TestRecorderEncodesWithinRoom guards the recorder's cost per host call
// (attack Q1): an answer is encoded only if the recording has room for the
// call, and only up to that room, without HTML escaping. json.Marshal of
// every answer first cost a 5.85 MB buffer per 975 KB answer of '<', even
// with the recording full.
func TestRecorderEncodesWithinRoom(t *testing.T) {
	big := map[string]any{"value": strings.Repeat("<", 975_000)}
	tests := []struct {
		name string
		prep func(r *recorder)
	}{
		{name: "full", prep: func(r *recorder) { r.bytes = r.maxBytes }},
		{name: "truncated", prep: func(r *recorder) { r.truncated = true }},
		{name: "too many calls", prep: func(r *recorder) {
			for range MaxRecordedCalls {
				r.hostCall("kv.get", json.RawMessage(`{}`), nil, nil)
			}
		}},
		{name: "100 KiB left", prep: func(r *recorder) { r.bytes = r.maxBytes - 100<<10 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder(Recording{Params: json.RawMessage(`{}`)})
			tt.prep(r)
			calls := len(r.rec.HostCalls)
			const n = 10
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range n {
				r.hostCall("kv.get_many", json.RawMessage(`{"keys":["a"]}`), big, nil)
			}
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > n*200<<10 {
				t.Errorf("%d answers the recording has no room for allocated %d KiB", n, got>>10)
			}
			if len(r.rec.HostCalls) != calls || !r.truncated {
				t.Errorf("%d calls recorded (want %d), truncated %v", len(r.rec.HostCalls), calls, r.truncated)
			}
		})
	}
}
