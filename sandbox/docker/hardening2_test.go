package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// syscallProbe is a Python helper for the scripts below: sc(name, *args)
// makes the raw syscall name (numbers for x86_64 and aarch64) and says
// "<name> ok" or "<name> <ERRNO>". A clone that succeeds exits the child
// at once.
const syscallProbe = `
import ctypes, errno, platform
libc = ctypes.CDLL(None, use_errno=True)
NR = {
    "x86_64": dict(io_uring_setup=425, io_uring_enter=426, io_uring_register=427, userfaultfd=323, keyctl=250, add_key=248,
                   request_key=249, bpf=321, perf_event_open=298, ptrace=101, process_vm_readv=310, unshare=272, setns=308,
                   mount=165, umount2=166, pivot_root=155, chroot=161, kexec_load=246, personality=135, clone=56, clone3=435,
                   mq_open=240, shmget=29, msgget=68, semget=64, open_by_handle_at=304, name_to_handle_at=303, splice=275,
                   syslog=103, acct=163, swapon=167, init_module=175, fanotify_init=300, mlock=149),
    "aarch64": dict(io_uring_setup=425, io_uring_enter=426, io_uring_register=427, userfaultfd=282, keyctl=219, add_key=217,
                    request_key=218, bpf=280, perf_event_open=241, ptrace=117, process_vm_readv=270, unshare=97, setns=268,
                    mount=40, umount2=39, pivot_root=41, chroot=51, kexec_load=104, personality=92, clone=220, clone3=435,
                    mq_open=180, shmget=194, msgget=186, semget=190, open_by_handle_at=265, name_to_handle_at=264, splice=76,
                    syslog=116, acct=89, swapon=224, init_module=105, fanotify_init=262, mlock=228),
}[platform.machine()]
buf = ctypes.create_string_buffer(4096)
def sc(name, *args):
    ctypes.set_errno(0)
    r = libc.syscall(NR[name], *[ctypes.c_ulong(a) if isinstance(a, int) else a for a in args])
    if r == 0 and name == "clone":
        os._exit(0)
    if r >= 0:
        say(name + " ok")
    else:
        say(name + " " + errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno())))
`

// TestHardeningKernelSurface proves, from inside a container, the holes of
// issue 14 finding 9 closed: maid's seccomp profile (not the engine's
// default, which allows io_uring on engine 20.10), /dev/shm inside the
// scratch cap, /dev/mqueue read-only, no host path in mountinfo, and no
// writable directory but scratch.
func TestHardeningKernelSurface(t *testing.T) {
	bothPaths(t, Options{}, testHardeningKernelSurface)
}

