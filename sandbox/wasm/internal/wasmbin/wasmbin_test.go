package wasmbin

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Hand-assembled test modules (no wat2wasm here).

func sec(id byte, body ...byte) []byte {
	return append(append([]byte{id}, appendU32(nil, uint32(len(body)))...), body...)
}

func vec(items ...[]byte) []byte {
	out := appendU32(nil, uint32(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func str(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }

func body(locals []byte, code ...byte) []byte {
	fn := append(append([]byte{}, locals...), code...)
	return append(appendU32(nil, uint32(len(fn))), fn...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var header = []byte("\x00asm\x01\x00\x00\x00")

// loopModule imports maid.yield (() -> i32) and exports spin: () -> ()
// looping forever, sum: (n i32) -> i32 adding 0..n-1 in a loop, and
// nested: (n i32) -> i32 counting n*n iterations of two nested loops. With
// imports, it imports a global first, so the new global's index must skip
// it.
func loopModule(withImportedGlobal bool) []byte {
	types := sec(1, vec(
		[]byte{0x60, 0, 0},             // () -> ()
		[]byte{0x60, 1, 0x7f, 1, 0x7f}, // (i32) -> i32
		[]byte{0x60, 0, 1, 0x7f},       // () -> i32
	)...)
	yield := cat(str("maid"), str("yield"), []byte{0, 2})
	imports := sec(2, vec(yield)...)
	if withImportedGlobal {
		imports = sec(2, vec(cat(str("env"), str("g"), []byte{3, 0x7f, 0x00}), yield)...)
	}
	funcs := sec(3, vec([]byte{0}, []byte{1}, []byte{1})...)
	memory := sec(5, vec([]byte{0x00, 0x01})...)
	globals := sec(6, vec([]byte{0x7f, 0x00, 0x41, 0x07, 0x0b})...) // an unrelated immutable global
	exports := sec(7, vec(
		cat(str("spin"), []byte{0, 1}),
		cat(str("sum"), []byte{0, 2}),
		cat(str("nested"), []byte{0, 3}),
	)...)
	spin := body([]byte{0}, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b)
	// locals: i, acc
	sum := body([]byte{1, 2, 0x7f},
		0x02, 0x40, // block
		0x03, 0x40, // loop
		0x20, 0x01, 0x20, 0x00, 0x4e, 0x0d, 0x01, // if i >= n: br 1 (ge_s)
		0x20, 0x02, 0x20, 0x01, 0x6a, 0x21, 0x02, // acc += i
		0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, // i++
		0x0c, 0x00, // br 0
		0x0b, 0x0b,
		0x20, 0x02, 0x0b)
	// locals: i, j, count; loop with a value-typed block type inside.
	nested := body([]byte{1, 3, 0x7f},
		0x02, 0x40, 0x03, 0x40, // block loop
		0x20, 0x01, 0x20, 0x00, 0x4e, 0x0d, 0x01,
		0x41, 0x00, 0x21, 0x02, // j = 0
		0x02, 0x40, 0x03, 0x40, // block loop
		0x20, 0x02, 0x20, 0x00, 0x4e, 0x0d, 0x01,
		0x20, 0x03, 0x41, 0x01, 0x6a, 0x21, 0x03, // count++
		0x20, 0x02, 0x41, 0x01, 0x6a, 0x21, 0x02, // j++
		0x0c, 0x00, 0x0b, 0x0b,
		0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, // i++
		0x0c, 0x00, 0x0b, 0x0b,
		0x20, 0x03, 0x0b)
	code := sec(10, vec(spin, sum, nested)...)
	return cat(header, types, imports, funcs, memory, globals, exports, code)
}

// envModule exports the global loopModule(true) imports.
func envModule() []byte {
	return cat(header,
		sec(6, vec([]byte{0x7f, 0x00, 0x41, 0x05, 0x0b})...),
		sec(7, vec(cat(str("g"), []byte{3, 0}))...))
}

// yielder is the host side of maid.yield for the test modules: it counts
// calls and, once stopped, ends the guest's call.
type yielder struct {
	calls   atomic.Int64
	stopped atomic.Bool
	budget  uint32
}

var errStopped = errors.New("stopped by the host")

func (y *yielder) yield(_ context.Context, stack []uint64) {
	y.calls.Add(1)
	if y.stopped.Load() {
		panic(errStopped)
	}
	stack[0] = uint64(y.budget)
}

// instantiate runs bin in a new runtime (cfg, or the default) with the
// env module if imports and a maid module backed by y.
func instantiate(t *testing.T, bin []byte, imports bool, y *yielder, cfg ...wazero.RuntimeConfig) api.Module {
	t.Helper()
	ctx := context.Background()
	rc := wazero.NewRuntimeConfig()
	if len(cfg) > 0 {
		rc = cfg[0]
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	t.Cleanup(func() { _ = rt.Close(ctx) })
	if imports {
		if _, err := rt.InstantiateWithConfig(ctx, envModule(), wazero.NewModuleConfig().WithName("env")); err != nil {
			t.Fatalf("instantiate env: %v", err)
		}
	}
	if y == nil {
		y = &yielder{budget: 1}
	}
	if _, err := rt.NewHostModuleBuilder("maid").NewFunctionBuilder().
		WithGoFunction(api.GoFunc(y.yield), nil, []api.ValueType{api.ValueTypeI32}).
		Export("yield").Instantiate(ctx); err != nil {
		t.Fatalf("instantiate maid: %v", err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName("m"))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	return mod
}

func TestAddYieldKeepsBehaviour(t *testing.T) {
	const budget = 7
	for _, tc := range []struct {
		name    string
		imports bool
		fn      string
		in, out uint64
		heads   int64 // loop-head executions: the yield calls are heads/budget
	}{
		{name: "sum", fn: "sum", in: 1000, out: 499500, heads: 1001},
		{name: "sum of nothing", fn: "sum", in: 0, out: 0, heads: 1},
		{name: "nested loops", fn: "nested", in: 30, out: 900, heads: 31 + 30*31},
		{name: "after an imported global", imports: true, fn: "nested", in: 30, out: 900, heads: 31 + 30*31},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := AddYield(loopModule(tc.imports), "maid.yield", budget)
			if err != nil {
				t.Fatalf("AddYield: %v", err)
			}
			y := &yielder{budget: budget}
			mod := instantiate(t, out, tc.imports, y)
			res, err := mod.ExportedFunction(tc.fn).Call(context.Background(), tc.in)
			if err != nil || res[0] != tc.out {
				t.Fatalf("%s(%d) = %v, %v; want %d", tc.fn, tc.in, res, err, tc.out)
			}
			if got, want := y.calls.Load(), tc.heads/budget; got != want {
				t.Fatalf("yield called %d times, want %d (every %d loop iterations)", got, want, budget)
			}
		})
	}
}

// TestAddYieldStopsAndPreempts runs spinning guests on every P, compiled
// as the backend compiles them: meanwhile the garbage collector's
// stop-the-world completes, and then the host stops them at a yield.
// Compiled wasm that never calls out cannot be preempted, so without the
// yields the collector, and with it the whole process, would hang: the
// spinning runs in a child process that the test can time out.
func TestAddYieldStopsAndPreempts(t *testing.T) {
	if os.Getenv("WASMBIN_SPIN_CHILD") == "1" {
		spinChild(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAddYieldStopsAndPreempts$", "-test.v")
	cmd.Env = append(os.Environ(), "WASMBIN_SPIN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the spinning guests hung the process (not preemptible):\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "spin child: ok") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func spinChild(t *testing.T) {
	out, err := AddYield(loopModule(false), "maid.yield", 1000)
	if err != nil {
		t.Fatalf("AddYield: %v", err)
	}
	n := runtime.GOMAXPROCS(0)
	ys := make([]*yielder, n)
	done := make(chan error, n)
	for i := range ys {
		ys[i] = &yielder{budget: 1000}
		mod := instantiate(t, out, false, ys[i], wazero.NewRuntimeConfigCompiler())
		go func() {
			_, err := mod.ExportedFunction("spin").Call(context.Background())
			done <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // every P busy with a guest
	runtime.GC()
	for _, y := range ys {
		if y.calls.Load() == 0 {
			t.Errorf("a guest never yielded")
		}
		y.stopped.Store(true)
	}
	for range ys {
		if err := <-done; err == nil || !strings.Contains(err.Error(), errStopped.Error()) {
			t.Fatalf("spin ended with %v, want the host's stop", err)
		}
	}
	t.Log("spin child: ok")
}

func TestAddYieldCreatesMissingSections(t *testing.T) {
	// A start function that loops once; no globals and no exports.
	bin := cat(header,
		sec(1, vec([]byte{0x60, 0, 0}, []byte{0x60, 0, 1, 0x7f})...),
		sec(2, vec(cat(str("maid"), str("yield"), []byte{0, 1}))...),
		sec(3, vec([]byte{0})...),
		sec(8, 1),
		sec(10, vec(body([]byte{0}, 0x03, 0x40, 0x0b, 0x0b))...),
		sec(0, str(".debug_info")...),
		sec(0, cat(str("keep.me"), []byte{1, 2, 3})...))
	out, err := AddYield(bin, "maid.yield", 1)
	if err != nil {
		t.Fatalf("AddYield: %v", err)
	}
	y := &yielder{budget: 1}
	instantiate(t, out, false, y)
	if y.calls.Load() != 1 {
		t.Errorf("the start function's loop yielded %d times, want 1", y.calls.Load())
	}
	if strings.Contains(string(out), ".debug_info") {
		t.Errorf("DWARF section kept; its code offsets would be wrong")
	}
	if !strings.Contains(string(out), "keep.me") {
		t.Errorf("other custom section dropped")
	}
}

func TestAddYieldRejects(t *testing.T) {
	good := loopModule(false)
	wrongType := cat(header, // imports maid.yield as () -> ()
		sec(1, vec([]byte{0x60, 0, 0})...),
		sec(2, vec(cat(str("maid"), str("yield"), []byte{0, 0}))...))
	for _, tc := range []struct {
		name        string
		bin         []byte
		imp         string
		budget      uint32
		want        string
		unsupported bool
	}{
		{name: "no such import", bin: good, imp: "maid.other", budget: 10, want: "imports no function maid.other"},
		{name: "wrong type", bin: wrongType, imp: "maid.yield", budget: 10, want: "want () -> i32"},
		{name: "zero budget", bin: good, imp: "maid.yield", budget: 0, want: "budget 0"},
		{name: "budget over i32", bin: good, imp: "maid.yield", budget: 1 << 31, want: "budget 2147483648"},
		{name: "simd opcode", bin: cat(header,
			sec(1, vec([]byte{0x60, 0, 0}, []byte{0x60, 0, 1, 0x7f})...),
			sec(2, vec(cat(str("maid"), str("yield"), []byte{0, 1}))...),
			sec(3, vec([]byte{0})...),
			sec(10, vec(body([]byte{0}, 0xfd, 0x0c, 0x0b))...)), imp: "maid.yield", budget: 10, want: "opcode 0xfd", unsupported: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := AddYield(tc.bin, tc.imp, tc.budget)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if got := errors.Is(err, ErrUnsupported); got != tc.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tc.unsupported)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	good := loopModule(false)
	mutable := cat(header, sec(6, vec([]byte{0x7f, 0x01, 0x41, 0x00, 0x0b})...))
	for _, tc := range []struct {
		name        string
		bin         []byte
		want        string
		unsupported bool
	}{
		{name: "empty", bin: nil, want: "bad magic"},
		{name: "not wasm", bin: []byte("#!/bin/sh\necho hi\n"), want: "bad magic"},
		{name: "version 2", bin: []byte("\x00asm\x02\x00\x00\x00"), want: "version", unsupported: true},
		{name: "truncated section", bin: good[:len(good)-3], want: "unexpected end"},
		{name: "sections out of order", bin: cat(header, sec(3, 0), sec(1, 0)), want: "out of order"},
		{name: "unknown section", bin: cat(header, sec(42, 0)), want: "section id 42", unsupported: true},
		{name: "simd in a global's initializer", bin: cat(header,
			sec(6, vec([]byte{0x7b, 0x00, 0xfd, 0x0c, 0x0b})...)), want: "opcode 0xfd", unsupported: true},
		{name: "trailing bytes after the globals", bin: cat(header,
			sec(6, append(vec([]byte{0x7f, 0x01, 0x41, 0x00, 0x0b}), 0x01)...)), want: "trailing"},
		{name: "export name taken", bin: cat(mutable, sec(7, vec(cat(str("g0"), []byte{3, 0}))...)), want: `export "g0" already exists`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ExportGlobals(tc.bin, "g")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if got := errors.Is(err, ErrUnsupported); got != tc.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tc.unsupported)
			}
		})
	}
}

func TestExportGlobals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		imports bool
		want    []string
	}{
		{name: "no mutable globals", want: nil},
		{name: "after an imported global", imports: true, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, names, err := ExportGlobals(loopModule(tc.imports), "g")
			if err != nil || len(names) != len(tc.want) {
				t.Fatalf("ExportGlobals = %v, %v; want %v", names, err, tc.want)
			}
			instantiate(t, out, tc.imports, nil)
		})
	}

	// Mutable globals, one imported first: names carry the module-wide
	// index, and the host reads and writes the guest's values through them.
	bin := cat(header,
		sec(1, vec([]byte{0x60, 0, 1, 0x7f})...), // () -> i32
		sec(2, vec(cat(str("env"), str("g"), []byte{3, 0x7f, 0x00}))...),
		sec(3, vec([]byte{0})...),
		sec(6, vec(
			[]byte{0x7f, 0x01, 0x41, 0x2a, 0x0b}, // mut i32 = 42 (index 1)
			[]byte{0x7f, 0x00, 0x41, 0x07, 0x0b}, // i32 = 7 (index 2)
			[]byte{0x7e, 0x01, 0x42, 0x05, 0x0b}, // mut i64 = 5 (index 3)
		)...),
		sec(7, vec(cat(str("get"), []byte{0, 0}))...),
		sec(10, vec(body([]byte{0}, 0x23, 0x01, 0x0b))...)) // global.get 1
	out, names, err := ExportGlobals(bin, "maid_global_")
	if err != nil {
		t.Fatalf("ExportGlobals: %v", err)
	}
	if strings.Join(names, ",") != "maid_global_1,maid_global_3" {
		t.Fatalf("names = %v, want maid_global_1,maid_global_3", names)
	}
	mod := instantiate(t, out, true, nil)
	g := mod.ExportedGlobal("maid_global_1").(api.MutableGlobal)
	if g.Get() != 42 {
		t.Fatalf("maid_global_1 = %d, want 42", g.Get())
	}
	g.Set(99)
	if res, err := mod.ExportedFunction("get").Call(context.Background()); err != nil || res[0] != 99 {
		t.Fatalf("guest reads %v, %v after Set(99)", res, err)
	}
	if _, _, err := ExportGlobals(out, "maid_global_"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("exporting twice: err = %v, want already exists", err)
	}
}

// dataModule has one page of memory, exported, an active segment "hello"
// at 16, a passive segment and, with flags 2, a second active segment
// naming memory 0 explicitly.
func dataModule(offsetExpr []byte) []byte {
	return cat(header,
		sec(5, vec([]byte{0, 1})...),                  // memory: min 1
		sec(7, vec(cat(str("mem"), []byte{2, 0}))...), // export memory 0
		sec(11, vec(
			cat([]byte{0}, offsetExpr, str("hello")),
			cat([]byte{1}, str("passive")),
			cat([]byte{2, 0, 0x41, 0x20, 0x0b}, str("world")), // at 32
		)...))
}

func TestSplitData(t *testing.T) {
	orig := dataModule([]byte{0x41, 0x10, 0x0b}) // i32.const 16
	stripped, segs, err := SplitData(orig)
	if err != nil {
		t.Fatalf("SplitData: %v", err)
	}
	if len(segs) != 2 || segs[0].Offset != 16 || string(segs[0].Data) != "hello" ||
		segs[1].Offset != 32 || string(segs[1].Data) != "world" {
		t.Fatalf("segments = %+v", segs)
	}
	want := instantiate(t, orig, false, nil)
	got := instantiate(t, stripped, false, nil)
	page := func(m api.Module) string {
		b, _ := m.Memory().Read(0, 64)
		return string(b)
	}
	if page(got) == page(want) {
		t.Fatalf("stripped module still initializes memory")
	}
	for _, seg := range segs {
		got.Memory().Write(seg.Offset, seg.Data)
	}
	if page(got) != page(want) {
		t.Fatalf("memory after writing the segments:\n%q\nwant\n%q", page(got), page(want))
	}

	if out, segs, err := SplitData(loopModule(false)); err != nil || segs != nil || string(out) != string(loopModule(false)) {
		t.Fatalf("module without data: %v segments, err %v, changed %v", segs, err, string(out) != string(loopModule(false)))
	}
	for _, tc := range []struct {
		name string
		expr []byte
	}{
		{name: "offset from a global", expr: []byte{0x23, 0x00, 0x0b}},
		{name: "offset from an expression", expr: []byte{0x41, 0x01, 0x41, 0x01, 0x6a, 0x0b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := SplitData(dataModule(tc.expr)); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
		})
	}
}

// FuzzRewrite: any input is rewritten or refused with an error, never a
// panic; a rewrite parses again and does what it says. (Whether wazero
// still accepts a rewrite is tested on real modules above and on the
// interpreter in the backend's tests: wazero's own decoder allocates
// whatever counts a hostile input claims, so it cannot sit in a fuzz loop.)
func FuzzRewrite(f *testing.F) {
	f.Add(loopModule(false))
	f.Add(loopModule(true))
	f.Add(envModule())
	f.Add(header)
	f.Add(dataModule([]byte{0x41, 0x10, 0x0b}))
	rt := wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
	f.Fuzz(func(t *testing.T, bin []byte) {
		// A module wazero accepts stays acceptable once instrumented.
		if out, err := AddYield(bin, "maid.yield", 3); err == nil {
			if _, err := parse(out); err != nil {
				t.Fatalf("instrumented module does not parse: %v", err)
			}
			if m, err := rt.CompileModule(context.Background(), bin); err == nil {
				_ = m.Close(context.Background())
				m, err := rt.CompileModule(context.Background(), out)
				if err != nil {
					t.Fatalf("wazero compiles the module but not its instrumented copy: %v", err)
				}
				_ = m.Close(context.Background())
			}
		}
		if out, segs, err := SplitData(bin); err == nil && segs != nil {
			if _, again, err := SplitData(out); err != nil || len(again) != len(segs) {
				t.Fatalf("splitting a split module: %d segments (want %d), %v", len(again), len(segs), err)
			}
		}
		out, names, err := ExportGlobals(bin, "g")
		if err != nil {
			return
		}
		mod, err := parse(out)
		if err != nil {
			t.Fatalf("module with exported globals does not parse: %v", err)
		}
		for _, name := range names {
			if _, has := mod.exportNames[name]; !has {
				t.Fatalf("global %s not exported", name)
			}
		}
		if _, _, err := ExportGlobals(out, "g"); len(names) > 0 && (err == nil || !strings.Contains(err.Error(), "already exists")) {
			t.Fatalf("exporting twice: err = %v, want already exists", err)
		}
	})
}
