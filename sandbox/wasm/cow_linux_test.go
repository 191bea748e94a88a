package wasm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// TestCowImagePages: memories mapped from one snapshot image start as the
// image, a page one of them writes is its own (never seen by another, nor
// by one mapped later), the image cannot be written once sealed, growth
// past the image gives zero pages, and nothing of the image stays mapped
// or open once the memories are freed and the image closed.
func TestCowImagePages(t *testing.T) {
	const page = 4 << 10
	size := uint64(2 * wasmPageSize)
	chunks := []chunk{
		{off: 0, data: bytes.Repeat([]byte{'a'}, page)},
		{off: 3 * page, data: bytes.Repeat([]byte{'d'}, 2*page)},
	}
	img, err := newCowImage(size, chunks)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	for _, c := range chunks {
		copy(want[c.off:], c.data)
	}
	open := func() (*limitedMemory, []byte) {
		t.Helper()
		m := newLimitedMemory(maxMemoryBytes)
		m.image = img
		lm := m.allocator().Allocate(wasmPageSize, maxMemoryBytes)
		if !m.imageMapped() {
			t.Fatal("image not mapped")
		}
		lm.Reallocate(wasmPageSize)
		return m, lm.Reallocate(size)
	}
	a, bufA := open()
	b, bufB := open()
	if !bytes.Equal(bufA, want) || !bytes.Equal(bufB, want) {
		t.Fatal("a mapped memory does not start as the image")
	}

	bufA[0] = 'X'        // a page from a chunk
	bufA[2*page+7] = 'Y' // a page that was a hole (zero)
	bufB[4*page+1] = 'Z' // b's own write
	if bufB[0] != 'a' || bufB[2*page+7] != 0 {
		t.Fatalf("b sees a's writes: %q %q", bufB[0], bufB[2*page+7])
	}
	if bufA[4*page+1] != 'd' {
		t.Fatalf("a sees b's write: %q", bufA[4*page+1])
	}
	c, bufC := open()
	if !bytes.Equal(bufC, want) {
		t.Fatal("a memory mapped later sees earlier instances' writes")
	}

	// Sealed: the file under every mapping cannot change.
	if _, err := unix.Pwrite(img.fd, []byte("w"), 0); err == nil {
		t.Fatal("the sealed image accepted a write")
	}
	if _, err := unix.Mmap(img.fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		t.Fatal("the sealed image could be mapped shared and writable")
	}

	// Growth past the image: fresh zero pages, writable.
	grown := c.Reallocate(size + wasmPageSize)
	if grown == nil || !bytes.Equal(grown[size:], make([]byte, wasmPageSize)) {
		t.Fatal("growth past the image is not zero")
	}
	grown[len(grown)-1] = 1

	// Each memory owns exactly the pages it wrote; reading shares.
	for _, tc := range []struct {
		name  string
		m     *limitedMemory
		pages int64
	}{{"a", a, 2}, {"b", b, 1}, {"c", c, 1}} {
		if got, err := tc.m.private(); err != nil || got != tc.pages*page {
			t.Errorf("memory %s owns %d bytes (%v), want %d pages", tc.name, got, err, tc.pages)
		}
	}

	if !strings.Contains(readProc(t, "maps"), img.name) {
		t.Fatal("the image does not show in /proc/self/maps while mapped")
	}
	for _, m := range []*limitedMemory{a, b, c} {
		m.Free()
	}
	if err := img.close(); err != nil {
		t.Fatal(err)
	}
	if imageInUse(t, img.name) {
		t.Fatalf("%s still mapped or open after Free and close", img.name)
	}
}

// imageInUse reports whether the memfd called name is still mapped or open
// in this process.
func imageInUse(t *testing.T, name string) bool {
	t.Helper()
	if strings.Contains(readProc(t, "maps"), "/memfd:"+name+" ") {
		return true
	}
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "/memfd:"+name+" ") {
			return true
		}
	}
	return false
}

