package wasm

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// snapshotChunk is the granularity at which a snapshot records memory: a
// host page, so a restored instance writes (and makes resident) only the
// pages start-up changed, like a forked process would.
const snapshotChunk = 4 << 10

// snapshot is an interpreter at its boot line: CPython started, the SDK and
// runner imported, nothing read from stdin. A reactor's export returns with
// the wasm call stack empty, so linear memory and the mutable globals are
// the whole guest state; the WASI state (stdio and the mounts' descriptors)
// is recreated identically by moduleConfig.
//
// Why a snapshot and not only the warm pool: the pool hides start-up only
// while it is full, and keeps whole interpreters around to do so.
//
// Where the platform has memfd (Linux), the memory is also written once
// into a sealed file (image) that every instance maps copy-on-write, so a
// restore costs a mapping and an instance owns only the pages it writes.
// Elsewhere, or if an instance cannot map it, a restore copies the chunks.
type snapshot struct {
	pages   uint32            // memory size, in wasm pages
	chunks  []chunk           // memory that differs from a fresh instance
	image   *cowImage         // chunks as a memfd; nil where unavailable
	globals map[string]uint64 // exported mutable globals
	bytes   int               // total chunk bytes
	took    time.Duration     // how long start-up took, for the record
}

type chunk struct {
	off  uint32
	data []byte
}

// takeSnapshot starts one interpreter up to its boot line and records how
// its memory and globals differ from a freshly instantiated module.
func (b *Backend) takeSnapshot(ctx context.Context) (*snapshot, error) {
	var stdout, stderr bytes.Buffer
	cfg := b.moduleConfig(bytes.NewReader(nil), &stdout, &stderr, nil, b.empty, b.empty, b.empty,
		func(ns int64) { time.Sleep(time.Duration(ns)) }, newEntropy(), nil)
	t0 := time.Now()
	mod, err := b.rt.InstantiateModule(ctx, b.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("snapshot: instantiate: %w", err)
	}
	defer mod.Close(ctx)
	mem := mod.Memory()
	if mem == nil {
		return nil, fmt.Errorf("snapshot: interpreter has no memory")
	}
	// What a restored instance starts from: memory as instantiated.
	fresh, _ := mem.Read(0, mem.Size())
	fresh = bytes.Clone(fresh)
	if err := b.initData(mod); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	for _, call := range []struct {
		fn   string
		args []uint64
	}{{"_initialize", nil}, {"maid_prepare", []uint64{1}}} {
		if _, err := mod.ExportedFunction(call.fn).Call(ctx, call.args...); err != nil {
			return nil, fmt.Errorf("snapshot: start interpreter (%s): %w: %s", call.fn, err, stderr.Bytes())
		}
	}
	if stdout.Len() > 0 {
		// stdout is the protocol's; the runner must not have written yet.
		return nil, fmt.Errorf("snapshot: interpreter wrote to stdout during start-up: %q", stdout.Bytes())
	}
	s := &snapshot{pages: mem.Size() / wasmPageSize, globals: map[string]uint64{}, took: time.Since(t0)}
	cur, _ := mem.Read(0, mem.Size())
	var zero [snapshotChunk]byte
	for off := 0; off < len(cur); off += snapshotChunk {
		end := min(off+snapshotChunk, len(cur))
		var was []byte
		if off < len(fresh) {
			was = fresh[off:min(end, len(fresh))]
		}
		if len(was) < end-off {
			was = append(bytes.Clone(was), zero[:end-off-len(was)]...)
		}
		if bytes.Equal(cur[off:end], was) {
			continue
		}
		if n := len(s.chunks); n > 0 && int(s.chunks[n-1].off)+len(s.chunks[n-1].data) == off {
			s.chunks[n-1].data = append(s.chunks[n-1].data, cur[off:end]...)
		} else {
			s.chunks = append(s.chunks, chunk{off: uint32(off), data: bytes.Clone(cur[off:end])})
		}
		s.bytes += end - off
	}
	// Fresh memory is zero (the module carries no data segments), so the
	// chunks over zeros are the whole image.
	if img, err := newCowImage(uint64(s.pages)*wasmPageSize, s.chunks); err == nil {
		s.image = img
	} else {
		b.cfg.Logger.Debug("wasm snapshot: no copy-on-write image, instances copy it", "err", err)
	}
	for _, name := range b.globals {
		g := mod.ExportedGlobal(name)
		if g == nil {
			return nil, fmt.Errorf("snapshot: global %s not exported", name)
		}
		s.globals[name] = g.Get()
	}
	return s, nil
}

// restore makes a freshly instantiated module (no start function run) the
// snapshot's interpreter. mapped says its memory already starts as the
// image (limitedMemory mapped it), so only the globals are left to set.
// prefault, when not nil, is asked to map each range before it is written
// (one call instead of a page fault per page).
func (s *snapshot) restore(mod api.Module, mapped bool, prefault func(off, n uint32)) error {
	mem := mod.Memory()
	if have := mem.Size() / wasmPageSize; have < s.pages {
		if _, ok := mem.Grow(s.pages - have); !ok {
			return fmt.Errorf("restore snapshot: memory limit below the interpreter's %d bytes", uint64(s.pages)*wasmPageSize)
		}
	}
	for _, c := range s.chunks {
		if mapped {
			break
		}
		if prefault != nil {
			prefault(c.off, uint32(len(c.data)))
		}
		if !mem.Write(c.off, c.data) {
			return fmt.Errorf("restore snapshot: write %d bytes at %d: out of range", len(c.data), c.off)
		}
	}
	for name, v := range s.globals {
		g, ok := mod.ExportedGlobal(name).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("restore snapshot: global %s not exported as mutable", name)
		}
		g.Set(v)
	}
	return nil
}
