package wasm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// busyFS keeps the guest inside WASI file calls (fd_open, fd_close), the
// calls that raced with the runtime's close in the bench.
const busyFS = "say('ready')\nwhile True:\n    open('/plugin/__main__.py', 'rb').close()\n"

// TestCloseRacesGuests closes the backend while guests run WASI file calls,
// the interleaving that raced in the bench (a guest's fd_close against
// wazero's FSContext.Close). Close must leave the runtime to the last
// guest's exit, never close it under one. Each case runs a few rounds with
// shifted timings to hit different points of the pool's refill.
func TestCloseRacesGuests(t *testing.T) {
	dir := pythonDir(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, ctx context.Context, b *Backend, round int)
	}{
		{name: "pool warming", run: closeWhileWarming},
		{name: "guests running", run: closeWhileRunning},
	} {
		for round := range 4 {
			t.Run(fmt.Sprintf("%s/round=%d", tc.name, round), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				b, err := New(ctx, Config{PythonDir: dir, CacheDir: cacheDir(t), PoolSize: 1})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.Close() })
				tc.run(t, ctx, b, round)
			})
		}
	}
}

// closeWhileWarming closes while refill is starting the pool's interpreter
// (CPython importing its stdlib): Close must wait for that guest to exit.
func closeWhileWarming(t *testing.T, _ context.Context, b *Backend, round int) {
	time.Sleep(refillDelay + time.Duration(round)*100*time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	b.mu.Lock()
	released, live := b.released, b.live
	b.mu.Unlock()
	if !released || live != 0 {
		t.Fatalf("after close: released %v, live %d; want true, 0", released, live)
	}
}

// closeWhileRunning closes with one started guest running on, one killed at
// the same moment, and the pool warming the replacement of the instance just
// taken.
func closeWhileRunning(t *testing.T, ctx context.Context, b *Backend, round int) {
	waitPool(b)
	// Taking the warm instance asks the pool for a replacement, which
	// refill starts warming refillDelay later.
	running := sandboxtest.Start(t, ctx, b, busyFS, nil)
	killed := sandboxtest.Start(t, ctx, b, busyFS, nil)
	for _, in := range []sandbox.Instance{running, killed} {
		go io.Copy(io.Discard, sandboxtest.FirstLine(t, in, "ready"))
	}

	killedDone := make(chan error, 1)
	go func() { killedDone <- killed.Kill() }()
	time.Sleep(time.Duration(round) * refillDelay / 2)
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := <-killedDone; err != nil {
		t.Fatalf("kill: %v", err)
	}
	if ex, err := killed.Wait(ctx); err != nil || !errors.Is(ex.Err, sandbox.ErrKilled) {
		t.Fatalf("killed guest: exit %v, %v; want ErrKilled", ex, err)
	}

	// The running guest outlived Close and still owns the runtime.
	b.mu.Lock()
	released := b.released
	b.mu.Unlock()
	if released {
		t.Fatal("runtime released while a guest still runs")
	}
	select {
	case <-running.(*instance).done:
		t.Fatal("running guest ended by Close")
	default:
	}
	if err := running.Kill(); err != nil {
		t.Fatal(err)
	}
	if ex, err := running.Wait(ctx); err != nil || !errors.Is(ex.Err, sandbox.ErrKilled) {
		t.Fatalf("running guest: exit %v, %v; want ErrKilled", ex, err)
	}
	b.mu.Lock()
	released, live := b.released, b.live
	b.mu.Unlock()
	if !released || live != 0 {
		t.Fatalf("after the last exit: released %v, live %d; want true, 0", released, live)
	}
}
