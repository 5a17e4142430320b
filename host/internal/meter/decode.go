package meter

import (
	"errors"
	"fmt"
)

// Section ids of the binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank is the order non-custom sections must appear in.
var sectionRank = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11, secCode: 12, secData: 13,
}

// External kinds of imports and exports.
const (
	KindFunction byte = 0
	KindTable    byte = 1
	KindMemory   byte = 2
	KindGlobal   byte = 3
	KindTag      byte = 4
)

// ErrMalformed is wrapped by every error about bytes that are not a
// WebAssembly binary this package can read.
var ErrMalformed = errors.New("malformed WebAssembly binary")

// FuncType is a function type; value types are the binary encoding
// (0x7f i32, 0x7e i64, …), which is wazero's api.ValueType.
type FuncType struct {
	Params, Results []byte
}

// Import is one import.
type Import struct {
	Module, Name string
	Kind         byte
	// Type is the type index of an imported function.
	Type uint32
	// Memory is an imported memory's limits.
	Memory Memory
}

// Export is one export.
type Export struct {
	Name  string
	Kind  byte
	Index uint32
}

// Memory is a memory's limits, in 64 KiB pages.
type Memory struct {
	Min, Max uint64
	HasMax   bool
}

// Body is what the decoder learnt of one function body.
type Body struct {
	// Size is the body's length in bytes, locals included.
	Size int
	// Instructions counts its instructions; Nesting is its deepest
	// nesting of blocks, loops and ifs.
	Instructions int
	Nesting      int

	start, code int // offsets of the body and of its first instruction in the module
	// regions[0] is the count charged at entry, regions[k] the count of
	// the k-th loop; loops[k-1] is the module offset right after that
	// loop's block type.
	regions []int64
	loops   []int
	// entryLoop: the body begins with a loop, which charges for entry.
	entryLoop bool
}

// section is one section's place in the module.
type section struct {
	id         byte
	start, end int // the whole section, id byte included
	payload    int // offset of the payload
	name       string
}

// Module is the structure of a decoded module.
type Module struct {
	// Size is the module's length in bytes.
	Size            int
	Types           []FuncType
	Imports         []Import
	Exports         []Export
	Functions       []uint32 // type index of each defined function
	Memories        []Memory // defined memories
	Bodies          []Body
	ImportedFuncs   int
	ImportedGlobals int
	Globals         int // defined globals

	wasm     []byte
	sections []section
}

// FunctionType returns the type of function index i, imports first.
func (m *Module) FunctionType(i uint32) (FuncType, bool) {
	var t uint32
	if int(i) < m.ImportedFuncs {
		n := 0
		for _, im := range m.Imports {
			if im.Kind != KindFunction {
				continue
			}
			if n == int(i) {
				t = im.Type
				break
			}
			n++
		}
	} else if j := int(i) - m.ImportedFuncs; j < len(m.Functions) {
		t = m.Functions[j]
	} else {
		return FuncType{}, false
	}
	if int(t) >= len(m.Types) {
		return FuncType{}, false
	}
	return m.Types[t], true
}

