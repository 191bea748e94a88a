package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maidhq/maid/internal/testenv"
)

// backendsForTest returns the backends this machine can run; under CI every
// backend is required.
func backendsForTest(t *testing.T) []string {
	t.Helper()
	out := []string{"process"}
	ci := testenv.CI()
	wasmDir := os.Getenv("MAID_PYTHON_WASM_DIR")
	if wasmDir == "" {
		wasmDir = filepath.Join("..", "..", "build", "python-wasi")
	}
	if _, err := os.Stat(filepath.Join(wasmDir, "python.wasm")); err == nil {
		t.Setenv("MAID_PYTHON_WASM_DIR", wasmDir)
		out = append(out, "wasm")
	} else if ci {
		t.Fatalf("python.wasm missing under %s (make python-wasm)", wasmDir)
	} else {
		t.Logf("wasm backend not tested: python.wasm missing (make python-wasm)")
	}
	if exec.Command("docker", "image", "inspect", "maid/python:3.11").Run() == nil {
		out = append(out, "docker")
	} else if ci {
		t.Fatal("docker image maid/python:3.11 missing (make docker-image)")
	} else {
		t.Logf("docker backend not tested: no engine or image (make docker-image)")
	}
	return out
}

func TestCall(t *testing.T) {
	welcome := filepath.Join("..", "..", "sdk", "examples", "welcome")
	events := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(events, []byte(`{"type": "message_create", "discord_srv_id": "100000000000000001", "data": {"content": "hi", "author": {"id": "11"}}}
{"type": "message_create", "discord_srv_id": "100000000000000001", "data": {"content": "yo", "author": {"id": "12"}}}
# a comment
{"type": "guild_member_add", "discord_srv_id": "100000000000000001", "data": {"user": {"id": "13"}}}
`), 0o644)
	badEvents := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(badEvents, []byte("{\"type\": \"message_create\"}\n{\"type\": \"Bad Type\"}\n"), 0o644)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // exact stdout (trimmed) or, for errors, a substring
		// everyBackend cases prove the backends give the same results; the
		// rest test the CLI itself and run on the process backend only.
		everyBackend bool
	}{
		{name: "stat card after events", args: []string{"--events", events, welcome, "dashboard.get_active_users"}, want: `{"value":2}`, everyBackend: true},
		{name: "settings defaults", args: []string{welcome, "dashboard.get_settings"}, want: `{"values":{"channel_id":"","message":"Welcome!"}}`, everyBackend: true},
		{name: "save settings", args: []string{welcome, "dashboard.save_settings", `{"values":{"channel_id":"5","message":"hey"}}`}, want: `{"ok":true}`, everyBackend: true},
		{name: "unknown handler", args: []string{welcome, "dashboard.nope"}, wantCode: 1, want: `"code":"not_found"`, everyBackend: true},
		{name: "bad option value", args: []string{"--options", `{"greet_new_members": 3}`, welcome, "dashboard.get_settings"}, wantCode: 1, want: "greet_new_members: must be a boolean"},
		{name: "bad method form", args: []string{welcome, "get_settings"}, wantCode: 1, want: "must be dashboard.<handler>"},
		{name: "bad params", args: []string{welcome, "dashboard.get_settings", "{nope"}, wantCode: 1, want: "PARAMS_JSON is not valid JSON"},
		{name: "bad events line", args: []string{"--events", badEvents, welcome, "dashboard.get_settings"}, wantCode: 1, want: "events line 2"},
		{name: "missing plugin", args: []string{"/nonexistent", "dashboard.x"}, wantCode: 1, want: `"error"`},
		{name: "usage", args: []string{welcome}, wantCode: 2},
	}
	for _, backend := range backendsForTest(t) {
		t.Run(backend, func(t *testing.T) {
			for _, tc := range tests {
				if backend != "process" && !tc.everyBackend {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					var stdout, stderr bytes.Buffer
					args := append([]string{"call", "--backend", backend}, tc.args...)
					code := run(args, &stdout, &stderr)
					got := strings.TrimSpace(stdout.String())
					if code != tc.wantCode {
						t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, got, stderr.String())
					}
					switch {
					case tc.want == "":
					case tc.wantCode == 0 && got != tc.want:
						t.Fatalf("stdout = %s\nwant     %s", got, tc.want)
					case tc.wantCode != 0 && !strings.Contains(got, tc.want):
						t.Fatalf("stdout = %s\nwant it to contain %s", got, tc.want)
					}
				})
			}
		})
	}
}

func TestUsageAndVersion(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{name: "no args", args: nil, wantCode: 2, want: "Usage"},
		{name: "help", args: []string{"--help"}, want: "maid call"},
		{name: "version", args: []string{"version"}, want: "maid "},
		{name: "unknown", args: []string{"frobnicate"}, wantCode: 2, want: "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tc.args, &out, &out); code != tc.wantCode || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d, output %q", code, out.String())
			}
		})
	}
}

func TestPythonWasmDir(t *testing.T) {
	t.Chdir(t.TempDir())
	if got := pythonWasmDir("/some/dir"); got != "/some/dir" {
		t.Errorf("flagged: got %q", got)
	}
	// Neither under the working dir nor next to the test binary.
	if got := pythonWasmDir(""); got != "" {
		t.Errorf("nothing built: got %q, want wasm.New's default", got)
	}
	if err := os.MkdirAll(filepath.Join("build", "python-wasi"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := pythonWasmDir(""); got != "build/python-wasi" {
		t.Errorf("built under the working dir: got %q", got)
	}
}