func testHardeningKernelSurface(t *testing.T, b *Backend) {
	socket := b.DataPath() == DataPathSocket
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := b.cli.Info(ctx)
	if err != nil {
		t.Fatalf("engine info: %v", err)
	}
	rootDir := info.DockerRootDir
	if rootDir == "" {
		t.Fatal("engine reports no DockerRootDir")
	}
	rootJSON, _ := json.Marshal(rootDir)

	tests := []struct {
		name   string
		limits sandbox.Limits
		script string
		check  func(t *testing.T, out string)
	}{
		{
			name: "seccomp refuses io_uring, namespaces and other kernel surfaces",
			script: syscallProbe + `
sc("io_uring_setup", 8, buf)
sc("io_uring_enter", 0, 1, 0, 0, 0, 0)
sc("io_uring_register", 0, 0, 0, 0)
sc("userfaultfd", 0)
sc("keyctl", 0, 0, 0, 0, 0)
sc("add_key", b"user", b"k", b"v", 1, 0xfffffffe)
sc("request_key", b"user", b"k", 0, 0)
sc("bpf", 0, buf, 64)
sc("perf_event_open", buf, 0, -1, -1, 0)
sc("ptrace", 16, 1, 0, 0)
sc("process_vm_readv", 1, buf, 1, buf, 1, 0)
sc("unshare", 0x10000000)
sc("unshare", 0x20000)
sc("setns", 0, 0)
sc("clone", 0x10000000 | 17, 0, 0, 0, 0)
sc("clone", 0x20000000 | 17, 0, 0, 0, 0)
sc("clone3", buf, 88)
sc("mount", b"none", b"/tmp", b"tmpfs", 0, 0)
sc("umount2", b"/tmp", 0)
sc("pivot_root", b"/tmp", b"/tmp")
sc("chroot", b"/tmp")
sc("kexec_load", 0, 0, 0, 0)
sc("personality", 0x0040000)
sc("mq_open", b"/q", 0o102, 0o600, 0)
sc("shmget", 0, 4096, 0o1600)
sc("msgget", 0, 0o1600)
sc("semget", 0, 1, 0o1600)
sc("open_by_handle_at", 0, buf, 0)
sc("name_to_handle_at", 0, b"/", buf, buf, 0)
sc("splice", 0, 0, 1, 0, 1, 0)
sc("syslog", 3, buf, 64)
sc("acct", 0)
sc("swapon", b"/tmp/x", 0)
sc("init_module", buf, 16, b"")
sc("fanotify_init", 0, 0)
sc("mlock", buf, 4096)
`,
			check: func(t *testing.T, out string) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 36 {
					t.Fatalf("want 36 answers, got %d:\n%s", len(lines), out)
				}
				for _, line := range lines {
					name, res, _ := strings.Cut(line, " ")
					want := "EPERM"
					if name == "clone3" {
						want = "ENOSYS" // so glibc falls back to clone
					}
					if res != want {
						t.Errorf("%s: %s, want %s", name, res, want)
					}
				}
			},
		},
		{
			// Only the native architecture is in the profile: the i386
			// (int 0x80) and x32 syscall tables, which a filter for x86_64
			// alone would not inspect, kill the caller with SIGSYS.
			name: "compat syscall ABIs are killed",
			script: `
import ctypes, mmap, platform
if platform.machine() != "x86_64":
    say("x32 signal 31")
    say("int80 signal 31")
    sys.exit(0)
libc = ctypes.CDLL(None, use_errno=True)
# push rbx; mov eax, 425 (io_uring_setup); mov ebx, 8; xor ecx, ecx; int 0x80; movsxd rax, eax; pop rbx; ret
code = bytes([0x53, 0xb8]) + (425).to_bytes(4, "little") + bytes([0xbb, 8, 0, 0, 0, 0x31, 0xc9, 0xcd, 0x80, 0x48, 0x63, 0xc0, 0x5b, 0xc3])
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(code)
int80 = ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
for name, fn in [("x32", lambda: libc.syscall(ctypes.c_long(0x40000000 + 425), ctypes.c_ulong(8), None)), ("int80", int80)]:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.write(1, ("%s returned %d\n" % (name, fn())).encode())
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    say(name + (" signal %d" % os.WTERMSIG(st) if os.WIFSIGNALED(st) else " exit %d" % os.WEXITSTATUS(st)))
`,
			check: func(t *testing.T, out string) {
				if want := "x32 signal 31\nint80 signal 31\n"; out != want {
					t.Fatalf("got:\n%s\nwant:\n%s", out, want)
				}
			},
		},
		{
			name: "host-wide kernel and machine facts are masked",
			script: `
paths = ["/proc/cmdline", "/proc/config.gz", "/proc/kallsyms", "/proc/modules", "/proc/iomem",
         "/proc/sys/kernel/random/boot_id", "/sys/kernel/vmcoreinfo", "/sys/kernel/notes", "/sys/class/dmi/id/product_uuid",
         "/proc/meminfo", "/proc/loadavg", "/proc/stat", "/proc/vmstat", "/proc/zoneinfo", "/proc/buddyinfo",
         "/proc/softirqs", "/proc/pressure/cpu", "/proc/diskstats", "/proc/partitions", "/proc/swaps", "/proc/interrupts"]
for p in paths:
    try:
        with open(p, "rb") as f:
            data = f.read(64)
    except OSError:
        continue  # absent, or unreadable: nothing to see either way
    if data:
        say("visible %s %r" % (p, data[:40]))
for d in ["/sys/kernel", "/sys/block", "/sys/class/dmi"]:
    if os.path.isdir(d) and os.listdir(d):
        say("visible %s %s" % (d, sorted(os.listdir(d))[:5]))
say("cpus %d" % (os.cpu_count() or 0))
`,
			check: func(t *testing.T, out string) {
				if !strings.HasPrefix(out, "cpus ") || strings.Contains(out, "cpus 0\n") {
					t.Fatalf("host facts visible, or the CPU count lost:\n%s", out)
				}
			},
		},
		{
			name: "what plugins need still works",
			script: `
import threading, sqlite3, asyncio, socket, subprocess, multiprocessing, json, zlib, hashlib, decimal, mmap, signal, time
t = threading.Thread(target=lambda: say("thread")); t.start(); t.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
say("fork %d" % (os.waitpid(pid, 0)[1] >> 8))
say(subprocess.run([sys.executable, "-c", "print('exec')"], capture_output=True, text=True).stdout.strip())
db = sqlite3.connect("/tmp/x.db"); db.execute("create table t(a)"); db.execute("insert into t values (1)"); db.commit()
say("sqlite %d" % db.execute("select a from t").fetchone()[0])
say(asyncio.run(asyncio.sleep(0.01, "asyncio")))
a, b = socket.socketpair(); a.send(b"socketpair"); say(b.recv(10).decode())
socket.getaddrinfo("127.0.0.1", 80); say("getaddrinfo")
l = multiprocessing.Lock(); l.acquire(); l.release(); say("semaphore")
m = mmap.mmap(-1, 1 << 20); m[0:2] = b"ok"; say("mmap " + m[0:2].decode())
signal.setitimer(signal.ITIMER_REAL, 0.01); signal.signal(signal.SIGALRM, lambda *a: None); time.sleep(0.05); say("timer")
`,
			check: func(t *testing.T, out string) {
				want := "thread\nfork 7\nexec\nsqlite 1\nasyncio\nsocketpair\ngetaddrinfo\nsemaphore\nmmap ok\ntimer\n"
				if out != want {
					t.Fatalf("got:\n%s\nwant:\n%s", out, want)
				}
			},
		},
		{
			name:   "dev shm shares the scratch cap with tmp",
			limits: sandbox.Limits{ScratchBytes: 4 << 20},
			script: `
import errno
dev = {}
for line in open("/proc/self/mountinfo"):
    f = line.split()
    if f[4] in ("/tmp", "/dev/shm"):
        dev[f[4]] = f[2]
say("same fs %s" % (len(dev) == 2 and dev["/tmp"] == dev["/dev/shm"]))
def fill(path, mib):
    n = 0
    try:
        with open(path, "wb") as fh:
            for i in range(mib):
                fh.write(b"x" * (1 << 20))
                fh.flush()
                n += 1
        return "wrote %d MiB" % n
    except OSError as e:
        return "%s after %d MiB" % (errno.errorcode[e.errno], n)
say("shm alone: " + fill("/dev/shm/big", 8))
os.remove("/dev/shm/big")
say("tmp: " + fill("/tmp/first", 3))
say("shm after tmp: " + fill("/dev/shm/second", 3))
`,
			check: func(t *testing.T, out string) {
				// 8 MiB (twice the cap) into /dev/shm alone stops at the cap, and
				// /tmp and /dev/shm together hold no more than it.
				want := "same fs True\nshm alone: ENOSPC after 4 MiB\ntmp: wrote 3 MiB\nshm after tmp: ENOSPC after 1 MiB\n"
				if out != want {
					t.Fatalf("got:\n%s\nwant:\n%s", out, want)
				}
			},
		},
		{
			// 4 MiB of scratch allows 4096 inodes: empty files, dirs and
			// symlinks stop with ENOSPC there, well before a 64 MiB memory
			// limit would kill the plugin.
			name:   "empty files and dirs count against scratch",
			limits: sandbox.Limits{ScratchBytes: 4 << 20, MemoryBytes: 64 << 20},
			script: `
import errno
for kind, make in [("files", lambda p: os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))), ("dirs", os.mkdir),
                   ("symlinks", lambda p: os.symlink("x", p))]:
    n = 0
    try:
        while n < 200000:
            make("/tmp/%s%d" % (kind[0], n))
            n += 1
        say("%s unbounded" % kind)
    except OSError as e:
        say("%s %s" % (kind, errno.errorcode[e.errno]))
    for name in os.listdir("/tmp"):
        p = "/tmp/" + name
        os.rmdir(p) if kind == "dirs" else os.unlink(p)
`,
			check: func(t *testing.T, out string) {
				if want := "files ENOSPC\ndirs ENOSPC\nsymlinks ENOSPC\n"; out != want {
					t.Fatalf("got:\n%s\nwant:\n%s", out, want)
				}
			},
		},
		{
			name: "dev mqueue not writable",
			script: `
import errno
for p in ["/dev/mqueue/q", "/dev/mqueue/.q"]:
    try:
        open(p, "w").close()
        say("wrote " + p)
    except OSError as e:
        say("refused " + errno.errorcode[e.errno])
`,
			check: func(t *testing.T, out string) {
				if strings.Contains(out, "wrote") || strings.Count(out, "refused") != 2 {
					t.Fatalf("/dev/mqueue writable:\n%s", out)
				}
			},
		},
		{
			// Ptys come from a host-wide pool (kernel.pty.max): one plugin
			// could hold all of them, denying every other container one.
			name: "no pseudo-terminals",
			script: `
import errno
for what, fn in [("ptmx", lambda: os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)), ("openpty", os.openpty)]:
    try:
        fn()
        say(what + " opened")
    except OSError as e:
        say(what + " " + errno.errorcode[e.errno])
`,
			check: func(t *testing.T, out string) {
				if want := "ptmx ENOENT\nopenpty ENOENT\n"; out != want {
					t.Fatalf("got:\n%s\nwant:\n%s", out, want)
				}
			},
		},
		{
			name: "mountinfo names no host path for maid's mounts",
			script: fmt.Sprintf(`
root = %s
for line in open("/proc/self/mountinfo"):
    f = line.split()
    mp, src = f[4], f[3]
    if root in line and mp not in ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts"):
        say("host path at " + mp + ": " + src)
    if mp in ("/tmp", "/dev/shm", "/plugin", "/dev/mqueue", "/dev/pts", "/run/maid"):
        say("%%s %%s %%s" %% (mp, src, line.split(" - ")[1].split()[0]))
`, rootJSON),
			check: func(t *testing.T, out string) {
				want := "/dev/mqueue / tmpfs\n/dev/pts / tmpfs\n/dev/shm / tmpfs\n/plugin / tmpfs\n/tmp / tmpfs\n"
				if socket {
					// maid (as root) mounts a tmpfs for each of the two
					// directories it binds, so they too name no host path.
					want = "/dev/mqueue / tmpfs\n/dev/pts / tmpfs\n/dev/shm / tmpfs\n/plugin / tmpfs\n/run/maid / tmpfs\n/tmp / tmpfs\n"
				}
				lines := strings.SplitAfter(out, "\n")
				sortStrings(lines)
				if got := strings.Join(lines, ""); got != want {
					t.Fatalf("got:\n%s\nwant:\n%s", got, want)
				}
			},
		},
		{
			name: "no writable directory but scratch",
			script: `
import errno
mounts = []
for line in open("/proc/self/mountinfo"):
    f = line.split()
    mounts.append((f[4], f[5].split(",")[0] == "rw"))
mounts.sort(key=lambda m: len(m[0]))
def rw(d):
    best = True
    for mp, w in mounts:
        if d == mp or d.startswith(mp.rstrip("/") + "/"):
            best = w
    return best
def worth(d):
    # Descend where the mount is writable or a writable mount lies below.
    return rw(d) or any(w and mp.startswith(d.rstrip("/") + "/") for mp, w in mounts)
found, tried = [], 0
stack = ["/"]
while stack:
    d = stack.pop()
    if d.startswith(("/proc/self", "/proc/thread-self")) or (d.startswith("/proc/") and d.split("/")[2].isdigit()):
        continue
    if rw(d):
        tried += 1
        p = os.path.join(d, ".maid-probe")
        try:
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
            os.unlink(p)
            found.append(d)
        except OSError:
            pass
    try:
        for e in os.scandir(d):
            if e.is_dir(follow_symlinks=False) and worth(e.path):
                stack.append(e.path)
    except OSError:
        pass
say("tried %d" % tried)
for d in sorted(found):
    say("writable " + d)
`,
			check: func(t *testing.T, out string) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				var n int
				if _, err := fmt.Sscanf(lines[0], "tried %d", &n); err != nil || n < 10 {
					t.Fatalf("probe did not run: %q", out)
				}
				got := strings.Join(lines[1:], "\n")
				if want := "writable /dev/shm\nwritable /tmp"; got != want {
					t.Fatalf("writable directories:\n%s\nwant:\n%s", got, want)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, ex := runScript(t, b, tc.script, tc.limits)
			if t.Failed() {
				return
			}
			if ex.Code != 0 || ex.Err != nil {
				t.Fatalf("exit %v\nstdout: %s\nstderr: %s", ex, out, stderr)
			}
			tc.check(t, out)
			if t.Failed() {
				t.Logf("stderr: %s", stderr)
			}
		})
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestSeccompProfile checks the embedded profile's shape without an
// engine: default deny, the denied names never allowed, and no allow rule
// for the syscalls issue 14 names.
func TestSeccompProfile(t *testing.T) {
	var p struct {
		DefaultAction string `json:"defaultAction"`
		Syscalls      []struct {
			Names  []string          `json:"names"`
			Action string            `json:"action"`
			Args   []json.RawMessage `json:"args"`
		} `json:"syscalls"`
	}
	if err := json.Unmarshal(seccompJSON, &p); err != nil {
		t.Fatalf("parse profile: %v", err)
	}
	if p.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Fatalf("default action %q, want SCMP_ACT_ERRNO", p.DefaultAction)
	}
	allowed, denied := map[string]bool{}, map[string]bool{}
	for _, r := range p.Syscalls {
		for _, n := range r.Names {
			switch {
			case r.Action == "SCMP_ACT_ALLOW":
				allowed[n] = true
			case r.Action == "SCMP_ACT_ERRNO" && len(r.Args) == 0:
				denied[n] = true
			default:
				t.Errorf("unexpected rule %s for %s", r.Action, n)
			}
		}
	}
	for n := range denied {
		if allowed[n] {
			t.Errorf("%s is both allowed and denied", n)
		}
	}
	for _, n := range []string{"io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "keyctl", "add_key",
		"request_key", "bpf", "perf_event_open", "ptrace", "unshare", "setns", "clone3", "mount", "kexec_load", "mq_open", "shmget"} {
		if !denied[n] || allowed[n] {
			t.Errorf("%s: denied=%v allowed=%v, want denied only", n, denied[n], allowed[n])
		}
	}
	if !strings.HasPrefix(seccompOpt, "seccomp={") || strings.Contains(seccompOpt, "\n") {
		t.Errorf("security option not compact JSON: %.40q", seccompOpt)
	}
}

