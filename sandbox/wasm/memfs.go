package wasm

import (
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	wsys "github.com/tetratelabs/wazero/sys"
)

// memFS is a guest's scratch dir (/tmp), held in Go memory.
//
// Why not a host dir: wazero's host-directory FS resolves the guest's paths
// through the host's file system, so anything the guest can shape there (a
// relative symlink, a hard link, a rename over a link) became a path on the
// host. Here no guest path ever reaches the host: names resolve in a tree
// this file owns, symlinks and hard links do not exist (EPERM), and one
// instance's tree is reachable from no other.
//
// Every byte it holds is charged to its quota (Limits.ScratchBytes): a
// file's data by whole chunks up to its size (a hole is charged like data,
// so a sparse file cannot hold more than the quota either), and each file or
// directory a fixed inodeCost, plus a hard cap of maxInodes. A node's charge
// is returned only once nothing references it: neither a directory entry
// nor an open handle (an unlinked file still open holds its memory). Over
// quota, the operation fails with EIO (wazero has no ENOSPC) and changes
// nothing. An empty memFS costs two small allocations until written.
type memFS struct {
	experimentalsys.UnimplementedFS
	mu       sync.Mutex
	root     *memNode
	readOnly bool // every change fails with EROFS: an unbound mount
	used     int64
	max      int64
	inodes   int
	nextIno  uint64
	files    *fileBudget // open handles, shared with the instance's other mounts; may be nil
}

const (
	// memChunk is the unit a file's data is allocated and charged in.
	memChunk = 4 << 10
	// inodeCost is charged per file or directory: a node, its entry and
	// its name (at most maxNameBytes) held in Go memory.
	inodeCost = 1 << 10
	// maxInodes caps files and directories per scratch dir, whatever the
	// quota.
	maxInodes = 4096
	// maxNameBytes is NAME_MAX: a longer name is ENAMETOOLONG.
	maxNameBytes = 255
	// maxPathBytes is PATH_MAX: a longer guest path is ENAMETOOLONG before
	// any of our code copies or splits it. It also bounds the components
	// of a path (at most maxPathBytes/2+1), so per-path work and memory are
	// a few KiB whatever the guest sends. (wazero has already copied the
	// guest's bytes to a string and path.Clean'ed it by then: that copy is
	// bounded by the guest's own memory cap, not by us.)
	maxPathBytes = 4096
)

// memNode is a file or a directory.
type memNode struct {
	ino              uint64
	mode             fs.FileMode // fs.ModeDir or 0, plus permission bits
	linked           bool        // has a directory entry (or is the root)
	opens            int         // open handles
	atim, mtim, ctim int64

	ents []memDirent // a directory's entries, sorted by name

	chunks  [][]byte // a file's data; nil chunks are holes, read as zeros
	size    int64
	charged int64 // data bytes charged: len(chunks) * memChunk
}

type memDirent struct {
	name string
	node *memNode
}

func (n *memNode) isDir() bool { return n.mode.IsDir() }

// newMemFS returns an empty scratch dir holding at most max bytes; files
// counts open handles (nil: no cap).
func newMemFS(max int64, files *fileBudget) *memFS {
	m := &memFS{max: max, files: files, nextIno: 1}
	m.root = m.newNode(fs.ModeDir | 0o777)
	m.root.linked = true
	return m
}

// newEmptyFS is an empty directory that cannot be changed: what a mount
// shows before it is bound. Its handles count against files too: a guest
// without scratch could otherwise open its empty /tmp without end.
func newEmptyFS(files *fileBudget) *memFS {
	m := newMemFS(0, files)
	m.readOnly = true
	return m
}

func (m *memFS) newNode(mode fs.FileMode) *memNode {
	now := time.Now().UnixNano()
	ino := m.nextIno
	m.nextIno++
	return &memNode{ino: ino, mode: mode, atim: now, mtim: now, ctim: now}
}

