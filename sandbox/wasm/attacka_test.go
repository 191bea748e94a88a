package wasm

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// hostFDs counts this process's open file descriptors.
func hostFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestAttackA_GuestsExhaustHostFDs: every file a guest holds open on a
// read-only mount (/usr/local, /maid/sdk, /plugin) is a host file
// descriptor of maid's, and the only bound is 256 per instance
// (maxOpenFiles). With no backend-wide bound, instances together take all
// of maid's descriptors: 78 instances (one per_server plugin on 78 servers,
// or a few plugins; --max-instances defaults to no cap) reach this VM's
// limit of 20,000, after which maid itself cannot open its database, accept
// a dashboard connection or dial Discord. Here the limit is lowered so that
// five guests suffice. The secure behaviour: the guests' opens fail
// before maid's own do (a backend-wide cap on guest-held descriptors well
// under RLIMIT_NOFILE).
func TestAttackA_GuestsExhaustHostFDs(t *testing.T) {
	b := newBackend(t, 0)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	const guests = 5
	dir := t.TempDir()
	base := hostFDs(t)
	// Room for maid's own work plus four guests' worth: the fifth guest's
	// files would not fit.
	lim := old
	lim.Cur = uint64(base + 100 + (guests-1)*maxOpenFiles)
	if lim.Cur > old.Max {
		t.Skipf("hard limit %d too low", old.Max)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
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
	for i := 0; i < guests; i++ {
		inst := sandboxtest.Start(t, ctx, b, script, nil)
		r := bufio.NewReader(inst.Stdout())
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("guest %d: %v", i, err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(line))
		total += n
	}
	f, err := os.CreateTemp(dir, "host")
	if err == nil {
		f.Close()
	}
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	t.Logf("%d guests hold %d files open; maid's descriptors went from %d to %d (limit %d)", guests, total, base, hostFDs(t), lim.Cur)
	if err != nil {
		t.Errorf("maid's own open fails once %d guests hold %d files: %v", guests, total, err)
	}
}
