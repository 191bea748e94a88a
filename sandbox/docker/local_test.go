package docker

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

func TestResolveDataPath(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	tests := []struct {
		name       string
		want, host string
		rootDir    string
		secOpts    []string
		got        string
		err        error
	}{
		{name: "auto, local engine", host: "unix://" + sock, rootDir: root, got: DataPathSocket},
		{name: "empty is auto", want: "", host: "unix://" + sock, rootDir: root, got: DataPathSocket},
		{name: "auto, tcp engine", want: DataPathAuto, host: "tcp://10.0.0.1:2375", rootDir: root, got: DataPathAttach},
		{name: "auto, socket elsewhere", want: DataPathAuto, host: "unix:///no/such/docker.sock", rootDir: root, got: DataPathAttach},
		{name: "auto, root dir elsewhere", want: DataPathAuto, host: "unix://" + sock, rootDir: "/no/such/docker-root", got: DataPathAttach},
		{name: "attach on a local engine", want: DataPathAttach, host: "unix://" + sock, rootDir: root, got: DataPathAttach},
		{name: "auto, seccomp only", host: "unix://" + sock, rootDir: root, secOpts: []string{"name=seccomp,profile=default"}, got: DataPathSocket},
		{name: "auto, userns-remap engine", host: "unix://" + sock, rootDir: root, secOpts: []string{"name=seccomp,profile=default", "name=userns"}, got: DataPathAttach},
		{name: "auto, rootless engine", host: "unix://" + sock, rootDir: root, secOpts: []string{"name=rootless"}, got: DataPathAttach},
		{name: "socket on a userns-remap engine", want: DataPathSocket, host: "unix://" + sock, rootDir: root, secOpts: []string{"name=userns"}, err: sandbox.ErrUnavailable},
		{name: "socket on a remote engine", want: DataPathSocket, host: "tcp://10.0.0.1:2375", rootDir: root, err: sandbox.ErrUnavailable},
		{name: "unknown", want: "fifo", host: "unix://" + sock, rootDir: root, err: sandbox.ErrBadSpec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveDataPath(tc.want, tc.host, tc.rootDir, tc.secOpts)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.got {
				t.Fatalf("got %q, %v; want %q", got, err, tc.got)
			}
		})
	}
}

// TestPrivateDir: a socket parent someone else could enter, or a symlink
// planted in its place, is refused.
func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	link := filepath.Join(base, "link")
	os.Symlink(t.TempDir(), link)
	tests := []struct {
		name string
		dir  string
		ok   bool
	}{
		{name: "new", dir: filepath.Join(base, "new"), ok: true},
		{name: "group and others may enter", dir: open},
		{name: "symlink", dir: link},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := privateDir(tc.dir); (err == nil) != tc.ok {
				t.Fatalf("privateDir(%s) = %v, want ok=%v", tc.dir, err, tc.ok)
			}
		})
	}
}

// testIOBase makes an ioBase under the test's temp dir.
func testIOBase(t *testing.T) *ioBase {
	t.Helper()
	b, err := newIOBase(filepath.Join(t.TempDir(), "maid-docker"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	return b
}

// TestLocalIOAccept: the host takes exactly one connection, from the
// guest's uid; another uid is turned away, and once the guest is in,
// the socket is gone, so nothing can connect after it.
func TestLocalIOAccept(t *testing.T) {
	base := testIOBase(t)
	tests := []struct {
		name   string
		uid    int
		accept bool
	}{
		{name: "guest's uid", uid: os.Geteuid(), accept: true},
		{name: "another uid", uid: os.Geteuid() + 4242},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, mounts, err := newLocalIO(base, "c"+strconv.Itoa(i), tc.uid)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				l.stop()
				if l.conn != nil {
					l.conn.Close()
				}
				removeTree(l.dir)
			}()
			if len(mounts) != 2 || !mounts[0].ReadOnly || !mounts[1].ReadOnly || mounts[0].Target != guestIODir || mounts[1].Target != pluginDir {
				t.Fatalf("mounts = %+v", mounts)
			}
			sock := filepath.Join(l.dir, "io", "sock")
			if os.Geteuid() == 0 {
				st, err := os.Lstat(sock)
				if err != nil {
					t.Fatal(err)
				}
				if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != tc.uid || st.Mode().Perm() != 0o600 {
					t.Fatalf("socket uid %d mode %o, want %d 600", sys.Uid, st.Mode().Perm(), tc.uid)
				}
			}
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !tc.accept {
				c.SetReadDeadline(time.Now().Add(time.Minute))
				if n, err := c.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("refused peer read %d, %v; want EOF (closed by the host)", n, err)
				}
				select {
				case <-l.ready:
					t.Fatal("accept ended after a peer of another uid")
				default:
				}
				return
			}
			select {
			case <-l.ready:
			case <-time.After(time.Minute):
				t.Fatal("accept never ended")
			}
			if l.conn == nil {
				t.Fatalf("no connection: %v", l.err)
			}
			if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("socket still there after accept: %v", err)
			}
			if _, err := net.Dial("unix", sock); err == nil {
				t.Fatal("a second connection got through")
			}
			// The stream works both ways.
			sc := &sockConn{c: l.conn}
			go c.Write([]byte("hi\n"))
			buf := make([]byte, 3)
			if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "hi\n" {
				t.Fatalf("read %q, %v", buf, err)
			}
			sc.Close() // half-close: the peer reads EOF
			c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := c.Read(buf); err != io.EOF {
				t.Fatalf("peer read after Close: %v, want EOF", err)
			}
		})
	}
}

