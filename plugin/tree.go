package plugin

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// tree is the set of files a package holds, as slash paths relative to its
// root.
type tree struct {
	files map[string]int64 // path → size
	dirs  map[string]bool
	order []string // files, sorted

	truncated bool // the walk stopped at MaxEntries: the lists are incomplete
}

// ignored reports whether a file or directory name is left out of packages:
// dotfiles (.git, .DS_Store, .venv) and Python caches are never plugin code.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || name == "__pycache__"
}

// ignoredPath reports whether any segment of a slash path is ignored.
func ignoredPath(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if ignored(seg) {
			return true
		}
	}
	return false
}

// checkEntryName returns why a package path (slash-separated, without a
// trailing slash) is unsafe or unportable, or "".
func checkEntryName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case strings.HasPrefix(name, "/") || len(name) >= 2 && name[1] == ':':
		return "absolute paths are not allowed"
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return `".." is not allowed (the path would escape the package)`
		}
	}
	if rule := checkRelPath(name); rule != "" {
		return "path " + rule
	}
	if d := strings.Count(name, "/"); d >= MaxPathDepth {
		return fmt.Sprintf("path is more than %d directories deep", MaxPathDepth)
	}
	return ""
}

// caseIndex detects paths that differ only in letter case: they collide on
// macOS and Windows, so one file would silently replace the other.
type caseIndex map[string]string

func (c caseIndex) add(ps *problems, name string) {
	k := strings.ToLower(name)
	if prev, ok := c[k]; ok {
		if prev == name {
			ps.add(name, "appears more than once")
		} else {
			ps.add(name, "differs from %q only in letter case", prev)
		}
		return
	}
	c[k] = name
}

// scanDir lists the package files under root (an existing directory),
// applying the same rules as Unpack so that a directory that loads also
// packs into a zip that unpacks.
func scanDir(root string) (*tree, *problems, error) {
	t := &tree{files: map[string]int64{}, dirs: map[string]bool{}}
	ps := &problems{}
	cases := caseIndex{}
	var total int64
	entries := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		entries++
		if entries > MaxEntries {
			ps.add("", "has more than %d files and directories", MaxEntries)
			t.truncated = true
			return filepath.SkipAll
		}
		if rule := checkEntryName(rel); rule != "" {
			ps.add(quoteIfOdd(rel), "%s", rule)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch mode := d.Type(); {
		case mode&fs.ModeSymlink != 0:
			ps.add(rel, "symbolic links are not allowed")
			return nil
		case d.IsDir():
			cases.add(ps, rel)
			t.dirs[rel] = true
			return nil
		case !mode.IsRegular():
			ps.add(rel, "only regular files and directories are allowed")
			return nil
		}
		cases.add(ps, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		t.files[rel] = info.Size()
		t.order = append(t.order, rel)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("scan plugin directory %s: %w", root, err)
	}
	slices.Sort(t.order) // by full path bytes, as Pack writes them
	if total > MaxUnpackedBytes {
		ps.add("", "files total %d bytes, more than the %d byte limit", total, MaxUnpackedBytes)
	}
	for _, f := range []string{manifestFileName, pluginFileName, dashboardManifestFileName} {
		if n, ok := t.files[f]; ok && n > MaxManifestBytes {
			ps.add(f, "is %d bytes, more than the %d byte limit", n, MaxManifestBytes)
		}
	}
	return t, ps, nil
}

// parentDirs returns every parent directory of a slash path, nearest last.
func parentDirs(p string) []string {
	var out []string
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}