// Decode reads the structure of wasm, walking every function body, and
// refuses it when it exceeds limits (zero fields take their defaults).
// The errors are a *LimitError or wrap ErrMalformed.
func Decode(wasm []byte, limits Limits) (*Module, error) {
	limits = limits.withDefaults()
	if len(wasm) > limits.ModuleBytes {
		return nil, &LimitError{Limit: LimitModuleBytes, Max: int64(limits.ModuleBytes), Value: int64(len(wasm)), Function: -1}
	}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: no \\0asm magic number", ErrMalformed)
	}
	if v := wasm[4:8]; v[0] != 1 || v[1] != 0 || v[2] != 0 || v[3] != 0 {
		return nil, fmt.Errorf("%w: binary format version %x, want 1", ErrMalformed, v)
	}
	m := &Module{Size: len(wasm), wasm: wasm}
	r := &reader{b: wasm, off: 8}
	last := 0
	for r.off < len(wasm) {
		s := section{start: r.off}
		s.id = r.byte()
		size := r.u32()
		if r.err != nil {
			return nil, r.fail("section header")
		}
		s.payload = r.off
		if int(size) > len(wasm)-r.off {
			return nil, fmt.Errorf("%w: section %d at offset %d runs past the end", ErrMalformed, s.id, s.start)
		}
		s.end = r.off + int(size)
		sr := &reader{b: wasm[:s.end], off: s.payload}
		if s.id != secCustom {
			rank, ok := sectionRank[s.id]
			if !ok {
				return nil, fmt.Errorf("%w: unknown section id %d at offset %d", ErrMalformed, s.id, s.start)
			}
			if rank <= last {
				return nil, fmt.Errorf("%w: section %d at offset %d is out of order or repeated", ErrMalformed, s.id, s.start)
			}
			last = rank
		}
		var err error
		switch s.id {
		case secCustom:
			s.name = sr.name()
			err = sr.err
		case secType:
			err = m.decodeTypes(sr)
		case secImport:
			err = m.decodeImports(sr)
		case secFunction:
			err = m.decodeFunctions(sr, limits)
		case secMemory:
			err = m.decodeMemories(sr)
		case secGlobal:
			n := sr.u32()
			m.Globals = int(n)
			err = sr.err
		case secExport:
			err = m.decodeExports(sr)
		case secCode:
			err = m.decodeCode(sr, limits)
		}
		if err != nil {
			var le *LimitError
			if errors.As(err, &le) {
				return nil, err
			}
			return nil, fmt.Errorf("section %d at offset %d: %w", s.id, s.start, err)
		}
		m.sections = append(m.sections, s)
		r.off = s.end
	}
	if len(m.Bodies) != len(m.Functions) {
		return nil, fmt.Errorf("%w: %d function declarations but %d bodies", ErrMalformed, len(m.Functions), len(m.Bodies))
	}
	return m, nil
}

func (m *Module) decodeTypes(r *reader) error {
	n := r.u32()
	if r.err == nil && int(n) > r.left() {
		return r.fail("type count")
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		if form := r.byte(); form != 0x60 && r.err == nil {
			return fmt.Errorf("%w: type %d has form 0x%x; only function types (0x60) are read", ErrMalformed, i, form)
		}
		var t FuncType
		t.Params = r.valTypes()
		t.Results = r.valTypes()
		m.Types = append(m.Types, t)
	}
	return r.done("types")
}

func (r *reader) valTypes() []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if int(n) > r.left() {
		r.err = errShort
		return nil
	}
	b := append([]byte(nil), r.b[r.off:r.off+int(n)]...)
	r.off += int(n)
	return b
}

func (m *Module) decodeImports(r *reader) error {
	n := r.u32()
	if r.err == nil && int(n) > r.left() {
		return r.fail("import count")
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		im := Import{Module: r.name(), Name: r.name(), Kind: r.byte()}
		switch im.Kind {
		case KindFunction:
			im.Type = r.u32()
			m.ImportedFuncs++
		case KindTable:
			r.refType()
			r.limits()
		case KindMemory:
			im.Memory = r.limits()
		case KindGlobal:
			r.valType()
			r.byte() // mutability
			m.ImportedGlobals++
		case KindTag:
			r.byte()
			r.u32()
		default:
			if r.err == nil {
				return fmt.Errorf("%w: import %d has unknown kind %d", ErrMalformed, i, im.Kind)
			}
		}
		m.Imports = append(m.Imports, im)
	}
	return r.done("imports")
}

func (m *Module) decodeFunctions(r *reader, limits Limits) error {
	n := r.u32()
	if r.err != nil {
		return r.fail("function count")
	}
	if int64(n) > int64(limits.Functions) {
		return &LimitError{Limit: LimitFunctions, Max: int64(limits.Functions), Value: int64(n), Function: -1}
	}
	if int(n) > r.left() {
		return r.fail("function count")
	}
	m.Functions = make([]uint32, 0, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		m.Functions = append(m.Functions, r.u32())
	}
	return r.done("functions")
}

func (m *Module) decodeMemories(r *reader) error {
	n := r.u32()
	if r.err == nil && int(n) > r.left() {
		return r.fail("memory count")
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		m.Memories = append(m.Memories, r.limits())
	}
	return r.done("memories")
}

