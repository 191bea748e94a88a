package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/internal/pipe"
)

// engineTimeout bounds engine calls made where no caller context exists
// (kill, inspect and remove after exit, stats).
const engineTimeout = 30 * time.Second

// stopReason says why the backend ended an instance, if it did.
type stopReason int

const (
	reasonNone stopReason = iota
	reasonKilled
	reasonTimeLimit
)

// instance is one container. Its waiter goroutine (started by create) owns
// the container from exit to removal; its demux goroutine (started by
// activate) owns the attach connection's read side.
type instance struct {
	cli     *client.Client
	id      string
	scratch string // the scratch volume's name, removed after the container
	conn    types.HijackedResponse
	lio     *localIO // the socket path's directory and connection; nil on attach

	stdinW  io.WriteCloser // set before the instance is handed out
	stdoutR io.Reader
	stdout  *pipe.Pipe // attach path only
	stderr  *pipe.Pipe
	sc      *sockConn // socket path, once activated

	mu        sync.Mutex
	reason    stopReason
	active    bool
	startedAt time.Time
	stats     sandbox.Stats
	timer     *time.Timer

	exited chan struct{} // closed once the container has exited and been removed
	exit   sandbox.Exit
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// containerName is readable in `docker ps` and unique: names of containers
// left behind must never block a new start.
func containerName(role, name string) string {
	var rnd [6]byte
	rand.Read(rnd[:])
	name = nameUnsafe.ReplaceAllString(name, "-")
	if len(name) > 40 {
		name = name[:40]
	}
	if name == "" {
		name = role
	}
	return "maid-" + name + "-" + hex.EncodeToString(rnd[:])
}

// hostConfig is the hardening every container gets. Each setting is proven
// from inside a container by the package tests. scratch names the
// container's scratch volume (see scratchVolumeOptions); labels go on the
// plugin files' volume, so a later maid can tell whose it is.
//
// local holds the socket path's bind mounts (its socket directory and
// plugin directory, see newLocalIO); nil on the attach path, where the
// plugin's files get a tmpfs volume of their own.
func (b *Backend) hostConfig(l sandbox.Limits, scratch string, labels map[string]string, local []mount.Mount) *container.HostConfig {
	pids := int64(l.Pids)
	mounts := []mount.Mount{
		{Type: mount.TypeVolume, Source: scratch, Target: "/tmp", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		{Type: mount.TypeVolume, Source: scratch, Target: "/dev/shm", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
	}
	if local != nil {
		mounts = append(mounts, local...)
	} else {
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Target: pluginDir, VolumeOptions: &mount.VolumeOptions{
			NoCopy: true,
			Labels: labels,
			DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{
				"type": "tmpfs", "device": "tmpfs",
				// Root-owned 0555: the guest cannot add files. No
				// noexec: a plugin may ship extension modules.
				"o": "size=" + strconv.Itoa(pluginVolumeBytes) + ",mode=0555,nosuid,nodev",
			}},
		}})
	}
	return &container.HostConfig{
		Runtime:        b.runtime,
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		// Empty read-only tmpfs over /dev/mqueue, writable by anyone by
		// default (the mq_* syscalls are refused by seccomp too), and over
		// /dev/pts: /dev/ptmx then leads nowhere. Ptys come from a limit
		// shared by every container on the host (kernel.pty.max less the
		// host's reserve, 3071 here), which one plugin could take whole.
		Tmpfs: map[string]string{
			"/dev/mqueue": "ro,nosuid,nodev,noexec,size=4k,mode=0555",
			"/dev/pts":    "ro,nosuid,nodev,noexec,size=4k,mode=0555",
		},
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges", seccompOpt},
		MaskedPaths: maskedPaths(b.ncpu),
		Resources: container.Resources{
			Memory:     l.MemoryBytes,
			MemorySwap: l.MemoryBytes, // equal: no swap on top of memory
			NanoCPUs:   int64(l.CPUs * 1e9),
			PidsLimit:  &pids,
		},
		// Never host paths. /tmp and /dev/shm are one tmpfs, so together
		// they hold at most Limits.ScratchBytes (the engine's own /dev/shm
		// would add 64 MiB beyond the cap). The plugin's files are a tmpfs
		// volume of their own (see tarDir). Both are volumes backed by
		// tmpfs rather than host directories, so /proc/self/mountinfo names
		// no host path for them. (On the socket path, the plugin's files
		// and the socket are bind mounts of maid's private per-container
		// directories instead, see newLocalIO.) Then, if needed, the SDK
		// volume, read-only.
		Mounts: append(mounts, b.mounts...),
		// No IPC namespace shm of the engine's: /dev/shm is the scratch
		// volume above (System V IPC is refused by seccomp).
		IpcMode:    "none",
		LogConfig:  container.LogConfig{Type: "none"}, // output goes to the attach stream only
		AutoRemove: false,                             // removed by the waiter, after exit code and OOM state are read
	}
}

