package engine_test

// Tests of one instance's life: the handshake and the goroutines that own
// its end.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/sandbox"
)

// rawHello is a plugin that speaks the protocol by hand: it sends HELLOS
// maid.hello requests in one write, then answers plugin.dashboard with the
// answers it got, once every hello has one.
const rawHello = `
import json
from maid_sdk import _transport
HELLOS = %d
# Many tiny event names make each hello slower to decode than to read, so
# the host's handlers overlap.
hello = {"protocol": %d, "sdk_version": "1.0.0", "events": %s, "dashboard": ["h"], "commands": []}
out = _transport.stdout()
params = json.dumps(hello)
out.write("".join('{"jsonrpc": "2.0", "id": ' + str(i + 1) + ', "method": "maid.hello", "params": ' + params + '}\n' for i in range(HELLOS)).encode())
out.flush()
ok, errors, pending = 0, [], None
for line in _transport.stdin():
    m = json.loads(line)
    if "method" not in m:
        if "error" in m:
            errors.append(m["error"]["message"])
        else:
            ok += 1
    elif m["method"] == "plugin.dashboard":
        pending = m["id"]
    elif m["method"] == "plugin.shutdown":
        break
    if pending is not None and ok + len(errors) == HELLOS:
        out.write(json.dumps({"jsonrpc": "2.0", "id": pending, "result": {"ok": ok, "errors": errors}}).encode() + b"\n")
        out.flush()
        pending = None
`

// TestHandshake: maid answers exactly one maid.hello however many a plugin
// pipelines (handlers run concurrently: a second accepted hello used to
// close the ready channel twice, a panic that ended maid), and a refused
// hello fails the start at once with the reason, the start itself stopping
// the instance (before, an unowned goroutine killed it and the start saw
// only "exited before the handshake"). A hello's lists are kept while the
// plugin runs and searched for every event: duplicates are dropped, and
// more than 256 distinct names, or a name over 256 bytes, is refused
// (attack Q1: 200,000 names in a 1 MiB line were kept three times over).
func TestHandshake(t *testing.T) {
	tests := []struct {
		name     string
		hellos   int
		protocol int
		events   string // the hello's event names, a Python expression
		wantErr  string // "" = the dashboard call succeeds
	}{
		{name: "one hello", hellos: 1, protocol: engine.ProtocolVersion, events: `["message_create"]`},
		{name: "pipelined hellos", hellos: 16, protocol: engine.ProtocolVersion, events: `["a"] * 150000`},
		{name: "wrong protocol", hellos: 1, protocol: 99, events: `[]`, wantErr: "plugin speaks protocol 99, host speaks 1"},
		{name: "256 distinct event names", hellos: 1, protocol: engine.ProtocolVersion, events: `["e%d" % (i % 256) for i in range(100000)]`},
		{name: "257 distinct event names", hellos: 1, protocol: engine.ProtocolVersion, events: `["e%d" % i for i in range(257)]`, wantErr: "maid.hello: events: more than 256 distinct names"},
		{name: "a long event name", hellos: 1, protocol: engine.ProtocolVersion, events: `["x" * 257]`, wantErr: "maid.hello: events: a name over 256 bytes"},
	}
	// InstallTimeout -1: the plugin with a wrong protocol must install, to
	// test what a running engine does with it (Install refuses it otherwise).
	r := startEngine(t, engine.Limits{HandshakeTimeout: 20 * time.Second, InstallTimeout: -1}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := r.install(t, writePlugin(t, "hello_"+strings.ReplaceAll(tt.name, " ", "_"), fmt.Sprintf(rawHello, tt.hellos, tt.protocol, tt.events)), "1")
			ctx := withTimeout(t, 15*time.Second)
			start := time.Now()
			out, err := r.eng.CallDashboard(ctx, id, "1", "h", nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("the refused start took %v: it waited for something other than the refusal", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				OK     int      `json:"ok"`
				Errors []string `json:"errors"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got.OK != 1 || len(got.Errors) != tt.hellos-1 {
				t.Fatalf("%d hellos: %d accepted, %d refused (%v); want 1 accepted", tt.hellos, got.OK, len(got.Errors), got.Errors)
			}
			for _, e := range got.Errors {
				if !strings.Contains(e, "maid.hello sent twice") {
					t.Errorf("refused hello: %q, want \"maid.hello sent twice\"", e)
				}
			}
		})
	}
}

// stoppedObserver records Stats().Instances as the observer hears each
// InstanceStopped.
type stoppedObserver struct {
	countingObserver
	eng atomic.Pointer[engine.Engine]

	mu      sync.Mutex
	running []int64
}

func (o *stoppedObserver) InstanceStopped(pluginID string, exit sandbox.Exit) {
	if e := o.eng.Load(); e != nil {
		o.mu.Lock()
		o.running = append(o.running, e.Stats().Instances)
		o.mu.Unlock()
	}
}

// TestInstancesCountedUntilExit: an instance leaves Stats.Instances in the
// goroutine that owns its exit, before the exit is reported. It used to be
// uncounted by a goroutine of its own that nothing waited for, so Stats
// still counted a stopped instance when InstanceStopped was heard.
func TestInstancesCountedUntilExit(t *testing.T) {
	obs := &stoppedObserver{}
	r := startEngineWith(t, func(c *engine.Config) { c.Observer = obs })
	obs.eng.Store(r.eng)
	ctx := withTimeout(t, time.Minute)
	const rounds = 3
	for i := range rounds {
		id := r.install(t, writePlugin(t, "count_"+strconv.Itoa(i), counter), "1")
		if _, err := r.eng.CallDashboard(ctx, id, "1", "n", nil); err != nil {
			t.Fatal(err)
		}
		if got := r.eng.Stats().Instances; got != 1 {
			t.Fatalf("round %d: %d instances running with one plugin started, want 1", i, got)
		}
		if err := r.eng.Uninstall(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got := r.eng.Stats().Instances; got != 0 {
			t.Fatalf("round %d: %d instances counted after Uninstall returned, want 0", i, got)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	// Two stops a round: the install-time start check's instance, and
	// the one the call started.
	if len(obs.running) != 2*rounds {
		t.Fatalf("heard %d stops, want %d", len(obs.running), 2*rounds)
	}
	for i, n := range obs.running {
		if n != 0 {
			t.Errorf("stop %d: Stats counted %d instances when InstanceStopped was heard, want 0", i, n)
		}
	}
}
