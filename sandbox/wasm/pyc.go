package wasm

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	wsys "github.com/tetratelabs/wazero/sys"

	"github.com/maidhq/maid/sandbox"
)

// Compiled plugin code.
//
// Plugin dirs are read-only, so a guest can never write a .pyc and every
// start compiled the plugin from source: about 1 ms of the ~4 ms a cold
// start took for a one-file plugin, more for bigger ones. The runner points
// sys.pycache_prefix at guestPyc (maid_sdk/__main__.py, serve), where each
// instance sees a read-only pycFS: for /plugin/x.py it serves
// guestPyc/plugin/x.<tag>.pyc, compiled by the host's pycCache.
//
// Who compiles: a throwaway interpreter per file, started from the snapshot
// like any instance but running maid_sdk/_pyc.py instead of a plugin
// (compilePyc): it runs compile() and marshal on the source and nothing
// else, so no plugin code ever runs in it. Its output is a function of the
// interpreter, the file's guest path and its bytes only, which is the
// cache's key, so instances of the same plugin, or two plugins with an
// identical file, share an entry without one being able to shape what the
// other runs: a plugin can neither write the cache (the mount is read-only,
// the key is computed by the host from the source it reads itself) nor
// reach the interpreter that fills it.
//
// Why the pycs are unchecked hash-based: the host derives each one from the
// source it has just read, so the guest need not read and hash the source
// again.
//
// Rejected: compiling in the plugin's own instance and keeping the result
// (it runs plugin code, so a plugin could plant bytecode for others);
// compiling on the host (needs a host Python of exactly this version, which
// the wasm backend must not need); one long-lived compiler for all files
// (a file crafted against a compiler bug could taint what it compiles next
// for someone else); shipping pycs inside plugin packages (plugin-made).
const (
	guestPyc = "/maid/pyc" // sys.pycache_prefix in the guest

	// pycCacheBytes and pycCacheEntries bound the backend's cache (least
	// recently used entries go first): compiled code is a few times its
	// source, so this holds thousands of typical plugin files.
	pycCacheBytes   = 64 << 20
	pycCacheEntries = 8192
	// pycEntryOverhead is what an entry costs beyond its bytes (key, list
	// element, map slot), so that failed compiles, which hold no bytes,
	// still count against the bound.
	pycEntryOverhead = 128
	// maxPycSource is the largest source file compiled by the host; a
	// bigger one is compiled by the guest itself, as before.
	maxPycSource = 1 << 20
	// maxPycBytes is the largest pyc served: a bigger one is remembered
	// as not compiled, and the guest compiles the file itself. Ordinary
	// code compiles to about its source's size; only code built to blow
	// up (many tiny calls) comes near this.
	maxPycBytes = 4 << 20
	// pycCompilerMemory and pycCompileTimeout bound one compiler. The
	// memory is a fixed cap, not the plugin's own limit, so that what is
	// remembered for a file (compiled or not) does not depend on which
	// plugin asked first; a 1 MiB source of ordinary code (the stdlib's
	// biggest files) compiles in 48 MiB.
	pycCompilerMemory = 128 << 20
	pycCompileTimeout = 10 * time.Second
	// pycCompilers is how many compilers may run at once, and a plugin
	// (all its instances) runs at most one of them: a file missed while
	// the plugin's compiler or every compiler is busy is compiled by the
	// guest itself.
	pycCompilers = 2

	// Per instance. pycHeldBytes bounds the compiled code its open
	// handles hold (each pins its bytes, which an eviction does not free,
	// outside the guest's memory limit): an import reads a pyc and closes
	// it, so it needs one at a time. pycQuotaCompiles and
	// pycQuotaSource bound the compiles it starts in its life (misses;
	// hits and waiting for another's compile are free), so a guest that
	// keeps missing (files that thrash the cache) costs a bounded
	// amount of compiler time; past them it compiles its files itself.
	pycHeldBytes     = 2 * maxPycBytes
	pycQuotaCompiles = 1024
	pycQuotaSource   = 16 << 20
)

