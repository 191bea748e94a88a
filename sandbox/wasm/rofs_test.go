package wasm

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/maidhq/maid/internal/testenv"
)

// TestRoFS: a read-only mount opens only for reading, changes nothing on
// the host whatever the flags, and resolves no path out of its dir.
func TestRoFS(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "plugin")
	secret := filepath.Join(base, "secret")
	for path, data := range map[string]string{
		filepath.Join(dir, "main.py"):     "print('hi')",
		filepath.Join(dir, "sub", "data"): "data",
		secret:                            "host secret",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"abs": base, "rel": "../secret", "root": "/", "inside": "sub/data"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := openRoFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	// Without openat2, the same mount through os.Root.
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	viaRoot := roFS{root: root}
	viaRoot.adapt = &sysfs.AdaptFS{FS: roOpen{&viaRoot}}
	modes := []struct {
		name string
		r    *roFS
	}{{name: "openat2", r: r}, {name: "os.Root", r: &viaRoot}}
	if r.beneath == nil {
		if runtime.GOOS == "linux" && testenv.CI() {
			t.Fatal("openat2 unavailable on Linux")
		}
		modes = modes[1:]
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) { testRoFS(t, mode.r, dir) })
	}
}

func testRoFS(t *testing.T, r *roFS, dir string) {
	ro := r.withBudget(newFileBudget(), nil)
	open := func(p string, flag experimentalsys.Oflag) experimentalsys.Errno {
		f, errno := ro.OpenFile(p, flag, 0o644)
		if errno == 0 {
			f.Close()
		}
		return errno
	}
	tests := []struct {
		name string
		op   func() experimentalsys.Errno
		ok   bool // else: must fail
	}{
		{name: "read a file", op: func() experimentalsys.Errno { return open("main.py", experimentalsys.O_RDONLY) }, ok: true},
		{name: "read a dir", op: func() experimentalsys.Errno { return open(".", experimentalsys.O_DIRECTORY) }, ok: true},
		{name: "create with read rights", op: func() experimentalsys.Errno { return open("new", experimentalsys.O_RDONLY|experimentalsys.O_CREAT) }},
		{name: "truncate with read rights", op: func() experimentalsys.Errno { return open("main.py", experimentalsys.O_RDONLY|experimentalsys.O_TRUNC) }},
		{name: "open for writing", op: func() experimentalsys.Errno { return open("main.py", experimentalsys.O_WRONLY) }},
		{name: "open for append", op: func() experimentalsys.Errno { return open("main.py", experimentalsys.O_APPEND) }},
		{name: "absolute symlink out", op: func() experimentalsys.Errno { return open("abs/secret", experimentalsys.O_RDONLY) }},
		{name: "relative symlink out", op: func() experimentalsys.Errno { return open("rel", experimentalsys.O_RDONLY) }},
		{name: "symlink to /", op: func() experimentalsys.Errno { return open("root/etc/passwd", experimentalsys.O_RDONLY) }},
		{name: "stat through a symlink out", op: func() experimentalsys.Errno { _, e := ro.Stat("rel"); return e }},
		{name: "dotdot", op: func() experimentalsys.Errno { return open("../secret", experimentalsys.O_RDONLY) }},
		// os.Root follows a link that stays in the dir; openat2 follows none.
		{name: "symlink inside stays inside", op: func() experimentalsys.Errno { return open("inside", experimentalsys.O_RDONLY) }, ok: r.beneath == nil},
		{name: "lstat of a link", op: func() experimentalsys.Errno { _, e := ro.Lstat("rel"); return e }, ok: true},
		{name: "readlink", op: func() experimentalsys.Errno {
			s, e := ro.Readlink("rel")
			if e == 0 && s != "../secret" {
				return experimentalsys.EIO
			}
			return e
		}, ok: true},
		{name: "stat a subdir file", op: func() experimentalsys.Errno { _, e := ro.Stat("sub/data"); return e }, ok: true},
		{name: "list a dir", op: func() experimentalsys.Errno {
			f, errno := ro.OpenFile("sub", experimentalsys.O_DIRECTORY, 0)
			if errno != 0 {
				return errno
			}
			defer f.Close()
			ents, errno := f.Readdir(0)
			if errno == 0 && (len(ents) != 1 || ents[0].Name != "data") {
				return experimentalsys.EIO
			}
			return errno
		}, ok: true},
		{name: "mkdir", op: func() experimentalsys.Errno { return ro.Mkdir("d", 0o755) }},
		{name: "unlink", op: func() experimentalsys.Errno { return ro.Unlink("main.py") }},
		{name: "rename", op: func() experimentalsys.Errno { return ro.Rename("main.py", "x.py") }},
		{name: "symlink", op: func() experimentalsys.Errno { return ro.Symlink("/", "x") }},
		{name: "link", op: func() experimentalsys.Errno { return ro.Link("main.py", "x") }},
		{name: "chmod", op: func() experimentalsys.Errno { return ro.Chmod("main.py", 0o777) }},
		{name: "utimens", op: func() experimentalsys.Errno { return ro.Utimens("main.py", 0, 0) }},
		{name: "write to an open file", op: func() experimentalsys.Errno {
			f, errno := ro.OpenFile("main.py", experimentalsys.O_RDONLY, 0)
			if errno != 0 {
				return 0 // reported by "read a file"
			}
			defer f.Close()
			if _, errno := f.Write([]byte("x")); errno != 0 {
				return errno
			}
			return f.Truncate(0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if errno := tc.op(); (errno == 0) != tc.ok {
				t.Fatalf("errno = %v, want success %v", errno, tc.ok)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "main.py")); string(b) != "print('hi')" {
		t.Fatalf("host file changed to %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Fatal("a file was created on the host")
	}

	t.Run("open file cap", func(t *testing.T) {
		var held []experimentalsys.File
		defer func() {
			for _, f := range held {
				f.Close()
			}
		}()
		for range maxOpenFiles {
			f, errno := ro.OpenFile("main.py", experimentalsys.O_RDONLY, 0)
			if errno != 0 {
				t.Fatalf("open %d: %v", len(held), errno)
			}
			held = append(held, f)
		}
		if errno := open("main.py", experimentalsys.O_RDONLY); errno != experimentalsys.EIO {
			t.Fatalf("open past maxOpenFiles: %v, want EIO", errno)
		}
	})
	// Instances share the backend's bound on host descriptors (attack Q1):
	// past it any instance's open fails, a mount's root (no descriptor)
	// still opens, and a close gives the descriptor back to all.
	t.Run("host descriptor cap", func(t *testing.T) {
		host := &fileBudget{max: 3}
		a, b := r.withBudget(newFileBudget(), host), r.withBudget(newFileBudget(), host)
		var held []experimentalsys.File
		defer func() {
			for _, f := range held {
				f.Close()
			}
		}()
		for i, fs := range []*roFS{a, a, b} {
			f, errno := fs.OpenFile("main.py", experimentalsys.O_RDONLY, 0)
			if errno != 0 {
				t.Fatalf("open %d: %v", i, errno)
			}
			held = append(held, f)
		}
		if _, errno := b.OpenFile("main.py", experimentalsys.O_RDONLY, 0); errno != experimentalsys.EIO {
			t.Fatalf("open past the host cap: %v, want EIO", errno)
		}
		if _, errno := b.OpenFile("sub", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0); errno != experimentalsys.EIO {
			t.Fatalf("dir open past the host cap: %v, want EIO", errno)
		}
		if b.files.open != 1 {
			t.Fatalf("refused opens left %d handles counted, want 1", b.files.open)
		}
		root, errno := b.OpenFile(".", experimentalsys.O_RDONLY, 0)
		if errno != 0 {
			t.Fatalf("mount root past the host cap: %v", errno)
		}
		root.Close()
		held[0].Close()
		held[0].Close() // twice: given back once
		held = held[1:]
		f, errno := b.OpenFile("main.py", experimentalsys.O_RDONLY, 0)
		if errno != 0 {
			t.Fatalf("open after a close: %v", errno)
		}
		held = append(held, f)
		if host.open != 3 {
			t.Fatalf("host descriptors counted: %d, want 3", host.open)
		}
	})
}
