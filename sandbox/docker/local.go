package docker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/docker/docker/api/types/mount"
	"golang.org/x/sys/unix"

	"github.com/maidhq/maid/sandbox"
)

// The data paths: how protocol lines travel between maid and a container.
//
// "attach" is the engine's attach stream: every line goes through dockerd
// and containerd-shim (two user-space copies each way, 340-400 µs per round
// trip here). It works against any engine, local or remote.
//
// "socket" needs a local engine (one that sees this host's files): each
// container gets a private host directory, bind-mounted read-only, holding
// a Unix socket that maid listens on. The runner connects to it at start and
// speaks the protocol over it, so lines go straight from kernel to kernel.
// The plugin's files go into a second private directory, bind-mounted
// read-only at /plugin, filled by maid with a plain file copy when the
// plugin is known: a pooled container needs no engine call at all to
// start a plugin (no CopyToContainer, 80-100 ms before).
//
// Stderr (and anything written to fd 1) still comes through the attach
// stream: logs are not latency bound, and it sees the interpreter's own
// errors before it ever reaches the socket.
const (
	DataPathAuto   = "auto"
	DataPathSocket = "socket"
	DataPathAttach = "attach"
)

const (
	// guestIODir is where the guest sees its socket's directory.
	guestIODir = "/run/maid"
	// guestSocket is the protocol socket's path in the guest; the runner
	// reads it from envSocket and removes it from the environment.
	guestSocket = guestIODir + "/sock"
	envSocket   = "MAID_PROTOCOL_SOCKET"
	// maxPluginEntries caps the files and directories copied per start,
	// like plugin.MaxEntries caps an upload.
	maxPluginEntries = 2000
)

// resolveDataPath picks the data path: socket for an engine on a local Unix
// socket whose root dir this host sees (so a bind mount names our files),
// else attach. An engine that remaps user namespaces (userns-remap,
// rootless) counts as not local: the guest's uid as maid sees it is not
// the one maid picked, so the peer check would turn the guest away. An
// explicit choice is checked, not second-guessed.
func resolveDataPath(want, daemonHost, rootDir string, securityOptions []string) (string, error) {
	local := strings.HasPrefix(daemonHost, "unix://") && rootDir != ""
	for _, o := range securityOptions {
		if strings.Contains(o, "name=userns") || strings.Contains(o, "name=rootless") {
			local = false
		}
	}
	if local {
		if _, err := os.Stat(strings.TrimPrefix(daemonHost, "unix://")); err != nil {
			local = false
		} else if _, err := os.Stat(rootDir); err != nil {
			local = false
		}
	}
	switch want {
	case "", DataPathAuto:
		if local {
			return DataPathSocket, nil
		}
		return DataPathAttach, nil
	case DataPathAttach:
		return DataPathAttach, nil
	case DataPathSocket:
		if !local {
			return "", fmt.Errorf("%w: data path %q needs a local engine (a unix:// DOCKER_HOST whose root dir %q this host sees, without user-namespace remapping); engine is %s: use %q",
				sandbox.ErrUnavailable, DataPathSocket, rootDir, daemonHost, DataPathAttach)
		}
		return DataPathSocket, nil
	}
	return "", fmt.Errorf("%w: data path %q: choose %q, %q or %q", sandbox.ErrBadSpec, want, DataPathAuto, DataPathSocket, DataPathAttach)
}

// runcLike reports whether an OCI runtime name is the engine's default
// kind, where the guest's processes are host processes ("" is the
// engine's default runtime).
func runcLike(runtime string) bool {
	switch runtime {
	case "", "runc", "io.containerd.runc.v2", "crun":
		return true
	}
	return false
}

// ioBase is one Backend's directory of per-container directories:
// PARENT/PID-RANDOM, mode 0700.
type ioBase struct {
	dir string
}

// defaultIOParent is where bases live: /run/maid-docker as root, else a
// per-user directory under the temp dir.
func defaultIOParent() string {
	if os.Geteuid() == 0 {
		return "/run/maid-docker"
	}
	return filepath.Join(os.TempDir(), "maid-docker-"+strconv.Itoa(os.Geteuid()))
}

// privateDir makes dir (and parents) and checks it is a real directory of
// ours that nobody else may enter: under a shared /tmp, another user could
// have made it first, or left a symlink there.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case !ok || int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("%s is not owned by uid %d", dir, os.Geteuid())
	case st.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%s has mode %o; want no access for group and others", dir, st.Mode().Perm())
	}
	return nil
}

