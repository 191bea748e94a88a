package docker

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// orphanSetup starts a backend and returns, with a context for the test's
// engine calls, the pid of a process that has exited: a crashed maid's.
func orphanSetup(t *testing.T) (*Backend, context.Context, string) {
	t.Helper()
	b := newTestBackend(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	return b, ctx, strconv.Itoa(dead.Process.Pid)
}

// removal is one object a restarted maid must remove, or keep.
type removal struct {
	name     string
	wantGone bool
	inspect  func() error // asks the engine for the object now
}

// checkRemoved starts another maid, whose New removes the orphans, then
// checks each removal as a subtest: inspect must fail with "not found"
// exactly when the object should be gone.
func checkRemoved(t *testing.T, rs []removal) {
	t.Helper()
	newTestBackend(t, Options{}) // a restarted maid
	for _, r := range rs {
		t.Run(r.name, func(t *testing.T) {
			err := r.inspect()
			if gone := cerrdefs.IsNotFound(err); gone != r.wantGone {
				t.Fatalf("removed = %v, want %v (inspect: %v)", gone, r.wantGone, err)
			}
		})
	}
}

// TestOrphanCleanup: New removes maid containers of dead maid processes on
// this host, and keeps those of live processes and of other hosts.
func TestOrphanCleanup(t *testing.T) {
	b, ctx, deadPID := orphanSetup(t)
	tests := []struct {
		name      string
		host, pid string
		wantGone  bool
	}{
		{name: "dead process on this host", host: b.host, pid: deadPID, wantGone: true},
		{name: "unreadable pid label", host: b.host, pid: "not-a-pid", wantGone: true},
		{name: "live process on this host", host: b.host, pid: b.pid, wantGone: false},
		{name: "other host", host: b.host + "-elsewhere", pid: deadPID, wantGone: false},
	}
	var rs []removal
	for _, tc := range tests {
		labels := b.labels("plugin", "orphan-test", "orphan")
		labels[labelHost], labels[labelPID] = tc.host, tc.pid
		c, err := b.cli.ContainerCreate(ctx, &container.Config{Image: b.image, Labels: labels},
			&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		rs = append(rs, removal{tc.name, tc.wantGone, func() error {
			_, err := b.cli.ContainerInspect(ctx, c.ID)
			return err
		}})
		t.Cleanup(func() {
			b.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		})
	}
	checkRemoved(t, rs)
}

// TestOrphanVolumes: New removes the scratch and plugin volumes of dead
// maid processes on this host, and keeps those of live processes, of other
// hosts, volumes still in use, and the shared SDK volume.
func TestOrphanVolumes(t *testing.T) {
	b, ctx, deadPID := orphanSetup(t)
	tests := []struct {
		name      string
		role      string
		host, pid string
		inUse     bool
		wantGone  bool
	}{
		{name: "scratch of a dead process", role: "scratch", host: b.host, pid: deadPID, wantGone: true},
		{name: "plugin files of a dead process", role: "plugin-files", host: b.host, pid: deadPID, wantGone: true},
		{name: "unreadable pid label", role: "scratch", host: b.host, pid: "x", wantGone: true},
		{name: "scratch of a live process", role: "scratch", host: b.host, pid: b.pid},
		{name: "other host", role: "scratch", host: b.host + "-elsewhere", pid: deadPID},
		{name: "still in use by a container", role: "scratch", host: b.host, pid: deadPID, inUse: true},
		{name: "shared sdk volume of an older maid", role: "", host: b.host, pid: deadPID},
		{name: "sdk volume of a dead process", role: "sdk", host: b.host, pid: deadPID, wantGone: true},
		{name: "sdk volume of a live process", role: "sdk", host: b.host, pid: b.pid},
		{name: "sdk volume of another host", role: "sdk", host: b.host + "-elsewhere", pid: deadPID},
	}
	var rs []removal
	for i, tc := range tests {
		labels := b.labels(tc.role, "orphan-test", "orphan")
		labels[labelHost], labels[labelPID] = tc.host, tc.pid
		if tc.role == "" {
			delete(labels, labelRole)
		}
		v, err := b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: "maid-orphan-test-" + strconv.Itoa(i) + "-" + b.pid, Labels: labels})
		if err != nil {
			t.Fatalf("create volume: %v", err)
		}
		rs = append(rs, removal{tc.name, tc.wantGone, func() error {
			_, err := b.cli.VolumeInspect(ctx, v.Name)
			return err
		}})
		t.Cleanup(func() { b.cli.VolumeRemove(context.Background(), v.Name, true) })
		if tc.inUse {
			c, err := b.cli.ContainerCreate(ctx, &container.Config{Image: b.image},
				&container.HostConfig{NetworkMode: "none", Binds: []string{v.Name + ":/data"}}, nil, nil, "")
			if err != nil {
				t.Fatalf("create container: %v", err)
			}
			t.Cleanup(func() {
				b.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
			})
		}
	}
	checkRemoved(t, rs)
}

