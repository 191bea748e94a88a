package engine_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/store"
)

// BenchmarkEventRecording: the cost of recording every event while it runs
// (kept only on failure), against Config.NoRecording, for a handler with
// two host calls. Compare the two in one run:
//
//	go test -run '^$' -bench BenchmarkEventRecording -benchtime 3000x ./engine/
func BenchmarkEventRecording(b *testing.B) {
	for _, tc := range []struct {
		name string
		off  bool
	}{{"recording", false}, {"off", true}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "maid.db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			be := processBackend(b)
			eng, err := engine.New(engine.Config{Store: st, Backend: be, DataDir: dir, NoRecording: tc.off,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			stop := enginetest.Serve(b, eng)
			defer stop()
			pdir := b.TempDir()
			os.WriteFile(filepath.Join(pdir, "manifest.json"), []byte(`{"id": "bench", "name": "Bench", "capabilities": ["storage:kv"]}`), 0o644)
			os.WriteFile(filepath.Join(pdir, "__main__.py"), []byte(`from maid_sdk import Plugin
plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx, event):
    ctx.kv.set("n", (ctx.kv.get("n") or 0) + 1)


plugin.run()
`), 0o644)
			pkg, err := eng.InstallPath(ctx, pdir)
			if err != nil {
				b.Fatal(err)
			}
			if err := eng.SetEnabled(ctx, "1", pkg.Manifest.ID, true); err != nil {
				b.Fatal(err)
			}
			ev := enginetest.Message("1", "7", "hello")
			if err := eng.Dispatch(ctx, ev); err != nil { // start the instance
				b.Fatal(err)
			}
			if err := eng.Drain(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := eng.Dispatch(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			if err := eng.Drain(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
