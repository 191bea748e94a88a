package wasm

import (
	"errors"
	"io/fs"
	"os"
	"path"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	wsys "github.com/tetratelabs/wazero/sys"
)

// roFS is a read-only mount of a host dir (the stdlib, the SDK, a plugin's
// files), resolved beneath the dir: on Linux by openat2 with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (no symlink is followed at all),
// elsewhere or where openat2 is refused by an os.Root (a symlink is
// followed only while it stays in the dir). Either way no path leaves it.
//
// Why not wazero's WithReadOnlyDirMount or ReadFS over DirFS: those resolve
// paths on the host with plain open(2), following any symlink, and ReadFS
// passes an open with O_CREAT or O_TRUNC through when the access mode is
// read-only (wazero's path_open gives O_RDONLY|O_TRUNC to a guest that asks
// for read rights only), so a guest could create or empty files in maid's
// stdlib, the SDK or a plugin dir. Here anything but a plain read-only open
// is EROFS, and every change to the tree is EROFS.
type roFS struct {
	experimentalsys.UnimplementedFS
	root    *os.Root       // nil when beneath is set
	beneath *beneathDir    // nil: resolve through root
	adapt   *sysfs.AdaptFS // files opened through roOpen
	files   *fileBudget    // the instance's open handles; nil: no cap
	host    *fileBudget    // host descriptors all guests hold (newHostFiles); nil: no cap
}

// openRoFS opens dir for mounting read-only.
func openRoFS(dir string) (*roFS, error) {
	r := &roFS{beneath: openBeneath(dir)}
	if r.beneath == nil {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, err
		}
		r.root = root
	}
	r.adapt = &sysfs.AdaptFS{FS: roOpen{r}}
	return r, nil
}

// roOpen is the fs.FS wazero's adapter opens files through.
type roOpen struct{ r *roFS }

func (o roOpen) Open(name string) (fs.File, error) {
	if o.r.beneath != nil {
		return o.r.beneath.open(name, os.O_RDONLY)
	}
	return o.r.root.Open(name)
}

// withBudget is the same mount, counting open handles against files (the
// instance's) and the host descriptors they hold against host (the
// backend's, shared by all its instances).
func (r *roFS) withBudget(files, host *fileBudget) *roFS {
	c := *r
	c.files = files
	c.host = host
	return &c
}

// newHostFiles is the budget bounding the host descriptors all of a
// backend's guests hold at once (Backend.hostFiles): each file or dir a
// guest holds open on a read-only mount (/usr/local, /maid/sdk, /plugin)
// is one of maid's own descriptors. The
// per-instance cap (maxOpenFiles) alone let about 78 instances take a
// 20,000 limit, after which maid could not open its database, accept a
// connection or reach Discord (attack Q1). Guests get half of the limit
// (RLIMIT_NOFILE when the backend starts; see hostFileLimit) and maid
// keeps the rest. Past it a guest's open fails with EIO, as past its own
// cap (wazero's errnos have no EMFILE), until some guest closes a file or
// exits; a mount's root until it is listed, and files on /tmp and
// /maid/pyc, hold no host descriptor and do not count.
//
// Why not hold no descriptor per open file (reopen by path for every read
// and pread at the handle's offset): a dir's read position lives in its
// descriptor, so a listing would be re-read from the start for each batch
// wazero asks for (quadratic in a plugin's big dir) or copied into memory
// per handle (256 copies of a plugin's biggest dir per guest: host memory
// with no bound), and a file replaced between two reads would mix two
// files' bytes unless every reopen checked the file's identity. Why not
// one shared descriptor per distinct path: descriptors would still grow
// with what is installed (the stdlib alone has thousands of files) rather
// than stop at a bound maid sets, and dirs could not be shared at all. The
// budget changes nothing a guest sees until maid is short of descriptors.
func newHostFiles() *fileBudget { return &fileBudget{max: max(hostFileLimit()/2, 1)} }

