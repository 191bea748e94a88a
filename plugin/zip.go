package plugin

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// packTime is every entry's modification time: packing the same files twice
// gives the same bytes (1980-01-01 is the earliest time zip can store).
var packTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Pack validates the plugin in dir (as LoadDir does) and writes it to w as a
// deterministic zip: files only (no directory entries), sorted by path,
// fixed timestamps, mode 0644, deflate. Dotfiles and __pycache__ are left
// out. An invalid package is reported like LoadDir and nothing is written.
func Pack(dir string, w io.Writer) error {
	pkg, err := LoadDir(dir)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	headers := make([]*zip.FileHeader, 0, len(pkg.Files))
	for _, name := range pkg.Files {
		hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: packTime}
		hdr.SetMode(0o644)
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return fmt.Errorf("pack plugin: %w", err)
		}
		if err := copyFile(fw, filepath.Join(pkg.Dir, filepath.FromSlash(name))); err != nil {
			return fmt.Errorf("pack plugin: %s: %w", name, err)
		}
		headers = append(headers, hdr)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pack plugin: %w", err)
	}
	// The writer has filled in the sizes: refuse an archive Unpack would
	// take for a zip bomb rather than ship one nobody can install.
	ps := &problems{}
	for _, h := range headers {
		if bomb(h.UncompressedSize64, h.CompressedSize64) {
			ps.add(h.Name, "compresses more than %d:1 (%d to %d bytes); Unpack would reject the zip as a possible zip bomb", MaxCompressionRatio, h.UncompressedSize64, h.CompressedSize64)
		}
	}
	return ps.err("")
}

func copyFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	// LoadDir checked the total size; a file growing since is not trusted.
	n, err := io.Copy(w, io.LimitReader(f, MaxUnpackedBytes+1))
	if err != nil {
		return err
	}
	if n > MaxUnpackedBytes {
		return errors.New("file grew past the size limit while packing")
	}
	return nil
}

// ratioCap is the most an entry of compressed bytes may expand to: past
// RatioCheckMinBytes, MaxCompressionRatio times its compressed size.
func ratioCap(compressed uint64) uint64 {
	if compressed > MaxArchiveBytes { // a lying header; the reader cannot deliver it anyway
		compressed = 0
	}
	return max(RatioCheckMinBytes, compressed*MaxCompressionRatio)
}

// bomb reports an entry whose compression ratio only a zip bomb reaches.
func bomb(uncompressed, compressed uint64) bool {
	return uncompressed > ratioCap(compressed)
}

// Unpack extracts the zip in r (size bytes) into dest, which must be an
// empty or missing directory. Before writing anything it rejects the whole
// archive, listing every problem, if any entry has an absolute path, "..",
// a symlink or other non-regular type, a duplicate name (also differing only
// in case), encryption or an unknown compression method, or if the archive
// has more than MaxEntries entries or declares more than MaxUnpackedBytes.
// While extracting it counts the bytes actually written (headers are not
// trusted) and stops at MaxUnpackedBytes, MaxManifestBytes for manifests,
// and MaxCompressionRatio. On error dest is left empty. Problems with the
// archive are a *ValidationError for file "zip".
func Unpack(r io.ReaderAt, size int64, dest string) error {
	ps := &problems{}
	if size > MaxArchiveBytes {
		ps.add("", "is %d bytes, more than the %d byte limit", size, MaxArchiveBytes)
		return ps.err("zip")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // insecure paths: checked below, with names
		ps.add("", "not a valid zip file: %v", err)
		return ps.err("zip")
	}
	if len(zr.File) > MaxEntries {
		ps.add("", "has %d entries, more than the %d entry limit", len(zr.File), MaxEntries)
		return ps.err("zip")
	}
	entries, ok := checkEntries(ps, zr.File)
	if !ok {
		return ps.err("zip")
	}

	abs, err := prepareDest(dest)
	if err != nil {
		return err
	}
	if err := extract(ps, entries, abs, size); err != nil || len(ps.list) > 0 {
		cleanDir(abs)
		if err != nil {
			return err
		}
		return ps.err("zip")
	}
	return nil
}

type entry struct {
	f    *zip.File
	name string // without a trailing slash
	dir  bool
}

// checkEntries applies every header rule, reporting all problems.
func checkEntries(ps *problems, files []*zip.File) ([]entry, bool) {
	cases := caseIndex{}
	kinds := map[string]bool{} // lowercased path → is a directory
	var declared uint64
	entries := make([]entry, 0, len(files))
	for _, f := range files {
		raw := f.Name
		isDir := strings.HasSuffix(raw, "/")
		name := strings.TrimSuffix(raw, "/")
		if rule := checkEntryName(name); rule != "" {
			ps.add(quoteIfOdd(raw), "%s", rule)
			continue
		}
		if ignoredPath(name) {
			// Left out of packages (dotfiles, __pycache__), so left out of
			// the canonical hash a signature covers: extracting them would
			// run code no signature vouches for (a .pyc in __pycache__ that
			// Python loads without looking at its source).
			continue
		}
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			ps.add(name, "symbolic links are not allowed")
			continue
		case isDir && mode.IsDir(), !isDir && mode.IsRegular():
		default:
			ps.add(name, "only regular files and directories are allowed (mode %v)", mode)
			continue
		}
		if f.Flags&0x1 != 0 {
			ps.add(name, "encrypted entries are not supported")
			continue
		}
		if !isDir && f.Method != zip.Store && f.Method != zip.Deflate {
			ps.add(name, "unsupported compression method %d (use deflate or store)", f.Method)
			continue
		}
		cases.add(ps, name)
		kinds[strings.ToLower(name)] = isDir
		if !isDir {
			declared += f.UncompressedSize64
			switch {
			case isManifestName(name) && f.UncompressedSize64 > MaxManifestBytes:
				ps.add(name, "is %d bytes, more than the %d byte limit", f.UncompressedSize64, MaxManifestBytes)
			case bomb(f.UncompressedSize64, f.CompressedSize64):
				ps.add(name, "compresses more than %d:1 (%d to %d bytes); rejected as a possible zip bomb", MaxCompressionRatio, f.UncompressedSize64, f.CompressedSize64)
			}
		}
		entries = append(entries, entry{f: f, name: name, dir: isDir})
	}
	// A path used both as a file and as a directory cannot be extracted, and
	// directories that differ only in case merge on macOS and Windows.
	dirs := map[string]string{} // lowercased → first spelling
	for _, e := range entries {
		if e.dir {
			dirs[strings.ToLower(e.name)] = e.name
		}
	}
	for _, e := range entries {
		for _, d := range parentDirs(e.name) {
			if isDir, ok := kinds[strings.ToLower(d)]; ok && !isDir {
				ps.add(e.name, "its parent %q is also a file", d)
				break
			}
			if prev, ok := dirs[strings.ToLower(d)]; ok && prev != d {
				ps.add(e.name, "directory %q differs from %q only in letter case", d, prev)
				break
			} else if !ok {
				dirs[strings.ToLower(d)] = d
			}
		}
	}
	if declared > MaxUnpackedBytes {
		ps.add("", "declares %d bytes uncompressed, more than the %d byte limit", declared, MaxUnpackedBytes)
	}
	return entries, len(ps.list) == 0
}

