package wasm

import (
	"bytes"
	"io"
	"io/fs"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

const (
	rdwrCreate = experimentalsys.O_RDWR | experimentalsys.O_CREAT
)

func mustOpen(t *testing.T, m *memFS, p string, flag experimentalsys.Oflag) experimentalsys.File {
	t.Helper()
	f, errno := m.OpenFile(p, flag, 0o600)
	if errno != 0 {
		t.Fatalf("open %q: %v", p, errno)
	}
	return f
}

func mustWrite(t *testing.T, m *memFS, p string, data []byte) {
	t.Helper()
	f := mustOpen(t, m, p, rdwrCreate|experimentalsys.O_TRUNC)
	defer f.Close()
	if n, errno := f.Write(data); errno != 0 || n != len(data) {
		t.Fatalf("write %q: %d, %v", p, n, errno)
	}
}

// TestMemFSOps: each operation follows POSIX's rules closely enough for
// Python, and none creates a link or leaves the mount.
func TestMemFSOps(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, m *memFS)
		op    func(m *memFS) experimentalsys.Errno
		want  experimentalsys.Errno
	}{
		{name: "symlink refused", op: func(m *memFS) experimentalsys.Errno { return m.Symlink("../../../", "hostroot") }, want: experimentalsys.EPERM},
		{name: "absolute symlink refused", op: func(m *memFS) experimentalsys.Errno { return m.Symlink("/etc", "etc") }, want: experimentalsys.EPERM},
		{name: "hard link refused", setup: func(t *testing.T, m *memFS) { mustWrite(t, m, "a", []byte("x")) },
			op: func(m *memFS) experimentalsys.Errno { return m.Link("a", "b") }, want: experimentalsys.EPERM},
		{name: "readlink of a file", setup: func(t *testing.T, m *memFS) { mustWrite(t, m, "a", nil) },
			op: func(m *memFS) experimentalsys.Errno { _, e := m.Readlink("a"); return e }, want: experimentalsys.EINVAL},
		{name: "open missing", op: func(m *memFS) experimentalsys.Errno { _, e := m.OpenFile("nope", 0, 0); return e }, want: experimentalsys.ENOENT},
		{name: "create in missing dir", op: func(m *memFS) experimentalsys.Errno { _, e := m.OpenFile("d/f", rdwrCreate, 0); return e }, want: experimentalsys.ENOENT},
		{name: "dotdot stays in the mount", setup: func(t *testing.T, m *memFS) { mustWrite(t, m, "top", nil) },
			op: func(m *memFS) experimentalsys.Errno { _, e := m.Stat("../../../top"); return e }},
		{name: "exclusive create of existing", setup: func(t *testing.T, m *memFS) { mustWrite(t, m, "a", nil) },
			op: func(m *memFS) experimentalsys.Errno {
				_, e := m.OpenFile("a", rdwrCreate|experimentalsys.O_EXCL, 0)
				return e
			}, want: experimentalsys.EEXIST},
		{name: "name too long", op: func(m *memFS) experimentalsys.Errno {
			_, e := m.OpenFile(strings.Repeat("n", 256), rdwrCreate, 0)
			return e
		}, want: experimentalsys.ENAMETOOLONG},
		{name: "file as a dir", setup: func(t *testing.T, m *memFS) { mustWrite(t, m, "a", nil) },
			op: func(m *memFS) experimentalsys.Errno { _, e := m.Stat("a/b"); return e }, want: experimentalsys.ENOTDIR},
		{name: "trailing slash on a file", setup: func(t *testing.T, m *memFS) { mustWrite(t, m, "a", nil) },
			op: func(m *memFS) experimentalsys.Errno { _, e := m.Stat("a/"); return e }, want: experimentalsys.ENOTDIR},
		{name: "mkdir existing", setup: func(t *testing.T, m *memFS) { m.Mkdir("d", 0o700) },
			op: func(m *memFS) experimentalsys.Errno { return m.Mkdir("d", 0o700) }, want: experimentalsys.EEXIST},
		{name: "rmdir non-empty", setup: func(t *testing.T, m *memFS) { m.Mkdir("d", 0o700); mustWrite(t, m, "d/f", nil) },
			op: func(m *memFS) experimentalsys.Errno { return m.Rmdir("d") }, want: experimentalsys.ENOTEMPTY},
		{name: "rmdir the mount", op: func(m *memFS) experimentalsys.Errno { return m.Rmdir(".") }, want: experimentalsys.EINVAL},
		{name: "unlink a dir", setup: func(t *testing.T, m *memFS) { m.Mkdir("d", 0o700) },
			op: func(m *memFS) experimentalsys.Errno { return m.Unlink("d") }, want: experimentalsys.EISDIR},
		{name: "open a dir for writing", setup: func(t *testing.T, m *memFS) { m.Mkdir("d", 0o700) },
			op: func(m *memFS) experimentalsys.Errno { _, e := m.OpenFile("d", experimentalsys.O_WRONLY, 0); return e }, want: experimentalsys.EISDIR},
		{name: "rename a dir into itself", setup: func(t *testing.T, m *memFS) { m.Mkdir("d", 0o700); m.Mkdir("d/e", 0o700) },
			op: func(m *memFS) experimentalsys.Errno { return m.Rename("d", "d/e/f") }, want: experimentalsys.EINVAL},
		{name: "rename a file over a dir", setup: func(t *testing.T, m *memFS) { m.Mkdir("d", 0o700); mustWrite(t, m, "f", nil) },
			op: func(m *memFS) experimentalsys.Errno { return m.Rename("f", "d") }, want: experimentalsys.EISDIR},
		{name: "rename a dir over a non-empty dir", setup: func(t *testing.T, m *memFS) {
			m.Mkdir("d", 0o700)
			m.Mkdir("e", 0o700)
			mustWrite(t, m, "e/f", nil)
		}, op: func(m *memFS) experimentalsys.Errno { return m.Rename("d", "e") }, want: experimentalsys.ENOTEMPTY},
		{name: "rename the mount", op: func(m *memFS) experimentalsys.Errno { return m.Rename(".", "x") }, want: experimentalsys.EINVAL},
		{name: "rename over a file", setup: func(t *testing.T, m *memFS) { mustWrite(t, m, "a", []byte("a")); mustWrite(t, m, "b", []byte("b")) },
			op: func(m *memFS) experimentalsys.Errno { return m.Rename("a", "b") }},
		{name: "write to a read-only handle", setup: func(t *testing.T, m *memFS) { mustWrite(t, m, "a", nil) },
			op: func(m *memFS) experimentalsys.Errno {
				f, _ := m.OpenFile("a", experimentalsys.O_RDONLY, 0)
				defer f.Close()
				_, e := f.Write([]byte("x"))
				return e
			}, want: experimentalsys.EBADF},
		{name: "read-only empty mount refuses create", op: func(*memFS) experimentalsys.Errno {
			_, e := newEmptyFS(nil).OpenFile("x", experimentalsys.O_RDONLY|experimentalsys.O_CREAT, 0)
			return e
		}, want: experimentalsys.EROFS},
		{name: "read-only empty mount refuses truncate", op: func(*memFS) experimentalsys.Errno {
			_, e := newEmptyFS(nil).OpenFile(".", experimentalsys.O_RDONLY|experimentalsys.O_TRUNC, 0)
			return e
		}, want: experimentalsys.EROFS},
		{name: "read-only empty mount refuses mkdir", op: func(*memFS) experimentalsys.Errno { return newEmptyFS(nil).Mkdir("d", 0o700) }, want: experimentalsys.EROFS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS(1<<20, newFileBudget())
			if tc.setup != nil {
				tc.setup(t, m)
			}
			if got := tc.op(m); got != tc.want {
				t.Fatalf("errno = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMemFSFile: reads, writes, seeks, holes, truncation, append and
// directory listing behave like a file system's.
func TestMemFSFile(t *testing.T) {
	m := newMemFS(1<<20, newFileBudget())
	f := mustOpen(t, m, "f", rdwrCreate)
	defer f.Close()
	if _, errno := f.Pwrite([]byte("end"), memChunk*2+10); errno != 0 {
		t.Fatalf("pwrite past a hole: %v", errno)
	}
	if _, errno := f.Write([]byte("start")); errno != 0 {
		t.Fatalf("write: %v", errno)
	}
	st, _ := f.Stat()
	if st.Size != memChunk*2+13 {
		t.Fatalf("size = %d, want %d", st.Size, memChunk*2+13)
	}
	buf := make([]byte, st.Size+10)
	n, _ := f.Pread(buf, 0)
	want := append(append([]byte("start"), make([]byte, memChunk*2+5)...), "end"...)
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("read back %d bytes, differ from what was written", n)
	}
	if errno := f.Truncate(3); errno != 0 {
		t.Fatalf("truncate: %v", errno)
	}
	if errno := f.Truncate(10); errno != 0 {
		t.Fatalf("grow: %v", errno)
	}
	n, _ = f.Pread(buf, 0)
	if got := buf[:n]; !bytes.Equal(got, []byte("sta\x00\x00\x00\x00\x00\x00\x00")) {
		t.Fatalf("after shrink and grow: %q, want the cut bytes zeroed", got)
	}
	if off, errno := f.Seek(-2, io.SeekEnd); errno != 0 || off != 8 {
		t.Fatalf("seek from end = %d, %v", off, errno)
	}
	if _, errno := f.Seek(-20, io.SeekCurrent); errno != experimentalsys.EINVAL {
		t.Fatalf("seek before start: %v, want EINVAL", errno)
	}
	a := mustOpen(t, m, "f", experimentalsys.O_WRONLY|experimentalsys.O_APPEND)
	a.Write([]byte("!"))
	a.Close()
	if st, _ := m.Stat("f"); st.Size != 11 {
		t.Fatalf("append: size %d, want 11", st.Size)
	}

	for _, name := range []string{"c", "a", "b"} {
		mustWrite(t, m, "dir-"+name, nil)
	}
	m.Mkdir("sub", 0o700)
	d := mustOpen(t, m, ".", experimentalsys.O_DIRECTORY)
	defer d.Close()
	var names []string
	for {
		ents, errno := d.Readdir(2)
		if errno != 0 {
			t.Fatalf("readdir: %v", errno)
		}
		for _, e := range ents {
			names = append(names, e.Name)
		}
		if len(ents) < 2 {
			break
		}
	}
	if got := strings.Join(names, ","); got != "dir-a,dir-b,dir-c,f,sub" {
		t.Fatalf("listing = %s", got)
	}
	if _, errno := d.Seek(0, io.SeekStart); errno != 0 {
		t.Fatalf("rewind dir: %v", errno)
	}
	if ents, _ := d.Readdir(0); len(ents) != 5 || ents[4].Type != fs.ModeDir {
		t.Fatalf("after rewind: %v", ents)
	}
}

// TestMemFSQuota: what the quota counts is what is held in memory, so no
// sequence of operations holds more than the quota.
func TestMemFSQuota(t *testing.T) {
	const max = 1 << 20
	tests := []struct {
		name string
		run  func(t *testing.T, m *memFS)
	}{
		{name: "write far past the end is refused", run: func(t *testing.T, m *memFS) {
			f := mustOpen(t, m, "sparse", rdwrCreate)
			defer f.Close()
			if _, errno := f.Seek(64<<30, io.SeekStart); errno != 0 {
				t.Fatalf("seek: %v", errno)
			}
			if _, errno := f.Write([]byte("x")); errno != experimentalsys.EIO {
				t.Fatalf("write at 64 GiB: %v, want EIO", errno)
			}
			if _, errno := f.Pwrite([]byte("x"), 1<<62); errno != experimentalsys.EIO {
				t.Fatalf("pwrite near the int64 limit: %v, want EIO", errno)
			}
		}},
		{name: "truncate past the quota is refused", run: func(t *testing.T, m *memFS) {
			f := mustOpen(t, m, "big", rdwrCreate)
			defer f.Close()
			if errno := f.Truncate(max + 1); errno != experimentalsys.EIO {
				t.Fatalf("truncate: %v, want EIO", errno)
			}
		}},
		{name: "a hole is charged", run: func(t *testing.T, m *memFS) {
			f := mustOpen(t, m, "holes", rdwrCreate)
			defer f.Close()
			if errno := f.Truncate(max / 2); errno != 0 {
				t.Fatalf("truncate: %v", errno)
			}
			g := mustOpen(t, m, "holes2", rdwrCreate)
			defer g.Close()
			if errno := g.Truncate(max / 2); errno != experimentalsys.EIO {
				t.Fatalf("second half-quota file: %v, want EIO", errno)
			}
		}},
		{name: "sparse write and unlink loop", run: func(t *testing.T, m *memFS) {
			for i := range 200 {
				f, errno := m.OpenFile("s", rdwrCreate, 0)
				if errno != 0 {
					t.Fatalf("round %d: open: %v", i, errno)
				}
				f.Pwrite([]byte("x"), max-inodeCost-1)
				f.Pwrite([]byte("x"), 64<<30)
				m.Unlink("s")
				f.Close()
			}
		}},
		{name: "unlinked open file keeps its charge", run: func(t *testing.T, m *memFS) {
			f := mustOpen(t, m, "held", rdwrCreate)
			if _, errno := f.Write(make([]byte, max/2)); errno != 0 {
				t.Fatalf("write: %v", errno)
			}
			m.Unlink("held")
			g := mustOpen(t, m, "next", rdwrCreate)
			if _, errno := g.Write(make([]byte, max/2)); errno != experimentalsys.EIO {
				t.Fatalf("second half while the first is open: %v, want EIO", errno)
			}
			f.Close()
			if _, errno := g.Write(make([]byte, max/2)); errno != 0 {
				t.Fatalf("after the close: %v", errno)
			}
			g.Close()
		}},
		{name: "empty files and dirs are charged", run: func(t *testing.T, m *memFS) {
			n := 0
			for ; n < 2*maxInodes; n++ {
				var errno experimentalsys.Errno
				if n%2 == 0 {
					errno = m.Mkdir("d"+strings.Repeat("x", n%200)+string(rune('a'+n%26))+itoa(n), 0o700)
				} else {
					var f experimentalsys.File
					if f, errno = m.OpenFile("f"+itoa(n), rdwrCreate, 0); errno == 0 {
						f.Close()
					}
				}
				if errno == experimentalsys.EIO {
					break
				} else if errno != 0 {
					t.Fatalf("create %d: %v", n, errno)
				}
			}
			if n > max/inodeCost {
				t.Fatalf("created %d files and dirs under a %d-byte quota", n, max)
			}
		}},
		{name: "rename over a file returns its charge", run: func(t *testing.T, m *memFS) {
			mustWrite(t, m, "a", make([]byte, max/3))
			mustWrite(t, m, "b", make([]byte, max/3))
			if errno := m.Rename("a", "b"); errno != 0 {
				t.Fatalf("rename: %v", errno)
			}
			mustWrite(t, m, "c", make([]byte, max/2))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS(max, newFileBudget())
			tc.run(t, m)
			checkCharge(t, m)
		})
	}

	t.Run("inode cap whatever the quota", func(t *testing.T) {
		m := newMemFS(1<<40, nil)
		for i := range maxInodes {
			if errno := m.Mkdir("d"+itoa(i), 0o700); errno != 0 {
				t.Fatalf("mkdir %d: %v", i, errno)
			}
		}
		if errno := m.Mkdir("one-more", 0o700); errno != experimentalsys.EIO {
			t.Fatalf("mkdir past maxInodes: %v, want EIO", errno)
		}
	})
	t.Run("open file cap", func(t *testing.T) {
		m := newMemFS(max, newFileBudget())
		mustWrite(t, m, "f", nil)
		var open []experimentalsys.File
		for range maxOpenFiles {
			open = append(open, mustOpen(t, m, "f", 0))
		}
		if _, errno := m.OpenFile("f", 0, 0); errno != experimentalsys.EIO {
			t.Fatalf("open past maxOpenFiles: %v, want EIO", errno)
		}
		open[0].Close()
		open[0].Close() // twice: counted once
		mustOpen(t, m, "f", 0)
		if _, errno := m.OpenFile("f", 0, 0); errno != experimentalsys.EIO {
			t.Fatalf("double close freed two handles: %v", errno)
		}
	})
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

// checkCharge verifies the quota's books: used never exceeds max, and
// equals what the tree holds once no handle is open.
func checkCharge(t testing.TB, m *memFS) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used > m.max || m.used < 0 {
		t.Fatalf("used = %d, max %d", m.used, m.max)
	}
	var held int64
	var open bool
	inodes := 0
	var walk func(n *memNode)
	walk = func(n *memNode) {
		if n != m.root {
			held += inodeCost
			inodes++
		}
		var data int64
		for _, c := range n.chunks {
			if c != nil {
				data += int64(len(c))
			}
		}
		if data > n.charged || n.charged != int64(len(n.chunks))*memChunk {
			t.Fatalf("node %d holds %d data bytes, charged %d for %d chunks", n.ino, data, n.charged, len(n.chunks))
		}
		held += n.charged
		open = open || n.opens > 0
		for _, e := range n.ents {
			if e.name == "" || e.name == "." || e.name == ".." || strings.Contains(e.name, "/") || len(e.name) > maxNameBytes {
				t.Fatalf("bad entry name %q", e.name)
			}
			walk(e.node)
		}
	}
	walk(m.root)
	if !open && (held != m.used || inodes != m.inodes) {
		t.Fatalf("tree holds %d bytes in %d inodes; books say %d in %d", held, inodes, m.used, m.inodes)
	}
}

// FuzzMemFSPaths: whatever paths a guest sends, the tree only ever holds
// valid names, and the books balance.
func FuzzMemFSPaths(f *testing.F) {
	for _, seed := range []string{"a", "a/b", "../a", "/a/./b/", "a//b", "..", ".", "", "a/../../b", strings.Repeat("x/", 40)} {
		f.Add(seed, "b", uint8(0))
	}
	f.Fuzz(func(t *testing.T, p1, p2 string, op uint8) {
		m := newMemFS(64<<10, newFileBudget())
		m.Mkdir("a", 0o700)
		var open []experimentalsys.File
		for i, p := range []string{p1, p2, p1 + "/" + p2} {
			switch (int(op) + i) % 6 {
			case 0:
				if f, errno := m.OpenFile(p, rdwrCreate, 0); errno == 0 {
					f.Write([]byte(p))
					open = append(open, f)
				}
			case 1:
				m.Mkdir(p, 0o700)
			case 2:
				m.Rename(p, p2)
			case 3:
				m.Unlink(p)
			case 4:
				m.Rmdir(p)
			case 5:
				if m.Symlink(p, p2) != experimentalsys.EPERM || m.Link(p, p2) != experimentalsys.EPERM {
					t.Fatal("a link was made")
				}
			}
			checkCharge(t, m)
		}
		for _, f := range open {
			f.Close()
		}
		checkCharge(t, m)
	})
}
