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
//
// Why mmap where the platform has it: the whole address range the guest
// may ever use is reserved up front (inaccessible, costing nothing) and
// made accessible as it grows, so memory never moves, growing never copies,
// a new instance's pages are the kernel's zero pages until touched (no
// clearing a reused Go heap span: megabytes per start), and Free returns
// everything to the OS at once. Without mmap, memory is a Go slice.
//
// Given a snapshot image (cowImage, Linux), the allocator maps it
// copy-on-write over the start of the reservation: the memory then starts
// as the snapshot's, and the instance owns only the pages it writes.
type limitedMemory struct {
	mu      sync.Mutex // Free may come from wazero's context watcher
	buf     []byte
	mapped  []byte        // the reservation buf lives in, when mmap is used
	image   *cowImage     // set before allocation: map it, if the platform can
	imaged  uint64        // bytes of mapped that hold the image (0: none)
	limit   atomic.Uint64 // bytes; grows past it are refused
	size    atomic.Uint64 // current length, for Stats
	refused atomic.Bool   // a grow was refused: the guest hit its limit

	freedPrivate atomic.Int64 // private bytes just before Free (recordFreed)
}

// recordFreed makes Free record the memory's private bytes before it
// releases them: what a guest's exit path wrote. Tests only (set before any
// backend starts); it costs a pagemap read per exit.
var recordFreed atomic.Bool

var _ experimental.LinearMemory = (*limitedMemory)(nil)

func newLimitedMemory(limit uint64) *limitedMemory {
	m := &limitedMemory{}
	m.limit.Store(limit)
	return m
}

// allocator hands out m for the module's single memory.
func (m *limitedMemory) allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
		m.mu.Lock()
		defer m.mu.Unlock()
		if mapped, err := reserve(maxBytes); err == nil {
			m.mapped = mapped
			m.buf = mapped[:0:0]
			// Without the image the restore copies the snapshot instead
			// (imageMapped reports which).
			if m.image != nil && m.image.mapOver(mapped) == nil {
				m.imaged = m.image.size
			}
		} else {
			m.buf = make([]byte, 0, capBytes)
		}
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
	switch {
	case m.mapped != nil:
		if size > uint64(len(m.mapped)) {
			return nil
		}
		// The image's pages are accessible already; commit the rest.
		if from := max(uint64(len(m.buf)), m.imaged); size > from {
			if err := commit(m.mapped[from:size]); err != nil {
				return nil
			}
		}
		// cap == len: nothing may append into the inaccessible rest.
		m.buf = m.mapped[:size:size]
	case size <= uint64(cap(m.buf)):
		m.buf = m.buf[:size]
	default:
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

// imageMapped reports whether the memory starts as the snapshot image.
func (m *limitedMemory) imageMapped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.imaged > 0
}

// private reports the bytes of guest memory the host holds for this
// instance alone (see privateBytes); a Go slice counts whole.
func (m *limitedMemory) private() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mapped == nil {
		return int64(len(m.buf)), nil
	}
	return privateBytes(m.buf)
}

// prefault maps [off, off+n) ahead of writes to it, where the platform can
// (best effort: the writes fault the pages in anyway).
func (m *limitedMemory) prefault(off, n uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mapped != nil && uint64(off)+uint64(n) <= uint64(len(m.buf)) {
		populate(m.buf[off : off+n])
	}
}

// Free implements experimental.LinearMemory.
func (m *limitedMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if recordFreed.Load() && m.mapped != nil {
		n, _ := privateBytes(m.buf)
		m.freedPrivate.Store(n)
	}
	if m.mapped != nil {
		_ = release(m.mapped)
		m.mapped = nil
		m.imaged = 0
	}
	m.buf = nil
	m.size.Store(0)
}
