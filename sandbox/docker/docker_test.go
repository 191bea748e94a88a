package docker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/testenv"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// newTestBackend starts a Backend on the real engine. Without an engine or
// image it fails under CI=true and skips elsewhere, naming the fix.
func newTestBackend(t testing.TB, opts Options) *Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := New(ctx, opts)
	if errors.Is(err, sandbox.ErrUnavailable) {
		testenv.Unavailable(t, "docker backend", "start dockerd and run `make docker-image`", err)
	}
	if err != nil {
		t.Fatalf("new backend: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// bothPaths runs f once per data path, as subtests "socket" and "attach",
// each with a backend of its own made from opts. The socket path needs a
// local engine: without one, New says ErrUnavailable, so the subtest fails
// under CI=true and skips elsewhere (newTestBackend).
func bothPaths(t *testing.T, opts Options, f func(t *testing.T, b *Backend)) {
	t.Helper()
	for _, path := range []string{DataPathSocket, DataPathAttach} {
		t.Run(path, func(t *testing.T) {
			o := opts
			o.DataPath = path
			b := newTestBackend(t, o)
			if got := b.DataPath(); got != path {
				t.Fatalf("DataPath() = %q, want %q", got, path)
			}
			f(t, b)
		})
	}
}

func TestConformance(t *testing.T) {
	for _, path := range []string{DataPathSocket, DataPathAttach} {
		t.Run(path, func(t *testing.T) {
			sandboxtest.Run(t, func(t *testing.T) sandbox.Backend {
				b := newTestBackend(t, Options{DataPath: path})
				if got := b.DataPath(); got != path {
					t.Fatalf("DataPath() = %q, want %q", got, path)
				}
				return b
			}, sandboxtest.Options{Isolated: true})
		})
	}
}

func TestConformancePool(t *testing.T) {
	for _, path := range []string{DataPathSocket, DataPathAttach} {
		t.Run(path, func(t *testing.T) {
			sandboxtest.Run(t, func(t *testing.T) sandbox.Backend {
				return newTestBackend(t, Options{DataPath: path, PoolSize: 2, Limits: sandbox.Limits{MemoryBytes: 256 << 20, ScratchBytes: 8 << 20}})
			}, sandboxtest.Options{Isolated: true})
		})
	}
}