// maskedPaths are the /proc and /sys paths the container sees empty (a
// file bound to /dev/null, a directory as an empty read-only tmpfs). Setting
// them replaces the engine's own list, so that list comes first (moby's
// oci/defaults.go, with the thermal_throttle file of each of the engine's
// CPUs); the rest are host-wide facts a plugin needs none of: the kernel's
// command line, config, symbols, modules, physical memory map and
// vmcoreinfo address (which help pick and aim a kernel exploit), the boot
// id (a host fingerprint), and host-wide memory, load, CPU, disk and
// pressure counters (side channels on other tenants). Paths a kernel lacks
// are skipped by the runtime.
func maskedPaths(ncpu int) []string {
	paths := []string{
		// The engine's defaults.
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
		// maid's.
		"/proc/cmdline", "/proc/config.gz", "/proc/kallsyms", "/proc/modules", "/proc/iomem",
		"/proc/vmallocinfo", "/proc/sys/kernel/random/boot_id", "/sys/kernel",
		"/sys/class/dmi", "/sys/devices/virtual/dmi",
		"/proc/meminfo", "/proc/loadavg", "/proc/stat", "/proc/vmstat", "/proc/zoneinfo",
		"/proc/buddyinfo", "/proc/softirqs", "/proc/pressure", "/proc/diskstats",
		"/proc/partitions", "/proc/swaps", "/sys/block",
	}
	for i := 0; i < max(ncpu, 1); i++ {
		paths = append(paths, "/sys/devices/system/cpu/cpu"+strconv.Itoa(i)+"/thermal_throttle")
	}
	return paths
}

// guestUser picks the uid and gid a container runs as: random, above every
// uid a host assigns, and different for each container. Why not one fixed
// uid (65534 before): the kernel keeps some limits per user, across
// containers, so with one uid for all, one plugin could take the whole
// quota from every other: inotify instances (128 by default), pipe buffer
// pages, pending signals, process count (RLIMIT_NPROC). A uid of its own
// also keeps signals and /proc access apart should namespaces fail. Two
// containers share a uid with odds of about n²/2^31 for n containers.
func guestUID() int {
	var b [4]byte
	rand.Read(b[:])
	return int(guestUIDBase + binary.BigEndian.Uint32(b[:])%guestUIDSpan)
}

const (
	guestUIDBase = 1 << 30
	guestUIDSpan = 1<<31 - 2 - guestUIDBase // below 2^31-1, clear of (uid_t)-1
)

// pluginVolumeBytes caps the plugin files' tmpfs: the files (at most
// maxPluginBytes) plus a page per file and directory of slack.
const pluginVolumeBytes = 2 * maxPluginBytes

// scratchVolumeOptions makes a local-driver volume that is a tmpfs of size
// bytes, mounted by the engine when a container using it starts and gone
// when the last one stops. Writes are charged to the container's memory
// cgroup, as for any tmpfs.
//
// size bounds data only: empty files, directories and symlinks take no
// blocks, so without nr_inodes a plugin could make files until its memory
// limit killed it, on kernel memory the scratch cap never saw. With one
// inode per scratchBytesPerInode of the cap (16,384 for 16 MiB), making
// files ends with ENOSPC like writing does.
func scratchVolumeOptions(size int64) map[string]string {
	inodes := max(size/scratchBytesPerInode, 64)
	return map[string]string{
		"type": "tmpfs", "device": "tmpfs",
		"o": "size=" + strconv.FormatInt(size, 10) + ",nr_inodes=" + strconv.FormatInt(inodes, 10) + ",mode=1777,nosuid,nodev,noexec",
	}
}

const scratchBytesPerInode = 1024

// removeVolume removes a volume, best effort and bounded: a volume left
// behind is removed by the next maid's orphan sweep (removeOrphans).
func removeVolume(cli *client.Client, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	err := cli.VolumeRemove(ctx, name, false)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove scratch volume %s: %w", name, err)
	}
	return nil
}