// chargeLocked takes n bytes (n may be negative, a refund) from the quota.
func (m *memFS) chargeLocked(n int64) bool {
	if n > 0 && m.used+n > m.max {
		return false
	}
	m.used += n
	return true
}

// createLocked makes a new node under parent, charging an inode.
func (m *memFS) createLocked(parent *memNode, name string, mode fs.FileMode) (*memNode, experimentalsys.Errno) {
	if m.inodes >= maxInodes || !m.chargeLocked(inodeCost) {
		return nil, experimentalsys.EIO
	}
	m.inodes++
	n := m.newNode(mode)
	n.linked = true
	parent.insert(name, n)
	parent.mtim = n.mtim
	parent.ctim = n.mtim
	return n, 0
}

// releaseLocked returns a node's charge once nothing references it.
func (m *memFS) releaseLocked(n *memNode) {
	if n.linked || n.opens > 0 || n == m.root {
		return
	}
	m.chargeLocked(-n.charged - inodeCost)
	m.inodes--
	n.chunks, n.charged, n.ents = nil, 0, nil
}

// find returns the index of name in a directory, and whether it is there.
func (n *memNode) find(name string) (int, bool) {
	i := sort.Search(len(n.ents), func(i int) bool { return n.ents[i].name >= name })
	return i, i < len(n.ents) && n.ents[i].name == name
}

func (n *memNode) lookup(name string) *memNode {
	if i, ok := n.find(name); ok {
		return n.ents[i].node
	}
	return nil
}

func (n *memNode) insert(name string, child *memNode) {
	i, ok := n.find(name)
	if ok {
		n.ents[i].node = child
		return
	}
	n.ents = append(n.ents, memDirent{})
	copy(n.ents[i+1:], n.ents[i:])
	n.ents[i] = memDirent{name: name, node: child}
}

func (n *memNode) remove(name string) {
	if i, ok := n.find(name); ok {
		copy(n.ents[i:], n.ents[i+1:])
		n.ents[len(n.ents)-1] = memDirent{}
		n.ents = n.ents[:len(n.ents)-1]
	}
}

// pathErrno is ENAMETOOLONG for a path past PATH_MAX, else 0: the first
// check on every path a guest hands a mount (issue: a 240 MB path made
// splitPath allocate ~2 GB and run 30 s outside the call timeout).
func pathErrno(paths ...string) experimentalsys.Errno {
	for _, p := range paths {
		if len(p) > maxPathBytes {
			return experimentalsys.ENAMETOOLONG
		}
	}
	return 0
}

// splitPath turns a path from wazero (relative to the mount, possibly with
// a leading or trailing slash, "." for the mount itself) into its
// components. A path that would leave the mount is EPERM, like wazero's
// own check; a component longer than NAME_MAX is ENAMETOOLONG.
func splitPath(p string) (parts []string, dirOnly bool, errno experimentalsys.Errno) {
	if len(p) > maxPathBytes {
		return nil, false, experimentalsys.ENAMETOOLONG
	}
	dirOnly = strings.HasSuffix(p, "/")
	p = path.Clean("/" + p) // rooted: ".." cannot climb above the mount
	if p == "/" {
		return nil, dirOnly, 0
	}
	parts = strings.Split(p[1:], "/")
	for _, s := range parts {
		if len(s) > maxNameBytes {
			return nil, false, experimentalsys.ENAMETOOLONG
		}
	}
	return parts, dirOnly, 0
}

