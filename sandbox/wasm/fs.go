package wasm

import (
	"io/fs"
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
// Every path is first checked against PATH_MAX (pathErrno), before the
// bound FS sees it.
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
	if errno := pathErrno(path); errno != 0 {
		return nil, errno
	}
	if f := s.fs(); f != nil {
		return f.OpenFile(path, flag, perm)
	}
	return nil, experimentalsys.ENOENT
}

func (s *swapFS) Lstat(path string) (wsys.Stat_t, experimentalsys.Errno) {
	if errno := pathErrno(path); errno != 0 {
		return wsys.Stat_t{}, errno
	}
	if f := s.fs(); f != nil {
		return f.Lstat(path)
	}
	return wsys.Stat_t{}, experimentalsys.ENOENT
}

func (s *swapFS) Stat(path string) (wsys.Stat_t, experimentalsys.Errno) {
	if errno := pathErrno(path); errno != 0 {
		return wsys.Stat_t{}, errno
	}
	if f := s.fs(); f != nil {
		return f.Stat(path)
	}
	return wsys.Stat_t{}, experimentalsys.ENOENT
}

func (s *swapFS) Mkdir(path string, perm fs.FileMode) experimentalsys.Errno {
	if errno := pathErrno(path); errno != 0 {
		return errno
	}
	if f := s.fs(); f != nil {
		return f.Mkdir(path, perm)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Chmod(path string, perm fs.FileMode) experimentalsys.Errno {
	if errno := pathErrno(path); errno != 0 {
		return errno
	}
	if f := s.fs(); f != nil {
		return f.Chmod(path, perm)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Rename(from, to string) experimentalsys.Errno {
	if errno := pathErrno(from, to); errno != 0 {
		return errno
	}
	if f := s.fs(); f != nil {
		return f.Rename(from, to)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Rmdir(path string) experimentalsys.Errno {
	if errno := pathErrno(path); errno != 0 {
		return errno
	}
	if f := s.fs(); f != nil {
		return f.Rmdir(path)
	}
	return experimentalsys.ENOENT
}

func (s *swapFS) Unlink(path string) experimentalsys.Errno {
	if errno := pathErrno(path); errno != 0 {
		return errno
	}
	if f := s.fs(); f != nil {
		return f.Unlink(path)
	}
	return experimentalsys.ENOENT
}

// Link and Symlink are refused here whatever is bound: a link is a path
// the guest shapes and something else may resolve later. (Every FS this
// package binds refuses them too.)
func (s *swapFS) Link(_, _ string) experimentalsys.Errno { return experimentalsys.EPERM }

func (s *swapFS) Symlink(_, _ string) experimentalsys.Errno { return experimentalsys.EPERM }

func (s *swapFS) Readlink(path string) (string, experimentalsys.Errno) {
	if errno := pathErrno(path); errno != 0 {
		return "", errno
	}
	if f := s.fs(); f != nil {
		return f.Readlink(path)
	}
	return "", experimentalsys.ENOENT
}

func (s *swapFS) Utimens(path string, atim, mtim int64) experimentalsys.Errno {
	if errno := pathErrno(path); errno != 0 {
		return errno
	}
	if f := s.fs(); f != nil {
		return f.Utimens(path, atim, mtim)
	}
	return experimentalsys.ENOENT
}
