package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// runScript runs script (with sandboxtest's prelude: say, out, inp) to its
// end and returns its stdout, stderr and exit.
func runScript(t *testing.T, b *Backend, script string, limits sandbox.Limits) (string, string, sandbox.Exit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return sandboxtest.Output(t, ctx, b, script, func(s *sandbox.Spec) { s.Limits = limits })
}

// TestHardening proves each hardening setting from inside a container, on
// both data paths.
func TestHardening(t *testing.T) {
	bothPaths(t, Options{}, testHardening)
}

func testHardening(t *testing.T, b *Backend) {
	socket := b.DataPath() == DataPathSocket
	tests := []struct {
		name   string
		limits sandbox.Limits
		script string
		check  func(t *testing.T, out string, ex sandbox.Exit)
	}{
		{
			name: "no network",
			script: `
import socket
say("ifaces " + ",".join(sorted(os.listdir("/sys/class/net"))))
for fam, addr in [(socket.AF_INET, ("192.0.2.1", 80)), (socket.AF_INET, ("127.0.0.1", 2375)), (socket.AF_INET6, ("2001:db8::1", 80))]:
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr)
        say("connected %s" % (addr,))
    except OSError as e:
        say("refused %s" % (addr,))
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				if !strings.Contains(out, "ifaces lo\n") || strings.Contains(out, "connected") || strings.Count(out, "refused") != 3 {
					t.Fatalf("network reachable:\n%s", out)
				}
			},
		},
		{
			name: "read-only root",
			script: `
import errno
for line in open("/proc/self/mountinfo"):
    f = line.split()
    if f[4] == "/":
        say("rootopts " + f[5])
for p in ["/evil", "/etc/passwd", "/usr/lib/python3.11/os.py", "/opt/maid/sdk/maid_sdk/__init__.py", "/usr/bin/evil"]:
    try:
        open(p, "a").close()
        say("wrote " + p)
    except OSError as e:
        say("denied " + p + " " + errno.errorcode[e.errno])
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				if !strings.Contains(out, "rootopts ro,") || strings.Contains(out, "wrote") || strings.Count(out, "denied") != 5 {
					t.Fatalf("root writable:\n%s", out)
				}
			},
		},
		{
			name: "no capabilities, no new privileges, seccomp",
			script: `
for line in open("/proc/self/status"):
    k, v = line.split(":", 1)
    if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
        say("%s=%s" % (k, v.strip()))
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				for _, want := range []string{"CapInh=0000000000000000", "CapPrm=0000000000000000", "CapEff=0000000000000000",
					"CapBnd=0000000000000000", "CapAmb=0000000000000000", "NoNewPrivs=1", "Seccomp=2"} {
					if !strings.Contains(out, want+"\n") {
						t.Errorf("want %s in:\n%s", want, out)
					}
				}
			},
		},
		{
			name:   "non-root user",
			script: `say("%d %d %d %d %s" % (os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()))`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				var uid, euid, gid, egid int
				var groups string
				if _, err := fmt.Sscanf(out, "%d %d %d %d %s", &uid, &euid, &gid, &egid, &groups); err != nil ||
					uid < guestUIDBase || euid != uid || gid != uid || egid != uid || (groups != "[]" && groups != fmt.Sprintf("[%d]", gid)) {
					t.Fatalf("ids (uid euid gid egid groups): %q", out)
				}
			},
		},
		{
			name:   "fork bomb stopped by pids limit",
			limits: sandbox.Limits{Pids: 16},
			script: `
import errno, time
n, err = 0, None
for i in range(10000):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        try:
            while True:
                os.fork()  # every child forks too: exponential
        except OSError:
            pass
        time.sleep(60)
        os._exit(0)
    n += 1
say("forks=%d err=%s" % (n, errno.errorcode.get(err)))
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				var n int
				var errName string
				line := strings.TrimSpace(out)
				if _, err := fmt.Sscanf(line, "forks=%d err=%s", &n, &errName); err != nil || errName != "EAGAIN" || n >= 16 {
					t.Fatalf("fork bomb not stopped by a limit of 16: %q", out)
				}
			},
		},
		{
			name:   "memory limit kills and is reported",
			limits: sandbox.Limits{MemoryBytes: 64 << 20},
			script: `
limit = open("/sys/fs/cgroup/memory/memory.limit_in_bytes").read().strip() if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes") else open("/sys/fs/cgroup/memory.max").read().strip()
say("limit=" + limit)
blocks = []
for i in range(64):
    blocks.append(b"\x01" * (8 << 20))
say("allocated")
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				if !strings.Contains(out, "limit="+strconv.Itoa(64<<20)+"\n") || strings.Contains(out, "allocated") {
					t.Fatalf("memory not capped at 64 MiB:\n%s", out)
				}
				if !errors.Is(ex.Err, sandbox.ErrMemoryLimit) || ex.Code != -1 {
					t.Fatalf("exit = %v, want ErrMemoryLimit", ex)
				}
			},
		},
		{
			name:   "no swap on top of memory",
			limits: sandbox.Limits{MemoryBytes: 64 << 20},
			script: `
p = "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
if os.path.exists(p):
    say("memsw=" + open(p).read().strip())
elif os.path.exists("/sys/fs/cgroup/memory.swap.max"):
    say("swapmax=" + open("/sys/fs/cgroup/memory.swap.max").read().strip())
else:
    say("no swap accounting")
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				switch out {
				case "memsw=" + strconv.Itoa(64<<20) + "\n", "swapmax=0\n":
				case "no swap accounting\n":
					// The kernel has no swap accounting, so the engine
					// cannot cap swap separately; nothing to assert.
					t.Log("kernel lacks swap accounting")
				default:
					t.Fatalf("swap not capped: %q", out)
				}
			},
		},
		{
			name:   "cpu quota",
			limits: sandbox.Limits{CPUs: 0.5},
			script: `
d = "/sys/fs/cgroup/cpu,cpuacct" if os.path.exists("/sys/fs/cgroup/cpu,cpuacct") else "/sys/fs/cgroup/cpu"
if os.path.exists(d + "/cpu.cfs_quota_us"):
    q = int(open(d + "/cpu.cfs_quota_us").read()); p = int(open(d + "/cpu.cfs_period_us").read())
else:
    q, p = open("/sys/fs/cgroup/cpu.max").read().split(); q, p = int(q), int(p)
say("cpus=%.2f" % (q / p))
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				if out != "cpus=0.50\n" {
					t.Fatalf("cpu quota: %q", out)
				}
			},
		},
		{
			name:   "scratch tmpfs capped",
			limits: sandbox.Limits{ScratchBytes: 4 << 20},
			script: `
import errno
for line in open("/proc/self/mountinfo"):
    f = line.split()
    if f[4] == "/tmp":
        say("tmp " + f[5] + " " + line.split(" - ")[1].split()[0] + " " + line.split(" - ")[1].split()[2])
try:
    with open("/tmp/fill", "wb") as fh:
        for i in range(16):
            fh.write(b"x" * (1 << 20))
            fh.flush()
    say("filled")
except OSError as e:
    say("full " + errno.errorcode[e.errno])
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 2 || !strings.HasPrefix(lines[0], "tmp ") || lines[1] != "full ENOSPC" {
					t.Fatalf("scratch: %q", out)
				}
				for _, want := range []string{"nosuid", "nodev", "noexec", "tmpfs", "size=4096k"} {
					if !strings.Contains(lines[0], want) {
						t.Errorf("/tmp mount lacks %s: %s", want, lines[0])
					}
				}
			},
		},
		{
			name: "plugin files owned by root, immutable",
			script: `
import errno
st = os.stat(__file__)
say("file %s uid=%d mode=%o" % (__file__, st.st_uid, st.st_mode & 0o777))
for what, fn in [("chmod", lambda: os.chmod(__file__, 0o666)), ("write", lambda: open(__file__, "a")),
                 ("create", lambda: open("/plugin/new.py", "w")), ("remove", lambda: os.remove(__file__)),
                 ("rename", lambda: os.rename(__file__, "/plugin/x.py"))]:
    try:
        fn()
        say(what + " allowed")
    except OSError as e:
        say(what + " " + errno.errorcode[e.errno])
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				want := "file /plugin/__main__.py uid=0 mode=444\nchmod EPERM\nwrite EACCES\ncreate EACCES\nremove EACCES\nrename EACCES\n"
				if socket {
					// maid's own uid owns the copy, in a read-only bind
					// mount: the kernel answers EROFS where it checks the
					// mount before the permissions.
					want = fmt.Sprintf("file /plugin/__main__.py uid=%d mode=444\nchmod EROFS\nwrite EACCES\ncreate EROFS\nremove EROFS\nrename EROFS\n", os.Geteuid())
				}
				if out != want {
					t.Fatalf("plugin files:\n%s\nwant:\n%s", out, want)
				}
			},
		},
		{
			name: "no host mounts, no docker socket",
			script: `
allowed = ("/", "/tmp", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf")
for line in open("/proc/self/mountinfo"):
    f = line.split()
    mp = f[4]
    if mp in allowed or mp.startswith(("/proc", "/sys", "/dev")):
        continue
    if mp == "/opt/maid/sdk" and f[5].split(",")[0] == "ro":
        continue  # the SDK volume (see sdkVolume), read-only
    if mp == "/plugin":
        st = os.stat(mp)
        if st.st_uid != os.getuid() and st.st_mode & 0o022 == 0:
            continue  # the plugin's own volume or directory, not the guest's
    if mp == "/run/maid" and f[5].split(",")[0] == "ro" and os.listdir(mp) == []:
        continue  # the protocol socket's directory, emptied once connected
    say("mount " + mp)
for p in ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"]:
    if os.path.exists(p):
        say("socket " + p)
say("done")
`,
			check: func(t *testing.T, out string, ex sandbox.Exit) {
				if out != "done\n" {
					t.Fatalf("unexpected mounts or sockets:\n%s", out)
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
			tc.check(t, out, ex)
			if t.Failed() {
				t.Logf("exit: %v\nstderr: %s", ex, stderr)
			}
		})
	}
}

// TestContainerLifecycle checks labels while running and removal after
// exit, of the container and of what holds its plugin files: a volume on
// the attach path, maid's per-container directory on the socket path.
func TestContainerLifecycle(t *testing.T) {
	bothPaths(t, Options{}, testContainerLifecycle)
}

func testContainerLifecycle(t *testing.T, b *Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inst := sandboxtest.Start(t, ctx, b, `
say("ready")
inp.read()
`, func(s *sandbox.Spec) { s.PluginID = "lifecycle-plugin" })
	sandboxtest.FirstLine(t, inst, "ready")
	id := inst.(*instance).id
	info, err := b.cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatalf("inspect running container: %v", err)
	}
	for k, want := range map[string]string{labelOwner: ownerValue, labelPlugin: "lifecycle-plugin", labelRole: "plugin", labelPID: b.pid} {
		if got := info.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	hc := info.HostConfig
	if hc.Privileged || len(hc.Binds) != 0 || hc.NetworkMode != "none" || !hc.ReadonlyRootfs {
		t.Errorf("host config not hardened: privileged=%v binds=%v network=%s readonly=%v", hc.Privileged, hc.Binds, hc.NetworkMode, hc.ReadonlyRootfs)
	}
	var pluginVolume, pluginBind string
	for _, m := range info.Mounts {
		if m.Destination == pluginDir {
			pluginVolume = m.Name
			if m.Type == "bind" && !m.RW {
				pluginBind = m.Source
			}
		}
	}
	socket := b.DataPath() == DataPathSocket
	if socket && (pluginBind == "" || !strings.HasPrefix(pluginBind, b.io.dir+"/")) {
		t.Fatalf("no read-only bind of maid's directory at %s: %+v", pluginDir, info.Mounts)
	}
	if !socket && pluginVolume == "" {
		t.Fatalf("no volume at %s: %+v", pluginDir, info.Mounts)
	}
	if st := inst.Stats(); st.MemoryBytes <= 0 || st.StartedAt.IsZero() {
		t.Errorf("stats = %+v, want memory in use and a start time", st)
	}
	inst.Stdin().Close()
	ex, err := inst.Wait(ctx)
	if err != nil || ex.Code != 0 || ex.Err != nil {
		t.Fatalf("wait = %v, %v", ex, err)
	}
	if _, err := b.cli.ContainerInspect(ctx, id); !cerrdefs.IsNotFound(err) {
		t.Fatalf("container still there after Wait: %v", err)
	}
	if socket {
		if _, err := os.Lstat(filepath.Dir(pluginBind)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("plugin directory still there after Wait: %v", err)
		}
		return
	}
	if _, err := b.cli.VolumeInspect(ctx, pluginVolume); !cerrdefs.IsNotFound(err) {
		t.Fatalf("plugin volume still there after Wait: %v", err)
	}
}
