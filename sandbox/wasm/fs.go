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

// on checks paths against PATH_MAX, then runs op on the bound FS (ENOENT
// while none is): the one way a call reaches the bound FS.
func on[T any](s *swapFS, op func(experimentalsys.FS) (T, experimentalsys.Errno), paths ...string) (T, experimentalsys.Errno) {
	var zero T
	if errno := pathErrno(paths...); errno != 0 {
		return zero, errno
	}
	if f := s.fs(); f != nil {
		return op(f)
	}
	return zero, experimentalsys.ENOENT
}

// do is on for a call that returns only an errno.
func (s *swapFS) do(op func(experimentalsys.FS) experimentalsys.Errno, paths ...string) experimentalsys.Errno {
	_, errno := on(s, func(f experimentalsys.FS) (struct{}, experimentalsys.Errno) { return struct{}{}, op(f) }, paths...)
	return errno
}

func (s *swapFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	return on(s, func(f experimentalsys.FS) (experimentalsys.File, experimentalsys.Errno) {
		return f.OpenFile(path, flag, perm)
	}, path)
}

func (s *swapFS) Lstat(path string) (wsys.Stat_t, experimentalsys.Errno) {
	return on(s, func(f experimentalsys.FS) (wsys.Stat_t, experimentalsys.Errno) { return f.Lstat(path) }, path)
}

func (s *swapFS) Stat(path string) (wsys.Stat_t, experimentalsys.Errno) {
	return on(s, func(f experimentalsys.FS) (wsys.Stat_t, experimentalsys.Errno) { return f.Stat(path) }, path)
}

func (s *swapFS) Mkdir(path string, perm fs.FileMode) experimentalsys.Errno {
	return s.do(func(f experimentalsys.FS) experimentalsys.Errno { return f.Mkdir(path, perm) }, path)
}

func (s *swapFS) Chmod(path string, perm fs.FileMode) experimentalsys.Errno {
	return s.do(func(f experimentalsys.FS) experimentalsys.Errno { return f.Chmod(path, perm) }, path)
}

func (s *swapFS) Rename(from, to string) experimentalsys.Errno {
	return s.do(func(f experimentalsys.FS) experimentalsys.Errno { return f.Rename(from, to) }, from, to)
}

func (s *swapFS) Rmdir(path string) experimentalsys.Errno {
	return s.do(func(f experimentalsys.FS) experimentalsys.Errno { return f.Rmdir(path) }, path)
}

func (s *swapFS) Unlink(path string) experimentalsys.Errno {
	return s.do(func(f experimentalsys.FS) experimentalsys.Errno { return f.Unlink(path) }, path)
}

// Link and Symlink are refused here whatever is bound: a link is a path
// the guest shapes and something else may resolve later. (Every FS this
// package binds refuses them too.)
func (s *swapFS) Link(_, _ string) experimentalsys.Errno { return experimentalsys.EPERM }

func (s *swapFS) Symlink(_, _ string) experimentalsys.Errno { return experimentalsys.EPERM }

func (s *swapFS) Readlink(path string) (string, experimentalsys.Errno) {
	return on(s, func(f experimentalsys.FS) (string, experimentalsys.Errno) { return f.Readlink(path) }, path)
}

func (s *swapFS) Utimens(path string, atim, mtim int64) experimentalsys.Errno {
	return s.do(func(f experimentalsys.FS) experimentalsys.Errno { return f.Utimens(path, atim, mtim) }, path)
}