// close releases the dir; mounts using it fail afterwards.
func (r *roFS) close() error {
	if r.beneath != nil {
		return r.beneath.close()
	}
	return r.root.Close()
}

// rootName turns a path from wazero into one os.Root accepts.
func rootName(p string) string {
	p = path.Clean("/" + p)
	if p == "/" {
		return "."
	}
	return p[1:]
}

const roWriteFlags = experimentalsys.O_RDWR | experimentalsys.O_WRONLY |
	experimentalsys.O_CREAT | experimentalsys.O_TRUNC | experimentalsys.O_APPEND

// OpenFile implements experimentalsys.FS.
func (r *roFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if errno := pathErrno(p); errno != 0 {
		return nil, errno
	}
	if flag&roWriteFlags != 0 {
		return nil, experimentalsys.EROFS
	}
	if flag == experimentalsys.O_RDONLY && rootName(p) == "." {
		// wazero's preopen of the mount (or a plain open of it): no host
		// descriptor until it is read (rootDir).
		if !r.files.take() {
			return nil, experimentalsys.EIO
		}
		return &rootDir{r: r}, 0
	}
	// The backend's bound, which keeps maid's own descriptors, then the
	// instance's.
	if !r.host.take() {
		return nil, experimentalsys.EIO
	}
	if !r.files.take() {
		r.host.put()
		return nil, experimentalsys.EIO
	}
	f, errno := r.adapt.OpenFile(rootName(p), experimentalsys.O_RDONLY|flag&experimentalsys.O_DIRECTORY, 0)
	if errno != 0 {
		r.files.put()
		r.host.put()
		return nil, errno
	}
	return &roFile{File: f, files: r.files, host: r.host}, 0
}

// Stat implements experimentalsys.FS.
func (r *roFS) Stat(p string) (wsys.Stat_t, experimentalsys.Errno) { return r.stat(p, false) }

// Lstat implements experimentalsys.FS.
func (r *roFS) Lstat(p string) (wsys.Stat_t, experimentalsys.Errno) { return r.stat(p, true) }

// stat is Stat, or Lstat when nofollow (a last-element link is not followed).
func (r *roFS) stat(p string, nofollow bool) (wsys.Stat_t, experimentalsys.Errno) {
	if errno := pathErrno(p); errno != 0 {
		return wsys.Stat_t{}, errno
	}
	var fi fs.FileInfo
	var err error
	switch {
	case r.beneath != nil:
		fi, err = r.beneath.stat(rootName(p), nofollow)
	case nofollow:
		fi, err = r.root.Lstat(rootName(p))
	default:
		fi, err = r.root.Stat(rootName(p))
	}
	if err != nil {
		return wsys.Stat_t{}, rootErrno(err)
	}
	return wsys.NewStat_t(fi), 0
}

// Readlink implements experimentalsys.FS: reading a link's text is
// harmless; following it is what os.Root confines.
func (r *roFS) Readlink(p string) (string, experimentalsys.Errno) {
	if errno := pathErrno(p); errno != 0 {
		return "", errno
	}
	var s string
	var err error
	if r.beneath != nil {
		s, err = r.beneath.readlink(rootName(p))
	} else {
		s, err = r.root.Readlink(rootName(p))
	}
	if err != nil {
		return "", rootErrno(err)
	}
	return s, 0
}

func (r *roFS) Mkdir(string, fs.FileMode) experimentalsys.Errno    { return experimentalsys.EROFS }
func (r *roFS) Chmod(string, fs.FileMode) experimentalsys.Errno    { return experimentalsys.EROFS }
func (r *roFS) Rename(string, string) experimentalsys.Errno        { return experimentalsys.EROFS }
func (r *roFS) Rmdir(string) experimentalsys.Errno                 { return experimentalsys.EROFS }
func (r *roFS) Unlink(string) experimentalsys.Errno                { return experimentalsys.EROFS }
func (r *roFS) Link(string, string) experimentalsys.Errno          { return experimentalsys.EROFS }
func (r *roFS) Symlink(string, string) experimentalsys.Errno       { return experimentalsys.EROFS }
func (r *roFS) Utimens(string, int64, int64) experimentalsys.Errno { return experimentalsys.EROFS }