func isManifestName(name string) bool {
	return name == manifestFileName || name == pluginFileName || name == dashboardManifestFileName
}

func quoteIfOdd(s string) string {
	if s == "" || !utf8.ValidString(s) {
		return fmt.Sprintf("%q", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '"' {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

// prepareDest makes dest an empty directory and returns its absolute path.
func prepareDest(dest string) (string, error) {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return "", fmt.Errorf("unpack plugin: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("unpack plugin: %w", err)
	}
	d, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("unpack plugin: %w", err)
	}
	names, err := d.Readdirnames(1)
	d.Close()
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("unpack plugin: %w", err)
	}
	if len(names) > 0 {
		return "", fmt.Errorf("unpack plugin: destination %s is not empty", dest)
	}
	return abs, nil
}

// extract writes the checked entries. Archive problems found on the way go
// to ps; I/O failures are returned.
func extract(ps *problems, entries []entry, dest string, archiveSize int64) error {
	var total int64
	for _, e := range entries {
		target := filepath.Join(dest, filepath.FromSlash(e.name))
		if rel, err := filepath.Rel(dest, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			ps.add(e.name, "path escapes the destination") // unreachable after checkEntryName; kept as a second lock
			return nil
		}
		if e.dir {
			// Directories exist only as the parents of files (created
			// below): the canonical hash a signature covers holds files
			// only, and an empty directory added to a signed zip made
			// Python take another branch (a namespace package satisfied
			// `import optional_module`; found by the issue 18 re-attack).
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("unpack plugin: %w", err)
		}
		// The most this entry may produce: what is left of the total, the
		// manifest cap, and the ratio cap on its compressed size.
		limit := MaxUnpackedBytes - total
		if isManifestName(e.name) {
			limit = min(limit, MaxManifestBytes)
		}
		c := e.f.CompressedSize64
		if c > uint64(archiveSize) {
			c = 0
		}
		limit = min(limit, int64(ratioCap(c)))
		n, err := extractFile(e.f, target, limit)
		total += n
		switch {
		case errors.Is(err, errEntryTooBig):
			switch {
			case total > MaxUnpackedBytes:
				ps.add(e.name, "uncompressed contents exceed the %d byte limit", MaxUnpackedBytes)
			case isManifestName(e.name) && n > MaxManifestBytes:
				ps.add(e.name, "is more than the %d byte limit", MaxManifestBytes)
			default:
				ps.add(e.name, "compresses more than %d:1; rejected as a possible zip bomb", MaxCompressionRatio)
			}
			return nil
		case errors.As(err, new(entryProblem)):
			ps.add(e.name, "%v", err)
			return nil
		case err != nil:
			return err
		}
	}
	if bomb(uint64(total), uint64(archiveSize)) {
		ps.add("", "expands more than %d:1 (%d to %d bytes); rejected as a possible zip bomb", MaxCompressionRatio, archiveSize, total)
	}
	return nil
}

// errEntryTooBig: an entry produced more bytes than it may.
var errEntryTooBig = errors.New("entry too big")

// entryProblem is a broken entry found while extracting (reported, not fatal
// to the caller as an I/O error would be).
type entryProblem string

func (e entryProblem) Error() string { return string(e) }

// extractFile writes one entry to target, never more than limit bytes.
func extractFile(f *zip.File, target string, limit int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, entryProblem("cannot be read: " + err.Error())
	}
	defer rc.Close()
	// O_EXCL: an entry the filesystem considers the same as an earlier one
	// (case or Unicode folding) fails instead of overwriting it.
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, entryProblem("collides with an earlier entry on this filesystem")
		}
		return 0, fmt.Errorf("unpack plugin: %w", err)
	}
	n, err := io.Copy(out, io.LimitReader(rc, limit+1))
	if cerr := out.Close(); err == nil && cerr != nil {
		return n, fmt.Errorf("unpack plugin: %w", cerr)
	}
	if err != nil {
		return n, entryProblem("is corrupt: " + err.Error())
	}
	if n > limit {
		return n, errEntryTooBig
	}
	return n, nil
}

// cleanDir removes everything inside dir (Unpack's destination was empty).
func cleanDir(dir string) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		os.RemoveAll(filepath.Join(dir, n.Name()))
	}
}
