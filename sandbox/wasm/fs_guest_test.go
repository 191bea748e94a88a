package wasm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// TestScratchPython: the stdlib's file API works in the in-memory /tmp as
// on a disk.
func TestScratchPython(t *testing.T) {
	b := newBackend(t, 0)
	script := `import tempfile, shutil, stat
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, 'a.txt')
    with open(p, 'w') as f:
        f.write('hello world')
    with open(p, 'r+') as f:
        f.seek(6)
        assert f.read() == 'world'
        f.seek(0)
        f.write('HELLO')
        f.truncate(8)
    assert open(p).read() == 'HELLO wo', open(p).read()
    with open(p, 'ab') as f:
        f.write(b'!')
    st = os.stat(p)
    assert st.st_size == 9 and stat.S_ISREG(st.st_mode), st
    os.mkdir(os.path.join(d, 'sub'))
    os.makedirs(os.path.join(d, 'sub', 'x', 'y'))
    os.rename(p, os.path.join(d, 'sub', 'b.txt'))
    assert sorted(os.listdir(d)) == ['sub'], os.listdir(d)
    assert sorted(e.name for e in os.scandir(os.path.join(d, 'sub'))) == ['b.txt', 'x']
    shutil.copy(os.path.join(d, 'sub', 'b.txt'), os.path.join(d, 'c.txt'))
    assert open(os.path.join(d, 'c.txt')).read() == 'HELLO wo!'
    os.remove(os.path.join(d, 'c.txt'))
    os.rmdir(os.path.join(d, 'sub', 'x', 'y'))
    try:
        os.rmdir(os.path.join(d, 'sub'))
        raise SystemExit('rmdir of a non-empty dir worked')
    except OSError:
        pass
    with tempfile.NamedTemporaryFile() as tf:
        tf.write(b'x' * 100000)
        tf.flush()
        tf.seek(50000)
        assert tf.read(3) == b'xxx'
    with tempfile.SpooledTemporaryFile(max_size=10) as sf:
        sf.write(b'spilled to disk')
        sf.seek(0)
        assert sf.read() == b'spilled to disk'
    fd = os.open(os.path.join(d, 'sparse'), os.O_RDWR | os.O_CREAT)
    os.lseek(fd, 100000, os.SEEK_SET)
    os.write(fd, b'z')
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, 200000)
    assert len(data) == 100001 and data[:10] == bytes(10) and data[-1:] == b'z'
    os.ftruncate(fd, 10)
    assert os.fstat(fd).st_size == 10
    os.close(fd)
assert not os.path.exists(d)
say('ok')`
	out, errText, ex := run(t, b, script, nil)
	if out != "ok\n" || ex.Code != 0 {
		t.Fatalf("stdout = %q (%v)\nstderr: %s", out, ex, errText)
	}
}

