package wasm

import (
	"sync"
	"testing"

	"github.com/maidhq/maid/sandbox"
)

// fixedEntropy is a guest clock stopped at one instant and randomness of
// one repeated byte, counting its reads.
type fixedEntropy struct {
	mu                sync.Mutex
	walls, monos, rnd int
}

func (f *fixedEntropy) Walltime() (int64, int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.walls++
	return 1234567890, 500_000_000
}

func (f *fixedEntropy) Nanotime() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.monos++
	return 42_000_000_000
}

func (f *fixedEntropy) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rnd += len(p)
	for i := range p {
		p[i] = 0xab
	}
	return len(p), nil
}

// TestSpecEntropy: a Spec's Entropy is the guest's only clock and source of
// randomness, also for an interpreter taken from the warm pool (spawned
// before the Spec was known). Without the binding the guest reads the
// host's clock and random bytes and every line below differs.
func TestSpecEntropy(t *testing.T) {
	for _, pool := range []int{0, 1} {
		b := newBackend(t, pool)
		src := &fixedEntropy{}
		script := "import time, uuid\nsay(repr(time.time()))\nsay(repr(time.monotonic()))\nsay(os.urandom(4).hex())\nsay(str(uuid.uuid4()))"
		out, errText, ex := run(t, b, script, func(s *sandbox.Spec) { s.Entropy = src })
		want := "1234567890.5\n42.0\nabababab\nabababab-abab-4bab-abab-abababababab\n"
		if out != want || ex.Code != 0 {
			t.Fatalf("pool %d: stdout = %q, want %q (%v)\nstderr: %s", pool, out, want, ex, errText)
		}
		src.mu.Lock()
		if src.walls == 0 || src.monos == 0 || src.rnd < 20 {
			t.Errorf("pool %d: reads through the Entropy: wall %d, mono %d, random bytes %d", pool, src.walls, src.monos, src.rnd)
		}
		src.mu.Unlock()
	}
}
