package meter

import (
	"fmt"
	"strings"
)

// FuelExport is the name under which an instrumented module exports its
// fuel counter, a mutable i64 global. A module that already exports the
// name is refused.
const FuelExport = "alignhost_fuel"

// Instrument returns the module rewritten to charge fuel: a mutable i64
// global exported as [FuelExport] (initially 0, so the embedder must set a
// budget before any call), decreased at every function entry and loop
// header by the instructions that follow (see the package documentation),
// trapping with unreachable when it falls below zero.
func (m *Module) Instrument() ([]byte, error) {
	for _, e := range m.Exports {
		if e.Name == FuelExport {
			return nil, fmt.Errorf("the module exports %q, a name reserved for the host's fuel counter", FuelExport)
		}
	}
	fuel := uint32(m.ImportedGlobals + m.Globals)
	out := make([]byte, 0, len(m.wasm)+len(m.wasm)/4+64)
	out = append(out, m.wasm[:8]...)

	global := appendU32(nil, uint32(m.Globals+1))
	global = append(global, m.sectionRest(secGlobal)...)
	global = append(global, 0x7e, 0x01, 0x42, 0x00, 0x0b) // mut i64, i64.const 0, end
	export := appendU32(nil, uint32(len(m.Exports)+1))
	export = append(export, m.sectionRest(secExport)...)
	export = appendName(export, FuelExport)
	export = append(export, KindGlobal)
	export = appendU32(export, fuel)

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
			emit(secCode, m.instrumentCode(fuel))
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
func (m *Module) instrumentCode(fuel uint32) []byte {
	size := 5
	for _, b := range m.Bodies {
		size += 5 + b.Size + (len(b.loops)+1)*24
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
			body = appendCharge(body, fuel, b.regions[0])
		}
		for k, loop := range b.loops {
			body = append(body, m.wasm[at:loop]...)
			n := b.regions[k+1]
			if k == 0 && b.entryLoop {
				n += b.regions[0]
			}
			body = appendCharge(body, fuel, n)
			at = loop
		}
		body = append(body, m.wasm[at:end]...)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out
}

// appendCharge appends the charge of n instructions (at least 1).
func appendCharge(b []byte, fuel uint32, n int64) []byte {
	n = max(n, 1)
	b = append(b, 0x23) // global.get
	b = appendU32(b, fuel)
	b = append(b, 0x42) // i64.const
	b = appendS64(b, n)
	b = append(b, 0x7d, 0x24) // i64.sub, global.set
	b = appendU32(b, fuel)
	b = append(b, 0x23) // global.get
	b = appendU32(b, fuel)
	// i64.const 0, i64.lt_s, if, unreachable, end
	return append(b, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b)
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