// TestGuestFilesStayInside: no path a guest can shape reaches a host file:
// links cannot be made, the read-only mounts cannot be created in or
// emptied whatever the open flags, and symlinks a plugin dir holds do not
// lead out of it. (Issue 14, finding 1.)
func TestGuestFilesStayInside(t *testing.T) {
	b := newBackend(t, 0)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	var pluginDir string
	withLinks := func(s *sandbox.Spec) {
		pluginDir = s.Dir
		for link, target := range map[string]string{"abs": outside, "rel": "../../../../../../../../../" + strings.TrimPrefix(outside, "/")} {
			if err := os.Symlink(target, filepath.Join(s.Dir, link)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		script string
	}{
		{name: "relative symlink in scratch", script: `os.symlink('../' * 30, '/tmp/hostroot')
open('/tmp/hostroot' + SECRET).read()`},
		{name: "absolute symlink in scratch", script: `os.symlink(os.path.dirname(SECRET), '/tmp/out')
open('/tmp/out/secret').read()`},
		{name: "symlink then write through it", script: `os.symlink('../' * 30 + 'tmp', '/tmp/t')
open('/tmp/t/PWNED', 'w').write('x')`},
		{name: "hard link of a plugin file", script: `os.link('/plugin/__main__.py', '/tmp/x')`},
		{name: "hard link in scratch", script: `open('/tmp/a', 'w').write('a')
os.link('/tmp/a', '/tmp/b')`},
		{name: "dotdot out of scratch", script: `open('/tmp/../../..' + SECRET).read()`},
		{name: "plugin's absolute symlink", script: `open('/plugin/abs/secret').read()`},
		{name: "plugin's relative symlink", script: `open('/plugin/rel/secret').read()`},
		{name: "create in the stdlib with read rights", script: `os.open('/usr/local/PWNED', os.O_RDONLY | os.O_CREAT)`},
		{name: "create in the sdk with read rights", script: `os.open('/maid/sdk/PWNED', os.O_RDONLY | os.O_CREAT)`},
		{name: "create in the plugin with read rights", script: `os.open('/plugin/PWNED', os.O_RDONLY | os.O_CREAT)`},
		{name: "truncate a plugin file with read rights", script: `os.open('/plugin/__main__.py', os.O_RDONLY | os.O_TRUNC)`},
		{name: "write a plugin file", script: `open('/plugin/__main__.py', 'a').write('#')`},
		{name: "rename a plugin file into scratch", script: `os.rename('/plugin/__main__.py', '/tmp/m.py')`},
		{name: "rename scratch into the plugin", script: `open('/tmp/x', 'w').write('x')
os.rename('/tmp/x', '/plugin/x')`},
		{name: "mkdir in the stdlib", script: `os.mkdir('/usr/local/PWNED')`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script := "SECRET = " + pyQuote(secret) + "\ntry:\n" + indent(tc.script) +
				"\n    say('escaped')\nexcept OSError as e:\n    say('refused')"
			out, errText, ex := run(t, b, script, withLinks)
			if out != "refused\n" || ex.Code != 0 {
				t.Fatalf("stdout = %q (%v), want refused\nstderr: %s", out, ex, errText)
			}
			if data, _ := os.ReadFile(filepath.Join(pluginDir, "__main__.py")); !strings.Contains(string(data), "SECRET = ") {
				t.Fatalf("the plugin's file was changed: %q", data)
			}
			for _, p := range []string{
				filepath.Join(pluginDir, "PWNED"), filepath.Join(pluginDir, "x"), "/tmp/PWNED",
				filepath.Join(b.stdlib, "PWNED"), filepath.Join(b.sdkDir, "PWNED"),
			} {
				if _, err := os.Lstat(p); err == nil {
					_ = os.RemoveAll(p)
					t.Fatalf("%s was created on the host", p)
				}
			}
		})
	}
}

func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

// TestScratchIsolated: what one instance writes in /tmp no other instance
// sees, while both run and after the first exits.
func TestScratchIsolated(t *testing.T) {
	b := newBackend(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	writer := sandboxtest.Start(t, ctx, b, `open('/tmp/secret', 'w').write('mine')
os.mkdir('/tmp/dir')
say('written')
inp.readline()
say(open('/tmp/secret').read())`, nil)
	r := sandboxtest.FirstLine(t, writer, "written")
	peek := `say(repr(sorted(os.listdir('/tmp'))))
try:
    open('/tmp/secret').read(); say('read it')
except OSError:
    say('absent')`
	out, errText, _ := run(t, b, peek, nil)
	if out != "[]\nabsent\n" {
		t.Fatalf("a second instance saw %q while the first ran\nstderr: %s", out, errText)
	}
	if _, err := writer.Stdin().Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if line, _ := r.ReadString('\n'); line != "mine\n" {
		t.Fatalf("writer lost its own file: %q", line)
	}
	_ = writer.Stdin().Close()
	if _, err := writer.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if out, errText, _ := run(t, b, peek, nil); out != "[]\nabsent\n" {
		t.Fatalf("an instance after the first exited saw %q\nstderr: %s", out, errText)
	}
}

// TestScratchQuotaGuest: the bypasses of issue 14, finding 2, from Python:
// sparse files unlinked in a loop, and empty files and dirs without end,
// stop at the quota.
func TestScratchQuotaGuest(t *testing.T) {
	b := newBackend(t, 0)
	tests := []struct {
		name   string
		script string
		want   string
	}{
		{name: "sparse write refused", script: `f = open('/tmp/s', 'wb')
f.seek(64 << 30)
try:
    f.write(b'x'); f.flush(); say('wrote at 64 GiB')
except OSError:
    say('refused')`, want: "refused\n"},
		{name: "sparse unlink loop", script: `n = 0
for i in range(200):
    try:
        with open('/tmp/s%d' % i, 'wb') as f:
            f.seek((1 << 20) - 4096)
            f.write(b'x')
    except OSError:
        break
    n += 1
say('held %d' % n)`, want: "held 0\n"},
		{name: "empty files bounded", script: `n = 0
try:
    while n < 100000:
        open('/tmp/e%d' % n, 'w').close()
        n += 1
except OSError:
    pass
say(str(0 < n <= 1024))`, want: "True\n"},
		{name: "empty dirs bounded", script: `n = 0
try:
    while n < 100000:
        os.mkdir('/tmp/d%d' % n)
        n += 1
except OSError:
    pass
say(str(0 < n <= 1024))`, want: "True\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errText, ex := run(t, b, tc.script, func(s *sandbox.Spec) { s.Limits.ScratchBytes = 1 << 20 })
			if out != tc.want || ex.Code != 0 {
				t.Fatalf("stdout = %q (%v), want %q\nstderr: %s", out, ex, tc.want, errText)
			}
		})
	}
}

// TestOpenFilesCapped: a guest cannot hold host file descriptors or
// handles without end, on any mount, scratch or not.
func TestOpenFilesCapped(t *testing.T) {
	b := newBackend(t, 0)
	tests := []struct {
		name    string
		path    string
		scratch int64
	}{
		{name: "stdlib file", path: "/usr/local/lib/python3.11/os.pyc"},
		{name: "plugin dir", path: "/plugin"},
		{name: "unbound scratch", path: "/tmp"},
		{name: "scratch", path: "/tmp", scratch: 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script := "fds = []\ntry:\n    while len(fds) < 5000:\n        fds.append(os.open(" + pyQuote(tc.path) + ", os.O_RDONLY))\nexcept OSError:\n    pass\nsay(str(0 < len(fds) < 300))"
			out, errText, ex := run(t, b, script, func(s *sandbox.Spec) { s.Limits.ScratchBytes = tc.scratch })
			if out != "True\n" || ex.Code != 0 {
				t.Fatalf("stdout = %q (%v), want True\nstderr: %s", out, ex, errText)
			}
		})
	}
}

// TestScratchReleasedOnExit: an exited instance no longer holds its
// scratch, even while its caller still holds the instance.
func TestScratchReleasedOnExit(t *testing.T) {
	b := newBackend(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inst := sandboxtest.Start(t, ctx, b, "open('/tmp/big', 'wb').write(b'x' * (4 << 20))\nsay('done')", nil)
	_ = inst.Stdin().Close()
	sandboxtest.FirstLine(t, inst, "done")
	if _, err := inst.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if m, ok := inst.(*instance).tmp.fs().(*memFS); ok && m.used > 0 {
		t.Fatalf("exited instance still holds %d bytes of scratch", m.used)
	}
}