// TestCopyPlugin: regular files and directories only, caches skipped,
// sizes and counts capped, everything read-only.
func TestCopyPlugin(t *testing.T) {
	base := testIOBase(t)
	tests := []struct {
		name    string
		setup   func(dir string) error
		wantErr bool
	}{
		{name: "files, dirs and caches", setup: func(dir string) error {
			os.MkdirAll(filepath.Join(dir, "pkg", "__pycache__"), 0o755)
			os.WriteFile(filepath.Join(dir, "pkg", "__pycache__", "x.pyc"), []byte("cache"), 0o644)
			os.WriteFile(filepath.Join(dir, "stale.pyc"), []byte("cache"), 0o644)
			os.WriteFile(filepath.Join(dir, "__main__.py"), []byte("pass"), 0o600)
			return os.WriteFile(filepath.Join(dir, "pkg", "mod.py"), []byte("x = 1"), 0o666)
		}},
		{name: "symlink refused", setup: func(dir string) error {
			return os.Symlink("/etc/passwd", filepath.Join(dir, "link.py"))
		}, wantErr: true},
		{name: "fifo refused", setup: func(dir string) error {
			return syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644)
		}, wantErr: true},
		{name: "too many entries", setup: func(dir string) error {
			for i := 0; i <= maxPluginEntries; i++ {
				if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), nil, 0o644); err != nil {
					return err
				}
			}
			return nil
		}, wantErr: true},
		{name: "too many bytes", setup: func(dir string) error {
			f, err := os.Create(filepath.Join(dir, "big"))
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(maxPluginBytes + 1) // sparse: no disk used
		}, wantErr: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			if err := tc.setup(src); err != nil {
				t.Fatal(err)
			}
			l, _, err := newLocalIO(base, "p"+strconv.Itoa(i), os.Geteuid())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { l.stop(); removeTree(l.dir) }()
			err = l.copyPlugin(src)
			if tc.wantErr {
				if !errors.Is(err, sandbox.ErrBadSpec) {
					t.Fatalf("err = %v, want ErrBadSpec", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(l.dir, "plugin")
			var got []string
			filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(dst, p)
				got = append(got, rel+" "+strconv.FormatUint(uint64(fi.Mode().Perm()), 8))
				return nil
			})
			want := ". 555\n__main__.py 444\npkg 555\npkg/mod.py 444"
			if strings.Join(got, "\n") != want {
				t.Fatalf("copied:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
			}
			if data, _ := os.ReadFile(filepath.Join(dst, "pkg", "mod.py")); string(data) != "x = 1" {
				t.Fatalf("content %q", data)
			}
		})
	}
}

// TestSocketPathPrivate proves from inside a container what the socket
// path exposes: its directory is read-only and empty once connected (no
// socket left to connect to again), the socket's name is gone from the
// environment, and fd 1 reaches the host as a log, never as protocol.
// On the host, the directories are maid's alone.
func TestSocketPathPrivate(t *testing.T) {
	b := newTestBackend(t, Options{DataPath: DataPathSocket})
	out, stderr, ex := runScript(t, b, `
import errno, socket
say("listing %r" % os.listdir("/run/maid"))
say("env %r" % os.environ.get("MAID_PROTOCOL_SOCKET"))
for line in open("/proc/self/mountinfo"):
    f = line.split()
    if f[4] == "/run/maid":
        say("mount " + f[5].split(",")[0])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("/run/maid/sock")
    say("connected again")
except OSError as e:
    say("connect " + errno.errorcode[e.errno])
for p in ("/run/maid/x", "/run/maid/sock"):
    try:
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(p)
        say("bound " + p)
    except OSError as e:
        say("bind " + errno.errorcode[e.errno])
os.write(1, b"to fd 1\n")
`, sandbox.Limits{})
	want := "listing []\nenv None\nmount ro\nconnect ENOENT\nbind EROFS\nbind EROFS\n"
	if out != want || ex.Err != nil || ex.Code != 0 {
		t.Fatalf("out:\n%s\nwant:\n%s\nexit %v, stderr %s", out, want, ex, stderr)
	}
	if !strings.Contains(stderr, "to fd 1\n") {
		t.Fatalf("fd 1 output not in stderr: %q", stderr)
	}
	st, err := os.Lstat(b.io.dir)
	if err != nil || st.Mode().Perm() != 0o700 || !st.IsDir() {
		t.Fatalf("socket base %s: %v, mode %v", b.io.dir, err, st.Mode())
	}
}