func readProc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSnapshotImageReleased: instances restored from the snapshot map its
// image instead of copying it, and the memfd goes with the backend: once
// it is closed and its last instance has exited, the image is neither open
// nor mapped.
func TestSnapshotImageReleased(t *testing.T) {
	b, err := New(context.Background(), Config{PythonDir: pythonDir(t), CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.snap == nil || b.snap.image == nil {
		t.Fatal("no copy-on-write snapshot image on linux")
	}
	name := b.snap.image.name
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inst := sandboxtest.Start(t, ctx, b, "say('up')\ninp.read()", nil)
	sandboxtest.FirstLine(t, inst, "up")
	if !inst.(*instance).mem.imageMapped() {
		t.Fatal("the instance copied the snapshot instead of mapping its image")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !imageInUse(t, name) {
		t.Fatal("the image is gone while an instance still runs on it")
	}
	_ = inst.Stdin().Close()
	if ex, err := inst.Wait(ctx); err != nil || ex.Code != 0 {
		t.Fatalf("exit %v, %v", ex, err)
	}
	if imageInUse(t, name) {
		t.Fatalf("%s still open or mapped after Close and the last exit", name)
	}
}

// TestSnapshotHeapFrozen: the start-up heap is frozen before the snapshot,
// so a full collection in an instance does not write the GC headers of
// every shared object (copying most of the heap into the instance). An
// instance that collects owns about as many pages as one that does not
// (measured: 292 against 275 pages; without gc.freeze, 665).
func TestSnapshotHeapFrozen(t *testing.T) {
	b := newBackend(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	owned := func(script string) int64 {
		t.Helper()
		inst := sandboxtest.Start(t, ctx, b, script+"\nsay('up')\ninp.read()", nil)
		sandboxtest.FirstLine(t, inst, "up")
		n, err := inst.(*instance).PrivateMemory()
		if err != nil {
			t.Fatal(err)
		}
		_ = inst.Kill()
		_, _ = inst.Wait(ctx)
		return n
	}
	idle := owned("pass")
	collected := owned("import gc\ngc.collect()")
	if idle <= 0 || collected > idle*3/2 {
		t.Fatalf("an instance that ran gc.collect() owns %d KiB, one that did not %d KiB: the snapshot's heap is not frozen", collected>>10, idle>>10)
	}
}

// TestExitKeepsPagesShared: an instance exits without finalizing the
// interpreter, so its exit writes few pages. (Py_FinalizeEx tears down
// every object, copying most of the snapshot into each exiting instance:
// stopping 10,000 idle instances at once took gigabytes.)
func TestExitKeepsPagesShared(t *testing.T) {
	recordFreed.Store(true)
	t.Cleanup(func() { recordFreed.Store(false) })
	b := newBackend(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inst := sandboxtest.Start(t, ctx, b, "import atexit\natexit.register(lambda: say('bye'))\nsay('up')\ninp.read()", nil)
	r := sandboxtest.FirstLine(t, inst, "up")
	idle, err := inst.(*instance).PrivateMemory()
	if err != nil {
		t.Fatal(err)
	}
	_ = inst.Stdin().Close()
	if line, err := r.ReadString('\n'); err != nil || line != "bye\n" {
		t.Fatalf("atexit handler did not run: %q, %v", line, err)
	}
	if ex, err := inst.Wait(ctx); err != nil || ex.Code != 0 {
		t.Fatalf("exit %v, %v", ex, err)
	}
	if exit := inst.(*instance).mem.freedPrivate.Load(); idle <= 0 || exit > idle*3/2 {
		t.Fatalf("the instance owned %d KiB as it exited, %d KiB idle: its exit finalized the interpreter", exit>>10, idle>>10)
	}
}

// TestIdleInstanceDescriptors: an idle instance holds one host descriptor
// (its plugin dir), not one more per mount its guest has used: wazero's
// preopens of the mounts are answered without a descriptor (rootDir).
// 10,000 instances must fit a 20,000 open-file limit.
func TestIdleInstanceDescriptors(t *testing.T) {
	b := newBackend(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	count := func() int {
		fds, _ := filepath.Glob("/proc/self/fd/*")
		return len(fds)
	}
	before := count()
	const n = 5
	for range n {
		// Touches all three read-only mounts: stdlib, SDK, plugin.
		inst := sandboxtest.Start(t, ctx, b, "import os, colorsys, maid_sdk.errors\nos.listdir('/plugin')\nsay('up')\ninp.read()", nil)
		sandboxtest.FirstLine(t, inst, "up")
		t.Cleanup(func() { _ = inst.Kill() })
	}
	if got := count() - before; got > n {
		t.Fatalf("%d idle instances hold %d more descriptors, want at most %d", n, got, n)
	}
}