// pycKey names a compiled file: the guest path it was compiled as (it is
// in the code objects) and the source's bytes. The interpreter is fixed for
// the cache's life (one per Backend).
type pycKey [sha256.Size]byte

func newPycKey(guestPath string, src []byte) pycKey {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00", len(guestPath), guestPath)
	h.Write(src)
	var k pycKey
	h.Sum(k[:0])
	return k
}

// pycCache holds compiled plugin files for one Backend, bounded in bytes
// and entries, least recently used first out. A file whose source does not
// compile is remembered as such (data nil), so a broken plugin restarting
// does not start a compiler each time.
type pycCache struct {
	maxBytes, maxEntries int
	compilers            int // at most this many compiles run at once
	compile              func(quit <-chan struct{}, guestPath string, src []byte) ([]byte, bool, error)

	mu       sync.Mutex
	lru      *list.List // of *pycEntry, most recent first
	entries  map[pycKey]*list.Element
	bytes    int // data plus pycEntryOverhead per entry
	inflight map[pycKey]*pycCall
	running  map[string]bool // plugins (pycAsker.owner) with a compile running

	// Counters for tests and benchmarks.
	hits, compiles int
}

type pycEntry struct {
	key  pycKey
	data []byte // nil: the source does not compile
}

// pycCall is a compile in progress; others asking for the same key wait.
type pycCall struct {
	done chan struct{}
	data []byte
	ok   bool
}

func newPycCache(maxBytes, maxEntries, compilers int, compile func(quit <-chan struct{}, guestPath string, src []byte) ([]byte, bool, error)) *pycCache {
	return &pycCache{
		maxBytes:   maxBytes,
		maxEntries: maxEntries,
		compilers:  compilers,
		compile:    compile,
		lru:        list.New(),
		entries:    map[pycKey]*list.Element{},
		inflight:   map[pycKey]*pycCall{},
		running:    map[string]bool{},
	}
}

// pycAsker is who asks the cache for a file: one instance.
type pycAsker struct {
	quit  <-chan struct{} // closed when it stops: no compile starts or is waited for
	owner string          // its plugin, which runs at most one compile at a time
	quota *pycQuota       // what it may still start compiles for; nil: no bound
}

// pycQuota is what one instance may still have the cache compile for it
// (see pycQuotaCompiles). Guarded by pycCache.mu.
type pycQuota struct {
	compiles, source int
}

func newPycQuota() *pycQuota {
	return &pycQuota{compiles: pycQuotaCompiles, source: pycQuotaSource}
}

// get returns the pyc for src compiled as guestPath, compiling it on a
// miss; ok is false when there is none (the source does not compile, no
// compile could start, the compile failed, or the asker stopped): the
// guest then compiles the source itself.
func (c *pycCache) get(a pycAsker, guestPath string, src []byte) (data []byte, ok bool) {
	key := newPycKey(guestPath, src)
	c.mu.Lock()
	if el, hit := c.entries[key]; hit {
		c.lru.MoveToFront(el)
		c.hits++
		e := el.Value.(*pycEntry)
		c.mu.Unlock()
		return e.data, e.data != nil
	}
	if call, running := c.inflight[key]; running {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.data, call.ok
		case <-a.quit:
			return nil, false
		}
	}
	// A miss starts a compile only for an asker still running, whose
	// plugin runs none and whose quota covers it, with a compiler free.
	// Otherwise it does not wait, and nothing is remembered: one plugin
	// keeping compilers busy (many big files) must not hold up other
	// plugins' starts, which compile in their own interpreter meanwhile,
	// as without the cache.
	if isClosed(a.quit) || c.running[a.owner] || len(c.running) >= c.compilers ||
		a.quota != nil && (a.quota.compiles < 1 || a.quota.source < len(src)) {
		c.mu.Unlock()
		return nil, false
	}
	if a.quota != nil {
		a.quota.compiles--
		a.quota.source -= len(src)
	}
	c.running[a.owner] = true
	call := &pycCall{done: make(chan struct{})}
	c.inflight[key] = call
	c.compiles++
	c.mu.Unlock()

	// A failure that says nothing about the source (stopped, backend
	// closed) is not remembered; one that does (it does not compile, or
	// not within the compiler's limits) is, like a success.
	var err error
	call.data, call.ok, err = c.compile(a.quit, guestPath, src)
	c.mu.Lock()
	delete(c.running, a.owner)
	delete(c.inflight, key)
	if err == nil {
		c.addLocked(key, call.data)
	}
	c.mu.Unlock()
	close(call.done)
	return call.data, call.ok
}

