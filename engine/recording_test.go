package engine

import (
	"encoding/json"
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
			body, _ := json.Marshal(rec)
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
