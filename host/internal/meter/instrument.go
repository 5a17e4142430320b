package meter

import (
	"fmt"
	"strings"
)

// FuelExport is the name under which an instrumented module exports its
// fuel counter, a mutable i64 global; ReserveExport names the second
// global, the fuel not yet moved into the counter (see [YieldEvery]). The
// fuel left is their sum. A module that already exports either name is
// refused.
const (
	FuelExport    = "alignhost_fuel"
	ReserveExport = "alignhost_fuel_reserve"
)

// YieldEvery is the most fuel the counter holds at a time, so the most a
// guest burns between two exits to the embedder's Go code. wazero runs
// guest code as native code the Go runtime cannot preempt: a guest that
// never left it would hold up every stop-the-world of the garbage
// collector, and with it the goroutine that zeroes its fuel at the
// deadline. So when a charge takes the counter below zero the charge takes
// a slow path: it adds the counter to the reserve, traps if that is below
// zero (leaving the counter negative), moves up to YieldEvery of the
// reserve into the counter, and runs memory.grow 0, which wazero answers
// in Go. The fast path compares with a constant, which measured 15% less
// CPU on MemAlign than comparing with a second global.
const YieldEvery = 1 << 24

// Split returns what the counter and the reserve hold for a budget.
func Split(budget int64) (fuel, reserve int64) {
	fuel = min(budget, YieldEvery)
	return fuel, budget - fuel
}

// Instrument returns the module rewritten to charge fuel: a mutable i64
// global exported as [FuelExport] (initially 0, so the embedder must set a
// budget before any call), decreased at every function entry and loop
// header by the instructions that follow (see the package documentation),
// trapping with unreachable when it falls below zero.
func (m *Module) Instrument() ([]byte, error) {
	for _, e := range m.Exports {
		if e.Name == FuelExport || e.Name == ReserveExport {
			return nil, fmt.Errorf("the module exports %q, a name reserved for the host's fuel counter", e.Name)
		}
	}
	fuel := uint32(m.ImportedGlobals + m.Globals)
	reserve := fuel + 1
	out := make([]byte, 0, len(m.wasm)+len(m.wasm)/4+64)
	out = append(out, m.wasm[:8]...)

	global := appendU32(nil, uint32(m.Globals+2))
	global = append(global, m.sectionRest(secGlobal)...)
	global = append(global, 0x7e, 0x01, 0x42, 0x00, 0x0b) // mut i64, i64.const 0, end
	global = append(global, 0x7e, 0x01, 0x42, 0x00, 0x0b)
	export := appendU32(nil, uint32(len(m.Exports)+2))
	export = append(export, m.sectionRest(secExport)...)
	export = appendName(export, FuelExport)
	export = append(export, KindGlobal)
	export = appendU32(export, fuel)
	export = appendName(export, ReserveExport)
	export = append(export, KindGlobal)
	export = appendU32(export, reserve)
	hasMemory := len(m.Memories) > 0
	for _, im := range m.Imports {
		hasMemory = hasMemory || im.Kind == KindMemory
	}
	ch := charger{fuel: fuel, reserve: reserve, yield: hasMemory}

	wroteGlobal, wroteExport := false, false
	emit := func(id byte, payload []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(payload)))
		out = append(out, payload...)
	}
	// before writes the new sections that must precede a section of rank
	// rank (sectionRank).
	before := func(rank int) {
		if !wroteGlobal && rank > sectionRank[secGlobal] {
			emit(secGlobal, global)
			wroteGlobal = true
		}
		if !wroteExport && rank > sectionRank[secExport] {
			emit(secExport, export)
			wroteExport = true
		}
	}
	for _, s := range m.sections {
		switch {
		case s.id == secCustom:
			if strings.HasPrefix(s.name, ".debug_") {
				continue
			}
			out = append(out, m.wasm[s.start:s.end]...)
		case s.id == secGlobal:
			before(sectionRank[s.id])
			emit(secGlobal, global)
			wroteGlobal = true
		case s.id == secExport:
			before(sectionRank[s.id])
			emit(secExport, export)
			wroteExport = true
		case s.id == secCode:
			before(sectionRank[s.id])
			emit(secCode, m.instrumentCode(ch))
		default:
			before(sectionRank[s.id])
			out = append(out, m.wasm[s.start:s.end]...)
		}
	}
	before(len(sectionRank) + 1) // past every section: write what is missing
	return out, nil
}

