package wasm

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// beneathDir opens paths beneath a dir with one openat2(2) each, which
// refuses ".." out of the dir and every symbolic link, checked by the
// kernel during the walk (no race with a rename). os.Root does the same
// with a syscall or two per path component; this is what keeps a read-only
// mount's stat and open as cheap as wazero's plain host-directory mount.
type beneathDir struct {
	dir *os.File
	fd  int
}

const beneathResolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openBeneath opens dir, or returns nil where openat2 is unavailable
// (Linux before 5.6, or a seccomp profile that refuses it): the caller
// then resolves through os.Root.
func openBeneath(dir string) *beneathDir {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	d := &beneathDir{dir: f, fd: int(f.Fd())}
	probe, err := d.open(".", unix.O_PATH)
	if err != nil {
		_ = f.Close()
		return nil
	}
	_ = probe.Close()
	return d
}

// open opens name, relative to the dir, with flags.
func (d *beneathDir) open(name string, flags int) (*os.File, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: beneathResolve}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(d.fd, name, &how)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), name), nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN) && try < 8:
			// EAGAIN: a rename raced the walk; the kernel asks to retry.
			continue
		case errors.Is(err, unix.EXDEV):
			err = fs.ErrPermission // ".." or an absolute path out of the dir
		}
		return nil, &fs.PathError{Op: "openat2", Path: name, Err: err}
	}
}

// stat is fstat of name, following no link (nofollow: nor the last one).
func (d *beneathDir) stat(name string, nofollow bool) (fs.FileInfo, error) {
	flags := unix.O_PATH
	if nofollow {
		flags |= unix.O_NOFOLLOW
	}
	f, err := d.open(name, flags)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// readlink reads the link name, its parents resolved like open's.
func (d *beneathDir) readlink(name string) (string, error) {
	f, err := d.open(name, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(int(f.Fd()), "", buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(buf[:n]), nil
}

func (d *beneathDir) close() error { return d.dir.Close() }