// walkLocked resolves p to its parent directory, its last name and the node
// there (nil if absent). For the mount itself parent is nil.
func (m *memFS) walkLocked(p string) (parent *memNode, name string, node *memNode, dirOnly bool, errno experimentalsys.Errno) {
	parts, dirOnly, errno := splitPath(p)
	if errno != 0 {
		return nil, "", nil, false, errno
	}
	if len(parts) == 0 {
		return nil, "", m.root, dirOnly, 0
	}
	dir := m.root
	for _, s := range parts[:len(parts)-1] {
		next := dir.lookup(s)
		switch {
		case next == nil:
			return nil, "", nil, false, experimentalsys.ENOENT
		case !next.isDir():
			return nil, "", nil, false, experimentalsys.ENOTDIR
		}
		dir = next
	}
	name = parts[len(parts)-1]
	node = dir.lookup(name)
	if node != nil && dirOnly && !node.isDir() {
		return nil, "", nil, false, experimentalsys.ENOTDIR
	}
	return dir, name, node, dirOnly, 0
}

func (n *memNode) stat() wsys.Stat_t {
	st := wsys.Stat_t{Ino: n.ino, Mode: n.mode, Nlink: 1, Size: n.size, Atim: n.atim, Mtim: n.mtim, Ctim: n.ctim}
	if n.isDir() {
		st.Nlink = 2
		st.Size = int64(len(n.ents))
	}
	if !n.linked {
		st.Nlink = 0
	}
	return st
}

// OpenFile implements experimentalsys.FS.
func (m *memFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, name, n, dirOnly, errno := m.walkLocked(p)
	if errno != 0 {
		return nil, errno
	}
	access := flag & (experimentalsys.O_RDWR | experimentalsys.O_WRONLY)
	changes := access != 0 || flag&(experimentalsys.O_CREAT|experimentalsys.O_TRUNC|experimentalsys.O_APPEND) != 0
	switch {
	case m.readOnly && changes:
		return nil, experimentalsys.EROFS
	case n == nil && flag&experimentalsys.O_CREAT == 0:
		return nil, experimentalsys.ENOENT
	case n != nil && flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0:
		return nil, experimentalsys.EEXIST
	case n != nil && n.isDir() && changes:
		return nil, experimentalsys.EISDIR
	case n != nil && !n.isDir() && flag&experimentalsys.O_DIRECTORY != 0:
		return nil, experimentalsys.ENOTDIR
	case n == nil && (dirOnly || flag&experimentalsys.O_DIRECTORY != 0):
		return nil, experimentalsys.EISDIR // O_CREAT of "name/": Linux says EISDIR
	}
	if !m.files.take() {
		return nil, experimentalsys.EIO
	}
	if n == nil {
		if n, errno = m.createLocked(parent, name, perm&fs.ModePerm); errno != 0 {
			m.files.put()
			return nil, errno
		}
	} else if flag&experimentalsys.O_TRUNC != 0 {
		m.truncateLocked(n, 0) // shrinking always fits
	}
	n.opens++
	return newMemFile(&memFile{
		m:        m,
		n:        n,
		append:   flag&experimentalsys.O_APPEND != 0,
		readable: access != experimentalsys.O_WRONLY,
		writable: access != 0,
	}), 0
}

// newMemFile gives f its Seek (see memFile).
func newMemFile(f *memFile) *memFile {
	adapted, errno := (&sysfs.AdaptFS{FS: seekFS{&memSeeker{f}}}).OpenFile(".", experimentalsys.O_RDONLY, 0)
	if errno != 0 {
		panic(fmt.Sprintf("adapt a scratch file: errno %v", errno)) // seekFS.Open cannot fail
	}
	f.File = adapted
	return f
}

// seekFS is an fs.FS whose only file is a memSeeker.
type seekFS struct{ s *memSeeker }

func (s seekFS) Open(string) (fs.File, error) { return s.s, nil }

// memSeeker is the fs.File wazero's adapter wraps: it uses only Seek, and
// Stat (to ask whether it is a directory, which it reports it is not so
// that a directory's rewind reaches Seek too).
type memSeeker struct{ f *memFile }

func (s *memSeeker) Stat() (fs.FileInfo, error) { return seekerInfo{}, nil }
func (s *memSeeker) Read([]byte) (int, error)   { return 0, experimentalsys.ENOSYS }
func (s *memSeeker) Close() error               { return nil }