// create makes, attaches and starts a container running the runner, which
// then waits for its boot line. The container is not yet told its plugin.
func (b *Backend) create(ctx context.Context, name, plugin, role string, l sandbox.Limits, env map[string]string) (*instance, error) {
	envList := []string{
		"PYTHONPATH=" + sdkDir,
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUTF8=1",
		"HOME=/tmp",
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		envList = append(envList, k+"="+env[k])
	}
	socket := b.dataPath == DataPathSocket
	if socket {
		envList = append(envList, envSocket+"="+guestSocket)
	}
	uid := guestUID()
	cfg := &container.Config{
		Image:           b.image,
		User:            strconv.Itoa(uid) + ":" + strconv.Itoa(uid),
		Entrypoint:      []string{"python3", "-m", "maid_sdk"},
		Cmd:             []string{},
		Env:             envList,
		WorkingDir:      "/tmp",
		Labels:          b.labels(role, name, plugin),
		AttachStdin:     !socket,
		AttachStdout:    true,
		AttachStderr:    true,
		OpenStdin:       !socket,
		StdinOnce:       !socket, // closing our stdin gives the guest EOF
		NetworkDisabled: true,
	}
	// A request cut short by ctx may still take effect in the engine after
	// we stop listening (a container made, or started, that nobody owns),
	// so engine calls run to completion and ctx is checked between them.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engineTimeout)
	defer cancel()
	cname := containerName(role, name)
	// The scratch volume is named after the container and labelled like
	// it, so a maid that crashed before removing it is found by the next
	// one's sweep (removeOrphans).
	scratch := "maid-scratch-" + cname[len("maid-"):]
	if _, err := b.cli.VolumeCreate(ectx, volume.CreateOptions{
		Name: scratch, Driver: "local", DriverOpts: scratchVolumeOptions(l.ScratchBytes),
		Labels: b.labels("scratch", name, plugin),
	}); err != nil {
		removeVolume(b.cli, scratch)
		return nil, fmt.Errorf("create scratch volume: %w", err)
	}
	var lio *localIO
	var local []mount.Mount
	if socket {
		var err error
		if lio, local, err = newLocalIO(b.io, cname, uid); err != nil {
			removeVolume(b.cli, scratch)
			return nil, err
		}
	}
	dropLocal := func() {
		if lio != nil {
			lio.stop()
			if lio.conn != nil {
				lio.conn.Close()
			}
			removeTree(lio.dir)
		}
	}
	created, err := b.cli.ContainerCreate(ectx, cfg, b.hostConfig(l, scratch, b.labels("plugin-files", name, plugin), local), nil, nil, cname)
	if err != nil {
		dropLocal()
		// Timed out: the engine may make it anyway; remove it by its
		// unique name, best effort.
		rctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
		defer cancel()
		b.cli.ContainerRemove(rctx, cname, container.RemoveOptions{Force: true, RemoveVolumes: true})
		removeVolume(b.cli, scratch)
		return nil, fmt.Errorf("create container: %w", err)
	}
	cleanup := func() {
		rctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
		defer cancel()
		b.cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		removeVolume(b.cli, scratch)
		dropLocal()
	}
	if err := ctx.Err(); err != nil {
		cleanup()
		return nil, fmt.Errorf("create container: %w", err)
	}
	conn, err := b.cli.ContainerAttach(ectx, created.ID, container.AttachOptions{Stream: true, Stdin: !socket, Stdout: true, Stderr: true})
	if err == nil && ctx.Err() != nil {
		conn.Close()
		err = ctx.Err()
	}
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("attach container: %w", err)
	}
	// The wait request must be registered before start (next-exit) and must
	// outlive ctx: the waiter goroutine owns it and ends with the container.
	waitCtx, cancelWait := context.WithCancel(context.Background())
	waitC, errC := b.cli.ContainerWait(waitCtx, created.ID, container.WaitConditionNextExit)
	err = ctx.Err()
	if err == nil {
		err = b.cli.ContainerStart(ectx, created.ID, container.StartOptions{})
	}
	if err != nil {
		cancelWait()
		conn.Close()
		cleanup()
		return nil, fmt.Errorf("start container: %w", err)
	}
	inst := &instance{
		cli:       b.cli,
		id:        created.ID,
		scratch:   scratch,
		conn:      conn,
		lio:       lio,
		stderr:    newBufPipe(),
		startedAt: time.Now(),
		exited:    make(chan struct{}),
	}
	if !socket {
		inst.stdout = newBufPipe()
		inst.stdinW, inst.stdoutR = &stdinWriter{conn: conn}, inst.stdout
	}
	go inst.waiter(cancelWait, waitC, errC)
	return inst, nil
}

