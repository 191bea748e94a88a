package wasm

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// sdkPluginScript is a real SDK plugin with a no-op event handler: the
// Python work of one event through the SDK (read, dispatch, Context,
// reply) and nothing else.
const sdkPluginScript = `
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx, event):
    pass


plugin.run()
`

// sdkEventLine is a plugin.event request shaped like the engine's (see
// engine/supervisor.go deliver): call token, ctx, seed, type and a
// message_create payload of typical size.
func sdkEventLine(id int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"plugin.event","params":{`+
		`"call":"5f0c2a9e8b7d6c5f4e3d2c1b",`+
		`"ctx":{"discord_srv_id":"1100000000000000001","options":{"greeting":"hi","enabled":true},"plugin_id":"bench"},`+
		`"event":{"attachments":[],"author":{"avatar":"a1b2c3d4e5f6","bot":false,"discriminator":"0","global_name":"Maid User","id":"1200000000000000002","username":"maiduser"},`+
		`"channel_id":"1300000000000000003","content":"hello there, how is everyone doing today?","edited_timestamp":null,"embeds":[],`+
		`"guild_id":"1100000000000000001","id":"1400000000000000004","mention_everyone":false,"mention_roles":[],"mentions":[],"pinned":false,`+
		`"timestamp":"2026-12-07T14:00:00.000000+00:00","tts":false,"type":0},`+
		`"seed":"9a8b7c6d5e4f3a2b1c0d9e8f","type":"message_create"}}`+"\n", id)
}

// BenchmarkSDKEvent: one plugin.event through a real SDK plugin with a
// no-op handler, request line to reply line, next to the guest decoding
// and re-encoding the same line without the SDK (json); the difference is
// the SDK's own per-event work.
func BenchmarkSDKEvent(b *testing.B) {
	b.Run("json", func(b *testing.B) {
		be := newBackend(b, 0)
		inst, r := echoInstance(b, be, sandboxtest.PluginDir(b, jsonEchoScript))
		defer stop(b, inst)
		msg := sdkEventLine(7)
		benchLines(b, func() error { return tryEcho(inst, r, msg) })
	})
	b.Run("sdk", func(b *testing.B) {
		be := newBackend(b, 0)
		inst, r := echoInstance(b, be, sandboxtest.PluginDir(b, sdkPluginScript))
		defer stop(b, inst)
		if err := sdkHandshake(inst, r); err != nil {
			b.Fatal(err)
		}
		id := 1
		benchLines(b, func() error {
			id++
			return sdkEvent(inst, r, id)
		})
	})
	// guest: the same two loops timed inside the guest, over in-memory
	// streams, without the pipes and the host's scheduling (steadier on a
	// busy machine): µs of guest Python per event.
	b.Run("guest", func(b *testing.B) {
		be := newBackend(b, 0)
		inst, r := echoInstance(b, be, sandboxtest.PluginDir(b, sdkGuestScript))
		defer stop(b, inst)
		var sdk, js []time.Duration
		for b.Loop() {
			if _, err := io.WriteString(inst.Stdin(), sdkEventLine(2)); err != nil {
				b.Fatal(err)
			}
			line, err := r.ReadString('\n')
			var s, j float64
			if _, serr := fmt.Sscanf(line, "%g %g", &s, &j); err != nil || serr != nil {
				b.Fatalf("guest answered %q, %v", line, err)
			}
			sdk = append(sdk, time.Duration(s*float64(time.Microsecond)))
			js = append(js, time.Duration(j*float64(time.Microsecond)))
		}
		slices.Sort(sdk)
		slices.Sort(js)
		b.ReportMetric(float64(sdk[len(sdk)/2])/float64(time.Microsecond), "sdk-µs/event")
		b.ReportMetric(float64(js[len(js)/2])/float64(time.Microsecond), "json-µs/event")
		b.ReportMetric(0, "ns/op")
	})
}

// sdkGuestScript answers each event line with the µs per event of serving
// sdkGuestEvents copies of it through the SDK's serve loop (no-op handler)
// and of json.loads+dumps of the same line, both over in-memory streams.
const sdkGuestScript = `
import io, json, time
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx, event):
    pass


N = 200
hello = b'{"jsonrpc":"2.0","id":1,"result":{"protocol":1,"plugin_id":"bench","limits":{}}}\n'
for line in inp:
    data = hello + line * N
    t0 = time.perf_counter()
    plugin._serve(io.BytesIO(data), io.BytesIO())
    t1 = time.perf_counter()
    o = io.BytesIO()
    for l in io.BytesIO(line * N):
        o.write(json.dumps(json.loads(l), separators=(",", ":")).encode() + b"\n"); o.flush()
    t2 = time.perf_counter()
    out.write(b"%f %f\n" % ((t1 - t0) / N * 1e6, (t2 - t1) / N * 1e6)); out.flush()
`

// benchLines times each call of one and reports the percentiles.
func benchLines(b *testing.B, one func() error) {
	times := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		if err := one(); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	reportPercentiles(b, times, "µs", time.Microsecond)
}

// sdkHandshake answers the plugin's maid.hello.
func sdkHandshake(inst sandbox.Instance, r *bufio.Reader) error {
	line, err := r.ReadString('\n')
	if err != nil || !strings.Contains(line, `"maid.hello"`) {
		return fmt.Errorf("want maid.hello, got %q, %v", line, err)
	}
	_, err = io.WriteString(inst.Stdin(),
		`{"jsonrpc":"2.0","id":1,"result":{"protocol":1,"plugin_id":"bench","host_version":"bench","limits":{}}}`+"\n")
	return err
}

// sdkEvent sends one event and checks its reply.
func sdkEvent(inst sandbox.Instance, r *bufio.Reader, id int) error {
	if _, err := io.WriteString(inst.Stdin(), sdkEventLine(id)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	line, err := r.ReadString('\n')
	if want := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{}}`+"\n", id); err != nil || line != want {
		return fmt.Errorf("event %d: got %q, %v; want %q", id, line, err, want)
	}
	return nil
}