// Seek implements io.Seeker for wazero's adapter; it is memFile's Seek.
func (s *memSeeker) Seek(offset int64, whence int) (int64, error) {
	off, errno := s.f.seek(offset, whence)
	if errno != 0 {
		return off, errno
	}
	return off, nil
}

type seekerInfo struct{}

func (seekerInfo) Name() string       { return "." }
func (seekerInfo) Size() int64        { return 0 }
func (seekerInfo) Mode() fs.FileMode  { return 0 }
func (seekerInfo) ModTime() time.Time { return time.Time{} }
func (seekerInfo) IsDir() bool        { return false }
func (seekerInfo) Sys() any           { return nil }

// Lstat implements experimentalsys.FS; there are no links to not follow.
func (m *memFS) Lstat(p string) (wsys.Stat_t, experimentalsys.Errno) { return m.Stat(p) }

// Stat implements experimentalsys.FS.
func (m *memFS) Stat(p string) (wsys.Stat_t, experimentalsys.Errno) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, n, _, errno := m.walkLocked(p)
	switch {
	case errno != 0:
		return wsys.Stat_t{}, errno
	case n == nil:
		return wsys.Stat_t{}, experimentalsys.ENOENT
	}
	return n.stat(), 0
}

// Mkdir implements experimentalsys.FS.
func (m *memFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, name, n, _, errno := m.walkLocked(p)
	switch {
	case errno != 0:
		return errno
	case m.readOnly:
		return experimentalsys.EROFS
	case n != nil:
		return experimentalsys.EEXIST
	}
	_, errno = m.createLocked(parent, name, fs.ModeDir|perm&fs.ModePerm)
	return errno
}

// Chmod implements experimentalsys.FS: it records the bits, which guard
// nothing here (the guest owns every file).
func (m *memFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, n, errno := m.changeLocked(p)
	if errno != 0 {
		return errno
	}
	n.mode = n.mode&fs.ModeType | perm&fs.ModePerm
	n.ctim = time.Now().UnixNano()
	return 0
}

// Rename implements experimentalsys.FS, with POSIX's rules for what may
// replace what.
func (m *memFS) Rename(from, to string) experimentalsys.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	fromParent, fromName, n, _, errno := m.walkLocked(from)
	if errno != 0 {
		return errno
	}
	toParent, toName, old, toDirOnly, errno := m.walkLocked(to)
	switch {
	case errno != 0:
		return errno
	case n == nil:
		return experimentalsys.ENOENT
	case m.readOnly:
		return experimentalsys.EROFS
	case fromParent == nil || toParent == nil:
		return experimentalsys.EINVAL // the mount itself
	case n == old:
		return 0
	case !n.isDir() && toDirOnly:
		return experimentalsys.ENOTDIR
	case n.isDir() && m.isUnder(toParent, n):
		return experimentalsys.EINVAL // into itself
	case old != nil && n.isDir() && !old.isDir():
		return experimentalsys.ENOTDIR
	case old != nil && !n.isDir() && old.isDir():
		return experimentalsys.EISDIR
	case old != nil && old.isDir() && len(old.ents) > 0:
		return experimentalsys.ENOTEMPTY
	}
	now := time.Now().UnixNano()
	fromParent.remove(fromName)
	if old != nil {
		old.linked = false
		m.releaseLocked(old)
	}
	toParent.insert(toName, n)
	fromParent.mtim, fromParent.ctim, toParent.mtim, toParent.ctim, n.ctim = now, now, now, now, now
	return 0
}

// isUnder reports whether dir is d or inside it.
func (m *memFS) isUnder(dir, d *memNode) bool {
	// Nodes keep no parent pointer; search d's subtree (bounded by
	// maxInodes) for dir.
	if dir == d {
		return true
	}
	for _, e := range d.ents {
		if e.node.isDir() && m.isUnder(dir, e.node) {
			return true
		}
	}
	return false
}