func (m *Module) decodeExports(r *reader) error {
	n := r.u32()
	if r.err == nil && int(n) > r.left() {
		return r.fail("export count")
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		m.Exports = append(m.Exports, Export{Name: r.name(), Kind: r.byte(), Index: r.u32()})
	}
	return r.done("exports")
}

func (m *Module) decodeCode(r *reader, limits Limits) error {
	n := r.u32()
	if r.err != nil {
		return r.fail("body count")
	}
	if int64(n) > int64(limits.Functions) {
		return &LimitError{Limit: LimitFunctions, Max: int64(limits.Functions), Value: int64(n), Function: -1}
	}
	if int(n) > r.left() {
		return r.fail("body count")
	}
	m.Bodies = make([]Body, 0, n)
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		if r.err != nil {
			return r.fail("body size")
		}
		fn := m.ImportedFuncs + int(i)
		if int64(size) > int64(limits.BodyBytes) {
			return &LimitError{Limit: LimitBodyBytes, Max: int64(limits.BodyBytes), Value: int64(size), Function: fn}
		}
		if int(size) > r.left() {
			return fmt.Errorf("%w: function %d: body runs past the section", ErrMalformed, fn)
		}
		b := Body{Size: int(size), start: r.off}
		br := &reader{b: r.b[:r.off+int(size)], off: r.off}
		if err := scanBody(br, &b, limits); err != nil {
			var le *LimitError
			if errors.As(err, &le) {
				le.Function = fn
				return le
			}
			return fmt.Errorf("function %d: %w", fn, err)
		}
		m.Bodies = append(m.Bodies, b)
		r.off += int(size)
	}
	return r.done("code")
}

// frame is an open block, loop or if of a body being scanned.
type frame struct {
	region int // the region its instructions are charged to
}

// scanBody walks one body: its locals, then its instructions, counting the
// instructions of each region (the entry and each loop).
func scanBody(r *reader, b *Body, limits Limits) error {
	groups := r.u32()
	if r.err == nil && int(groups) > r.left() {
		return r.fail("locals")
	}
	var locals uint64
	for i := uint32(0); i < groups && r.err == nil; i++ {
		locals += uint64(r.u32())
		r.valType()
	}
	if r.err != nil {
		return r.fail("locals")
	}
	if locals > uint64(limits.Locals) {
		return &LimitError{Limit: LimitLocals, Max: int64(limits.Locals), Value: int64(locals)}
	}
	b.code = r.off
	b.regions = []int64{0}
	stack := []frame{{region: 0}} // the function's own block
	first := true
	for len(stack) > 0 {
		if r.off >= len(r.b) {
			return fmt.Errorf("%w: body ends inside a block", ErrMalformed)
		}
		region := stack[len(stack)-1].region
		b.regions[region]++
		b.Instructions++
		op := r.b[r.off]
		r.off++
		if op >= 0x45 && op <= 0xc4 || op == 0x1a { // numeric, drop: no immediates, no nesting
			first = false
			if b.Instructions > limits.Instructions {
				return &LimitError{Limit: LimitInstructions, Max: int64(limits.Instructions), Value: int64(b.Instructions), AtLeast: true}
			}
			continue
		}
		switch op {
		case 0x02, 0x04, 0x1f: // block, if, try_table
			r.blockType()
			if op == 0x1f {
				n := r.u32()
				if r.err == nil && int(n) > r.left() {
					return r.fail("try_table")
				}
				for i := uint32(0); i < n && r.err == nil; i++ {
					switch kind := r.byte(); kind {
					case 0, 1:
						r.u32()
						r.u32()
					case 2, 3:
						r.u32()
					default:
						return fmt.Errorf("%w: try_table catch kind %d", ErrMalformed, kind)
					}
				}
			}
			stack = append(stack, frame{region: region})
		case 0x03: // loop
			r.blockType()
			b.regions = append(b.regions, 0)
			b.loops = append(b.loops, r.off)
			if first {
				b.entryLoop = true
			}
			stack = append(stack, frame{region: len(b.regions) - 1})
		case 0x0b: // end
			stack = stack[:len(stack)-1]
		default:
			if err := r.immediates(op); err != nil {
				return err
			}
		}
		if r.err != nil {
			return r.fail(fmt.Sprintf("instruction 0x%02x", op))
		}
		if len(stack) > b.Nesting {
			b.Nesting = len(stack)
			if b.Nesting > limits.Nesting {
				return &LimitError{Limit: LimitNesting, Max: int64(limits.Nesting), Value: int64(b.Nesting), AtLeast: true}
			}
		}
		if b.Instructions > limits.Instructions {
			return &LimitError{Limit: LimitInstructions, Max: int64(limits.Instructions), Value: int64(b.Instructions), AtLeast: true}
		}
		first = false
	}
	if r.off != len(r.b) {
		return fmt.Errorf("%w: %d bytes after the body's end", ErrMalformed, len(r.b)-r.off)
	}
	return nil
}