// TestHelperMaid is not a test: run by TestCrashedMaidLeavesNothing as a
// separate maid process, it starts a Backend and one plugin, prints the
// plugin's container and scratch volume, and waits to be killed.
func TestHelperMaid(t *testing.T) {
	if os.Getenv("MAID_DOCKER_HELPER") != "1" {
		t.Skip("helper process for TestCrashedMaidLeavesNothing")
	}
	b := newTestBackend(t, Options{PoolSize: 1})
	ctx := context.Background()
	inst := sandboxtest.Start(t, ctx, b, `
say("ready")
inp.read()
`, func(s *sandbox.Spec) { s.PluginID = "crash-test" })
	sandboxtest.FirstLine(t, inst, "ready")
	in := inst.(*instance)
	os.Stdout.WriteString("started " + in.id + " " + in.scratch + "\n")
	select {} // until killed
}

// TestCrashedMaidLeavesNothing: a maid killed with SIGKILL while a plugin
// runs (and a pooled container waits) leaves containers and volumes behind;
// the next maid's New removes them all.
func TestCrashedMaidLeavesNothing(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMaid$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAID_DOCKER_HELPER=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var id, scratch string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "started" {
			id, scratch = f[1], f[2]
			break
		}
	}
	if id == "" {
		t.Fatalf("helper maid did not start a plugin (scan: %v)", sc.Err())
	}
	helperPID := strconv.Itoa(cmd.Process.Pid)
	// Give the pool a moment to fill, so a pooled container is left too.
	time.Sleep(2 * time.Second)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	left := func() (containers, volumes []string) {
		cs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Labels[labelPID] == helperPID && c.Labels[labelOwner] == ownerValue {
				containers = append(containers, c.ID[:12]+"/"+c.Labels[labelRole])
			}
		}
		vs, err := b.cli.VolumeList(ctx, volume.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs.Volumes {
			if v.Labels[labelPID] == helperPID && v.Labels[labelOwner] == ownerValue {
				volumes = append(volumes, v.Name+"/"+v.Labels[labelRole])
			}
		}
		return containers, volumes
	}
	cs, vs := left()
	if len(cs) < 1 || len(vs) < 2 || !strings.Contains(strings.Join(vs, " "), scratch+"/scratch") {
		t.Fatalf("the crashed maid left too little to test with: containers %v, volumes %v", cs, vs)
	}
	t.Logf("left by the crash: containers %v, volumes %v", cs, vs)
	// The socket path's per-container directories, under a base named
	// after the helper's pid.
	bases, _ := filepath.Glob(filepath.Join(defaultIOParent(), helperPID+"-*"))
	if b.DataPath() == DataPathSocket && len(bases) != 1 {
		t.Fatalf("the crashed maid left socket dirs %v; want one base", bases)
	}
	newTestBackend(t, Options{}) // the restarted maid
	if cs, vs := left(); len(cs)+len(vs) != 0 {
		t.Fatalf("after restart, still there: containers %v, volumes %v", cs, vs)
	}
	for _, base := range bases {
		if _, err := os.Lstat(base); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("after restart, socket dir %s still there: %v", base, err)
		}
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && len(bases) > 0 && strings.Contains(string(mi), bases[0]) {
		t.Fatalf("after restart, mounts under %s remain", bases[0])
	}
	if _, err := b.cli.ContainerInspect(ctx, id); !cerrdefs.IsNotFound(err) {
		t.Fatalf("plugin container %s still there: %v", id[:12], err)
	}
}
