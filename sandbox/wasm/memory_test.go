package wasm

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestLimitedMemory: grows up to the limit and no further, reports the
// refusal, keeps the guest's bytes across growth and, where mmap backs it,
// never moves (so growing copies nothing).
func TestLimitedMemory(t *testing.T) {
	const page = wasmPageSize
	m := newLimitedMemory(maxMemoryBytes)
	lm := m.allocator().Allocate(2*page, maxMemoryBytes)
	if runtime.GOOS == "linux" && m.mapped == nil {
		t.Fatal("no mmap reservation on linux")
	}
	buf := lm.Reallocate(2 * page)
	if len(buf) != 2*page {
		t.Fatalf("initial size %d, want %d", len(buf), 2*page)
	}
	buf[0], buf[len(buf)-1] = 1, 2
	base := unsafe.SliceData(buf)
	m.limit.Store(8 * page) // bound, as Start does
	for _, tc := range []struct {
		name    string
		size    uint64
		ok      bool
		refused bool
	}{
		{name: "grow within the limit", size: 4 * page, ok: true},
		{name: "grow to the limit", size: 8 * page, ok: true},
		{name: "grow past the limit", size: 9 * page, ok: false, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lm.Reallocate(tc.size)
			if (got != nil) != tc.ok {
				t.Fatalf("Reallocate(%d) = len %d, want ok=%v", tc.size, len(got), tc.ok)
			}
			if m.refused.Load() != tc.refused {
				t.Fatalf("refused = %v, want %v", m.refused.Load(), tc.refused)
			}
			if got == nil {
				return
			}
			if uint64(len(got)) != tc.size || cap(got) < len(got) {
				t.Fatalf("len %d cap %d, want len %d", len(got), cap(got), tc.size)
			}
			if got[0] != 1 || got[2*page-1] != 2 {
				t.Fatalf("guest bytes lost across growth")
			}
			got[len(got)-1] = 3 // the new pages are writable
			if runtime.GOOS == "linux" && unsafe.SliceData(got) != base {
				t.Fatalf("memory moved while growing")
			}
			if m.size.Load() != tc.size {
				t.Fatalf("size = %d, want %d", m.size.Load(), tc.size)
			}
		})
	}
	lm.Free()
	if m.size.Load() != 0 || m.buf != nil || m.mapped != nil {
		t.Fatalf("Free left size %d, buf %v, mapped %v", m.size.Load(), m.buf != nil, m.mapped != nil)
	}
}