// activate copies the plugin in, sends the boot line and starts moving
// output. From here on the instance belongs to the caller. files is the
// plugin dir packed by tarDir (attach path); the socket path copies dir.
func (in *instance) activate(ctx context.Context, dir string, files []byte, entry string, wall time.Duration) error {
	select {
	case <-in.exited:
		return fmt.Errorf("container exited before boot: %v", in.exit)
	default:
	}
	if in.lio != nil {
		// The runner connects as soon as it is up; a pooled one already has.
		select {
		case <-in.lio.ready:
		case <-in.exited:
		case <-ctx.Done():
			return fmt.Errorf("wait for the guest to connect: %w", ctx.Err())
		}
		if in.lio.conn == nil {
			select {
			case <-in.exited:
				if len(in.lio.refused) > 0 {
					return fmt.Errorf("container exited before connecting: %v; connections from uids %v were refused, want uid %d (an engine remapping user namespaces? use data path %q)",
						in.exit, in.lio.refused, in.lio.uid, DataPathAttach)
				}
				return fmt.Errorf("container exited before connecting: %v", in.exit)
			default:
				return in.lio.err
			}
		}
		if err := in.lio.copyPlugin(dir); err != nil {
			return err
		}
		in.mu.Lock()
		in.sc = &sockConn{c: in.lio.conn}
		in.stdinW, in.stdoutR = in.sc, in.sc
		in.mu.Unlock()
	} else if err := in.cli.CopyToContainer(ctx, in.id, pluginDir, bytes.NewReader(files), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy plugin files: %w", err)
	}
	in.mu.Lock()
	in.active = true
	in.startedAt = time.Now()
	in.mu.Unlock()
	if err := sandbox.WriteBoot(in.stdinW, sandbox.Boot{Entry: entry, Dir: pluginDir}); err != nil {
		return err
	}
	go in.demux()
	if wall > 0 {
		in.mu.Lock()
		in.timer = time.AfterFunc(wall, func() { in.stopFor(reasonTimeLimit) })
		in.mu.Unlock()
	}
	return nil
}

// demux splits the attach stream into stdout and stderr until it ends
// (the container exited, or Kill closed the connection). On the socket
// path the protocol is elsewhere: the container's fd 1 is a log like fd 2.
func (in *instance) demux() {
	out := in.stdout
	if out == nil {
		out = in.stderr
	}
	_, err := stdcopy.StdCopy(out, in.stderr, in.conn.Reader)
	if errors.Is(err, io.ErrClosedPipe) {
		err = nil // reader side abandoned by Kill
	}
	if in.stdout != nil {
		in.stdout.CloseWrite(err)
	}
	in.stderr.CloseWrite(err)
	in.conn.Close()
}

// waiter reads how the container ended, then removes it.
func (in *instance) waiter(cancelWait context.CancelFunc, waitC <-chan container.WaitResponse, errC <-chan error) {
	defer cancelWait()
	var waitErr error
	select {
	case <-waitC:
	case waitErr = <-errC:
	}
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	code, oom := -1, false
	info, err := in.cli.ContainerInspect(ctx, in.id)
	if err == nil && info.State != nil {
		code, oom = info.State.ExitCode, info.State.OOMKilled
		if info.State.Running {
			// The wait request broke while the container runs (engine
			// restart, connection lost): nothing can be trusted, stop it.
			in.cli.ContainerKill(ctx, in.id, "KILL")
		}
	}
	rmErr := in.cli.ContainerRemove(ctx, in.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if cerrdefs.IsNotFound(rmErr) {
		rmErr = nil
	}
	if rmErr == nil {
		rmErr = removeVolume(in.cli, in.scratch)
	}
	if in.lio != nil {
		in.lio.stop() // the container is gone: accept ends if it still waits
		removeTree(in.lio.dir)
	}

	in.mu.Lock()
	reason, active := in.reason, in.active
	if in.timer != nil {
		in.timer.Stop()
	}
	in.mu.Unlock()

	var exitErr error
	switch {
	case oom && code != 0:
		code, exitErr = -1, fmt.Errorf("docker container %s killed by the out-of-memory killer: %w", in.id[:12], sandbox.ErrMemoryLimit)
	case reason == reasonTimeLimit:
		code, exitErr = -1, fmt.Errorf("docker container %s: %w", in.id[:12], sandbox.ErrTimeLimit)
	case reason == reasonKilled:
		code, exitErr = -1, fmt.Errorf("docker container %s: %w", in.id[:12], sandbox.ErrKilled)
	case waitErr != nil:
		exitErr = fmt.Errorf("docker container %s: wait: %w", in.id[:12], waitErr)
	case err != nil:
		exitErr = fmt.Errorf("docker container %s: inspect after exit: %w", in.id[:12], err)
	}
	if rmErr != nil {
		exitErr = errors.Join(exitErr, fmt.Errorf("remove container %s: %w", in.id[:12], rmErr))
	}
	in.exit = sandbox.Exit{Code: code, Err: exitErr}
	// The guest is gone, so what is still in flight is bounded: let the
	// demultiplexer finish even if nobody reads.
	if in.stdout != nil {
		in.stdout.Unbound()
	}
	in.stderr.Unbound()
	if !active {
		// Never handed out: nobody will read its output.
		in.conn.Close()
		if in.lio != nil && in.lio.conn != nil {
			in.lio.conn.Close()
		}
	}
	close(in.exited)
}

// stopFor kills the container, remembering why (the first reason wins).
func (in *instance) stopFor(r stopReason) error {
	select {
	case <-in.exited:
		return nil
	default:
	}
	in.mu.Lock()
	if in.reason == reasonNone {
		in.reason = r
	}
	in.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	err := in.cli.ContainerKill(ctx, in.id, "KILL")
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		select {
		case <-in.exited: // it ended on its own meanwhile
			return nil
		default:
		}
		return fmt.Errorf("kill docker container %s: %w", in.id[:12], err)
	}
	return nil
}