// sectionRest returns the payload of the section id after its leading
// count, or nothing when the module has no such section.
func (m *Module) sectionRest(id byte) []byte {
	for _, s := range m.sections {
		if s.id == id {
			r := &reader{b: m.wasm[:s.end], off: s.payload}
			r.u32()
			return m.wasm[r.off:s.end]
		}
	}
	return nil
}

// instrumentCode returns the code section's payload with the charges
// inserted.
func (m *Module) instrumentCode(ch charger) []byte {
	size := 5
	for _, b := range m.Bodies {
		size += 5 + b.Size + (len(b.loops)+1)*64
	}
	out := make([]byte, 0, size)
	out = appendU32(out, uint32(len(m.Bodies)))
	var body []byte
	for _, b := range m.Bodies {
		body = body[:0]
		end := b.start + b.Size
		body = append(body, m.wasm[b.start:b.code]...) // locals
		at := b.code
		if !b.entryLoop {
			body = ch.append(body, b.regions[0])
		}
		for k, loop := range b.loops {
			body = append(body, m.wasm[at:loop]...)
			n := b.regions[k+1]
			if k == 0 && b.entryLoop {
				n += b.regions[0]
			}
			body = ch.append(body, n)
			at = loop
		}
		body = append(body, m.wasm[at:end]...)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out
}

// charger writes charges: fuel and reserve are the two globals' indices;
// yield says the module has a memory to run memory.grow 0 on.
type charger struct {
	fuel, reserve uint32
	yield         bool
}

// append appends the charge of n instructions (at least 1):
//
//	global.get $fuel; i64.const n; i64.sub; global.set $fuel
//	global.get $fuel; i64.const 0; i64.lt_s
//	if
//	  $reserve = $reserve + $fuel
//	  $reserve < 0: if; unreachable; end
//	  $fuel = min($reserve, YieldEvery)     ;; with select
//	  $reserve = $reserve - $fuel
//	  i32.const 0; memory.grow 0; drop
//	end
func (c charger) append(b []byte, n int64) []byte {
	get := func(b []byte, g uint32) []byte { return appendU32(append(b, 0x23), g) }
	set := func(b []byte, g uint32) []byte { return appendU32(append(b, 0x24), g) }
	b = get(b, c.fuel)
	b = appendS64(append(b, 0x42), max(n, 1))
	b = set(append(b, 0x7d), c.fuel) // i64.sub
	b = get(b, c.fuel)
	b = append(b, 0x42, 0x00, 0x53, 0x04, 0x40) // i64.const 0, i64.lt_s, if
	b = get(get(b, c.reserve), c.fuel)
	b = set(append(b, 0x7c), c.reserve) // i64.add
	b = get(b, c.reserve)
	b = append(b, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b) // i64.const 0, i64.lt_s, if, unreachable, end
	b = get(b, c.reserve)
	b = appendS64(append(b, 0x42), YieldEvery)
	b = get(b, c.reserve)
	b = appendS64(append(b, 0x42), YieldEvery)
	b = set(append(b, 0x53, 0x1b), c.fuel) // i64.lt_s, select
	b = get(get(b, c.reserve), c.fuel)
	b = set(append(b, 0x7d), c.reserve) // i64.sub
	if c.yield {
		b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a) // i32.const 0, memory.grow 0, drop
	}
	return append(b, 0x0b) // end
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

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
