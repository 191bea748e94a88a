package wasm

import (
	"crypto/rand"
	"sync/atomic"
	"time"

	"github.com/maidhq/maid/sandbox"
)

// entropy is an interpreter's clocks and randomness: the host's own until
// a Spec with an Entropy is bound (sandbox.Spec.Entropy), then that one.
// The module config is built when the interpreter is spawned, before any
// Spec is known (warm pools, the snapshot), so it points at this
// indirection rather than at a source. Every clock read and random byte of
// a WASI guest passes through here: that is what lets a recording of an
// event replay exactly on this backend (docs/plugin-authoring.md).
type entropy struct {
	src atomic.Pointer[sandbox.Entropy]
}

func newEntropy() *entropy { return &entropy{} }

// bind makes e the guest's source; nil keeps the host's.
func (c *entropy) bind(e sandbox.Entropy) {
	if e != nil {
		c.src.Store(&e)
	}
}

func (c *entropy) walltime() (int64, int32) {
	if p := c.src.Load(); p != nil {
		return (*p).Walltime()
	}
	t := time.Now()
	return t.Unix(), int32(t.Nanosecond())
}

// origin makes the default monotonic clock start near zero, as wazero's
// own does.
var origin = time.Now()

func (c *entropy) nanotime() int64 {
	if p := c.src.Load(); p != nil {
		return (*p).Nanotime()
	}
	return int64(time.Since(origin))
}

// Read is the guest's random_get.
func (c *entropy) Read(p []byte) (int, error) {
	if s := c.src.Load(); s != nil {
		return (*s).Read(p)
	}
	return rand.Read(p)
}