// TestPerUserQuotasNotShared: the kernel keeps some limits per uid across
// all containers. With one uid for every plugin, one plugin holding all of
// its uid's inotify instances (128 by default) left none for any other;
// with a uid per container (guestUser) the second plugin still gets one.
func TestPerUserQuotasNotShared(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hog := sandboxtest.Start(t, ctx, b, `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
fds = []
while len(fds) < 100000:
    fd = libc.inotify_init1(0)
    if fd < 0:
        break
    fds.append(fd)
say("held %d uid %d" % (len(fds), os.getuid()))
inp.read()
`, nil)
	go io.Copy(io.Discard, hog.Stderr())
	line, err := bufio.NewReader(hog.Stdout()).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "held ") {
		t.Fatalf("hog: %q, %v", line, err)
	}
	defer func() {
		hog.Stdin().Close()
		hog.Wait(ctx)
	}()
	out, stderr, ex := runScript(t, b, `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
say("got %d uid %d" % (fd, os.getuid()))
`, sandbox.Limits{})
	if ex.Code != 0 {
		t.Fatalf("exit %v: %s", ex, stderr)
	}
	var got, uid, held, hogUID int
	fmt.Sscanf(out, "got %d uid %d", &got, &uid)
	fmt.Sscanf(line, "held %d uid %d", &held, &hogUID)
	if got < 0 {
		t.Fatalf("after another plugin took %d inotify instances, this one got none (uids %d and %d)", held, hogUID, uid)
	}
}