// TestSocketPathBoundsReads: the host reads the socket only as fast as
// its caller does; it never drains it into a buffer of its own. A guest
// writing to a host that does not read is held back by the kernel's
// socket buffer (a few hundred KiB), not by the host's memory.
func TestSocketPathBoundsReads(t *testing.T) {
	b := newTestBackend(t, Options{DataPath: DataPathSocket})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(`import os, sys, time
from maid_sdk import _transport
fd = _transport.stdout().fileno()
os.set_blocking(fd, False)
total, chunk, stuck = 0, b"x" * 65536, 0
while stuck < 20 and total < (256 << 20):  # until blocked for about a second
    try:
        total += os.write(fd, chunk)
        stuck = 0
    except BlockingIOError:
        stuck += 1
        time.sleep(0.05)
sys.stderr.write("wrote %d\n" % total)
`), 0o644)
	inst, err := b.Start(ctx, sandbox.Spec{Name: "bound", Dir: dir, Entry: "__main__.py"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Kill()
	errOut, _ := io.ReadAll(inst.Stderr()) // stdout is never read
	var n int64
	for _, line := range strings.Split(string(errOut), "\n") {
		if v, ok := strings.CutPrefix(line, "wrote "); ok {
			n, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if n == 0 || n > 16<<20 {
		t.Fatalf("the guest wrote %d bytes that nobody read (stderr %q); want at least one chunk and under 16 MiB", n, errOut)
	}
	t.Logf("the guest could write %d bytes ahead of the reader", n)
}

// TestRuntime: --docker-runtime passes through to each container, and a
// runtime the engine lacks fails New with the engine's runtimes named.
func TestRuntime(t *testing.T) {
	def := newTestBackend(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info, err := def.cli.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("unknown", func(t *testing.T) {
		b, err := New(ctx, Options{Runtime: "maid-no-such-runtime"})
		if err == nil {
			b.Close()
			t.Fatal("New succeeded")
		}
		if !errors.Is(err, sandbox.ErrBadSpec) || !strings.Contains(err.Error(), `"maid-no-such-runtime"`) {
			t.Fatalf("err = %v", err)
		}
		for name := range info.Runtimes {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error does not name the engine's runtime %q: %v", name, err)
			}
		}
	})
	for _, path := range []string{DataPathSocket, DataPathAttach} {
		t.Run("runc by name/"+path, func(t *testing.T) {
			b := newTestBackend(t, Options{Runtime: "runc", DataPath: path})
			inst, err := b.Start(ctx, sandbox.Spec{Name: "runtime", Dir: pluginWith(t, "import time\ntime.sleep(60)"), Entry: "__main__.py"})
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Kill()
			c, err := b.cli.ContainerInspect(ctx, inst.(*instance).id)
			if err != nil {
				t.Fatal(err)
			}
			if c.HostConfig.Runtime != "runc" {
				t.Fatalf("container runtime %q, want runc", c.HostConfig.Runtime)
			}
		})
	}
}

func pluginWith(t *testing.T, main string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRuncLike: auto keeps the socket path only for runtimes whose guest
// processes are host processes.
func TestRuncLike(t *testing.T) {
	tests := []struct {
		name    string
		runtime string
		want    bool
	}{
		{name: "engine default", runtime: "", want: true},
		{name: "runc", runtime: "runc", want: true},
		{name: "containerd shim name", runtime: "io.containerd.runc.v2", want: true},
		{name: "crun", runtime: "crun", want: true},
		{name: "gVisor", runtime: "runsc"},
		{name: "kata", runtime: "kata-runtime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := runcLike(tc.runtime); got != tc.want {
				t.Fatalf("runcLike(%q) = %v, want %v", tc.runtime, got, tc.want)
			}
		})
	}
}

// TestExtensionModule: a plugin may ship an extension module on both data
// paths (the plugin dir is read-only but not noexec). The module is the
// image's own _lsprof, copied out of the image into the plugin's dir;
// /plugin comes first on sys.path, so that copy is what loads.
func TestExtensionModule(t *testing.T) {
	bothPaths(t, Options{}, func(t *testing.T, b *Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		const so = "_lsprof.cpython-311-x86_64-linux-gnu.so"
		c, err := b.cli.ContainerCreate(ctx, &container.Config{Image: b.image, Labels: b.labels("test", "ext", "")}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		defer b.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		rc, _, err := b.cli.CopyFromContainer(ctx, c.ID, "/usr/lib/python3.11/lib-dynload/"+so)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		if _, err := tr.Next(); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		dir := pluginWith(t, `import sys
from maid_sdk import _transport
assert "_lsprof" not in sys.modules
import _lsprof
_transport.stdout().write((_lsprof.__file__ + "\n").encode()); _transport.stdout().flush()
`)
		if err := os.WriteFile(filepath.Join(dir, so), data, 0o755); err != nil {
			t.Fatal(err)
		}
		inst, err := b.Start(ctx, sandbox.Spec{Name: "ext", Dir: dir, Entry: "__main__.py"})
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Kill()
		out, stderr, ex, err := sandboxtest.Finish(ctx, inst)
		if want := "/plugin/" + so + "\n"; err != nil || out != want || ex.Code != 0 {
			t.Fatalf("out %q (want %q), exit %v, %v\nstderr: %s", out, want, ex, err, stderr)
		}
	})
}
