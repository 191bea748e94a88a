// Package sdk embeds the Python SDK (maid_sdk) so every sandbox backend can
// give plugins the exact SDK this host speaks, with no separate install.
package sdk

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed all:python/maid_sdk
var files embed.FS

// The example plugins ship in the binary, so `maid serve` can install them
// on a fresh store wherever it runs.
//
//go:embed all:examples
var examples embed.FS

// Version is the SDK version this host ships (spec: SDK v0.5.1).
const Version = "0.5.1"

// FS returns the SDK tree; its root holds the maid_sdk package directory.
func FS() fs.FS {
	sub, err := fs.Sub(files, "python")
	if err != nil {
		panic(err) // embedded path is fixed at build time
	}
	return sub
}

// Examples returns the example plugins: one directory per plugin.
func Examples() fs.FS {
	sub, err := fs.Sub(examples, "examples")
	if err != nil {
		panic(err) // embedded path is fixed at build time
	}
	return sub
}

// ExtractExamples writes the example plugins into dir (dir/<name>/...).
func ExtractExamples(dir string) error { return extract(Examples(), dir) }

// Extract writes the SDK into dir (creating dir/maid_sdk/...), so that dir
// can go on a guest's PYTHONPATH. Python caches are skipped.
func Extract(dir string) error { return extract(FS(), dir) }

func extract(fsys fs.FS, dir string) error {
	return fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == "__pycache__" {
			return fs.SkipDir
		}
		target := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := fs.ReadFile(fsys, path)
		if err != nil {
			return fmt.Errorf("extract %s: %w", path, err)
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			return fmt.Errorf("extract %s: %w", path, err)
		}
		return nil
	})
}
