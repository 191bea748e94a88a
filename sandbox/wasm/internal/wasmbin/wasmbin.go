// Package wasmbin rewrites WebAssembly binaries for the wasm backend:
// [ExportGlobals] exposes a module's mutable globals so the host can
// snapshot and restore an instance, and [SplitData] takes the data
// segments out of a module whose memory the host initializes itself.
package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrUnsupported marks a binary this package cannot rewrite (an unknown
// opcode or proposal); callers fall back to another interrupt mechanism.
var ErrUnsupported = errors.New("unsupported wasm binary")

// Section ids of the core binary format.
const (
	secCustom = 0
	secType   = 1
	secImport = 2
	secGlobal = 6
	secExport = 7
	secCode   = 10
	secData   = 11
)

// order gives each known section its place in the binary (the data count
// and tag sections sit out of id order).
var order = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

// ExportGlobals returns a copy of bin that exports every mutable global the
// module defines (imported ones are the host's already) as prefix followed
// by its index, and those names. With them, the host can read and restore
// the globals' values, which a snapshot of an instance needs along with its
// memory (a C program's stack pointer is such a global).
func ExportGlobals(bin []byte, prefix string) ([]byte, []string, error) {
	mod, err := parse(bin)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	var exports [][]byte
	for i, mutable := range mod.globalMutable {
		if !mutable {
			continue
		}
		index := mod.importedGlobals + uint32(i)
		name := fmt.Sprintf("%s%d", prefix, index)
		names = append(names, name)
		exports = append(exports, appendExport(nil, name, index))
	}
	if err := mod.checkNewExports(names...); err != nil {
		return nil, nil, err
	}
	out, err := mod.rewrite(bin, exports)
	if err != nil {
		return nil, nil, err
	}
	return out, names, nil
}

// Segment is an active data segment: bytes a module writes into its memory
// at Offset when instantiated.
type Segment struct {
	Offset uint32
	Data   []byte
}

// SplitData returns a copy of bin whose active data segments carry no
// bytes, and those segments. Instantiating the copy skips initializing
// memory, so a host that restores memory from a snapshot, or writes the
// segments itself, does not pay for it twice. Only segments with a
// constant offset into memory 0 are supported; passive segments stay.
func SplitData(bin []byte) ([]byte, []Segment, error) {
	mod, err := parse(bin)
	if err != nil {
		return nil, nil, err
	}
	body := mod.section(secData)
	if body == nil {
		return bin, nil, nil
	}
	r := reader{b: body}
	n, err := r.u32()
	if err != nil {
		return nil, nil, fmt.Errorf("data section: %w", err)
	}
	out := appendU32(nil, n)
	var segs []Segment
	for i := uint32(0); i < n; i++ {
		flags, err := r.u32()
		if err != nil {
			return nil, nil, fmt.Errorf("data segment %d: %w", i, err)
		}
		start := r.off
		switch flags {
		case 1: // passive: kept as it is
			size, err := r.u32()
			if err == nil {
				_, err = r.take(int(size))
			}
			if err != nil {
				return nil, nil, fmt.Errorf("data segment %d: %w", i, err)
			}
			out = appendU32(out, flags)
			out = append(out, body[start:r.off]...)
			continue
		case 0, 2:
		default:
			return nil, nil, fmt.Errorf("data segment %d: %w: flags %d", i, ErrUnsupported, flags)
		}
		if flags == 2 {
			if mem, err := r.u32(); err != nil || mem != 0 {
				return nil, nil, fmt.Errorf("data segment %d: %w: memory %d (%v)", i, ErrUnsupported, mem, err)
			}
		}
		exprStart := r.off
		op, err := r.byte()
		if err != nil || op != 0x41 { // i32.const
			return nil, nil, fmt.Errorf("data segment %d: %w: offset is not a constant", i, ErrUnsupported)
		}
		off, err := r.s64()
		if err != nil || off < 0 || off > 1<<32-1 {
			return nil, nil, fmt.Errorf("data segment %d: bad offset (%v)", i, err)
		}
		if end, err := r.byte(); err != nil || end != 0x0b {
			return nil, nil, fmt.Errorf("data segment %d: %w: offset is not a constant", i, ErrUnsupported)
		}
		expr := body[exprStart:r.off]
		size, err := r.u32()
		if err != nil {
			return nil, nil, fmt.Errorf("data segment %d: %w", i, err)
		}
		data, err := r.take(int(size))
		if err != nil {
			return nil, nil, fmt.Errorf("data segment %d: %w", i, err)
		}
		segs = append(segs, Segment{Offset: uint32(off), Data: data})
		out = appendU32(out, 0) // active, memory 0
		out = append(out, expr...)
		out = appendU32(out, 0) // no bytes
	}
	if !r.done() {
		return nil, nil, fmt.Errorf("data section: %d trailing bytes", len(r.b)-r.off)
	}
	stripped, err := mod.rewriteSection(bin, secData, out)
	if err != nil {
		return nil, nil, err
	}
	return stripped, segs, nil
}

// rewriteSection re-encodes the module with section id's body replaced.
func (m *module) rewriteSection(bin []byte, id byte, body []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Write(bin[:8])
	for _, s := range m.sections {
		b := s.body
		if s.id == id {
			b = body
		}
		out.WriteByte(s.id)
		out.Write(appendU32(nil, uint32(len(b))))
		out.Write(b)
	}
	return out.Bytes(), nil
}

// rewrite re-encodes the module with exports appended to its exports
// (creating the section where the module has none).
func (m *module) rewrite(bin []byte, exports [][]byte) ([]byte, error) {
	return m.rewriteWith(bin, nil, exports, nil)
}

// rewriteWith re-encodes the module with global (one encoded entry, or nil)
// appended to its globals, exports appended to its exports, and the code
// section passed through code (when not nil; debug sections, whose code
// offsets that invalidates, are dropped then).
func (m *module) rewriteWith(bin, global []byte, exports [][]byte, code func([]byte) ([]byte, error)) ([]byte, error) {
	var out bytes.Buffer
	out.Write(bin[:8])
	globals := func(body []byte, n uint32) []byte {
		b := appendU32(make([]byte, 0, len(body)+len(global)+5), n+1)
		return append(append(b, body...), global...)
	}
	exportBody := func(body []byte, n uint32) []byte {
		b := appendU32(make([]byte, 0, len(body)+64), n+uint32(len(exports)))
		b = append(b, body...)
		for _, e := range exports {
			b = append(b, e...)
		}
		return b
	}
	emit := func(id byte, body []byte) {
		out.WriteByte(id)
		out.Write(appendU32(nil, uint32(len(body))))
		out.Write(body)
	}
	wroteGlobal, wroteExport := global == nil, len(exports) == 0
	for _, s := range m.sections {
		// Missing global and export sections go in before the first
		// section that must follow them.
		if s.id != secCustom {
			if !wroteGlobal && order[s.id] > order[secGlobal] {
				emit(secGlobal, globals(nil, 0))
				wroteGlobal = true
			}
			if !wroteExport && order[s.id] > order[secExport] {
				emit(secExport, exportBody(nil, 0))
				wroteExport = true
			}
		}
		switch {
		case s.id == secGlobal && global != nil:
			emit(s.id, globals(m.globalEntries, uint32(len(m.globalMutable))))
			wroteGlobal = true
		case s.id == secExport && len(exports) > 0:
			emit(s.id, exportBody(m.exportEntries, m.exportCount))
			wroteExport = true
		case s.id == secCode && code != nil:
			body, err := code(s.body)
			if err != nil {
				return nil, err
			}
			emit(s.id, body)
		case s.id == secCustom && code != nil && isDebugSection(s.body):
			// dropped
		default:
			emit(s.id, s.body)
		}
	}
	if !wroteGlobal {
		emit(secGlobal, globals(nil, 0))
	}
	if !wroteExport {
		emit(secExport, exportBody(nil, 0))
	}
	return out.Bytes(), nil
}

func (m *module) checkNewExports(names ...string) error {
	for _, name := range names {
		if _, taken := m.exportNames[name]; taken {
			return fmt.Errorf("export %q already exists", name)
		}
	}
	return nil
}

type section struct {
	id   byte
	body []byte
}

// module is a parsed binary: its sections, plus what a rewrite needs to
// know of the import, global and export sections (each checked entry by
// entry, since rewrites append after the last entry).
type module struct {
	sections        []section
	importedGlobals uint32
	funcImports     map[string]funcImport // by "module.name"
	globalMutable   []bool                // per defined global
	globalEntries   []byte                // the global section after its count
	exportCount     uint32
	exportEntries   []byte // the export section after its count
	exportNames     map[string]struct{}
}

func (m *module) section(id byte) []byte {
	for _, s := range m.sections {
		if s.id == id {
			return s.body
		}
	}
	return nil
}

func parse(bin []byte) (*module, error) {
	if len(bin) < 8 || !bytes.Equal(bin[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("parse wasm: not a wasm binary (bad magic)")
	}
	if !bytes.Equal(bin[4:8], []byte{1, 0, 0, 0}) {
		return nil, fmt.Errorf("parse wasm: %w: version %x (only 1 is known)", ErrUnsupported, bin[4:8])
	}
	r := reader{b: bin, off: 8}
	m := &module{}
	last := 0
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("parse wasm: section %d size: %w", id, err)
		}
		body, err := r.take(int(size))
		if err != nil {
			return nil, fmt.Errorf("parse wasm: section %d: %w", id, err)
		}
		if id != secCustom {
			pos, ok := order[id]
			switch {
			case !ok:
				return nil, fmt.Errorf("parse wasm: %w: section id %d", ErrUnsupported, id)
			case pos <= last:
				return nil, fmt.Errorf("parse wasm: section %d out of order", id)
			}
			last = pos
		}
		m.sections = append(m.sections, section{id: id, body: body})
	}
	var err error
	if m.importedGlobals, m.funcImports, err = readImports(m.section(secImport)); err != nil {
		return nil, err
	}
	if g := m.section(secGlobal); g != nil {
		if m.globalMutable, m.globalEntries, err = readGlobals(g); err != nil {
			return nil, fmt.Errorf("global section: %w", err)
		}
	}
	m.exportNames = map[string]struct{}{}
	if e := m.section(secExport); e != nil {
		if m.exportCount, m.exportEntries, err = readExports(e, m.exportNames); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// funcImport is an imported function: its index in the function index
// space (imports come first) and its type index.
type funcImport struct {
	index, typ uint32
}

// readImports counts the imported globals (they come first in the global
// index space) and indexes the imported functions by "module.name".
func readImports(body []byte) (globals uint32, funcs map[string]funcImport, err error) {
	funcs = map[string]funcImport{}
	if body == nil {
		return 0, funcs, nil
	}
	r := reader{b: body}
	n, err := r.u32()
	if err != nil {
		return 0, nil, fmt.Errorf("import section: %w", err)
	}
	var nfuncs uint32
	for i := uint32(0); i < n; i++ {
		var names [2]string
		for k := range names { // module and field names
			if names[k], err = r.name(); err != nil {
				return 0, nil, fmt.Errorf("import %d: %w", i, err)
			}
		}
		kind, err := r.byte()
		if err != nil {
			return 0, nil, fmt.Errorf("import %d: %w", i, err)
		}
		switch kind {
		case 0: // func: type index
			var typ uint32
			if typ, err = r.u32(); err == nil {
				funcs[names[0]+"."+names[1]] = funcImport{index: nfuncs, typ: typ}
				nfuncs++
			}
		case 1: // table: reftype, limits
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 2: // memory: limits
			err = r.limits()
		case 3: // global: valtype, mutability
			globals++
			_, err = r.take(2)
		case 4: // tag: attribute, type index
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		default:
			return 0, nil, fmt.Errorf("import %d: %w: kind %d", i, ErrUnsupported, kind)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("import %d: %w", i, err)
		}
	}
	if !r.done() {
		return 0, nil, fmt.Errorf("import section: %d trailing bytes", len(r.b)-r.off)
	}
	return globals, funcs, nil
}

// funcType returns the parameter and result types of type index typ.
func (m *module) funcType(typ uint32) (params, results []byte, err error) {
	body := m.section(secType)
	r := reader{b: body}
	n, err := r.u32()
	if err != nil || typ >= n {
		return nil, nil, fmt.Errorf("type section: no type %d", typ)
	}
	for i := uint32(0); ; i++ {
		form, err := r.byte()
		if err != nil {
			return nil, nil, fmt.Errorf("type %d: %w", i, err)
		}
		if form != 0x60 {
			return nil, nil, fmt.Errorf("type %d: %w: form 0x%x", i, ErrUnsupported, form)
		}
		var vecs [2][]byte
		for k := range vecs {
			c, err := r.u32()
			if err != nil {
				return nil, nil, fmt.Errorf("type %d: %w", i, err)
			}
			if vecs[k], err = r.take(int(c)); err != nil {
				return nil, nil, fmt.Errorf("type %d: %w", i, err)
			}
		}
		if i == typ {
			return vecs[0], vecs[1], nil
		}
	}
}

// readExports checks the export section and collects its names; it
// returns the count and the entries after it.
func readExports(body []byte, names map[string]struct{}) (uint32, []byte, error) {
	r := reader{b: body}
	n, err := r.u32()
	if err != nil {
		return 0, nil, fmt.Errorf("export section: %w", err)
	}
	start := r.off
	for i := uint32(0); i < n; i++ {
		got, err := r.name()
		if err == nil {
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		}
		if err != nil {
			return 0, nil, fmt.Errorf("export %d: %w", i, err)
		}
		names[got] = struct{}{}
	}
	if !r.done() {
		return 0, nil, fmt.Errorf("export section: %d trailing bytes", len(r.b)-r.off)
	}
	if n == 1<<32-1 {
		return 0, nil, fmt.Errorf("export section: too many entries")
	}
	return n, body[start:], nil
}

// readGlobals checks the global section entry by entry and reports which
// globals are mutable; it returns the entries after the count.
func readGlobals(body []byte) ([]bool, []byte, error) {
	r := reader{b: body}
	n, err := r.u32()
	if err != nil {
		return nil, nil, err
	}
	start := r.off
	var mutable []bool
	for i := uint32(0); i < n; i++ {
		typ, err := r.take(2) // value type, mutability
		if err != nil {
			return nil, nil, fmt.Errorf("global %d: %w", i, err)
		}
		mutable = append(mutable, typ[1] == 1)
		for { // constant expression, up to its end
			op, err := r.byte()
			if err != nil {
				return nil, nil, fmt.Errorf("global %d: %w", i, err)
			}
			if op == 0x0b {
				break
			}
			if op == 0x02 || op == 0x03 || op == 0x04 {
				return nil, nil, fmt.Errorf("global %d: block in a constant expression", i)
			}
			if err := r.skipImmediates(op); err != nil {
				return nil, nil, fmt.Errorf("global %d: %w", i, err)
			}
		}
	}
	if !r.done() {
		return nil, nil, fmt.Errorf("%d trailing bytes", len(r.b)-r.off)
	}
	return mutable, body[start:], nil
}

func appendExport(b []byte, name string, global uint32) []byte {
	b = appendU32(b, uint32(len(name)))
	b = append(b, name...)
	b = append(b, 3) // global
	return appendU32(b, global)
}

// AddYield returns a copy of bin with a new mutable i32 global, the
// budget, starting at budget, and with
//
//	global.get $budget
//	i32.const 1
//	i32.sub
//	global.set $budget
//	global.get $budget
//	i32.eqz
//	if
//	  call $yield
//	  global.set $budget
//	end
//
// at the head of every loop, where $yield is the module's imported
// function imp ("module.name", type () -> i32). A guest thus leaves
// compiled code for the host at least every budget loop iterations: the
// host can stop it there, and Go can preempt it there (compiled wasm that
// never calls out cannot be preempted, and blocks the garbage collector's
// stop-the-world). The guest has no instruction that writes the new global,
// so it cannot dodge the call. Code without loops ends on its own or
// overflows its stack.
//
// Why not wazero's WithCloseOnContextDone: it makes that call, an exit to
// Go, at every loop iteration, which made CPython 4 to 9 times slower.
func AddYield(bin []byte, imp string, budget uint32) ([]byte, error) {
	if budget == 0 || budget > 1<<31-1 {
		return nil, fmt.Errorf("add yield: budget %d: want 1 to 2^31-1", budget)
	}
	mod, err := parse(bin)
	if err != nil {
		return nil, err
	}
	fn, ok := mod.funcImports[imp]
	if !ok {
		return nil, fmt.Errorf("add yield: the module imports no function %s", imp)
	}
	params, results, err := mod.funcType(fn.typ)
	if err != nil {
		return nil, fmt.Errorf("add yield: %w", err)
	}
	if len(params) != 0 || !bytes.Equal(results, []byte{0x7f}) {
		return nil, fmt.Errorf("add yield: %s has type (%x) -> (%x), want () -> i32", imp, params, results)
	}
	index := mod.importedGlobals + uint32(len(mod.globalMutable))
	// (mut i32) (i32.const budget)
	global := append(appendS32(append([]byte{0x7f, 0x01}, 0x41), int32(budget)), 0x0b)
	g := appendU32(nil, index)
	check := []byte{0x23}
	check = append(check, g...)
	check = append(check, 0x41, 0x01, 0x6b, 0x24)
	check = append(check, g...)
	check = append(check, 0x23)
	check = append(check, g...)
	check = append(check, 0x45, 0x04, 0x40, 0x10)
	check = appendU32(check, fn.index)
	check = append(check, 0x24)
	check = append(check, g...)
	check = append(check, 0x0b)
	return mod.rewriteWith(bin, global, nil, func(code []byte) ([]byte, error) { return instrumentCode(code, check) })
}

func isDebugSection(body []byte) bool {
	r := reader{b: body}
	name, err := r.name()
	return err == nil && (len(name) > 7 && name[:7] == ".debug_" || name == "sourceMappingURL")
}

// instrumentCode rewrites every function body of the code section.
func instrumentCode(body, check []byte) ([]byte, error) {
	r := reader{b: body}
	n, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("code section: %w", err)
	}
	out := appendU32(make([]byte, 0, len(body)+len(body)/8), n)
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("code section: function %d: %w", i, err)
		}
		code, err := r.take(int(size))
		if err != nil {
			return nil, fmt.Errorf("code section: function %d: %w", i, err)
		}
		if fn, err = instrumentFunc(fn[:0], code, check); err != nil {
			return nil, fmt.Errorf("code section: function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if !r.done() {
		return nil, fmt.Errorf("code section: %d trailing bytes", len(r.b)-r.off)
	}
	return out, nil
}

// instrumentFunc copies one function body (locals, then expression) into
// out with check inserted after every loop's block type.
func instrumentFunc(out, code, check []byte) ([]byte, error) {
	r := reader{b: code}
	groups, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("locals: %w", err)
	}
	for range groups {
		if _, err := r.u32(); err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
		if _, err := r.byte(); err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
	}
	start := 0 // first byte not yet copied
	for !r.done() {
		op, _ := r.byte()
		if err := r.skipImmediates(op); err != nil {
			return nil, fmt.Errorf("at byte %d: %w", r.off, err)
		}
		if op == 0x03 { // loop
			out = append(out, code[start:r.off]...)
			out = append(out, check...)
			start = r.off
		}
	}
	return append(out, code[start:]...), nil
}

