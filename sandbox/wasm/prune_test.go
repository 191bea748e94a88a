package wasm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// childCacheEnv makes the test binary a backend process for
// TestConcurrentBackendsEmptyCache.
const childCacheEnv = "MAID_TEST_WASM_CACHE_CHILD"

// TestConcurrentBackendsEmptyCache starts several backends at once, each in
// its own process as maid call beside maid serve does, on one empty cache
// dir, while a maid of another wazero version keeps pruning it; every one
// must start and run a plugin.
func TestConcurrentBackendsEmptyCache(t *testing.T) {
	if dir := os.Getenv(childCacheEnv); dir != "" {
		b, err := New(context.Background(), Config{PythonDir: pythonDir(t), CacheDir: dir})
		if err != nil {
			t.Fatalf("child backend: %v", err)
		}
		defer b.Close()
		out, errText, ex := run(t, b, "say('up')", nil)
		if out != "up\n" || ex.Code != 0 {
			t.Fatalf("child guest: %q %v\n%s", out, ex, errText)
		}
		return
	}
	pythonDir(t)
	if testing.Short() {
		t.Skip("compiles the interpreter in several processes at once")
	}
	dir := t.TempDir()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the other version's maid: its New prunes
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				pruneCache(dir, "", time.Now())
			}
		}
	}()
	const procs = 3
	errs := make(chan error, procs)
	for i := range procs {
		go func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentBackendsEmptyCache$", "-test.count=1")
			cmd.Env = append(os.Environ(), childCacheEnv+"="+dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("backend process %d: %v\n%s", i, err, out)
			}
			errs <- err
		}()
	}
	var failed []string
	for range procs {
		if err := <-errs; err != nil {
			failed = append(failed, err.Error())
		}
	}
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d backends failed on a fresh cache:\n%s", len(failed), procs, strings.Join(failed, "\n"))
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
