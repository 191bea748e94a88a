package wasm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// tinyModule is (module (func (export "f") (result i32) i32.const 42)).
var tinyModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
	0x03, 0x02, 0x01, 0x00,
	0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00,
	0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b,
}

// TestPruneKeepsOpenedCache: a maid that opened the compilation cache
// can still write to it after another maid pruned the cache dir before the
// first one compiled anything (issue 14, finding 11: wazero makes its dir
// once, at open).
func TestPruneKeepsOpenedCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, "wazero"))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close(ctx)
	pruneCache(dir, "", time.Now()) // another maid starting meanwhile
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, tinyModule); err != nil {
		t.Fatalf("compile after another maid pruned: %v", err)
	}
}

// TestRemoveStaleScratch: host scratch dirs an older maid left behind go
// once nothing in them changed for a day; one an older maid still running
// beside this one writes to stays, and so does the scratch dir itself.
func TestRemoveStaleScratch(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old := now.Add(-staleScratchAge - time.Hour)
	mk := func(path string, mtime time.Time) string {
		path = filepath.Join(dir, "scratch", path)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		for p := path; p != dir; p = filepath.Dir(p) {
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		return path
	}
	crashed := mk("scratch-1/deep/f", old)
	live := mk("scratch-2/f", old)
	liveFile := mk("scratch-2/sub/recent", old)
	if err := os.Chtimes(liveFile, now, now); err != nil {
		t.Fatal(err)
	}
	other := mk("not-ours/f", old)

	removeStaleScratch(dir, now)
	for _, tc := range []struct {
		name string
		path string
		kept bool
	}{
		{name: "crashed maid's scratch", path: filepath.Join(dir, "scratch", "scratch-1"), kept: false},
		{name: "crashed maid's file", path: crashed},
		{name: "scratch still written to", path: live, kept: true},
		{name: "unknown entry", path: other, kept: true},
		{name: "scratch root", path: filepath.Join(dir, "scratch"), kept: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := os.Stat(tc.path)
			if kept := err == nil; kept != tc.kept {
				t.Fatalf("%s: kept = %v, want %v", tc.path, kept, tc.kept)
			}
		})
	}
}