// rootErrno maps an os.Root error, including its "path escapes from
// parent", to an errno.
func rootErrno(err error) experimentalsys.Errno {
	if errno := experimentalsys.UnwrapOSError(err); errno != experimentalsys.EIO {
		return errno
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent" {
		return experimentalsys.EPERM
	}
	return experimentalsys.EIO
}

// roFile is a file of a roFS: no writes, and its handle is counted, in
// files and, holding a host descriptor, in host.
type roFile struct {
	experimentalsys.File
	files  *fileBudget
	host   *fileBudget // nil: no host descriptor (a pyc in memory)
	closed bool
}

func (f *roFile) Write([]byte) (int, experimentalsys.Errno)         { return 0, experimentalsys.EBADF }
func (f *roFile) Pwrite([]byte, int64) (int, experimentalsys.Errno) { return 0, experimentalsys.EBADF }
func (f *roFile) Truncate(int64) experimentalsys.Errno              { return experimentalsys.EBADF }
func (f *roFile) SetAppend(bool) experimentalsys.Errno              { return experimentalsys.EBADF }
func (f *roFile) Utimens(int64, int64) experimentalsys.Errno        { return experimentalsys.EBADF }
func (f *roFile) Sync() experimentalsys.Errno                       { return 0 }
func (f *roFile) Datasync() experimentalsys.Errno                   { return 0 }

func (f *roFile) Close() experimentalsys.Errno {
	if f.closed {
		return 0
	}
	f.closed = true
	f.files.put()
	errno := f.File.Close()
	f.host.put()
	return errno
}

// rootDir is a mount's root as wazero's preopen holds it, for the
// instance's whole life. It answers IsDir and Stat without a host
// descriptor and opens one only to read entries, so an idle instance holds
// no descriptor per mount: 10,000 instances would otherwise hold 10,000
// per mount, against a hard limit of 20,000 open files on this VM. (The
// guest's own opens of the mount, os.listdir("/plugin") included, are
// path_open calls with O_DIRECTORY and get an ordinary dir.) Seeking the
// preopen itself is left unimplemented: only raw WASI code reading the
// preopened descriptor's entries twice would.
type rootDir struct {
	experimentalsys.UnimplementedFile
	r *roFS
	f experimentalsys.File // opened on the first Readdir

	closed bool
}

func (d *rootDir) IsDir() (bool, experimentalsys.Errno) { return true, 0 }

func (d *rootDir) Stat() (wsys.Stat_t, experimentalsys.Errno) { return d.r.Stat(".") }

func (d *rootDir) Dev() (uint64, experimentalsys.Errno) {
	st, errno := d.Stat()
	return st.Dev, errno
}

func (d *rootDir) Ino() (wsys.Inode, experimentalsys.Errno) {
	st, errno := d.Stat()
	return st.Ino, errno
}

func (d *rootDir) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if d.f == nil {
		f, errno := d.r.OpenFile(".", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
		if errno != 0 {
			return nil, errno
		}
		d.f = f
	}
	return d.f.Readdir(n)
}

func (d *rootDir) SetAppend(bool) experimentalsys.Errno       { return experimentalsys.EISDIR }
func (d *rootDir) Read([]byte) (int, experimentalsys.Errno)   { return 0, experimentalsys.EISDIR }
func (d *rootDir) Utimens(int64, int64) experimentalsys.Errno { return experimentalsys.EROFS }
func (d *rootDir) Sync() experimentalsys.Errno                { return 0 }
func (d *rootDir) Datasync() experimentalsys.Errno            { return 0 }

// Close gives back the handle OpenFile took for it.
func (d *rootDir) Close() experimentalsys.Errno {
	if d.closed {
		return 0
	}
	d.closed = true
	d.r.files.put()
	if d.f == nil {
		return 0
	}
	return d.f.Close()
}
