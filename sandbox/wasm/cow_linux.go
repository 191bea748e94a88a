package wasm

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cowImage is the snapshot's linear memory written once into a sealed
// memfd. Each instance restored from the snapshot maps it MAP_PRIVATE over
// the start of its reservation: the pages are the kernel's page cache,
// shared by every instance, until an instance writes one, which copies that
// page for it alone. A start costs one mmap instead of copying every page
// start-up touched, and an idle instance owns only the pages it wrote.
//
// Why sealed: a private mapping shows later writes to the file in the pages
// an instance has not written yet, so nothing may write the file once an
// instance maps it. F_SEAL_WRITE|GROW|SHRINK|SEAL makes that a kernel rule
// rather than a convention.
//
// Rejected: sharing the snapshot through a Go slice (every instance needs
// its own copy-on-write view, which only the kernel's page tables give) and
// MAP_SHARED with a manual copy on write (needs userfaultfd or signals).
type cowImage struct {
	fd   int
	size uint64 // bytes, a multiple of the host page
	name string // memfd name, for /proc/self/maps and tests
}

var cowSeq atomic.Int64

// newCowImage writes a memory image of size bytes, zero except for chunks,
// into a new sealed memfd. Zero ranges stay holes: they cost nothing.
func newCowImage(size uint64, chunks []chunk) (*cowImage, error) {
	name := fmt.Sprintf("maid-wasm-snapshot-%d", cowSeq.Add(1))
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	img := &cowImage{fd: fd, size: size, name: name}
	fail := func(op string, err error) (*cowImage, error) {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("snapshot image: %s: %w", op, err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return fail("truncate", err)
	}
	for _, c := range chunks {
		for off := 0; off < len(c.data); {
			n, err := unix.Pwrite(fd, c.data[off:], int64(c.off)+int64(off))
			if err != nil {
				return fail("write", err)
			}
			off += n
		}
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS,
		unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		return fail("seal", err)
	}
	return img, nil
}

// mapOver maps the image copy-on-write over the start of b, which must be
// at least img.size bytes of a reservation this package made.
func (img *cowImage) mapOver(b []byte) error {
	if uint64(len(b)) < img.size {
		return fmt.Errorf("map snapshot image: reservation of %d bytes is below the image's %d", len(b), img.size)
	}
	_, err := unix.MmapPtr(img.fd, 0, unsafe.Pointer(unsafe.SliceData(b)), uintptr(img.size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_NORESERVE)
	if err != nil {
		return fmt.Errorf("map snapshot image: %w", err)
	}
	return nil
}

// close releases the memfd. Mappings made from it keep the pages they
// map until they are unmapped (Free).
func (img *cowImage) close() error { return unix.Close(img.fd) }

// Bits of a /proc/self/pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
const (
	pagemapPresent   = 1 << 63
	pagemapFile      = 1 << 61 // file page or shared anonymous: the image's
	pagemapExclusive = 1 << 56 // mapped once: not the shared zero page
)

// privateBytes counts the resident pages of b this process alone owns:
// pages written since mapping (the image's copied pages, grown memory),
// not the image's shared pages nor untouched ones.
func privateBytes(b []byte) (int64, error) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return 0, fmt.Errorf("private memory: %w", err)
	}
	defer f.Close()
	pg := uintptr(os.Getpagesize())
	first := uintptr(unsafe.Pointer(unsafe.SliceData(b))) / pg
	n := uintptr(len(b)) / pg
	buf := make([]byte, 8*min(n, 4096))
	var count int64
	for i := uintptr(0); i < n; {
		k := min(n-i, 4096)
		if _, err := f.ReadAt(buf[:8*k], int64((first+i)*8)); err != nil {
			return 0, fmt.Errorf("private memory: read pagemap: %w", err)
		}
		for j := uintptr(0); j < k; j++ {
			v := binary.LittleEndian.Uint64(buf[8*j:])
			if v&pagemapPresent != 0 && v&pagemapFile == 0 && v&pagemapExclusive != 0 {
				count++
			}
		}
		i += k
	}
	return count * int64(pg), nil
}