// skipImmediates moves past the immediates of op. It knows the core
// instruction set with the sign-extension, saturating-conversion,
// bulk-memory, reference-types and tail-call additions: what clang emits
// for wasm32-wasi without SIMD, threads or exceptions.
func (r *reader) skipImmediates(op byte) error {
	var err error
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
		_, err = r.s64() // block type: 0x40, a value type or an s33 index
	case op == 0x0c || op == 0x0d: // br, br_if
		_, err = r.u32()
	case op == 0x0e: // br_table
		var n uint32
		if n, err = r.u32(); err == nil {
			for i := uint32(0); i <= n && err == nil; i++ {
				_, err = r.u32()
			}
		}
	case op == 0x10 || op == 0x12: // call, return_call
		_, err = r.u32()
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	case op == 0x1c: // select with types
		var n uint32
		if n, err = r.u32(); err == nil {
			_, err = r.take(int(n))
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		_, err = r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores: align, offset
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		_, err = r.u32()
	case op == 0x41:
		_, err = r.s64()
	case op == 0x42:
		_, err = r.s64()
	case op == 0x43:
		_, err = r.take(4)
	case op == 0x44:
		_, err = r.take(8)
	case op == 0xd0: // ref.null
		_, err = r.byte()
	case op == 0xd2: // ref.func
		_, err = r.u32()
	case op == 0xfc:
		var sub uint32
		if sub, err = r.u32(); err != nil {
			break
		}
		switch {
		case sub <= 7: // saturating truncations
		case sub == 8 || sub == 10 || sub == 12 || sub == 14: // *.init, *.copy
			if _, err = r.u32(); err == nil {
				_, err = r.u32()
			}
		case sub <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
			_, err = r.u32()
		default:
			return fmt.Errorf("%w: opcode 0xfc %d", ErrUnsupported, sub)
		}
	case op <= 0x01 || op == 0x05 || op == 0x0b || op == 0x0f ||
		op == 0x1a || op == 0x1b || (op >= 0x45 && op <= 0xc4) || op == 0xd1:
		// no immediates
	default:
		return fmt.Errorf("%w: opcode 0x%02x", ErrUnsupported, op)
	}
	return err
}

// reader decodes the binary format's primitives.
type reader struct {
	b   []byte
	off int
}

var errShort = errors.New("unexpected end of data")

func (r *reader) done() bool { return r.off >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, errShort
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b, nil
}

func (r *reader) u32() (uint32, error) {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if v > 1<<32-1 {
				return 0, errors.New("u32 out of range")
			}
			return uint32(v), nil
		}
	}
	return 0, errors.New("u32 too long")
}

// s64 reads a signed LEB128 of up to 64 bits (also s32 and s33).
func (r *reader) s64() (int64, error) {
	var v int64
	for shift := 0; shift < 70; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v, nil
		}
	}
	return 0, errors.New("signed integer too long")
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.take(int(n))
	return string(b), err
}

func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.u32(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.u32()
	}
	return err
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendS32 appends v as a signed LEB128 (an i32.const immediate).
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7 // arithmetic: keeps the sign
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
