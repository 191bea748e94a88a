package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/maidhq/maid/sandbox"
)

// TestUnavailable: a missing engine or image is ErrUnavailable, and the
// message names the fix.
func TestUnavailable(t *testing.T) {
	newTestBackend(t, Options{}) // skips or fails without an engine
	noEngine, err := client.NewClientWithOpts(client.WithHost("unix://"+filepath.Join(t.TempDir(), "no-docker.sock")), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer noEngine.Close()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "engine unreachable", opts: Options{Client: noEngine}, want: "engine unreachable"},
		{name: "image missing", opts: Options{Image: "maid/no-such-image:0"}, want: "make docker-image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := New(ctx, tc.opts)
			if err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, sandbox.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrUnavailable mentioning %q", err, tc.want)
			}
		})
	}
}

// TestSDKHashMatchesScript: the image build script and the backend must
// agree on the SDK hash, or every start would fall back to the volume.
func TestSDKHashMatchesScript(t *testing.T) {
	cmd := exec.Command("bash", "-c", `cd ../../sdk/python && find maid_sdk -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64`)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hash with coreutils: %v", err)
	}
	got, err := sdkHash()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("sdkHash = %s, script computes %s", got, want)
	}
	script, err := os.ReadFile("../../scripts/build-docker-image.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(script, []byte(`find maid_sdk -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0`)) {
		t.Fatal("scripts/build-docker-image.sh no longer hashes the SDK like this test")
	}
}

// TestSDKVolume runs a plugin with the SDK from the volume, as happens with
// an image that lacks this host's SDK (stale or foreign image).
func TestSDKVolume(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mounts, name, err := sdkVolume(ctx, b.cli, b.image, nil, b.labels("sdk-helper", "", ""))
	t.Cleanup(func() { b.cli.VolumeRemove(context.Background(), name, true) })
	if err != nil {
		t.Fatalf("sdk volume: %v", err)
	}
	if len(mounts) != 1 || !mounts[0].ReadOnly || mounts[0].Target != sdkDir {
		t.Fatalf("mounts = %+v", mounts)
	}
	b.mounts = mounts
	out, stderr, ex := runScript(t, b, `
import maid_sdk.__main__ as m
say(m.__file__)
for line in open("/proc/self/mountinfo"):
    f = line.split()
    if f[4] == "/opt/maid/sdk":
        say("mounted " + f[5].split(",")[0])
`, sandbox.Limits{})
	if out != "/opt/maid/sdk/maid_sdk/__main__.py\nmounted ro\n" || ex.Err != nil {
		t.Fatalf("out %q, exit %v, stderr %s", out, ex, stderr)
	}
	// No helper container is left behind.
	list, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", labelRole+"=sdk-helper"), filters.Arg("label", labelPID+"="+b.pid))})
	if err != nil || len(list) != 0 {
		t.Fatalf("helper containers left: %d, %v", len(list), err)
	}
}

// TestPool: pooled containers serve starts and Close removes idle ones.
func TestPool(t *testing.T) {
	b := newTestBackend(t, Options{PoolSize: 2})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	poolLabels := filters.NewArgs(filters.Arg("label", labelRole+"=pool"), filters.Arg("label", labelPID+"="+b.pid))
	waitPool := func(n int) {
		t.Helper()
		for b.pool.Ready() < n {
			if ctx.Err() != nil {
				t.Fatalf("pool never reached %d containers", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitPool(2)
	before, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: poolLabels})
	if err != nil || len(before) < 2 {
		t.Fatalf("pool containers: %d, %v", len(before), err)
	}
	out, stderr, ex := runScript(t, b, `say("from pool")`, sandbox.Limits{})
	if out != "from pool\n" || ex.Err != nil {
		t.Fatalf("out %q, exit %v, stderr %s", out, ex, stderr)
	}
	waitPool(2)
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	after, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: poolLabels})
	if err != nil || len(after) != 0 {
		t.Fatalf("pool containers after Close: %d, %v", len(after), err)
	}
}