// newIOBase sweeps the bases of dead maids under parent, then makes ours.
func newIOBase(parent string) (*ioBase, error) {
	if err := privateDir(parent); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	sweepIOBases(parent)
	var rnd [6]byte
	rand.Read(rnd[:])
	dir := filepath.Join(parent, strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	return &ioBase{dir: dir}, nil
}

// close removes the base. Containers still running keep their bind
// mounts (a lazy unmount leaves mounts in use alive).
func (b *ioBase) close() { removeTree(b.dir) }

// sweepIOBases removes the bases of maids that no longer run (named
// PID-RANDOM; anything else is left alone).
func sweepIOBases(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		pidStr, _, ok := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || !e.IsDir() || processAlive(pid) {
			continue
		}
		removeTree(filepath.Join(parent, e.Name()))
	}
}

// removeTree removes dir like os.RemoveAll, first detaching the mounts
// under it (lazily: a container still running keeps its view) and making
// its directories writable (plugin dirs are 0555; a non-root owner could
// not empty them).
func removeTree(dir string) {
	unmountUnder(dir)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}

// unmountUnder lazily unmounts every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	if os.Geteuid() != 0 {
		return // a non-root maid mounts nothing
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	for i := len(mps) - 1; i >= 0; i-- { // mountinfo lists parents first
		unix.Unmount(mps[i], unix.MNT_DETACH)
	}
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// localIO is one container's private directory on the socket path:
// DIR/io (bind-mounted read-only at guestIODir) holds the socket, DIR/plugin
// (read-only at pluginDir) the plugin's files.
type localIO struct {
	dir string
	uid int // the guest's uid: the only peer accepted
	ln  *net.UnixListener

	ready   chan struct{} // closed when accept has ended
	conn    *net.UnixConn // the guest's connection, once ready (nil on failure)
	err     error
	refused []int // uids of peers turned away, for the error (at most 4)
}

// newLocalIO makes the container's directory and starts listening.
//
// As root, io and plugin are each a small tmpfs of their own: the guest's
// mountinfo then shows "/" as their source, no host path (as for the
// attach path's volumes), and the plugin dir is capped at
// pluginVolumeBytes like the attach path's volume. The socket and its
// directory belong to the guest's uid and nobody else (0500 and 0600). A
// non-root maid cannot mount: the directories are plain ones (mountinfo
// then names their host path, see docs/security.md), open to all inside
// (0711 and 0666) but within a base only maid's uid may enter.
func newLocalIO(base *ioBase, cname string, uid int) (*localIO, []mount.Mount, error) {
	dir := filepath.Join(base.dir, cname)
	ioDir, plugDir := filepath.Join(dir, "io"), filepath.Join(dir, "plugin")
	fail := func(err error) (*localIO, []mount.Mount, error) {
		removeTree(dir)
		return nil, nil, fmt.Errorf("socket dir for %s: %w", cname, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fail(err)
	}
	for _, d := range []string{ioDir, plugDir} {
		// 0700 until filled: the guest sees an empty, closed /plugin
		// until its plugin is copied in.
		if err := os.Mkdir(d, 0o700); err != nil {
			return fail(err)
		}
	}
	if os.Geteuid() == 0 {
		const flags = unix.MS_NOSUID | unix.MS_NODEV
		// No noexec on the plugin dir: a plugin may ship extension modules.
		err := unix.Mount("tmpfs", plugDir, "tmpfs", flags,
			"size="+strconv.Itoa(pluginVolumeBytes)+",nr_inodes="+strconv.Itoa(2*maxPluginEntries)+",mode=0700")
		if err == nil {
			err = unix.Mount("tmpfs", ioDir, "tmpfs", flags|unix.MS_NOEXEC, "size=4k,nr_inodes=4,mode=0700")
		}
		if err != nil {
			return fail(fmt.Errorf("mount tmpfs: %w", err))
		}
	}
	sock := filepath.Join(ioDir, "sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fail(err)
	}
	ln.SetUnlinkOnClose(false) // unlinked by accept, or with the directory
	dirMode, sockMode := os.FileMode(0o711), os.FileMode(0o666)
	if os.Geteuid() == 0 {
		dirMode, sockMode = 0o500, 0o600
		for _, p := range []string{ioDir, sock} {
			if err := os.Lchown(p, uid, uid); err != nil {
				ln.Close()
				return fail(err)
			}
		}
	}
	if err := errors.Join(os.Chmod(sock, sockMode), os.Chmod(ioDir, dirMode)); err != nil {
		ln.Close()
		return fail(err)
	}
	l := &localIO{dir: dir, uid: uid, ln: ln, ready: make(chan struct{})}
	go l.accept()
	return l, []mount.Mount{
		{Type: mount.TypeBind, Source: ioDir, Target: guestIODir, ReadOnly: true},
		{Type: mount.TypeBind, Source: plugDir, Target: pluginDir, ReadOnly: true},
	}, nil
}

// accept waits for the guest's one connection. A peer of another uid
// (only maid's own uid or root can reach the directory on the host) is
// turned away. Once the guest is in, the socket is unlinked and the
// listener closed: nothing else can connect later. Ends when stop closes
// the listener.
func (l *localIO) accept() {
	defer close(l.ready)
	defer l.ln.Close()
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			l.err = fmt.Errorf("accept the guest's connection: %w", err)
			return
		}
		if uid, err := peerUID(c); err != nil || uid != l.uid {
			c.Close()
			if len(l.refused) < 4 {
				l.refused = append(l.refused, uid)
			}
			continue
		}
		os.Remove(filepath.Join(l.dir, "io", "sock"))
		l.conn = c
		return
	}
}

