package wasm

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// cacheMaxAge is how long a cache entry may go unused before New removes
// it. Without pruning, every rebuild of the interpreter or new SDK version
// left a compiled module (about 21 MB) and a bytecode dir behind for good.
const cacheMaxAge = 30 * 24 * time.Hour

// touchEvery bounds how often a Backend marks its SDK dir as in use.
const touchEvery = time.Hour

// pruneCache removes, under the backend's cache dir, entries no maid has
// used for cacheMaxAge, and keeps keepSDK (the SDK dir this Backend uses):
//   - SDK bytecode dirs, whose .complete a Backend touches when it starts
//     using one and then hourly while starting instances (markSDKUsed), so
//     a long-running maid of another version keeps its own;
//   - tmp- dirs under sdk/ left by a preparation that died, after a day;
//   - wazero's compiled modules: wazero never rewrites a file it loads, so
//     one still in use is removed too and compiled again, once, by the next
//     New (seconds); a running process has it in memory already.
//
// It never removes wazero's version dirs, even empty: wazero creates its dir
// once, when a process opens the cache, and writes every module it compiles
// later into it, so removing a dir that looks unused (another maid, or one
// of another wazero version, may have just opened it and still be
// compiling) made that process's compile fail. An empty dir costs nothing.
//
// Best effort: another maid may be pruning the same dir at the same time.
func pruneCache(cacheDir, keepSDK string, now time.Time) {
	old := func(path string, age time.Duration) bool {
		st, err := os.Stat(path)
		return err == nil && now.Sub(st.ModTime()) > age
	}
	sdkRoot := filepath.Join(cacheDir, "sdk")
	entries, _ := os.ReadDir(sdkRoot)
	for _, e := range entries {
		path := filepath.Join(sdkRoot, e.Name())
		switch {
		case !e.IsDir() || path == keepSDK:
		case strings.HasPrefix(e.Name(), "tmp-"):
			if old(path, 24*time.Hour) {
				_ = os.RemoveAll(path)
			}
		case old(filepath.Join(path, ".complete"), cacheMaxAge):
			_ = os.RemoveAll(path)
		}
	}
	versions, _ := os.ReadDir(filepath.Join(cacheDir, "wazero"))
	for _, v := range versions {
		if !v.IsDir() {
			continue
		}
		dir := filepath.Join(cacheDir, "wazero", v.Name())
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			if path := filepath.Join(dir, f.Name()); f.Type().IsRegular() && old(path, cacheMaxAge) {
				_ = os.Remove(path)
			}
		}
	}
}

// staleScratchAge is how long a host scratch dir of an older maid must
// have gone untouched before New removes it.
const staleScratchAge = 24 * time.Hour

// removeStaleScratch removes the host scratch dirs older versions of maid
// kept under cacheDir/scratch, one per instance, which a crash left behind
// for good. This version keeps scratch in memory and writes none. An older
// maid may still be running beside this one (an upgrade with `maid serve`
// up), so only a dir in which nothing changed for staleScratchAge goes, and
// the scratch dir itself stays: that maid made it once, at its start, and
// would fail to create instances without it (see pruneCache).
func removeStaleScratch(cacheDir string, now time.Time) {
	root := filepath.Join(cacheDir, "scratch")
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		path := filepath.Join(root, e.Name())
		if !strings.HasPrefix(e.Name(), "scratch-") || !e.IsDir() || touchedSince(path, now.Add(-staleScratchAge)) {
			continue
		}
		_ = os.RemoveAll(path)
	}
}

// touchedSince reports whether anything under dir (or dir) was modified
// after t, or cannot be read.
func touchedSince(dir string, t time.Time) bool {
	touched := false
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			touched = true // unreadable: leave it alone
			return filepath.SkipAll
		}
		if info, err := d.Info(); err != nil || info.ModTime().After(t) {
			touched = true
			return filepath.SkipAll
		}
		return nil
	})
	return touched
}

// sdkTouch marks an SDK dir as in use, at most every touchEvery.
type sdkTouch struct {
	dir  string
	last atomic.Int64 // unix nanoseconds of the last touch
}

func (s *sdkTouch) mark(now time.Time) {
	last := s.last.Load()
	if now.UnixNano()-last < int64(touchEvery) || !s.last.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	_ = os.Chtimes(filepath.Join(s.dir, ".complete"), now, now)
}
