package wasm

import "syscall"

// reserve maps n bytes of address space with no access and no swap
// reservation: untouched, it costs neither memory nor commit charge.
func reserve(n uint64) ([]byte, error) {
	return syscall.Mmap(-1, 0, int(n), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
}

// commit makes part of a reservation readable and writable; its pages read
// as zero until written.
func commit(b []byte) error {
	return syscall.Mprotect(b, syscall.PROT_READ|syscall.PROT_WRITE)
}

// release unmaps a whole reservation (the slice reserve returned).
func release(b []byte) error { return syscall.Munmap(b) }

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14): fault a range in,
// writable, in one call.
const madvPopulateWrite = 23

// populate prefaults b; on older kernels it fails and the writes fault the
// pages in one by one instead.
func populate(b []byte) { _ = syscall.Madvise(b, madvPopulateWrite) }
