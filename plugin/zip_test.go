package plugin

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// zent is one entry of a hand-made zip.
type zent struct {
	name   string
	body   []byte
	mode   fs.FileMode // 0: 0644 regular file
	method uint16      // with raw: the method written in the header
	flags  uint16
	// raw writes body as-is (already compressed) with these header sizes;
	// they may lie.
	raw                    bool
	compressed, uncompSize uint64
	plain                  []byte // raw only: the uncompressed bytes, for the CRC
}

func makeZip(t testing.TB, entries []zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Flags: e.flags}
		if e.mode != 0 {
			h.SetMode(e.mode)
		} else {
			h.SetMode(0o644)
		}
		if e.raw {
			h.Method = e.method
			h.CompressedSize64 = e.compressed
			h.UncompressedSize64 = e.uncompSize
			h.CRC32 = crc32.ChecksumIEEE(e.body)
			if e.plain != nil {
				h.CRC32 = crc32.ChecksumIEEE(e.plain)
			}
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(e.body); err != nil {
				t.Fatal(err)
			}
			continue
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflate(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	fw.Write(data)
	fw.Close()
	return b.Bytes()
}

// listDir returns every path under dir (slash paths, dirs with "/").
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	return out
}

func TestUnpack(t *testing.T) {
	ok := []byte("print('hi')\n")
	manifest := zent{name: "manifest.json", body: []byte(minimalManifest)}
	zeros := make([]byte, 3<<20)
	zz := deflate(t, zeros)
	many := make([]zent, MaxEntries+1)
	for i := range many {
		many[i] = zent{name: "f" + itoa(i)}
	}
	tests := []struct {
		name    string
		entries []zent
		files   []string // extracted tree when valid
		want    []string // problems; nil = valid
	}{
		{name: "files and directories", entries: []zent{manifest, {name: "__main__.py", body: ok}, {name: "dashboard/", mode: fs.ModeDir | 0o755}, {name: "dashboard/index.html", body: ok}, {name: "lib/util.py", body: ok}},
			files: []string{"__main__.py", "dashboard/", "dashboard/index.html", "lib/", "lib/util.py", "manifest.json"}},
		{name: "stored entry", entries: []zent{{name: "a.py", body: ok, raw: true, method: zip.Store, compressed: uint64(len(ok)), uncompSize: uint64(len(ok))}}, files: []string{"a.py"}},
		{name: "ignored paths are not extracted", entries: []zent{manifest, {name: "__main__.py", body: ok},
			{name: "__pycache__/helper.cpython-311.pyc", body: ok}, {name: "lib/__pycache__/x.pyc", body: ok},
			{name: ".git/config", body: ok}, {name: ".hidden/", mode: fs.ModeDir | 0o755}, {name: ".pth", body: ok}},
			files: []string{"__main__.py", "manifest.json"}},
		{name: "empty directories are not extracted", entries: []zent{manifest, {name: "__main__.py", body: ok},
			{name: "fastcodec/", mode: fs.ModeDir | 0o755}, {name: "lib/", mode: fs.ModeDir | 0o755}, {name: "lib/util.py", body: ok}},
			files: []string{"__main__.py", "lib/", "lib/util.py", "manifest.json"}},
		{name: "compressible but small", entries: []zent{{name: "a.txt", body: make([]byte, RatioCheckMinBytes)}}, files: []string{"a.txt"}},

		{name: "absolute path", entries: []zent{{name: "/etc/cron.d/x", body: ok}}, want: []string{"zip: /etc/cron.d/x: absolute paths are not allowed"}},
		{name: "drive letter", entries: []zent{{name: "C:/x", body: ok}}, want: []string{"zip: C:/x: absolute paths are not allowed"}},
		{name: "dot dot", entries: []zent{{name: "../x.py", body: ok}}, want: []string{`zip: ../x.py: ".." is not allowed (the path would escape the package)`}},
		{name: "dot dot inside", entries: []zent{{name: "a/../../x.py", body: ok}}, want: []string{`zip: a/../../x.py: ".." is not allowed (the path would escape the package)`}},
		{name: "backslash", entries: []zent{{name: `..\x.py`, body: ok}}, want: []string{`zip: ..\x.py: path must use "/" as separator, not "\"`}},
		{name: "not clean", entries: []zent{{name: "./x.py", body: ok}, {name: "a//b", body: ok}}, want: []string{
			`zip: ./x.py: path must be a clean path (no ".", empty or trailing segments)`,
			`zip: a//b: path must be a clean path (no ".", empty or trailing segments)`}},
		{name: "empty name", entries: []zent{{name: "", body: ok}}, want: []string{`zip: "": empty name`}},
		{name: "control character", entries: []zent{{name: "a\nb", body: ok}}, want: []string{`zip: "a\nb": path must not contain control characters`}},
		{name: "not UTF-8", entries: []zent{{name: "caf\xe9.py", body: ok}}, want: []string{`zip: "caf\xe9.py": path must be valid UTF-8`}},
		{name: "too long", entries: []zent{{name: strings.Repeat("a", MaxPathBytes+1), body: ok}}, want: []string{
			"zip: " + strings.Repeat("a", MaxPathBytes+1) + ": path must be at most 255 bytes long"}},
		{name: "symlink", entries: []zent{{name: "link", body: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}}, want: []string{"zip: link: symbolic links are not allowed"}},
		{name: "named pipe", entries: []zent{{name: "pipe", mode: fs.ModeNamedPipe | 0o644}}, want: []string{"zip: pipe: only regular files and directories are allowed (mode prw-r--r--)"}},
		{name: "device", entries: []zent{{name: "dev", mode: fs.ModeDevice | 0o644}}, want: []string{"zip: dev: only regular files and directories are allowed (mode Drw-r--r--)"}},
		{name: "directory mode on a file name", entries: []zent{{name: "d", mode: fs.ModeDir | 0o755}}, want: []string{"zip: d: only regular files and directories are allowed (mode drwxr-xr-x)"}},
		{name: "duplicate", entries: []zent{{name: "a.py", body: ok}, {name: "a.py", body: ok}}, want: []string{"zip: a.py: appears more than once"}},
		{name: "duplicate in case", entries: []zent{{name: "a.py", body: ok}, {name: "A.py", body: ok}}, want: []string{`zip: A.py: differs from "a.py" only in letter case`}},
		{name: "directories differing in case", entries: []zent{{name: "lib/a.py", body: ok}, {name: "Lib/b.py", body: ok}}, want: []string{
			`zip: Lib/b.py: directory "Lib" differs from "lib" only in letter case`}},
		{name: "directory entry differing in case", entries: []zent{{name: "Lib/", mode: fs.ModeDir | 0o755}, {name: "lib/b.py", body: ok}}, want: []string{
			`zip: lib/b.py: directory "lib" differs from "Lib" only in letter case`}},
		{name: "file and directory", entries: []zent{{name: "a", body: ok}, {name: "a/b.py", body: ok}}, want: []string{`zip: a/b.py: its parent "a" is also a file`}},
		{name: "encrypted", entries: []zent{{name: "a.py", body: ok, flags: 0x1}}, want: []string{"zip: a.py: encrypted entries are not supported"}},
		{name: "unknown method", entries: []zent{{name: "a.py", body: ok, raw: true, method: 12, compressed: uint64(len(ok)), uncompSize: uint64(len(ok))}}, want: []string{
			"zip: a.py: unsupported compression method 12 (use deflate or store)"}},
		{name: "too many entries", entries: many, want: []string{"zip: has 2001 entries, more than the 2000 entry limit"}},
		{name: "declares too much", entries: []zent{
			{name: "a", body: ok, raw: true, method: zip.Store, compressed: uint64(len(ok)), uncompSize: 30 << 20},
			{name: "b", body: ok, raw: true, method: zip.Store, compressed: uint64(len(ok)), uncompSize: 30 << 20}}, want: []string{
			"zip: a: compresses more than 100:1 (31457280 to 12 bytes); rejected as a possible zip bomb",
			"zip: b: compresses more than 100:1 (31457280 to 12 bytes); rejected as a possible zip bomb",
			"zip: declares 62914560 bytes uncompressed, more than the 52428800 byte limit"}},
		{name: "zip bomb", entries: []zent{{name: "zeros", body: zz, plain: zeros, raw: true, method: zip.Deflate, compressed: uint64(len(zz)), uncompSize: uint64(len(zeros))}}, want: []string{
			"zip: zeros: compresses more than 100:1 (3145728 to " + itoa(len(zz)) + " bytes); rejected as a possible zip bomb"}},
		{name: "zip bomb with lying sizes", entries: []zent{manifest, {name: "zeros", body: zz, plain: zeros, raw: true, method: zip.Deflate, compressed: uint64(len(zz)), uncompSize: 100}}, want: []string{
			"zip: zeros: is corrupt: zip: not a valid zip file"}},
		{name: "zip bomb with lying sizes and a large compressed size", entries: []zent{manifest, {name: "zeros", body: zz, plain: zeros, raw: true, method: zip.Deflate, compressed: MaxArchiveBytes + 1, uncompSize: 100}}, want: []string{
			"zip: zeros: is corrupt: zip: not a valid zip file"}},
		{name: "wrong checksum", entries: []zent{{name: "a.py", body: ok, plain: []byte("other"), raw: true, method: zip.Store, compressed: uint64(len(ok)), uncompSize: uint64(len(ok))}}, want: []string{
			"zip: a.py: is corrupt: zip: checksum error"}},
		{name: "manifest too large", entries: []zent{{name: "plugin.json", body: bytes.Repeat([]byte("0123456789abcdef"), MaxManifestBytes/16+1)}}, want: []string{
			"zip: plugin.json: is 1048592 bytes, more than the 1048576 byte limit"}},
		{name: "every problem at once", entries: []zent{{name: "/abs", body: ok}, {name: "../up", body: ok}, {name: "l", mode: fs.ModeSymlink | 0o777}, {name: "ok.py", body: ok}, {name: "OK.py", body: ok}}, want: []string{
			"zip: /abs: absolute paths are not allowed",
			`zip: ../up: ".." is not allowed (the path would escape the package)`,
			"zip: l: symbolic links are not allowed",
			`zip: OK.py: differs from "ok.py" only in letter case`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := makeZip(t, tt.entries)
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			err := Unpack(bytes.NewReader(data), int64(len(data)), dest)
			if got := listDir(t, parent); !slices.Equal(got, append([]string{"dest/"}, prefixAll("dest/", tt.files)...)) && !(tt.want != nil && len(got) == 0) {
				t.Errorf("tree after unpack: %q", got)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				return
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func prefixAll(p string, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = p + s
	}
	return out
}

// hugeReaderAt claims a size larger than any allowed archive.
type hugeReaderAt struct{}

func (hugeReaderAt) ReadAt(p []byte, off int64) (int, error) { return 0, io.EOF }

func TestUnpackArchiveErrors(t *testing.T) {
	valid := makeZip(t, []zent{{name: "a.py", body: []byte("x")}})
	tests := []struct {
		name    string
		r       io.ReaderAt
		size    int64
		dest    func(t *testing.T) string
		invalid bool
		want    string
	}{
		{name: "not a zip", r: strings.NewReader("PK nope"), size: 7, invalid: true, want: "zip: not a valid zip file: zip: not a valid zip file"},
		{name: "empty input", r: strings.NewReader(""), size: 0, invalid: true, want: "zip: not a valid zip file: zip: not a valid zip file"},
		{name: "truncated zip", r: bytes.NewReader(valid[:len(valid)-10]), size: int64(len(valid) - 10), invalid: true, want: "zip: not a valid zip file"},
		{name: "archive too large", r: hugeReaderAt{}, size: MaxArchiveBytes + 1, invalid: true, want: "zip: is 52428801 bytes, more than the 52428800 byte limit"},
		{name: "destination not empty", r: bytes.NewReader(valid), size: int64(len(valid)), dest: func(t *testing.T) string {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, "keep"), nil, 0o644)
			return d
		}, want: "is not empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "d")
			if tt.dest != nil {
				dest = tt.dest(t)
			}
			err := Unpack(tt.r, tt.size, dest)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrInvalid) != tt.invalid {
				t.Errorf("got %v (invalid=%v), want %q (invalid=%v)", err, errors.Is(err, ErrInvalid), tt.want, tt.invalid)
			}
		})
	}
}

