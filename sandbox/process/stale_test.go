package process

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperBackend is not a test: run by TestSweepStale as a separate maid
// process, it starts a Backend in $MAID_HELPER_TEMPDIR, prints its dir and
// waits for stdin to close (or to be killed, as a crashed maid would be).
func TestHelperBackend(t *testing.T) {
	parent := os.Getenv("MAID_HELPER_TEMPDIR")
	if parent == "" {
		t.Skip("helper process for TestSweepStale")
	}
	b, err := New(Config{TempDir: parent})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(b.tmp, "scratch-1"), []byte("plugin data"), 0o600)
	os.Stdout.WriteString("dir=" + b.tmp + "\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// startHelper starts TestHelperBackend in another process and returns it
// and its Backend's dir.
func startHelper(t *testing.T, parent string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBackend$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAID_HELPER_TEMPDIR="+parent)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	dir, ok := strings.CutPrefix(strings.TrimSpace(line), "dir=")
	if err != nil || !ok {
		t.Fatalf("helper said %q, %v", line, err)
	}
	return cmd, dir
}

// TestSweepStale: a new Backend removes the dirs of Backends whose process
// died (here: SIGKILL, as a crash) and of staging dirs left long ago, and
// keeps those of live Backends in this or another process, fresh staging
// dirs, dirs an older maid made (no owner file) and anything else.
func TestSweepStale(t *testing.T) {
	parent := t.TempDir()
	_, liveDir := startHelper(t, parent)
	crashed, crashedDir := startHelper(t, parent)
	if err := crashed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	crashed.Wait()
	mk := func(name string, age time.Duration, owner bool) string {
		dir := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Join(dir, "scratch-x"), 0o700); err != nil {
			t.Fatal(err)
		}
		if owner {
			os.WriteFile(filepath.Join(dir, ownerFile), []byte("1\n"), 0o600)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	oldStaging := mk(initPrefix+"old", time.Hour, false)
	freshStaging := mk(initPrefix+"fresh", 0, false)
	legacy := mk(rootPrefix+"legacy", time.Hour, false)
	unrelated := mk("something-else", time.Hour, true)

	if _, err := os.Stat(crashedDir); err != nil {
		t.Fatalf("crashed helper left no dir to sweep: %v", err)
	}
	local, err := New(Config{TempDir: parent}) // the restarted maid
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	other, err := New(Config{TempDir: parent}) // another maid beside it
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	for _, tc := range []struct {
		name     string
		dir      string
		wantGone bool
	}{
		{name: "crashed process's backend", dir: crashedDir, wantGone: true},
		{name: "staging dir left by a crash long ago", dir: oldStaging, wantGone: true},
		{name: "live backend in another process", dir: liveDir},
		{name: "live backend in this process", dir: local.tmp},
		{name: "fresh staging dir", dir: freshStaging},
		{name: "dir of an older maid without owner file", dir: legacy},
		{name: "unrelated dir", dir: unrelated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := os.Stat(tc.dir)
			if gone := os.IsNotExist(err); gone != tc.wantGone {
				t.Fatalf("%s removed = %v, want %v (stat: %v)", tc.dir, gone, tc.wantGone, err)
			}
		})
	}
	// The live Backend still works.
	if _, err := os.Stat(filepath.Join(local.sdkDir, "maid_sdk", "__main__.py")); err != nil {
		t.Fatalf("live backend's SDK gone: %v", err)
	}
}
