package plugin

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// writeTree creates files (slash paths → contents) under a new directory.
// A value starting with "->" makes a symlink to the rest; a path ending in
// "/" makes an empty directory.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(body, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// packTree packs files (as for writeTree) into a zip.
func packTree(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Pack(writeTree(t, files), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// copyTestdata returns the files of testdata/<name> as a map for writeTree.
func copyTestdata(t testing.TB, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join("testdata", name)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func with(base map[string]string, changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == "<delete>" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

const minimalManifest = `{"id": "x", "name": "X"}`

func TestLoadDir(t *testing.T) {
	s004 := copyTestdata(t, "spec004")
	s000 := copyTestdata(t, "spec000")
	iframe := map[string]string{"manifest.json": minimalManifest, "__main__.py": "", "dashboard/index.html": "<!DOCTYPE html>",
		"dashboard/sdk/ui.css": "", "dashboard/sdk/ui.js": ""}
	tests := []struct {
		name     string
		files    map[string]string
		mode     DashboardMode
		manifest string
		want     []string // nil = valid
	}{
		{name: "spec 004 example with its script", files: s004, manifest: "plugin.json"},
		{name: "spec 000 manifest mode", files: s000, manifest: "manifest.json", mode: ModeManifest},
		{name: "iframe mode", files: iframe, manifest: "manifest.json", mode: ModeIframe},
		{name: "dotfiles and caches are ignored", files: with(s004, map[string]string{
			".git/config": "", ".git/link": "->/etc/passwd", "__pycache__/x.pyc": "", "sub/.DS_Store": ""}), manifest: "plugin.json"},

		{name: "spec 004 example without its script", files: with(s004, map[string]string{"script.js": "<delete>"}), want: []string{
			`plugin.json: script: file "script.js" does not exist in the package`}},
		{name: "script differs in case", files: with(s004, map[string]string{"script.js": "<delete>", "Script.js": ""}), want: []string{
			`plugin.json: script: file "script.js" does not exist in the package (found "Script.js": names are case-sensitive)`}},
		{name: "script is a directory", files: with(s004, map[string]string{"script.js": "<delete>", "script.js/": ""}), want: []string{
			`plugin.json: script: "script.js" is a directory, not a file`}},
		{name: "script in an ignored directory", files: map[string]string{"plugin.json": `{"id": "x", "name": "X", "script": ".hidden/s.py"}`, ".hidden/s.py": ""}, want: []string{
			`plugin.json: script: ".hidden/s.py" is in an ignored path (names starting with "." and __pycache__ are never packaged)`}},
		{name: "manifest.json default script missing", files: map[string]string{"manifest.json": minimalManifest}, want: []string{
			`manifest.json: script: file "__main__.py" does not exist in the package`}},
		{name: "no manifest", files: map[string]string{"__main__.py": ""}, want: []string{
			`no manifest.json or plugin.json at the package root`}},
		{name: "manifest one folder down", files: map[string]string{"my_plugin/manifest.json": minimalManifest, "my_plugin/__main__.py": ""}, want: []string{
			`no manifest.json or plugin.json at the package root (found my_plugin/manifest.json: package the folder's contents, not the folder)`}},
		{name: "both manifest files", files: with(s004, map[string]string{"manifest.json": minimalManifest}), want: []string{
			`plugin.json: cannot be used together with manifest.json (same schema): keep one`}},
		{name: "both dashboard modes", files: with(s000, map[string]string{"dashboard/index.html": ""}), want: []string{
			`dashboard/: cannot be used together with dashboard_manifest.json: pick manifest mode (dashboard_manifest.json) or iframe mode (dashboard/)`}},
		{name: "both dashboard modes, and a broken dashboard manifest", files: with(s000, map[string]string{"dashboard/app.js": "", "dashboard_manifest.json": `{"pages": []}`}), want: []string{
			`dashboard/: cannot be used together with dashboard_manifest.json: pick manifest mode (dashboard_manifest.json) or iframe mode (dashboard/)`,
			`dashboard_manifest.json: pages: must have at least one page`}},
		{name: "dashboard dir without index.html", files: with(iframe, map[string]string{"dashboard/index.html": "<delete>"}), want: []string{
			`dashboard/index.html: is missing: iframe mode (a dashboard/ directory) needs dashboard/index.html as its entry point`}},
		{name: "empty dashboard dir", files: with(iframe, map[string]string{"dashboard/index.html": "<delete>", "dashboard/sdk/ui.css": "<delete>", "dashboard/sdk/ui.js": "<delete>", "dashboard/": ""}), want: []string{
			`dashboard/index.html: is missing: iframe mode (a dashboard/ directory) needs dashboard/index.html as its entry point`}},
		{name: "dashboard is a file", files: with(s004, map[string]string{"dashboard": "x"}), want: []string{
			`dashboard: must be a directory (iframe mode: dashboard/index.html), not a file`}},
		{name: "dashboard_manifest.json is a directory", files: with(s004, map[string]string{"dashboard_manifest.json/": ""}), want: []string{
			`dashboard_manifest.json: must be a file, not a directory`}},
		{name: "plugin.json is a directory", files: map[string]string{"plugin.json/": "", "script.js": ""}, want: []string{
			`plugin.json: must be a file, not a directory`,
			`no manifest.json or plugin.json at the package root`}},
		{name: "symlink", files: with(s004, map[string]string{"lib.py": "->/etc/passwd"}), want: []string{
			`lib.py: symbolic links are not allowed`}},
		{name: "symlinked script", files: with(s004, map[string]string{"script.js": "->/etc/passwd"}), want: []string{
			`script.js: symbolic links are not allowed`,
			`plugin.json: script: file "script.js" does not exist in the package`}},
		{name: "names differing in case", files: with(s004, map[string]string{"a.py": "", "A.py": ""}), want: []string{
			`a.py: differs from "A.py" only in letter case`}},
		{name: "backslash in a file name", files: with(s004, map[string]string{`a\b.py`: ""}), want: []string{
			`a\b.py: path must use "/" as separator, not "\"`}},
		{name: "control character in a file name", files: with(s004, map[string]string{"a\nb.py": ""}), want: []string{
			`"a\nb.py": path must not contain control characters`}},
		{name: "manifest too large", files: with(s004, map[string]string{"plugin.json": strings.Repeat(" ", MaxManifestBytes+1)}), want: []string{
			`plugin.json: is 1048577 bytes, more than the 1048576 byte limit`}},
		{name: "vendored pure-Python packages in lib/", files: with(s004, map[string]string{
			"lib/six.py": "", "lib/pkg/__init__.py": "", "lib/pkg/data.json": "{}", "lib/pkg/README.so.txt": "", "lib/pkg/version.so.py": ""}), manifest: "plugin.json"},
		{name: "compiled extension in lib/", files: with(s004, map[string]string{"lib/yaml/__init__.py": "", "lib/yaml/_yaml.cpython-311-x86_64-linux-gnu.so": ""}), want: []string{
			`lib/yaml/_yaml.cpython-311-x86_64-linux-gnu.so: is a compiled extension module or shared library: plugins may only ship pure-Python code (the wasm sandbox cannot load native code); vendor a pure-Python package in lib/ or use the host APIs instead`}},
		{name: "compiled files anywhere, any case, versioned", files: with(s004, map[string]string{"speedups.PYD": "", "native/libz.so.1.2": "", "x.dylib": "", "w.dll": ""}), want: []string{
			`native/libz.so.1.2: is a compiled extension module or shared library: plugins may only ship pure-Python code (the wasm sandbox cannot load native code); vendor a pure-Python package in lib/ or use the host APIs instead`,
			`speedups.PYD: is a compiled extension module or shared library: plugins may only ship pure-Python code (the wasm sandbox cannot load native code); vendor a pure-Python package in lib/ or use the host APIs instead`,
			`w.dll: is a compiled extension module or shared library: plugins may only ship pure-Python code (the wasm sandbox cannot load native code); vendor a pure-Python package in lib/ or use the host APIs instead`,
			`x.dylib: is a compiled extension module or shared library: plugins may only ship pure-Python code (the wasm sandbox cannot load native code); vendor a pure-Python package in lib/ or use the host APIs instead`}},
		{name: "lib is a file", files: with(s004, map[string]string{"lib": "x"}), want: []string{
			`lib: must be a directory of vendored pure-Python packages, not a file`}},
		{name: "problems in every file at once", files: with(s000, map[string]string{
			"__main__.py": "<delete>", "evil": "->..",
			"manifest.json":           `{"id": "x", "name": "X", "capabilities": ["storage:kvv"]}`,
			"dashboard_manifest.json": `{"pages": []}`}), want: []string{
			`evil: symbolic links are not allowed`,
			`manifest.json: script: file "__main__.py" does not exist in the package`,
			`manifest.json: capabilities[0]: unknown capability "storage:kvv" (did you mean "storage:kv"?)`,
			`dashboard_manifest.json: pages: must have at least one page`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			pkg, err := LoadDir(dir)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				if pkg.Mode != tt.mode || pkg.ManifestFile != tt.manifest {
					t.Errorf("mode %v, manifest %q; want %v, %q", pkg.Mode, pkg.ManifestFile, tt.mode, tt.manifest)
				}
				if (pkg.Mode == ModeManifest) != (pkg.Dashboard != nil) {
					t.Errorf("mode %v with dashboard %v", pkg.Mode, pkg.Dashboard)
				}
				for _, f := range pkg.Files {
					if ignoredPath(f) {
						t.Errorf("ignored file %q listed", f)
					}
				}
				if !slices.IsSorted(pkg.Files) || !slices.Contains(pkg.Files, pkg.Manifest.Script) {
					t.Errorf("files %q (script %q)", pkg.Files, pkg.Manifest.Script)
				}
				return
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestLoadDirSpecialFiles(t *testing.T) {
	dir := writeTree(t, copyTestdata(t, "spec004"))
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatalf("make a fifo: %v", err)
	}
	_, err := LoadDir(dir)
	want := []string{"pipe: only regular files and directories are allowed"}
	if got := Lines(err); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadDirLimits(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{name: "too many entries", setup: func(t *testing.T, dir string) {
			for i := range MaxEntries {
				if err := os.WriteFile(filepath.Join(dir, "f"+itoa(i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, want: []string{"has more than 2000 files and directories"}},
		{name: "too many bytes", setup: func(t *testing.T, dir string) {
			// Sparse files: the size counts, not the disk use.
			for i := range 2 {
				f, err := os.Create(filepath.Join(dir, "big"+itoa(i)))
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Truncate(MaxUnpackedBytes / 2); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}, want: []string{"files total " + itoa(MaxUnpackedBytes+len(copyTestdata(t, "spec004")["plugin.json"])+len(copyTestdata(t, "spec004")["script.js"])) + " bytes, more than the 52428800 byte limit"}},
		{name: "too deep", setup: func(t *testing.T, dir string) {
			p := filepath.Join(dir, strings.Repeat("d/", MaxPathDepth))
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, "ok.py"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(filepath.Dir(p), "ok.py"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/ok.py: path is more than 16 directories deep"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, copyTestdata(t, "spec004"))
			tt.setup(t, dir)
			_, err := LoadDir(dir)
			if got := Lines(err); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		invalid bool // errors.Is(err, ErrInvalid)
		want    string
	}{
		{name: "missing path", path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, want: "no such file or directory"},
		{name: "not a zip", path: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "x.zip")
			os.WriteFile(p, []byte("hello"), 0o644)
			return p
		}, invalid: true, want: "x.zip: not a valid zip file: zip: not a valid zip file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrInvalid) != tt.invalid {
				t.Errorf("got %v (invalid=%v), want %q (invalid=%v)", err, errors.Is(err, ErrInvalid), tt.want, tt.invalid)
			}
		})
	}
}
