package process_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/process"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Backend {
		b, err := process.New(process.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, sandboxtest.Options{Isolated: false})
}

// TestResolvePython: a wrapper script first in PATH (as pyenv's shims are)
// resolves to the interpreter it runs; names that are not interpreters fall
// back to the PATH entry or fail with ErrUnavailable.
func TestResolvePython(t *testing.T) {
	real, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("the process backend needs python3: %v", err)
	}
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("shim-python", "#!/bin/sh\nexec "+real+" \"$@\"\n")
	write("not-python", "#!/bin/sh\necho hello\n")
	write("broken-python", "#!/bin/sh\nexit 3\n")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	want, err := exec.Command(real, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in, want string
		unavailable    bool
	}{
		{name: "shim resolves to the interpreter", in: "shim-python", want: strings.TrimSpace(string(want))},
		{name: "answer is not a path", in: "not-python", want: filepath.Join(dir, "not-python")},
		{name: "command fails", in: "broken-python", want: filepath.Join(dir, "broken-python")},
		{name: "missing", in: "no-such-python", unavailable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := process.ResolvePython(tc.in)
			if tc.unavailable {
				if !errors.Is(err, sandbox.ErrUnavailable) {
					t.Fatalf("ResolvePython(%q) = %q, %v; want ErrUnavailable", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ResolvePython(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