// changeLocked resolves p for a change to an existing node: ENOENT if there
// is none, EROFS on a read-only mount.
func (m *memFS) changeLocked(p string) (parent *memNode, name string, n *memNode, errno experimentalsys.Errno) {
	parent, name, n, _, errno = m.walkLocked(p)
	switch {
	case errno != 0:
	case n == nil:
		errno = experimentalsys.ENOENT
	case m.readOnly:
		errno = experimentalsys.EROFS
	}
	return parent, name, n, errno
}

// unlinkLocked removes n, named name, from parent; its charge is returned
// when the last handle closes.
func (m *memFS) unlinkLocked(parent *memNode, name string, n *memNode) {
	parent.remove(name)
	parent.mtim = time.Now().UnixNano()
	n.linked = false
	m.releaseLocked(n)
}

// Rmdir implements experimentalsys.FS.
func (m *memFS) Rmdir(p string) experimentalsys.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, name, n, errno := m.changeLocked(p)
	switch {
	case errno != 0:
		return errno
	case parent == nil:
		return experimentalsys.EINVAL // the mount itself
	case !n.isDir():
		return experimentalsys.ENOTDIR
	case len(n.ents) > 0:
		return experimentalsys.ENOTEMPTY
	}
	m.unlinkLocked(parent, name, n)
	return 0
}

// Unlink implements experimentalsys.FS. The charge is returned when the
// last handle closes, not here.
func (m *memFS) Unlink(p string) experimentalsys.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, name, n, errno := m.changeLocked(p)
	switch {
	case errno != 0:
		return errno
	case n.isDir():
		return experimentalsys.EISDIR
	}
	m.unlinkLocked(parent, name, n)
	return 0
}

// Link implements experimentalsys.FS: there are no hard links.
func (m *memFS) Link(_, _ string) experimentalsys.Errno { return experimentalsys.EPERM }

// Symlink implements experimentalsys.FS: there are no symbolic links.
func (m *memFS) Symlink(_, _ string) experimentalsys.Errno { return experimentalsys.EPERM }

// Readlink implements experimentalsys.FS: nothing is a link.
func (m *memFS) Readlink(p string) (string, experimentalsys.Errno) {
	if _, errno := m.Stat(p); errno != 0 {
		return "", errno
	}
	return "", experimentalsys.EINVAL
}

// Utimens implements experimentalsys.FS.
func (m *memFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, n, errno := m.changeLocked(p)
	if errno != 0 {
		return errno
	}
	n.utimens(atim, mtim)
	return 0
}

func (n *memNode) utimens(atim, mtim int64) {
	if atim != experimentalsys.UTIME_OMIT {
		n.atim = atim
	}
	if mtim != experimentalsys.UTIME_OMIT {
		n.mtim = mtim
	}
	n.ctim = time.Now().UnixNano()
}

// chunksFor is how many chunks hold size bytes.
func chunksFor(size int64) int64 { return (size + memChunk - 1) / memChunk }

// truncateLocked sets a file's size, charging or refunding whole chunks.
func (m *memFS) truncateLocked(n *memNode, size int64) experimentalsys.Errno {
	if size > m.max {
		return experimentalsys.EIO // cannot fit, whatever is freed elsewhere
	}
	want := chunksFor(size)
	if !m.chargeLocked(want*memChunk - n.charged) {
		return experimentalsys.EIO
	}
	n.charged = want * memChunk
	if want < int64(len(n.chunks)) {
		clear(n.chunks[want:]) // let the collector have them
		n.chunks = n.chunks[:want:want]
	}
	for int64(len(n.chunks)) < want {
		n.chunks = append(n.chunks, nil)
	}
	// Bytes past the new end read as zeros if the file grows again.
	if size < n.size && size%memChunk != 0 {
		if c := n.chunks[want-1]; c != nil {
			clear(c[size%memChunk:])
		}
	}
	n.size = size
	n.mtim = time.Now().UnixNano()
	n.ctim = n.mtim
	return 0
}

