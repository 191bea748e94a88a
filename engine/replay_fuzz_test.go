package engine

import (
	"context"
	"encoding/json"
	"testing"
)

// FuzzReplayRecording: any recording file decodes or fails cleanly, and the
// replayer answers from it without panicking: the recorded host calls and
// clock/random reads, made back in order, replay with no divergence, and
// one more of either is a divergence, never an answer.
func FuzzReplayRecording(f *testing.F) {
	f.Add([]byte(`{"maid_recording":1,"id":"r","plugin_id":"p","backend":"wasm","discord_srv_id":"1","method":"plugin.event","params":{"type":"message_create"},
"host_calls":[{"method":"kv.get","params":{"key":"n"},"result":{"value":1}},{"method":"kv.set","params":{"key":"n","value":2},"error":{"code":-32002,"message":"quota"}}],
"entropy":[{"kind":"wall","value":1700000000123456789},{"kind":"mono","value":42},{"kind":"rand","bytes":"AAECAw=="}],
"outcome":{"result":null}}`), []byte{0, 1, 2, 3})
	f.Add([]byte(`{"maid_recording":1,"host_calls":[{"method":"maid.hello","params":{"call":"x"}}],"entropy":[{"kind":"rand","value":-1}],"truncated":true}`), []byte{3, 3, 0})
	f.Add([]byte(`{"entropy":[{"kind":"wall","value":-9223372036854775808}]}`), []byte{1})
	f.Fuzz(func(t *testing.T, data, script []byte) {
		var rec Recording
		if json.Unmarshal(data, &rec) != nil {
			return
		}
		ctx := context.Background()
		r := &replayer{rec: rec, ready: make(chan struct{})}
		r.ent = &replayEntropy{reads: rec.Entropy, diverge: r.diverge}
		r.ent.arm()

		exact := true
		for _, c := range rec.HostCalls {
			if c.Method == "maid.hello" || !sameJSON(c.Params, withoutCall(c.Params)) {
				exact = false // not a call the replayer takes from the recording as is
				break
			}
		}
		if exact {
			for i, c := range rec.HostCalls {
				res, err := r.handle(ctx, c.Method, c.Params)
				if c.Error == nil && err != nil {
					t.Fatalf("recorded call %d (%s) answered %v", i+1, c.Method, err)
				}
				if c.Error != nil && err == nil {
					t.Fatalf("recorded call %d (%s) answered %v, want its recorded error", i+1, c.Method, res)
				}
			}
			for i, e := range rec.Entropy {
				switch e.Kind {
				case "wall":
					r.ent.Walltime()
				case "mono":
					r.ent.Nanotime()
				case "rand":
					p := make([]byte, len(e.Bytes))
					if _, err := r.ent.Read(p); err != nil {
						t.Fatalf("read %d: %v", i+1, err)
					}
				default:
					exact = false
				}
				if !exact {
					break
				}
			}
			if exact && r.div != nil {
				t.Fatalf("replaying the recording as recorded diverged: %+v", *r.div)
			}
		}
		// Whatever comes next (script), the replayer answers or diverges.
		for _, b := range script {
			switch b % 4 {
			case 0:
				_, _ = r.handle(ctx, "kv.get", json.RawMessage(`{"key":"x"}`))
			case 1:
				r.ent.Walltime()
			case 2:
				r.ent.Nanotime()
			case 3:
				p := make([]byte, int(b)%64)
				_, _ = r.ent.Read(p)
			}
		}
		if exact && len(script) > 0 && r.div == nil {
			t.Fatalf("a call or read past the recording did not diverge")
		}
	})
}