// isClosed reports whether ch is closed; a nil ch never is.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// addLocked stores an entry and evicts the least recently used ones past
// the bounds; callers hold mu.
func (c *pycCache) addLocked(key pycKey, data []byte) {
	size := len(data) + pycEntryOverhead
	if size > c.maxBytes {
		return
	}
	c.entries[key] = c.lru.PushFront(&pycEntry{key: key, data: data})
	c.bytes += size
	for c.bytes > c.maxBytes || c.lru.Len() > c.maxEntries {
		el := c.lru.Back()
		e := el.Value.(*pycEntry)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.bytes -= len(e.data) + pycEntryOverhead
	}
}

// stats reports the cache's size and counters.
func (c *pycCache) stats() (entries, bytes, hits, compiles int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes, c.hits, c.compiles
}

// pycCompiler is what New learns about the SDK's compiler script.
type pycCompiler struct {
	entry string // its pyc, relative to sdkDir: the compiler's entry
	tag   string // sys.implementation.cache_tag, e.g. "cpython-311"
	magic []byte // the interpreter's pyc magic number
}

// findPycCompiler locates maid_sdk/_pyc.py's bytecode in the prepared SDK
// dir, which tells the interpreter's cache tag and magic number too.
func findPycCompiler(sdkDir string) (pycCompiler, error) {
	matches, err := filepath.Glob(filepath.Join(sdkDir, "maid_sdk", "__pycache__", "_pyc.*.pyc"))
	if err != nil || len(matches) != 1 {
		return pycCompiler{}, fmt.Errorf("find the pyc compiler: want one maid_sdk/__pycache__/_pyc.*.pyc, got %d (%v)", len(matches), err)
	}
	name := filepath.Base(matches[0])
	tag := strings.TrimSuffix(strings.TrimPrefix(name, "_pyc."), ".pyc")
	f, err := os.Open(matches[0])
	if err != nil {
		return pycCompiler{}, fmt.Errorf("find the pyc compiler: %w", err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return pycCompiler{}, fmt.Errorf("find the pyc compiler: read magic: %w", err)
	}
	return pycCompiler{entry: path.Join("maid_sdk", "__pycache__", name), tag: tag, magic: magic}, nil
}

// compilePyc compiles one source file in a throwaway interpreter (see the
// top of this file). compiled is false, with a nil error, when the file
// has no pyc and never will: the source does not compile, or not within
// the compiler's limits, or its path cannot be framed. An error says
// nothing about the file.
func (b *Backend) compilePyc(quit <-chan struct{}, guestPath string, src []byte) (data []byte, compiled bool, err error) {
	if !pycPathOK(guestPath) {
		return nil, false, nil
	}
	if isClosed(quit) {
		return nil, false, fmt.Errorf("compile %s: %w", guestPath, sandbox.ErrKilled)
	}
	inst, err := b.start(context.Background(), sandbox.Spec{
		Name:     "pyc compiler",
		PluginID: "maid-pyc-compiler",
		Dir:      b.sdkDir,
		Entry:    b.pycc.entry,
		Limits:   sandbox.Limits{MemoryBytes: pycCompilerMemory, WallTime: pycCompileTimeout},
	}, false)
	if err != nil {
		return nil, false, fmt.Errorf("compile %s: %w", guestPath, err)
	}
	finished := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // a stopped plugin stops its compile
		defer wg.Done()
		select {
		case <-quit:
			_ = inst.Kill()
		case <-finished:
		}
	}()
	go func() { // tracebacks, if the compiler itself failed
		defer wg.Done()
		_, _ = io.Copy(io.Discard, inst.Stderr())
	}()
	// The compiler reads all of stdin before it writes, so no writer
	// goroutine is needed; a dead compiler makes the write fail.
	req := make([]byte, 0, len(guestPath)+1+len(src))
	req = append(append(append(req, guestPath...), '\n'), src...)
	_, werr := inst.Stdin().Write(req)
	_ = inst.Stdin().Close()
	out, rerr := io.ReadAll(io.LimitReader(inst.Stdout(), maxPycBytes+1))
	if len(out) > maxPycBytes {
		_ = inst.Kill()
	}
	exit, _ := inst.Wait(context.Background())
	close(finished)
	wg.Wait()
	switch {
	case isClosed(quit):
		return nil, false, fmt.Errorf("compile %s: %w", guestPath, sandbox.ErrKilled)
	case len(out) > maxPycBytes:
		return nil, false, nil // too big to serve (and killed for it)
	case errors.Is(exit.Err, sandbox.ErrMemoryLimit) || errors.Is(exit.Err, sandbox.ErrTimeLimit):
		// Beyond the compiler's limits, which a retry would be too.
		return nil, false, nil
	case exit.Err != nil || werr != nil || rerr != nil:
		return nil, false, fmt.Errorf("compile %s: %w", guestPath, errors.Join(exit.Err, werr, rerr))
	case exit.Code == 1 && len(out) == 0:
		return nil, false, nil
	case exit.Code != 0:
		return nil, false, fmt.Errorf("compile %s: compiler exited with %d", guestPath, exit.Code)
	case len(out) < 16 || !bytes.Equal(out[:4], b.pycc.magic) || binary.LittleEndian.Uint32(out[4:8]) != 1:
		// Not an unchecked hash-based pyc of this interpreter.
		return nil, false, fmt.Errorf("compile %s: compiler wrote no valid pyc", guestPath)
	}
	return out, true, nil
}