func TestTarDir(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(dir string) error
		wantErr error
	}{
		{name: "files and caches", setup: func(dir string) error {
			os.MkdirAll(filepath.Join(dir, "pkg", "__pycache__"), 0o755)
			os.WriteFile(filepath.Join(dir, "pkg", "__pycache__", "x.pyc"), []byte("cache"), 0o644)
			return os.WriteFile(filepath.Join(dir, "pkg", "mod.py"), []byte("x = 1"), 0o644)
		}},
		{name: "symlink refused", setup: func(dir string) error {
			return os.Symlink("/etc/passwd", filepath.Join(dir, "link.py"))
		}, wantErr: sandbox.ErrBadSpec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
			data, err := tarDir(dir)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte("pkg/mod.py")) || bytes.Contains(data, []byte("x.pyc")) {
				t.Fatalf("tar has wrong entries")
			}
		})
	}
}

// TestStartBadSpec: limits and env the engine would refuse are ErrBadSpec
// with the field named, before any container is made.
func TestStartBadSpec(t *testing.T) {
	b := newTestBackend(t, Options{})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "__main__.py"), []byte("pass"), 0o644)
	tests := []struct {
		name string
		mod  func(*sandbox.Spec)
		want string
	}{
		{name: "memory below engine minimum", mod: func(s *sandbox.Spec) { s.Limits.MemoryBytes = 1 << 20 }, want: "MemoryBytes"},
		{name: "more cpus than the engine", mod: func(s *sandbox.Spec) { s.Limits.CPUs = 4096 }, want: "CPUs"},
		{name: "env name with =", mod: func(s *sandbox.Spec) { s.Env = map[string]string{"A=B": "c"} }, want: "env name"},
		{name: "empty env name", mod: func(s *sandbox.Spec) { s.Env = map[string]string{"": "c"} }, want: "env name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := sandbox.Spec{Name: "bad", Dir: dir, Entry: "__main__.py"}
			tc.mod(&spec)
			inst, err := b.Start(context.Background(), spec)
			if err == nil {
				inst.Kill()
				t.Fatal("start succeeded")
			}
			if !errors.Is(err, sandbox.ErrBadSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadSpec naming %s", err, tc.want)
			}
		})
	}
}

// TestStartCanceled: whatever step a cancelled Start stops at, it leaves
// no container behind.
func TestStartCanceled(t *testing.T) {
	b := newTestBackend(t, Options{})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "__main__.py"), []byte("import time\ntime.sleep(60)"), 0o644)
	mine := filters.NewArgs(filters.Arg("label", labelPID+"="+b.pid), filters.Arg("label", labelName+"=canceled"))
	for _, after := range []time.Duration{0, time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), after)
			defer cancel()
			inst, err := b.Start(ctx, sandbox.Spec{Name: "canceled", Dir: dir, Entry: "__main__.py"})
			if err == nil {
				// It was fast enough: a started instance is the caller's.
				inst.Kill()
				inst.Wait(context.Background())
			}
			list, lerr := b.cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: mine})
			if lerr != nil || len(list) != 0 {
				t.Fatalf("after Start = %v: %d containers left (%v)", err, len(list), lerr)
			}
		})
	}
}

// TestStartSlots: with one start slot, concurrent Starts all succeed one
// after another, and a Start waiting for a slot gives up with its context.
func TestStartSlots(t *testing.T) {
	b := newTestBackend(t, Options{MaxStarting: 1})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "__main__.py"), []byte("import sys\nsys.stdin.buffer.read()"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n = 3
	errs := make(chan error, n)
	for i := range n {
		go func() {
			inst, err := b.Start(ctx, sandbox.Spec{Name: fmt.Sprintf("slot-%d", i), Dir: dir, Entry: "__main__.py"})
			if err == nil {
				inst.Kill()
				_, err = inst.Wait(ctx)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("start with one slot: %v", err)
		}
	}

	b.starting <- struct{}{} // every slot taken
	defer func() { <-b.starting }()
	wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer wcancel()
	inst, err := b.Start(wctx, sandbox.Spec{Name: "slot-wait", Dir: dir, Entry: "__main__.py"})
	if err == nil {
		inst.Kill()
		t.Fatal("start succeeded while every slot was taken")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "start slots") {
		t.Fatalf("err = %v, want the context's deadline while waiting for a start slot", err)
	}
}
