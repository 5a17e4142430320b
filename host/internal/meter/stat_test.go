package meter

import (
	"testing"

	"github.com/alignhost/alignhost/plugins/memalign/bundle"
)

func TestStat(t *testing.T) {
	wasm, err := bundle.Module()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(wasm, Limits{BodyBytes: 1 << 30, Instructions: 1 << 30, Nesting: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	var maxSize, maxIns, maxNest, loops int
	for _, b := range m.Bodies {
		maxSize = max(maxSize, b.Size)
		maxIns = max(maxIns, b.Instructions)
		maxNest = max(maxNest, b.Nesting)
		loops += len(b.loops)
	}
	out, err := m.Instrument()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("size %d funcs %d maxbody %d maxins %d maxnest %d loops %d out %d", len(wasm), len(m.Bodies), maxSize, maxIns, maxNest, loops, len(out))
}
