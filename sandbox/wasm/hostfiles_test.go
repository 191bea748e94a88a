package wasm

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/testenv"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// hostFDs counts this process's open file descriptors (-1: unknown).
func hostFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestGuestHostFilesBounded guards the backend-wide bound on host
// descriptors guests hold (newHostFiles, attack Q1): every file a guest
// holds open on a read-only mount is one of maid's descriptors, and with
// only the per-instance cap (256) about 78 instances took a 20,000 limit,
// after which maid could not open its database or accept a connection.
// With the limit lowered (before the backend starts, which reads it) so
// that five guests at their own cap would pass it, the guests together
// get at most half of it and maid's own opens still succeed; once the
// guests exit, their descriptors are given back.
func TestGuestHostFilesBounded(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	const guests = 5
	base := hostFDs()
	if base < 0 {
		testenv.Unavailable(t, "/proc/self/fd", "run on Linux with /proc mounted", nil)
	}
	lim := old
	lim.Cur = uint64(base + 100 + (guests-1)*maxOpenFiles)
	if lim.Cur > old.Max {
		testenv.Unavailable(t, "a hard RLIMIT_NOFILE of "+strconv.FormatUint(lim.Cur, 10), "raise ulimit -Hn", fmt.Errorf("hard limit %d", old.Max))
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	b := newBackend(t, 0)
	if want := int(lim.Cur) / 2; b.hostFiles.max != want {
		t.Fatalf("guests' host descriptors: %d, want half the limit (%d)", b.hostFiles.max, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Each guest opens as much as it can, says how much, and holds it.
	script := `fds = []
try:
    while len(fds) < 5000:
        fds.append(os.open('/usr/local/lib/python3.11/os.pyc', os.O_RDONLY))
except OSError:
    pass
say(str(len(fds)))
inp.read()
`
	total := 0
	var insts []sandbox.Instance
	for i := range guests {
		inst := sandboxtest.Start(t, ctx, b, script, nil)
		line, err := bufio.NewReader(inst.Stdout()).ReadString('\n')
		if err != nil {
			t.Fatalf("guest %d: %v", i, err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(line))
		total += n
		insts = append(insts, inst)
	}
	f, err := os.CreateTemp(t.TempDir(), "host")
	if err != nil {
		t.Errorf("maid's own open fails once %d guests hold %d files: %v", guests, total, err)
	} else {
		f.Close()
	}
	t.Logf("%d guests hold %d files; maid's descriptors %d of %d", guests, total, hostFDs(), lim.Cur)
	if total > b.hostFiles.max {
		t.Errorf("guests hold %d host files, want at most %d", total, b.hostFiles.max)
	}
	for _, inst := range insts {
		_ = inst.Kill()
		_, _ = inst.Wait(ctx)
	}
	b.hostFiles.mu.Lock()
	n := b.hostFiles.open
	b.hostFiles.mu.Unlock()
	if n != 0 {
		t.Errorf("%d host files still counted after every guest exited", n)
	}
}
