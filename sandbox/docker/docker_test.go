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

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Backend {
		return newTestBackend(t, Options{})
	}, sandboxtest.Options{Isolated: true})
}

func TestConformancePool(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Backend {
		return newTestBackend(t, Options{PoolSize: 2, Limits: sandbox.Limits{MemoryBytes: 256 << 20, ScratchBytes: 8 << 20}})
	}, sandboxtest.Options{Isolated: true})
}