// pycPathOK reports whether a guest path can be framed for the compiler,
// which reads it as one UTF-8 line: a newline in a file's name would make
// the rest of the name part of the source it compiles.
func pycPathOK(guestPath string) bool {
	if !utf8.ValidString(guestPath) {
		return false
	}
	for _, r := range guestPath {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// pycFS is an instance's guestPyc mount once its plugin is bound: the
// compiled form of the plugin's sources (from the backend's pycCache) and
// of the SDK's (its __pycache__). Everything else is dir's: the empty,
// read-only mount, so any change is EROFS and any other path ENOENT.
type pycFS struct {
	experimentalsys.FS             // empty and read-only
	b                  *Backend    //
	plugin             *roFS       // the bound plugin dir
	sdk                *roFS       // the SDK, with this instance's budget
	files              *fileBudget // open handles
	held               *pycHeld    // bytes its open pycs hold
	asker              pycAsker    // the instance, to the cache
}

// resolve maps a path in the mount to what it serves: for the plugin's
// files the pyc's bytes, for the SDK's a path in sdkFS. ok is false for
// anything else.
func (p *pycFS) resolve(name string) (data []byte, sdkPath string, ok bool) {
	name = path.Clean("/" + name)[1:]
	dir, file := path.Split(name)
	base, found := strings.CutSuffix(file, "."+p.b.pycc.tag+".pyc")
	if !found || base == "" {
		return nil, "", false // another interpreter's, or an optimized (-O) one
	}
	if rest, found := strings.CutPrefix(dir, strings.TrimPrefix(guestSDK, "/")+"/"); found {
		return nil, rest + "__pycache__/" + file, true
	}
	rest, found := strings.CutPrefix(dir, strings.TrimPrefix(guestPlugin, "/")+"/")
	if !found {
		return nil, "", false
	}
	guestPath := guestPlugin + "/" + rest + base + ".py"
	if !pycPathOK(guestPath) {
		return nil, "", false
	}
	src, ok := p.source(rest + base + ".py")
	if !ok {
		return nil, "", false
	}
	data, ok = p.b.pycs.get(p.asker, guestPath, src)
	return data, "", ok
}

// source reads one of the plugin's source files, if it is a regular file
// no bigger than maxPycSource.
func (p *pycFS) source(name string) ([]byte, bool) {
	if st, errno := p.plugin.Stat(name); errno != 0 || !st.Mode.IsRegular() || st.Size > maxPycSource {
		return nil, false
	}
	f, err := roOpen{p.plugin}.Open(rootName(name))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxPycSource+1))
	if err != nil || len(src) > maxPycSource {
		return nil, false
	}
	return src, true
}

