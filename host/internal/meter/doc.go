// Package meter reads the structure of a WebAssembly binary and rewrites it
// so that it counts its own work.
//
// [Decode] walks every section and every function body — section framing,
// LEB128, the instruction stream with its 0xFC, 0xFD and 0xFE prefixes and
// block types — without compiling anything, and refuses a module past its
// [Limits] (module size, function count, function body size, nesting
// depth) with a *[LimitError] naming the limit, the value and the
// function. [Module.Instrument] then adds two mutable i64 globals, the fuel
// counter (exported as [FuelExport]) and a reserve ([ReserveExport]), and
// at every function entry and every loop header inserts a charge:
//
//	global.get $fuel; i64.const N; i64.sub; global.set $fuel
//	global.get $fuel; i64.const 0; i64.lt_s
//	if <slow path> end
//
// The slow path moves the counter into the reserve, traps (unreachable)
// when that is below zero, refills the counter with up to [YieldEvery] of
// it, and runs memory.grow 0, which wazero answers in Go: see [YieldEvery]
// for why.
//
// N is the number of instructions of the function or loop body outside its
// nested loops (at least 1). Between two charges execution only moves
// forward — the only backward jump WebAssembly has is a branch to a loop
// header, and every call enters a function — so each instruction runs at
// most once per charge of its region, and the fuel charged bounds the
// instructions executed. It depends only on the code and the path taken,
// never on the machine. A function whose body begins with a loop is charged
// at that loop only, with the function's own count added: the loop header
// is the function's entry.
//
// The counter is the embedder's: it sets a budget before a call, reads what
// is left after, and stops a running guest by setting it to zero from
// another goroutine; the guest traps (unreachable) at its next charge. A
// negative counter after a trap says the trap was the meter's. Adding
// defined globals shifts no index (imports would shift function indices), so
// nothing else in the module changes; custom sections named .debug_* are
// dropped, since their code offsets no longer hold.
//
// The package is internal to the host: the reserved export name and the
// fuel unit are part of the host's contract (docs/abi.md), not a general
// API. It has its own decoder because github.com/tetratelabs/wabin, the one
// Go library that fits, has seen no commit since March 2023, has no release,
// and keeps function bodies as opaque bytes: walking the instruction stream
// is the part that matters here, and it is short.
package meter