// stop ends accept (if still waiting) and waits for it.
func (l *localIO) stop() {
	l.ln.Close()
	<-l.ready
}

// peerUID is the uid of the process at the other end of c.
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if credErr != nil {
		return -1, credErr
	}
	return int(cred.Uid), nil
}

// copyPlugin copies the plugin dir src into the container's plugin
// directory: the entries pluginEntry keeps, at most maxPluginBytes and
// maxPluginEntries, files 0444 and directories 0555 owned by maid. The
// mount is read-only too, so the guest can change nothing.
func (l *localIO) copyPlugin(src string) error {
	dst := filepath.Join(l.dir, "plugin")
	var total int64
	entries := 0
	var dirs []string
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if entries++; entries > maxPluginEntries {
			return fmt.Errorf("%w: dir: more than %d files and directories", sandbox.ErrBadSpec, maxPluginEntries)
		}
		target := filepath.Join(dst, rel)
		if keep, err := pluginEntry(filepath.ToSlash(rel), d); !keep {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, target)
			return os.Mkdir(target, 0o700)
		}
		in, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer in.Close()
		st, err := in.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%w: dir: %s is not a regular file", sandbox.ErrBadSpec, filepath.ToSlash(rel))
		}
		if total += st.Size(); total > maxPluginBytes {
			return fmt.Errorf("%w: dir: plugin files exceed %d bytes", sandbox.ErrBadSpec, maxPluginBytes)
		}
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			return err
		}
		// At most the size seen: a file growing meanwhile cannot pass the cap.
		n, err := io.Copy(out, io.LimitReader(in, st.Size()))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil && n != st.Size() {
			err = fmt.Errorf("%s changed size while copied", filepath.ToSlash(rel))
		}
		if err == nil {
			err = os.Chmod(target, 0o444) // the umask may have taken bits
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("copy plugin dir %s: %w", src, err)
	}
	// Directories last, deepest first, so each was writable while filled.
	dirs = append(dirs, dst)
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			return fmt.Errorf("copy plugin dir %s: %w", src, err)
		}
	}
	return nil
}

// sockConn is the protocol stream on the socket path: Stdout reads it,
// Stdin writes it. Closing stdin half-closes (the guest reads EOF);
// the descriptor is released once both directions are done.
type sockConn struct {
	c         *net.UnixConn
	mu        sync.Mutex
	readDone  bool
	writeDone bool
}

func (s *sockConn) Read(p []byte) (int, error) {
	n, err := s.c.Read(p)
	if err != nil {
		s.done(true, false)
	}
	return n, err
}

func (s *sockConn) Write(p []byte) (int, error) { return s.c.Write(p) }

// Close half-closes the write side; it never waits for a blocked Write.
func (s *sockConn) Close() error {
	s.mu.Lock()
	already := s.writeDone
	s.mu.Unlock()
	if already {
		return nil
	}
	s.c.CloseWrite()
	s.done(false, true)
	return nil
}

func (s *sockConn) done(read, write bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if read {
		s.readDone = true
	}
	if write {
		s.writeDone = true
	}
	if s.readDone && s.writeDone {
		s.c.Close()
	}
}

// closeAll releases the connection now, whatever is unread.
func (s *sockConn) closeAll() {
	s.mu.Lock()
	s.readDone, s.writeDone = true, true
	s.mu.Unlock()
	s.c.Close()
}
