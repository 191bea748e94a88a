package docker

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/maidhq/maid/sandbox"
)

// pluginDir is where the guest sees the plugin's files.
const pluginDir = "/plugin"

// maxPluginBytes bounds the plugin files copied into each container.
const maxPluginBytes = 64 << 20

// Why CopyToContainer into a per-container anonymous volume, and not the
// zip on the boot line (sandbox.Boot.Files): the runner unpacks such a zip
// into /tmp as the guest user, who then owns, and could rewrite, its own
// code. Files copied in by the engine keep the tar's owner, root, with
// modes 0444/0555, and a process without capabilities cannot change them:
// the plugin dir is truly read-only, as on backends that mount it. The root
// filesystem is read-only and a tmpfs cannot be copied into, so the target
// is a volume; an anonymous one lives and dies with its container (removed
// with RemoveVolumes). It works against a remote engine, and for pooled
// containers too: the copy happens after start, when the plugin is known.
// This is the attach path's; the socket path copies the files itself into
// a read-only bind mount (localIO.copyPlugin), with no engine call.

// pluginEntry is the rule tarDir and copyPlugin share for an entry of a
// plugin dir, named name (slash-separated, relative to the dir): Python
// caches are left out (the guest could not trust them), symlinks and
// special files refused (they could point outside the plugin); regular
// files and directories are kept.
func pluginEntry(name string, d fs.DirEntry) (keep bool, err error) {
	switch {
	case d.IsDir() && d.Name() == "__pycache__":
		return false, fs.SkipDir
	case d.IsDir():
		return true, nil
	case !d.Type().IsRegular():
		return false, fmt.Errorf("%w: dir: %s is not a regular file (symlinks and special files are not allowed)", sandbox.ErrBadSpec, name)
	case strings.HasSuffix(name, ".pyc"):
		return false, nil
	}
	return true, nil
}

// tarDir packs a plugin dir for CopyToContainer: the entries pluginEntry
// keeps, root-owned, with read-only modes.
func tarDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	total := int64(0)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if keep, err := pluginEntry(name, d); !keep {
			return err
		}
		if d.IsDir() {
			if name == "." {
				return nil
			}
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o555})
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return err
		}
		if total += info.Size(); total > maxPluginBytes {
			return fmt.Errorf("%w: dir: plugin files exceed %d bytes", sandbox.ErrBadSpec, maxPluginBytes)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o444, Size: info.Size()}); err != nil {
			return err
		}
		_, err = io.CopyN(tw, f, info.Size())
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("pack plugin dir %s: %w", dir, err)
	}
	return buf.Bytes(), nil
}
