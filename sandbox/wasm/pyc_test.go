package wasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// TestPycCacheBounds: the cache never holds more entries or bytes than its
// bounds, and drops the least recently used first.
func TestPycCacheBounds(t *testing.T) {
	tests := []struct {
		name                 string
		maxBytes, maxEntries int
		pycBytes             int // size of each compiled file
		files                int
		wantEntries          int
	}{
		{name: "entries", maxBytes: 1 << 20, maxEntries: 4, pycBytes: 100, files: 10, wantEntries: 4},
		{name: "bytes", maxBytes: 3 * (1000 + pycEntryOverhead), maxEntries: 100, pycBytes: 1000, files: 10, wantEntries: 3},
		{name: "failed compiles count", maxBytes: 2 * pycEntryOverhead, maxEntries: 100, pycBytes: 0, files: 10, wantEntries: 2},
		{name: "entry above the byte bound", maxBytes: 500, maxEntries: 100, pycBytes: 1000, files: 3, wantEntries: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var compiles atomic.Int64
			c := newPycCache(tc.maxBytes, tc.maxEntries, 1, func(<-chan struct{}, string, []byte) ([]byte, bool, error) {
				compiles.Add(1)
				if tc.pycBytes == 0 {
					return nil, false, nil // does not compile
				}
				return make([]byte, tc.pycBytes), true, nil
			})
			src := func(i int) []byte { return []byte(fmt.Sprintf("x = %d\n", i)) }
			for i := range tc.files {
				c.get(pycAsker{}, "/plugin/m.py", src(i))
				entries, size, _, _ := c.stats()
				if entries > tc.maxEntries || size > tc.maxBytes {
					t.Fatalf("after %d files: %d entries, %d bytes; bounds %d, %d", i+1, entries, size, tc.maxEntries, tc.maxBytes)
				}
			}
			if entries, _, _, _ := c.stats(); entries != tc.wantEntries {
				t.Fatalf("entries = %d, want %d", entries, tc.wantEntries)
			}
			// The newest files are the ones kept.
			before := compiles.Load()
			for i := tc.files - tc.wantEntries; i < tc.files; i++ {
				c.get(pycAsker{}, "/plugin/m.py", src(i))
			}
			if n := compiles.Load() - before; n != 0 {
				t.Fatalf("%d of the newest %d files were compiled again", n, tc.wantEntries)
			}
			if tc.wantEntries < tc.files {
				c.get(pycAsker{}, "/plugin/m.py", src(0))
				if compiles.Load() == before {
					t.Fatal("the oldest file was still cached")
				}
			}
		})
	}
}

// startCompile gets path for a in a goroutine and returns once c has
// started its first compile, for a compiler the test holds up; the
// goroutine is waited for when the test ends, after its deferred release.
func startCompile(t *testing.T, c *pycCache, a pycAsker, path string, src []byte) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.get(a, path, src)
	}()
	t.Cleanup(func() { <-done })
	for {
		if _, _, _, n := c.stats(); n == 1 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPycCacheCompiles: what is remembered, and that one file is compiled
// once however many instances ask at the same time.
func TestPycCacheCompiles(t *testing.T) {
	errStopped := errors.New("stopped")
	tests := []struct {
		name         string
		data         []byte
		compiled     bool
		err          error
		wantOK       bool
		wantCompiles int64 // after two gets
	}{
		{name: "compiled", data: []byte("pyc"), compiled: true, wantOK: true, wantCompiles: 1},
		{name: "source does not compile", wantCompiles: 1},
		{name: "compile failed", err: errStopped, wantCompiles: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var compiles atomic.Int64
			c := newPycCache(1<<20, 100, 1, func(<-chan struct{}, string, []byte) ([]byte, bool, error) {
				compiles.Add(1)
				return tc.data, tc.compiled, tc.err
			})
			for range 2 {
				data, ok := c.get(pycAsker{}, "/plugin/m.py", []byte("x = 1\n"))
				if ok != tc.wantOK || string(data) != string(tc.data) && ok {
					t.Fatalf("get = %q, %v; want ok %v", data, ok, tc.wantOK)
				}
			}
			if n := compiles.Load(); n != tc.wantCompiles {
				t.Fatalf("compiled %d times, want %d", n, tc.wantCompiles)
			}
		})
	}

	t.Run("concurrent gets compile once", func(t *testing.T) {
		var compiles atomic.Int64
		release := make(chan struct{})
		c := newPycCache(1<<20, 100, 1, func(<-chan struct{}, string, []byte) ([]byte, bool, error) {
			compiles.Add(1)
			<-release
			return []byte("pyc"), true, nil
		})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if data, ok := c.get(pycAsker{}, "/plugin/m.py", []byte("x = 1\n")); !ok || string(data) != "pyc" {
					t.Errorf("get = %q, %v", data, ok)
				}
			}()
		}
		time.Sleep(10 * time.Millisecond) // let them queue up; correctness does not depend on it
		close(release)
		wg.Wait()
		if n := compiles.Load(); n != 1 {
			t.Fatalf("compiled %d times, want 1", n)
		}
	})

	t.Run("busy compilers hold up no one", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		c := newPycCache(1<<20, 100, 1, func(_ <-chan struct{}, path string, _ []byte) ([]byte, bool, error) {
			if path == "/plugin/slow.py" {
				<-release
			}
			return []byte("pyc"), true, nil
		})
		startCompile(t, c, pycAsker{}, "/plugin/slow.py", []byte("x = 1\n"))
		if _, ok := c.get(pycAsker{}, "/plugin/other.py", []byte("y = 1\n")); ok {
			t.Fatal("got a pyc while the only compiler was busy")
		}
		// Not remembered: compiled once a compiler is free.
		if entries, _, _, _ := c.stats(); entries != 0 {
			t.Fatalf("%d entries, want none", entries)
		}
	})

	t.Run("a stopped instance stops waiting", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		c := newPycCache(1<<20, 100, 1, func(<-chan struct{}, string, []byte) ([]byte, bool, error) {
			<-release
			return []byte("pyc"), true, nil
		})
		startCompile(t, c, pycAsker{}, "/plugin/m.py", []byte("x = 1\n"))
		quit := make(chan struct{})
		close(quit)
		if _, ok := c.get(pycAsker{quit: quit}, "/plugin/m.py", []byte("x = 1\n")); ok {
			t.Fatal("got a pyc from a compile that has not finished")
		}
	})
}

