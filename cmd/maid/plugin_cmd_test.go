package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maidhq/maid/plugin"
)

// pluginTree copies plugin/testdata/<name> into a new directory, applying
// changes (path → contents; "" deletes).
func pluginTree(t *testing.T, name string, changes map[string]string) string {
	t.Helper()
	src := filepath.Join("..", "..", "plugin", "testdata", name)
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, body := range changes {
		full := filepath.Join(dst, filepath.FromSlash(p))
		if body == "" {
			os.RemoveAll(full)
			continue
		}
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func runPluginCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runPlugin(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPluginValidate(t *testing.T) {
	spec004 := filepath.Join("..", "..", "plugin", "testdata", "spec004")
	spec000 := filepath.Join("..", "..", "plugin", "testdata", "spec000")
	broken := `{
  "id": "my example",
  "name": "Example Plugin",
  "script": "script.js",
  "optons": [],
  "options": [
    {"id": "my_dropdown", "name": "Example dropdown", "type": "select", "default": "purple",
     "choices": [{"id": "red", "name": "Red"}, {"id": "enabled", "name": "On"}]}
  ]
}`
	tests := []struct {
		name      string
		args      func(t *testing.T) []string
		code      int
		stdout    string // exact
		stderr    string // exact unless stderrHas
		stderrHas bool
	}{
		{name: "spec 004 example", args: func(*testing.T) []string { return []string{"validate", spec004} },
			stdout: "ok: my_example\n", stderr: "note: plugin.json has no version; the marketplace derives one from the content\n"},
		{name: "spec 000 plugin with a version", args: func(*testing.T) []string { return []string{"validate", spec000} },
			stdout: "ok: welcome 1.0.0\n"},
		{name: "upload rules pass with a version", args: func(*testing.T) []string { return []string{"validate", "-upload", spec000} },
			stdout: "ok: welcome 1.0.0\n"},
		{name: "flag after the path", args: func(*testing.T) []string { return []string{"validate", spec000, "-upload"} },
			stdout: "ok: welcome 1.0.0\n"},
		{name: "upload rules: no version needed", args: func(*testing.T) []string { return []string{"validate", "-upload", spec004} },
			stdout: "ok: my_example\n", stderr: "note: plugin.json has no version; the marketplace derives one from the content\n"},
		{name: "every problem, one per line", args: func(t *testing.T) []string {
			return []string{"validate", pluginTree(t, "spec004", map[string]string{"plugin.json": broken, "script.js": ""})}
		}, code: 1, stderr: `plugin.json: id: must contain only letters, digits, "-" and "_", got "my example"
plugin.json: script: file "script.js" does not exist in the package
plugin.json: options[0].choices[1].id: "enabled" is reserved
plugin.json: options[0].default: "purple" is not the id of one of the choices (red, enabled)
plugin.json: optons: unknown key (did you mean "options"?)
`},
		{name: "needs a newer sdk", args: func(t *testing.T) []string {
			return []string{"validate", pluginTree(t, "spec000", map[string]string{"manifest.json": `{"id": "welcome", "name": "W", "sdk": "99.0.0"}`})}
		}, code: 1, stderr: "manifest.json: sdk: needs SDK 99.0.0, newer than the 0.5.1 this maid ships\n"},
		{name: "a zip", args: func(t *testing.T) []string {
			p := filepath.Join(t.TempDir(), "w.zip")
			f, _ := os.Create(p)
			if err := plugin.Pack(spec000, f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			return []string{"validate", p}
		}, stdout: "ok: welcome 1.0.0\n"},
		{name: "a broken zip", args: func(t *testing.T) []string {
			p := filepath.Join(t.TempDir(), "w.zip")
			os.WriteFile(p, []byte("PK not really"), 0o644)
			return []string{"validate", p}
		}, code: 1, stderr: "w.zip: not a valid zip file: zip: not a valid zip file\n"},
		{name: "missing path", args: func(t *testing.T) []string { return []string{"validate", filepath.Join(t.TempDir(), "nope")} },
			code: 1, stderr: "maid plugin validate: load plugin: stat ", stderrHas: true},
		{name: "no path", args: func(*testing.T) []string { return []string{"validate"} }, code: 2, stderr: "Usage: maid plugin validate [-upload] PATH", stderrHas: true},
		{name: "two paths", args: func(*testing.T) []string { return []string{"validate", spec004, spec000} }, code: 2, stderr: "Usage: maid plugin validate", stderrHas: true},
		{name: "unknown flag", args: func(*testing.T) []string { return []string{"validate", "-x", spec004} }, code: 2, stderr: "flag provided but not defined: -x", stderrHas: true},
		{name: "help", args: func(*testing.T) []string { return []string{"validate", "-h"} }, code: 0, stderr: "-upload", stderrHas: true},
		{name: "no subcommand", args: func(*testing.T) []string { return nil }, code: 2, stderr: pluginUsage},
		{name: "unknown subcommand", args: func(*testing.T) []string { return []string{"check"} }, code: 2, stderr: "maid plugin: unknown subcommand \"check\"\n\n" + pluginUsage},
		{name: "plugin help", args: func(*testing.T) []string { return []string{"--help"} }, stdout: pluginUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runPluginCmd(tt.args(t)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if stdout != tt.stdout {
				t.Errorf("stdout:\n got %q\nwant %q", stdout, tt.stdout)
			}
			if tt.stderrHas && !strings.Contains(stderr, tt.stderr) || !tt.stderrHas && stderr != tt.stderr {
				t.Errorf("stderr:\n got %q\nwant %q", stderr, tt.stderr)
			}
		})
	}
}

func TestPluginPack(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T) (args []string, wantFile string)
		code   int
		stdout string // prefix
		stderr string // exact
	}{
		{name: "default name from id and version", setup: func(t *testing.T) ([]string, string) {
			dir := pluginTree(t, "spec000", nil)
			t.Chdir(t.TempDir())
			return []string{"pack", dir}, "welcome-1.0.0.zip"
		}, stdout: "wrote welcome-1.0.0.zip (3 files, "},
		{name: "default name without a version", setup: func(t *testing.T) ([]string, string) {
			dir := pluginTree(t, "spec004", nil)
			t.Chdir(t.TempDir())
			return []string{"pack", dir}, "my_example.zip"
		}, stdout: "wrote my_example.zip (2 files, "},
		{name: "-o after the directory", setup: func(t *testing.T) ([]string, string) {
			out := filepath.Join(t.TempDir(), "out.zip")
			return []string{"pack", pluginTree(t, "spec004", nil), "-o", out}, out
		}, stdout: "wrote "},
		{name: "-o before the directory", setup: func(t *testing.T) ([]string, string) {
			out := filepath.Join(t.TempDir(), "out.zip")
			return []string{"pack", "-o", out, pluginTree(t, "spec004", nil)}, out
		}, stdout: "wrote "},
		{name: "invalid plugin writes nothing", setup: func(t *testing.T) ([]string, string) {
			out := filepath.Join(t.TempDir(), "out.zip")
			return []string{"pack", "-o", out, pluginTree(t, "spec004", map[string]string{"script.js": ""})}, ""
		}, code: 1, stderr: "plugin.json: script: file \"script.js\" does not exist in the package\n"},
		{name: "output inside the plugin", setup: func(t *testing.T) ([]string, string) {
			dir := pluginTree(t, "spec004", nil)
			t.Chdir(dir)
			return []string{"pack", "."}, ""
		}, code: 1, stderr: "maid plugin pack: output my_example.zip is inside the plugin directory; write it elsewhere with -o\n"},
		{name: "not a directory", setup: func(t *testing.T) ([]string, string) {
			p := filepath.Join(t.TempDir(), "x.zip")
			os.WriteFile(p, nil, 0o644)
			return []string{"pack", p}, ""
		}, code: 1, stderr: "is not a directory\n"},
		{name: "no directory", setup: func(t *testing.T) ([]string, string) { return []string{"pack"}, "" }, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, want := tt.setup(t)
			code, stdout, stderr := runPluginCmd(args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.HasPrefix(stdout, tt.stdout) {
				t.Errorf("stdout %q, want prefix %q", stdout, tt.stdout)
			}
			if tt.code == 1 && !strings.HasSuffix(stderr, tt.stderr) {
				t.Errorf("stderr %q, want %q", stderr, tt.stderr)
			}
			if want != "" {
				pkg, err := plugin.Load(want)
				if err != nil {
					t.Fatalf("packed zip does not load: %v", err)
				}
				pkg.Close()
			}
			// No temporary files are left next to the output.
			if matches, _ := filepath.Glob(".maid-pack-*"); len(matches) > 0 {
				t.Errorf("left %q", matches)
			}
		})
	}
}

func TestPluginPackDeterministic(t *testing.T) {
	dir := pluginTree(t, "spec000", nil)
	out := t.TempDir()
	var zips [][]byte
	for _, name := range []string{"a.zip", "b.zip"} {
		if code, _, stderr := runPluginCmd("pack", "-o", filepath.Join(out, name), dir); code != 0 {
			t.Fatalf("pack: %s", stderr)
		}
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		zips = append(zips, data)
	}
	if !bytes.Equal(zips[0], zips[1]) {
		t.Error("two packs of the same directory differ")
	}
}
