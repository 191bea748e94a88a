package docker

import (
	"bufio"
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

const echoScript = `
say("ready")
for line in inp:
    out.write(line); out.flush()
`

// BenchmarkColdStart measures Start to the plugin's first line of output,
// then stops the instance (not timed), on each data path.
func BenchmarkColdStart(b *testing.B) {
	for _, bc := range []struct {
		name string
		pool int
		path string
	}{
		{name: "socket/no pool", pool: 0, path: DataPathSocket},
		{name: "socket/pool 4", pool: 4, path: DataPathSocket},
		{name: "attach/no pool", pool: 0, path: DataPathAttach},
		{name: "attach/pool 4", pool: 4, path: DataPathAttach},
	} {
		b.Run(bc.name, func(b *testing.B) {
			be := newTestBackend(b, Options{PoolSize: bc.pool, DataPath: bc.path})
			dir := sandboxtest.PluginDir(b, echoScript)
			ctx := context.Background()
			for be.pool.Ready() < bc.pool {
				time.Sleep(10 * time.Millisecond)
			}
			b.ResetTimer()
			for b.Loop() {
				inst, err := be.Start(ctx, sandbox.Spec{Name: "bench", PluginID: "bench", Dir: dir, Entry: "__main__.py"})
				if err != nil {
					b.Fatal(err)
				}
				line, err := bufio.NewReader(inst.Stdout()).ReadString('\n')
				if err != nil || line != "ready\n" {
					b.Fatalf("first line %q, %v", line, err)
				}
				b.StopTimer()
				inst.Kill()
				inst.Wait(ctx)
				// Let the pool refill, as it would between plugin starts.
				for be.pool.Ready() < bc.pool {
					time.Sleep(10 * time.Millisecond)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRoundTrip measures one line to the plugin and back, on each
// data path.
func BenchmarkRoundTrip(b *testing.B) {
	for _, path := range []string{DataPathSocket, DataPathAttach} {
		b.Run(path, func(b *testing.B) { benchRoundTrip(b, path) })
	}
}

func benchRoundTrip(b *testing.B, path string) {
	be := newTestBackend(b, Options{DataPath: path})
	ctx := context.Background()
	inst := sandboxtest.Start(b, ctx, be, echoScript, nil)
	r := sandboxtest.FirstLine(b, inst, "ready")
	msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"plugin.event","params":{"type":"message_create"}}` + "\n")
	b.ResetTimer()
	for b.Loop() {
		if _, err := inst.Stdin().Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	inst.Stdin().Close()
	inst.Wait(ctx)
}

// BenchmarkPluginCopy measures the CopyToContainer of a small plugin into a
// running container: the part of a pooled start on the attach path that
// the pool cannot save.
func BenchmarkPluginCopy(b *testing.B) {
	be := newTestBackend(b, Options{DataPath: DataPathAttach})
	ctx := context.Background()
	inst, err := be.create(ctx, "bench-copy", "bench", "plugin", be.defaults, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer inst.discard()
	files, err := tarDir(sandboxtest.PluginDir(b, echoScript))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := be.cli.CopyToContainer(ctx, inst.id, pluginDir, bytes.NewReader(files), container.CopyToContainerOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