func TestPack(t *testing.T) {
	dir := writeTree(t, with(copyTestdata(t, "spec000"), map[string]string{
		".git/HEAD": "ref", "__pycache__/x.pyc": "", "lib/__init__.py": "", "lib/util.py": "x = 1\n", "a.txt": "a", "lib.txt": "b"}))
	var first bytes.Buffer
	if err := Pack(dir, &first); err != nil {
		t.Fatal(err)
	}
	// Same files with other timestamps and modes: same bytes.
	later := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		os.Chtimes(p, later, later)
		if !d.IsDir() {
			os.Chmod(p, 0o600)
		}
		return nil
	})
	var second bytes.Buffer
	if err := Pack(dir, &second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("packing the same files twice gave different bytes")
	}

	zr, err := zip.NewReader(bytes.NewReader(first.Bytes()), int64(first.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Mode() != 0o644 || !f.Modified.Equal(packTime) || f.Method != zip.Deflate {
			t.Errorf("%s: mode %v, modified %v, method %d", f.Name, f.Mode(), f.Modified, f.Method)
		}
	}
	want := []string{"__main__.py", "a.txt", "dashboard_manifest.json", "lib.txt", "lib/__init__.py", "lib/util.py", "manifest.json"}
	if !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}

	// The zip loads back to the same files.
	pkg, err := LoadZip(bytes.NewReader(first.Bytes()), int64(first.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Mode != ModeManifest || pkg.Manifest.ID != "welcome" || !slices.Equal(pkg.Files, want) {
		t.Errorf("loaded %+v", pkg)
	}
	for _, f := range want {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		b, err := os.ReadFile(filepath.Join(pkg.Dir, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs after round trip (%v)", f, err)
		}
	}
	tmp := pkg.Dir
	if err := pkg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Close left %s behind (%v)", tmp, err)
	}
	if err := pkg.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestPackRefuses(t *testing.T) {
	s004 := copyTestdata(t, "spec004")
	tests := []struct {
		name  string
		files map[string]string
		want  []string // the last line may be a prefix
	}{
		{name: "invalid package", files: with(s004, map[string]string{"script.js": "<delete>"}), want: []string{
			`plugin.json: script: file "script.js" does not exist in the package`}},
		{name: "would be taken for a zip bomb", files: with(s004, map[string]string{"zeros.bin": string(make([]byte, 2<<20))}), want: []string{
			`zeros.bin: compresses more than 100:1 (2097152 to `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Pack(writeTree(t, tt.files), &buf)
			got := Lines(err)
			n := len(tt.want) - 1
			if len(got) != len(tt.want) || !slices.Equal(got[:n], tt.want[:n]) || !strings.HasPrefix(got[n], tt.want[n]) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadZipFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "my_example.zip")
	if err := os.WriteFile(p, packTree(t, copyTestdata(t, "spec004")), 0o644); err != nil {
		t.Fatal(err)
	}
	pkg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	defer pkg.Close()
	if pkg.ManifestFile != "plugin.json" || pkg.Manifest.ID != "my_example" || pkg.Mode != ModeNone {
		t.Errorf("loaded %+v", pkg)
	}

	// A zip with problems names itself in every line, and leaves no temp dir.
	bad := makeZip(t, []zent{{name: "../x", body: []byte("x")}, {name: "plugin.json", body: []byte(`{"id": "x"}`)}})
	p = filepath.Join(t.TempDir(), "bad.zip")
	os.WriteFile(p, bad, 0o644)
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "maid-plugin-*"))
	_, err = Load(p)
	want := []string{`bad.zip: ../x: ".." is not allowed (the path would escape the package)`}
	if got := Lines(err); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "maid-plugin-*"))
	if len(after) > len(before) {
		t.Errorf("Load left temp dirs: %q", after)
	}

	// A zip that unpacks but is not a valid plugin.
	bad = makeZip(t, []zent{{name: "plugin.json", body: []byte(`{"id": "x"}`)}})
	os.WriteFile(p, bad, 0o644)
	_, err = Load(p)
	want = []string{"plugin.json: name: is required", "plugin.json: script: is required"}
	if got := Lines(err); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Go's zip reader already refuses more bytes than a header declares; the
// extractor counts bytes itself anyway. This checks that second lock.
func TestExtractFileStopsAtLimit(t *testing.T) {
	data := makeZip(t, []zent{{name: "a", body: []byte("0123456789")}})
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "a")
	n, err := extractFile(zr.File[0], target, 4)
	if !errors.Is(err, errEntryTooBig) || n != 5 {
		t.Fatalf("extractFile = %d, %v", n, err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Size() > 5 {
		t.Fatalf("wrote %v (%v)", fi, err)
	}
	if _, err := extractFile(zr.File[0], target, 100); err == nil || !strings.Contains(err.Error(), "collides") {
		t.Fatalf("second extract over an existing file: %v", err)
	}
}
