package wasmbin

import (
	"context"
	"errors"
	"strings"
	"testing"

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

// loopModule exports spin: () -> () looping forever, sum: (n i32) -> i32
// adding 0..n-1 in a loop, and nested: (n i32) -> i32 counting n*n
// iterations of two nested loops. With imports, it imports a global first,
// so the new global's index must skip it.
func loopModule(withImportedGlobal bool) []byte {
	types := sec(1, vec(
		[]byte{0x60, 0, 0},             // () -> ()
		[]byte{0x60, 1, 0x7f, 1, 0x7f}, // (i32) -> i32
	)...)
	funcs := sec(3, vec([]byte{0}, []byte{1}, []byte{1})...)
	memory := sec(5, vec([]byte{0x00, 0x01})...)                    // one page: the check loads from it
	globals := sec(6, vec([]byte{0x7f, 0x00, 0x41, 0x07, 0x0b})...) // an unrelated immutable global
	exports := sec(7, vec(
		cat(str("spin"), []byte{0, 0}),
		cat(str("sum"), []byte{0, 1}),
		cat(str("nested"), []byte{0, 2}),
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
	if !withImportedGlobal {
		return cat(header, types, funcs, memory, globals, exports, code)
	}
	imports := sec(2, vec(cat(str("env"), str("g"), []byte{3, 0x7f, 0x00}))...)
	return cat(header, types, imports, funcs, memory, globals, exports, code)
}

// envModule exports the global loopModule(true) imports.
func envModule() []byte {
	return cat(header,
		sec(6, vec([]byte{0x7f, 0x00, 0x41, 0x05, 0x0b})...),
		sec(7, vec(cat(str("g"), []byte{3, 0}))...))
}

func instantiate(t *testing.T, bin []byte, imports bool) (api.Module, wazero.Runtime) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { _ = rt.Close(ctx) })
	if imports {
		if _, err := rt.InstantiateWithConfig(ctx, envModule(), wazero.NewModuleConfig().WithName("env")); err != nil {
			t.Fatalf("instantiate env: %v", err)
		}
	}
	mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName("m"))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	return mod, rt
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
			instantiate(t, out, tc.imports)
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
	mod, _ := instantiate(t, out, true)
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
	want, _ := instantiate(t, orig, false)
	got, _ := instantiate(t, stripped, false)
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
	f.Fuzz(func(t *testing.T, bin []byte) {
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
