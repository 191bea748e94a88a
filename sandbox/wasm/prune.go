package wasm

import (
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
		_ = os.Remove(dir) // only if now empty
	}
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
