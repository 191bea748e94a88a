package wasm

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// limitedMemory backs one guest's linear memory and enforces that guest's
// memory limit.
//
// Why not only WithMemoryLimitPages: that is a runtime-wide setting, so every
// distinct limit would need its own runtime and its own compiled module, and
// a pooled interpreter (instantiated before its plugin, hence its limit, is
// known) could not be given a limit at all. A per-instance allocator takes
// the limit at bind time and also tells us that a grow was refused, which is
// how an exit is attributed to sandbox.ErrMemoryLimit. The runtime still
// has WithMemoryLimitPages as the backend-wide ceiling.
type limitedMemory struct {
	mu      sync.Mutex // Free may come from wazero's context watcher
	buf     []byte
	limit   atomic.Uint64 // bytes; grows past it are refused
	size    atomic.Uint64 // current length, for Stats
	refused atomic.Bool   // a grow was refused: the guest hit its limit
}

var _ experimental.LinearMemory = (*limitedMemory)(nil)

func newLimitedMemory(limit uint64) *limitedMemory {
	m := &limitedMemory{}
	m.limit.Store(limit)
	return m
}

// allocator hands out m for the module's single memory.
func (m *limitedMemory) allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capBytes, _ uint64) experimental.LinearMemory {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.buf = make([]byte, 0, capBytes)
		return m
	})
}

// Reallocate implements experimental.LinearMemory. Returning nil makes
// memory.grow fail, which the guest's malloc reports as MemoryError.
func (m *limitedMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	// The initial allocation (the module's minimum) always succeeds: wazero
	// cannot fail instantiation gracefully here, and Start rejects limits
	// below the minimum up front.
	if len(m.buf) > 0 && size > m.limit.Load() {
		m.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
	} else {
		// Grow with headroom like append, but never past the limit, so a
		// guest near its cap does not get charged for a doubling.
		newCap := max(size, uint64(cap(m.buf))+uint64(cap(m.buf))/4)
		newCap = min(newCap, max(size, m.limit.Load()))
		buf := make([]byte, size, newCap)
		copy(buf, m.buf)
		m.buf = buf
	}
	m.size.Store(size)
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *limitedMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = nil
	m.size.Store(0)
}