// discard kills an instance nobody will use and waits until its container
// is gone, so a failed Start or a closed pool leaves nothing behind.
func (in *instance) discard() {
	in.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	in.Wait(ctx)
	if in.stdout != nil {
		in.stdout.CloseRead()
	}
	in.stderr.CloseRead()
	in.mu.Lock()
	sc := in.sc
	in.mu.Unlock()
	if sc != nil {
		sc.closeAll()
	}
}

func (in *instance) Stdin() io.WriteCloser { return in.stdinW }
func (in *instance) Stdout() io.Reader     { return in.stdoutR }
func (in *instance) Stderr() io.Reader     { return in.stderr }

// Wait implements sandbox.Instance.
func (in *instance) Wait(ctx context.Context) (sandbox.Exit, error) {
	select {
	case <-in.exited:
		return in.exit, nil
	case <-ctx.Done():
		return sandbox.Exit{}, fmt.Errorf("wait for docker container %s: %w", in.id[:12], ctx.Err())
	}
}

// Kill implements sandbox.Instance. Output already produced stays readable.
func (in *instance) Kill() error {
	err := in.stopFor(reasonKilled)
	in.mu.Lock()
	w := in.stdinW
	in.mu.Unlock()
	if w != nil {
		w.Close()
	}
	return err
}

// Stats implements sandbox.Instance with a one-shot engine query (the
// last answer is kept for after exit).
func (in *instance) Stats() sandbox.Stats {
	in.mu.Lock()
	st := in.stats
	st.StartedAt = in.startedAt
	in.mu.Unlock()
	select {
	case <-in.exited:
		return st
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := in.cli.ContainerStatsOneShot(ctx, in.id)
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return st
	}
	mem := s.MemoryStats.Usage
	// Like `docker stats`: page cache that can be dropped is not use.
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := s.MemoryStats.Stats[k]; ok && v < mem {
			mem -= v
			break
		}
	}
	if mem > 0 || s.CPUStats.CPUUsage.TotalUsage > 0 {
		st.MemoryBytes = int64(mem)
		st.CPUTime = time.Duration(s.CPUStats.CPUUsage.TotalUsage)
		in.mu.Lock()
		in.stats.MemoryBytes, in.stats.CPUTime = st.MemoryBytes, st.CPUTime
		in.mu.Unlock()
	}
	return st
}

// stdinWriter writes to the attach connection; Close half-closes it, which
// the engine passes on as EOF (StdinOnce). Close never waits for a Write
// blocked on a guest that does not read.
type stdinWriter struct {
	conn types.HijackedResponse
	done atomic.Bool
}

func (w *stdinWriter) Write(p []byte) (int, error) {
	if w.done.Load() {
		return 0, io.ErrClosedPipe
	}
	return w.conn.Conn.Write(p)
}

func (w *stdinWriter) Close() error {
	if !w.done.CompareAndSwap(false, true) {
		return nil
	}
	return w.conn.CloseWrite()
}

// processAlive reports whether pid runs on this host.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
