package wasm

import (
	"io/fs"
	"sync"
	"sync/atomic"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	wsys "github.com/tetratelabs/wazero/sys"
)

// swapFS is a mount whose contents are chosen after the guest has started.
//
// Why not Boot.Files: a pooled interpreter is instantiated before anyone
// knows which plugin it will run, and wazero fixes the mounts at
// instantiation. Shipping the plugin as a zip on the boot line would cost a
// zip+base64 of the plugin dir per start, an unzip inside the guest, and a
// writable scratch dir even for plugins that need none. Binding a mount
// instead is free, keeps the files read-only on the host side, and the
// runner sees an ordinary directory.
//
// Until bound it shows an empty read-only directory, not ENOENT: wasi-libc
// enumerates preopens at start-up and stops at the first one that is not a
// directory, which would hide this mount and every later one.
type swapFS struct {
	cur atomic.Pointer[experimentalsys.FS]
}

func newSwapFS(empty experimentalsys.FS) *swapFS {
	s := &swapFS{}
	s.bind(empty)
	return s
}

// bind sets the mount's contents; later path lookups see fsys.
func (s *swapFS) bind(fsys experimentalsys.FS) { s.cur.Store(&fsys) }

func (s *swapFS) fs() experimentalsys.FS {
	if p := s.cur.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *swapFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if f := s.fs(); f != nil {
		return f.OpenFile(path, flag, perm)
	}
	return nil, experimentalsys.ENOENT
}

func (s *swapFS) Lstat(path string) (wsys.Stat_t, experimentalsys.Errno) {
	if f := s.fs(); f != nil {
		return f.Lstat(path)
	}
	return wsys.Stat_t{}, experimentalsys.ENOENT
}

func (s *swapFS) Stat(path string) (wsys.Stat_t, experimentalsys.Errno) {
	if f := s.fs(); f != nil {
		return f.Stat(path)
	}
	return wsys.Stat_t{}, experimentalsys.ENOENT
}

func (s *swapFS) Mkdir(path string, perm fs.FileMode) experimentalsys.Errno {
	if f := s.fs(); f != nil {
		return f.Mkdir(path, perm)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Chmod(path string, perm fs.FileMode) experimentalsys.Errno {
	if f := s.fs(); f != nil {
		return f.Chmod(path, perm)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Rename(from, to string) experimentalsys.Errno {
	if f := s.fs(); f != nil {
		return f.Rename(from, to)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Rmdir(path string) experimentalsys.Errno {
	if f := s.fs(); f != nil {
		return f.Rmdir(path)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Unlink(path string) experimentalsys.Errno {
	if f := s.fs(); f != nil {
		return f.Unlink(path)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Link(oldPath, newPath string) experimentalsys.Errno {
	if f := s.fs(); f != nil {
		return f.Link(oldPath, newPath)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Symlink(oldPath, linkName string) experimentalsys.Errno {
	if f := s.fs(); f != nil {
		return f.Symlink(oldPath, linkName)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Readlink(path string) (string, experimentalsys.Errno) {
	if f := s.fs(); f != nil {
		return f.Readlink(path)
	}
	return "", experimentalsys.ENOENT
}

func (s *swapFS) Utimens(path string, atim, mtim int64) experimentalsys.Errno {
	if f := s.fs(); f != nil {
		return f.Utimens(path, atim, mtim)
	}
	return experimentalsys.ENOENT
}

// quotaFS caps the bytes a guest may write into its scratch dir
// (Limits.ScratchBytes); over quota, writes fail with EIO (wazero has no
// ENOSPC). It charges every byte written or extended and
// refunds a file's size when the guest unlinks it, so it can over-count
// (overwrites in place) but never under-count.
type quotaFS struct {
	experimentalsys.FS
	mu   sync.Mutex
	used int64
	max  int64
}

func (q *quotaFS) charge(n int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used+n > q.max {
		return false
	}
	q.used += n
	return true
}

func (q *quotaFS) refund(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.used = max(0, q.used-n)
}

func (q *quotaFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	f, errno := q.FS.OpenFile(path, flag, perm)
	if errno != 0 {
		return nil, errno
	}
	return &quotaFile{File: f, q: q}, 0
}

func (q *quotaFS) Unlink(path string) experimentalsys.Errno {
	st, serr := q.FS.Lstat(path)
	errno := q.FS.Unlink(path)
	if errno == 0 && serr == 0 && st.Nlink <= 1 {
		q.refund(st.Size)
	}
	return errno
}

type quotaFile struct {
	experimentalsys.File
	q *quotaFS
}

func (f *quotaFile) Write(b []byte) (int, experimentalsys.Errno) {
	if !f.q.charge(int64(len(b))) {
		return 0, experimentalsys.EIO
	}
	return f.File.Write(b)
}

func (f *quotaFile) Pwrite(b []byte, off int64) (int, experimentalsys.Errno) {
	if !f.q.charge(int64(len(b))) {
		return 0, experimentalsys.EIO
	}
	return f.File.Pwrite(b, off)
}

func (f *quotaFile) Truncate(size int64) experimentalsys.Errno {
	st, errno := f.File.Stat()
	if errno != 0 {
		return errno
	}
	if grow := size - st.Size; grow > 0 && !f.q.charge(grow) {
		return experimentalsys.EIO
	}
	return f.File.Truncate(size)
}