// TestPluginBytecode: a plugin's modules and entry script run from
// bytecode the host compiled, keyed by their content, and the guest can
// neither change that bytecode nor get any for a file outside its dir.
func TestPluginBytecode(t *testing.T) {
	b := newBackend(t, 0)
	var mu sync.Mutex
	var compiled []string
	b.pycs.compile = func(quit <-chan struct{}, guestPath string, src []byte) ([]byte, bool, error) {
		mu.Lock()
		compiled = append(compiled, guestPath)
		mu.Unlock()
		return b.compilePyc(quit, guestPath, src)
	}
	dir := sandboxtest.PluginDir(t, `import helper
say("%s %s %s %s" % (helper.VALUE, __name__, __file__, helper.__cached__))
`)
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("helper.py", "VALUE = 1\n")
	cached := guestPyc + "/plugin/helper." + b.pycc.tag + ".pyc"
	start := func(t *testing.T) (string, string, sandbox.Exit) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		inst, err := b.Start(ctx, sandbox.Spec{Name: "pyc", PluginID: "pyc", Dir: dir, Entry: "__main__.py",
			Limits: sandbox.Limits{MemoryBytes: 256 << 20, ScratchBytes: 1 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		out, errText, ex, err := sandboxtest.Finish(ctx, inst)
		if err != nil {
			t.Fatal(err)
		}
		return out, errText, ex
	}
	steps := []struct {
		name         string
		change       func()
		want         string
		wantCompiles int // in total so far
		wantHits     int
	}{
		{name: "first start compiles both files", want: "1 __main__ /plugin/__main__.py " + cached, wantCompiles: 2},
		{name: "second start compiles nothing", want: "1 __main__ /plugin/__main__.py " + cached, wantCompiles: 2, wantHits: 2},
		{
			name:   "a changed file is compiled again",
			change: func() { write("helper.py", "VALUE = 2\n") },
			want:   "2 __main__ /plugin/__main__.py " + cached, wantCompiles: 3, wantHits: 3,
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.change != nil {
				st.change()
			}
			out, errText, ex := start(t)
			if out != st.want+"\n" || ex.Code != 0 {
				t.Fatalf("stdout = %q (%v), want %q\nstderr: %s", out, ex, st.want, errText)
			}
			if _, _, hits, compiles := b.pycs.stats(); compiles != st.wantCompiles || hits != st.wantHits {
				t.Fatalf("%d compiles, %d hits; want %d, %d", compiles, hits, st.wantCompiles, st.wantHits)
			}
		})
	}

	t.Run("guest cannot change it", func(t *testing.T) {
		outside := t.TempDir()
		if err := os.WriteFile(filepath.Join(outside, "secret.py"), []byte("VALUE = 'host secret'\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, "abs")); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(dir, "abs"))
		for _, script := range []string{
			"open(" + pyQuote(cached) + ", 'wb').write(b'x')",
			"os.open(" + pyQuote(cached) + ", os.O_RDONLY | os.O_TRUNC)",
			"os.open(" + pyQuote(guestPyc+"/plugin/new."+b.pycc.tag+".pyc") + ", os.O_RDONLY | os.O_CREAT)",
			"os.mkdir(" + pyQuote(guestPyc+"/plugin/sub") + ")",
			"os.unlink(" + pyQuote(cached) + ")",
			"os.rename('/tmp/x', " + pyQuote(cached) + ")",
			"open(" + pyQuote(guestPyc+"/plugin/abs/secret."+b.pycc.tag+".pyc") + ", 'rb').read()",
		} {
			write("__main__.py", "import sys, os\nfrom maid_sdk import _transport\nopen('/tmp/x', 'wb').write(b'x')\n"+
				"try:\n"+indent(script)+"\n    print('escaped', file=sys.stderr)\nexcept OSError:\n    pass\n"+
				"import helper\n_transport.stdout().write(b'%d\\n' % helper.VALUE)\n")
			out, errText, ex := start(t)
			if out != "2\n" || ex.Code != 0 || strings.Contains(errText, "escaped") {
				t.Fatalf("%s: stdout = %q (%v)\nstderr: %s", script, out, ex, errText)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range compiled {
			if p != "/plugin/__main__.py" && p != "/plugin/helper.py" {
				t.Fatalf("compiled %s, which is not a plugin file", p)
			}
		}
	})

	t.Run("source that does not compile", func(t *testing.T) {
		write("__main__.py", "def broken(:\n")
		_, _, _, before := b.pycs.stats()
		for range 2 {
			_, errText, ex := start(t)
			if ex.Code != 1 || !strings.Contains(errText, "SyntaxError") {
				t.Fatalf("exit %v, stderr %s; want a SyntaxError", ex, errText)
			}
		}
		if _, _, _, compiles := b.pycs.stats(); compiles != before+1 {
			t.Fatalf("%d compiles for one broken file started twice, want 1", compiles-before)
		}
	})
}

// TestPycCacheAskers: a miss starts a compile only for an asker still
// running, whose plugin runs no other compile, within its quota; otherwise
// the guest compiles the file itself and nothing is remembered.
func TestPycCacheAskers(t *testing.T) {
	stopped := make(chan struct{})
	close(stopped)
	src := func(i int) []byte { return []byte(fmt.Sprintf("x = %d\n", i)) }
	tests := []struct {
		name  string
		asker func() pycAsker
		files int
		busy  string // a plugin whose compile of another file is running
		want  int    // compiles started
	}{
		{name: "running asker", asker: func() pycAsker { return pycAsker{owner: "p"} }, files: 3, want: 3},
		{name: "stopped asker", asker: func() pycAsker { return pycAsker{quit: stopped, owner: "p"} }, files: 3, want: 0},
		{name: "plugin already compiling", asker: func() pycAsker { return pycAsker{owner: "p"} }, busy: "p", files: 3, want: 0},
		{name: "another plugin compiling", asker: func() pycAsker { return pycAsker{owner: "p"} }, busy: "q", files: 3, want: 3},
		{name: "quota of compiles", asker: func() pycAsker { return pycAsker{owner: "p", quota: &pycQuota{compiles: 2, source: 1 << 20}} }, files: 5, want: 2},
		{name: "quota of source bytes", asker: func() pycAsker { return pycAsker{owner: "p", quota: &pycQuota{compiles: 100, source: 3 * len(src(0))}} }, files: 5, want: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var compiles atomic.Int64
			release := make(chan struct{})
			defer close(release)
			c := newPycCache(1<<20, 100, 2, func(_ <-chan struct{}, path string, _ []byte) ([]byte, bool, error) {
				if path == "/plugin/busy.py" {
					<-release
					return []byte("pyc"), true, nil
				}
				compiles.Add(1)
				return []byte("pyc"), true, nil
			})
			if tc.busy != "" {
				startCompile(t, c, pycAsker{owner: tc.busy}, "/plugin/busy.py", src(-1))
			}
			a := tc.asker()
			for i := range tc.files {
				c.get(a, "/plugin/m.py", src(i))
			}
			if n := compiles.Load(); n != int64(tc.want) {
				t.Fatalf("%d compiles started, want %d", n, tc.want)
			}
			// What was refused is not remembered: a plain asker compiles it.
			if tc.want < tc.files && tc.busy == "" {
				if _, ok := c.get(pycAsker{owner: "other"}, "/plugin/m.py", src(tc.files-1)); !ok || compiles.Load() != int64(tc.want)+1 {
					t.Fatalf("a refused file was remembered (ok %v, %d compiles)", ok, compiles.Load())
				}
			}
		})
	}
}

// testPycFS is a pycFS over a plugin dir whose compiles are compile's.
func testPycFS(t *testing.T, dir string, compile func(<-chan struct{}, string, []byte) ([]byte, bool, error)) *pycFS {
	t.Helper()
	plugin, err := openRoFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plugin.close() })
	files := newFileBudget()
	b := &Backend{pycc: pycCompiler{tag: "cpython-311"}, pycs: newPycCache(pycCacheBytes, pycCacheEntries, pycCompilers, compile)}
	return &pycFS{FS: newEmptyFS(files), b: b, plugin: plugin, files: files, held: newPycHeld(), asker: pycAsker{owner: "p", quota: newPycQuota()}}
}

// TestPycHeldBytes: an instance's open pyc handles hold at most
// pycHeldBytes, however the cache evicts and recompiles (each compile is
// a fresh slice the handle alone keeps alive); closing one frees its share.
func TestPycHeldBytes(t *testing.T) {
	dir := t.TempDir()
	const files = 8
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%d.py", i)), []byte(fmt.Sprintf("x = %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testPycFS(t, dir, func(<-chan struct{}, string, []byte) ([]byte, bool, error) {
		return make([]byte, maxPycBytes), true, nil
	})
	var held []experimentalsys.File
	for i := range files {
		f, errno := p.OpenFile(fmt.Sprintf("plugin/m%d.cpython-311.pyc", i), experimentalsys.O_RDONLY, 0)
		if errno == 0 {
			held = append(held, f)
		}
	}
	if len(held)*maxPycBytes > pycHeldBytes || len(held) == 0 {
		t.Fatalf("%d handles of %d bytes open, bound %d bytes", len(held), maxPycBytes, pycHeldBytes)
	}
	held[0].Close()
	f, errno := p.OpenFile("plugin/m0.cpython-311.pyc", experimentalsys.O_RDONLY, 0)
	if errno != 0 {
		t.Fatalf("open after a close: %v", errno)
	}
	f.Close()
}

// TestPycPathFraming: a plugin file whose name the compiler's framing
// cannot carry (a newline would make the rest of the name source) is
// never compiled: the guest compiles it itself.
func TestPycPathFraming(t *testing.T) {
	dir := t.TempDir()
	names := []string{"x\nINJECTED = 42\n#", "x\rY", "x\x7fy", "x\xffy"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n+".py"), []byte("VALUE = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var compiled []string
	p := testPycFS(t, dir, func(_ <-chan struct{}, path string, _ []byte) ([]byte, bool, error) {
		compiled = append(compiled, path)
		return []byte("pyc"), true, nil
	})
	for _, n := range names {
		if _, errno := p.Stat("plugin/" + n + ".cpython-311.pyc"); errno != experimentalsys.ENOENT {
			t.Errorf("stat of %q's pyc: %v, want ENOENT", n, errno)
		}
	}
	if len(compiled) > 0 {
		t.Fatalf("compiled %q", compiled)
	}
}

// TestCompilePycLimits: what the compiler itself makes of a file, and that
// every failure which says something about the file (so that retrying is
// pointless) comes back as "does not compile", which the cache remembers.
func TestCompilePycLimits(t *testing.T) {
	b := newBackend(t, 0)
	repeat := func(line string, n int) []byte { return []byte(strings.Repeat(line, n/len(line))) }
	attrs := "a" + strings.Repeat(".b", 30) + "\n" // compiles to over 6 times its size
	calls := "a" + strings.Repeat("()", 30) + "\n" // takes much memory to compile
	tests := []struct {
		name         string
		path         string
		src          []byte
		wantCompiled bool
	}{
		{name: "compiles", path: "/plugin/m.py", src: []byte("x = 1\n"), wantCompiled: true},
		{name: "syntax error", path: "/plugin/m.py", src: []byte("def broken(:\n")},
		{name: "pyc over maxPycBytes", path: "/plugin/m.py", src: repeat(attrs, maxPycBytes/6)},
		{name: "beyond the compiler's memory", path: "/plugin/m.py", src: repeat(calls, maxPycSource)},
		{name: "newline in the path", path: "/plugin/x\nINJECTED = 42\n#.py", src: []byte("VALUE = 1\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, compiled, err := b.compilePyc(nil, tc.path, tc.src)
			if err != nil || compiled != tc.wantCompiled || len(data) > maxPycBytes {
				t.Fatalf("compilePyc = %d bytes, %v, %v; want compiled %v and no error", len(data), compiled, err, tc.wantCompiled)
			}
		})
	}
	t.Run("stopped", func(t *testing.T) {
		quit := make(chan struct{})
		close(quit)
		if _, compiled, err := b.compilePyc(quit, "/plugin/m.py", []byte("x = 1\n")); compiled || !errors.Is(err, sandbox.ErrKilled) {
			t.Fatalf("compilePyc after stop = %v, %v; want ErrKilled", compiled, err)
		}
	})
}