// OpenFile implements experimentalsys.FS.
func (p *pycFS) OpenFile(name string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if flag&roWriteFlags != 0 || flag&experimentalsys.O_DIRECTORY != 0 {
		return p.FS.OpenFile(name, flag, perm)
	}
	data, sdkPath, ok := p.resolve(name)
	switch {
	case !ok:
		return p.FS.OpenFile(name, flag, perm)
	case sdkPath != "":
		return p.sdk.OpenFile(sdkPath, flag, perm)
	case !p.held.take(len(data)):
		// Past its bound the guest compiles the source itself: the
		// import system falls back on any error opening a pyc.
		return nil, experimentalsys.EIO
	case !p.files.take():
		p.held.put(len(data))
		return nil, experimentalsys.EIO
	}
	f, errno := (&sysfs.AdaptFS{FS: pycFile{name: path.Base(name), data: data}}).OpenFile(".", experimentalsys.O_RDONLY, 0)
	if errno != 0 {
		p.files.put()
		p.held.put(len(data))
		return nil, errno
	}
	return &pycHandle{roFile: roFile{File: f, files: p.files}, held: p.held, size: len(data)}, 0
}

// pycHandle is an open plugin pyc: its bytes count against the
// instance's pycHeld until it is closed.
type pycHandle struct {
	roFile
	held *pycHeld
	size int
}

func (f *pycHandle) Close() experimentalsys.Errno {
	if !f.closed {
		f.held.put(f.size)
	}
	return f.roFile.Close()
}

// pycHeld bounds the bytes of compiled code one instance's open handles
// hold (pycHeldBytes).
type pycHeld struct {
	mu        sync.Mutex
	held, max int
}

func newPycHeld() *pycHeld { return &pycHeld{max: pycHeldBytes} }

// take reserves n bytes; it fails past the bound.
func (h *pycHeld) take(n int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held+n > h.max {
		return false
	}
	h.held += n
	return true
}

func (h *pycHeld) put(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held -= n
}

// Stat implements experimentalsys.FS.
func (p *pycFS) Stat(name string) (wsys.Stat_t, experimentalsys.Errno) {
	data, sdkPath, ok := p.resolve(name)
	switch {
	case !ok:
		return p.FS.Stat(name)
	case sdkPath != "":
		return p.sdk.Stat(sdkPath)
	}
	return wsys.NewStat_t(pycFile{name: path.Base(name), data: data}.info()), 0
}

// Lstat implements experimentalsys.FS: the mount has no links.
func (p *pycFS) Lstat(name string) (wsys.Stat_t, experimentalsys.Errno) { return p.Stat(name) }

// pycFile is one compiled file, as an fs.FS holding only it at ".".
type pycFile struct {
	name string
	data []byte
}

func (f pycFile) Open(name string) (fs.File, error) {
	if name != "." {
		return nil, fs.ErrNotExist
	}
	return &pycReader{Reader: bytes.NewReader(f.data), fi: f.info()}, nil
}

func (f pycFile) info() pycInfo { return pycInfo{name: f.name, size: int64(len(f.data))} }

// pycReader reads a pycFile; ReaderAt and Seeker let wazero pread and seek.
type pycReader struct {
	*bytes.Reader
	fi pycInfo
}

func (r *pycReader) Stat() (fs.FileInfo, error) { return r.fi, nil }
func (r *pycReader) Close() error               { return nil }

type pycInfo struct {
	name string
	size int64
}

func (i pycInfo) Name() string       { return i.name }
func (i pycInfo) Size() int64        { return i.size }
func (i pycInfo) Mode() fs.FileMode  { return 0o444 }
func (i pycInfo) ModTime() time.Time { return time.Time{} }
func (i pycInfo) IsDir() bool        { return false }
func (i pycInfo) Sys() any           { return nil }