// immediates skips the immediates of op (not a block, loop, if, try_table
// or end).
func (r *reader) immediates(op byte) error {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0a || op == 0x0f || op == 0x19 ||
		op == 0x1a || op == 0x1b || op == 0xd1 || op == 0xd3 || op == 0xd4 ||
		op >= 0x45 && op <= 0xc4:
		// no immediates: unreachable, nop, else, throw_ref, return,
		// catch_all, drop, select, ref.is_null, ref.eq, ref.as_non_null,
		// numeric instructions
	case op == 0x06: // try (legacy exceptions)
		r.blockType()
	case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x18 || // catch, throw, rethrow, delegate
		op == 0x0c || op == 0x0d || op == 0x10 || op == 0x12 || // br, br_if, call, return_call
		op == 0x14 || op == 0x15 || // call_ref, return_call_ref
		op >= 0x20 && op <= 0x26 || // local.*, global.*, table.get/set
		op == 0xd2 || op == 0xd5 || op == 0xd6: // ref.func, br_on_null, br_on_non_null
		r.u32()
	case op == 0x0e: // br_table
		n := r.u32()
		if r.err == nil && int(n) > r.left() {
			r.err = errShort
		}
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select t*
		r.valTypes()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memArg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41:
		r.leb(5)
	case op == 0x42:
		r.leb(10)
	case op == 0x43:
		r.skip(4)
	case op == 0x44:
		r.skip(8)
	case op == 0xd0: // ref.null heaptype
		r.leb(5)
	case op == 0xfc:
		return r.prefixFC()
	case op == 0xfd:
		return r.prefixFD()
	case op == 0xfe:
		sub := r.u32()
		if sub == 0x03 { // atomic.fence
			r.byte()
		} else {
			r.memArg()
		}
	default:
		return fmt.Errorf("%w: unknown opcode 0x%02x at offset %d", ErrMalformed, op, r.off-1)
	}
	return nil
}

func (r *reader) prefixFC() error {
	sub := r.u32()
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init data mem
		r.u32()
		r.u32()
	case sub == 9: // data.drop
		r.u32()
	case sub == 10: // memory.copy mem mem
		r.u32()
		r.u32()
	case sub == 11: // memory.fill mem
		r.u32()
	case sub == 12: // table.init elem table
		r.u32()
		r.u32()
	case sub == 13: // elem.drop
		r.u32()
	case sub == 14: // table.copy table table
		r.u32()
		r.u32()
	case sub >= 15 && sub <= 17: // table.grow, table.size, table.fill
		r.u32()
	default:
		if r.err == nil {
			return fmt.Errorf("%w: unknown instruction 0xfc %d at offset %d", ErrMalformed, sub, r.off)
		}
	}
	return nil
}

func (r *reader) prefixFD() error {
	sub := r.u32()
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // v128 loads, stores, load_zero
		r.memArg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.skip(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		r.byte()
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		r.memArg()
		r.byte()
	case sub <= 0x113: // every other SIMD and relaxed-SIMD instruction: no immediates
	default:
		if r.err == nil {
			return fmt.Errorf("%w: unknown instruction 0xfd %d at offset %d", ErrMalformed, sub, r.off)
		}
	}
	return nil
}