// writeLocked writes b at off, growing the file first (all or nothing).
func (m *memFS) writeLocked(n *memNode, b []byte, off int64) (int, experimentalsys.Errno) {
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	if len(b) == 0 {
		return 0, 0
	}
	if off > m.max || int64(len(b)) > m.max-off {
		return 0, experimentalsys.EIO // past the quota, and no overflow below
	}
	if end := off + int64(len(b)); end > n.size {
		if errno := m.truncateLocked(n, end); errno != 0 {
			return 0, errno
		}
	}
	for done := 0; done < len(b); {
		pos := off + int64(done)
		ci := pos / memChunk
		if n.chunks[ci] == nil {
			n.chunks[ci] = make([]byte, memChunk)
		}
		done += copy(n.chunks[ci][pos%memChunk:], b[done:])
	}
	n.mtim = time.Now().UnixNano()
	n.ctim = n.mtim
	return len(b), 0
}

// readLocked reads from off into b.
func (n *memNode) readLocked(b []byte, off int64) int {
	if off >= n.size {
		return 0
	}
	b = b[:min(int64(len(b)), n.size-off)]
	for done := 0; done < len(b); {
		pos := off + int64(done)
		c := n.chunks[pos/memChunk]
		end := min(len(b), done+int(memChunk-pos%memChunk))
		if c == nil {
			clear(b[done:end])
			done = end
		} else {
			done += copy(b[done:end], c[pos%memChunk:])
		}
	}
	return len(b)
}

// memFile is an open handle on a memNode.
//
// Seek is the one method it does not declare: wazero's has an Errno
// result, which go vet's stdmethods check reports on any method named Seek.
// It gets Seek from wazero's own fs.File adapter instead (the embedded
// File), which calls memSeeker.Seek, declared the io.Seeker way.
type memFile struct {
	experimentalsys.File // only for Seek; see newMemFile
	m                    *memFS
	n                    *memNode
	off                  int64
	append               bool
	readable, writable   bool
	closed               bool
	dirPos               string // last name Readdir returned
	dirStarted           bool
}

// usable reports EBADF for a closed handle; callers hold m.mu.
func (f *memFile) usable() experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	return 0
}

func (f *memFile) Dev() (uint64, experimentalsys.Errno) { return 0, 0 }

func (f *memFile) Ino() (wsys.Inode, experimentalsys.Errno) { return f.n.ino, 0 }

func (f *memFile) IsDir() (bool, experimentalsys.Errno) { return f.n.isDir(), 0 }

func (f *memFile) IsAppend() bool { return f.append }

func (f *memFile) SetAppend(enable bool) experimentalsys.Errno {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if errno := f.usable(); errno != 0 {
		return errno
	}
	if f.n.isDir() {
		return experimentalsys.EISDIR
	}
	f.append = enable
	return 0
}

func (f *memFile) Stat() (wsys.Stat_t, experimentalsys.Errno) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if errno := f.usable(); errno != 0 {
		return wsys.Stat_t{}, errno
	}
	return f.n.stat(), 0
}

func (f *memFile) Read(b []byte) (int, experimentalsys.Errno) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if errno := f.usableFor(f.readable); errno != 0 {
		return 0, errno
	}
	n := f.n.readLocked(b, f.off)
	f.off += int64(n)
	return n, 0
}

func (f *memFile) Pread(b []byte, off int64) (int, experimentalsys.Errno) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if errno := f.usableFor(f.readable); errno != 0 {
		return 0, errno
	}
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	return f.n.readLocked(b, off), 0
}

// usableFor reports EBADF for a handle closed or not opened for the access
// (f.readable or f.writable), EISDIR for a directory; callers hold m.mu.
func (f *memFile) usableFor(opened bool) experimentalsys.Errno {
	switch {
	case f.closed || !opened:
		return experimentalsys.EBADF
	case f.n.isDir():
		return experimentalsys.EISDIR
	}
	return 0
}

// seek is the file's Seek (see memFile).
func (f *memFile) seek(offset int64, whence int) (int64, experimentalsys.Errno) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if errno := f.usable(); errno != 0 {
		return 0, errno
	}
	if f.n.isDir() {
		if offset != 0 || whence != io.SeekStart {
			return 0, experimentalsys.EINVAL
		}
		f.dirPos, f.dirStarted = "", false
		return 0, 0
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		base = f.n.size
	default:
		return 0, experimentalsys.EINVAL
	}
	// A far offset is allowed (no memory is involved); writing there is
	// what the quota refuses.
	if (offset > 0 && base > math.MaxInt64-offset) || base+offset < 0 {
		return 0, experimentalsys.EINVAL
	}
	f.off = base + offset
	return f.off, 0
}

// Readdir implements experimentalsys.File: entries in name order from the
// last one returned, so entries added or removed meanwhile are seen or
// skipped like on a real directory, and an open directory holds no copy.
func (f *memFile) Readdir(count int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	switch {
	case f.closed:
		return nil, experimentalsys.EBADF
	case !f.n.isDir():
		return nil, experimentalsys.EBADF
	}
	i := 0
	if f.dirStarted {
		i = sort.Search(len(f.n.ents), func(i int) bool { return f.n.ents[i].name > f.dirPos })
	}
	rest := f.n.ents[i:]
	if count > 0 && len(rest) > count {
		rest = rest[:count]
	}
	out := make([]experimentalsys.Dirent, len(rest))
	for j, e := range rest {
		out[j] = experimentalsys.Dirent{Ino: e.node.ino, Name: e.name, Type: e.node.mode.Type()}
	}
	if len(rest) > 0 {
		f.dirPos, f.dirStarted = rest[len(rest)-1].name, true
	}
	return out, 0
}

func (f *memFile) Write(b []byte) (int, experimentalsys.Errno) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if errno := f.usableFor(f.writable); errno != 0 {
		return 0, errno
	}
	if f.append {
		f.off = f.n.size
	}
	n, errno := f.m.writeLocked(f.n, b, f.off)
	f.off += int64(n)
	return n, errno
}

func (f *memFile) Pwrite(b []byte, off int64) (int, experimentalsys.Errno) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if errno := f.usableFor(f.writable); errno != 0 {
		return 0, errno
	}
	return f.m.writeLocked(f.n, b, off)
}

func (f *memFile) Truncate(size int64) experimentalsys.Errno {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if errno := f.usableFor(f.writable); errno != 0 {
		return errno
	}
	if size < 0 {
		return experimentalsys.EINVAL
	}
	return f.m.truncateLocked(f.n, size)
}

func (f *memFile) Sync() experimentalsys.Errno { return 0 }

func (f *memFile) Datasync() experimentalsys.Errno { return 0 }

func (f *memFile) Utimens(atim, mtim int64) experimentalsys.Errno {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if errno := f.usable(); errno != 0 {
		return errno
	}
	if f.m.readOnly {
		return experimentalsys.EROFS
	}
	f.n.utimens(atim, mtim)
	return 0
}

func (f *memFile) Close() experimentalsys.Errno {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return 0
	}
	f.closed = true
	f.n.opens--
	f.m.releaseLocked(f.n)
	f.m.files.put()
	return 0
}

// fileBudget caps the files one instance holds open across its mounts:
// each handle costs host memory, and on a read-only mount a host file
// descriptor, which all of maid shares.
type fileBudget struct {
	mu   sync.Mutex
	open int
	max  int
}

// maxOpenFiles is how many files one guest may hold open at once.
const maxOpenFiles = 256

func newFileBudget() *fileBudget { return &fileBudget{max: maxOpenFiles} }

// take reserves a handle; a nil budget has no cap.
func (b *fileBudget) take() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open >= b.max {
		return false
	}
	b.open++
	return true
}

func (b *fileBudget) put() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open--
}
