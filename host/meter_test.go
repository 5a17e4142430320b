package host_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/host"
)

// TestFuelLimit runs the hostile spin under a fuel limit and a wall time
// it cannot reach: the meter stops it, and says so.
func TestFuelLimit(t *testing.T) {
	h := newHost(t, host.NewConfig())
	wasm := wasmBytes(t, "hostile")
	// What a well-behaved align costs, on fresh instances each time: the
	// same input uses the same fuel.
	probe, err := h.Load(context.Background(), wasm, host.Manifest{Pool: host.Pool{MaxUses: 1}})
	if err != nil {
		t.Fatal(err)
	}
	in := host.Input{Judge: testJudge(t), Examples: testExamples(3)}
	var fuel []int64
	for range 3 {
		res, err := probe.Align(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		fuel = append(fuel, res.Usage.Fuel)
	}
	if fuel[0] <= 0 || fuel[1] != fuel[0] || fuel[2] != fuel[0] {
		t.Fatalf("fuel of three identical aligns on fresh instances = %v, want one positive figure", fuel)
	}

	budget := 40 * fuel[0] // enough for start-up, describe and an align
	p, err := h.Load(context.Background(), wasm, host.Manifest{Limits: host.Limits{Fuel: budget, WallTimeMS: 600_000}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(3), Config: map[string]any{"mode": "loop"}})
	var le *host.LimitError
	if !errors.As(err, &le) || le.Limit != host.LimitFuel || le.Op != "align" || le.Value != strconv.FormatInt(budget, 10) {
		t.Fatalf("spin under %d fuel: err = %v, want the fuel limit", budget, err)
	}
	if !strings.Contains(err.Error(), "fuel limit of") {
		t.Errorf("message %q does not name the fuel limit", err)
	}
	if _, err := p.Align(context.Background(), in); err != nil {
		t.Errorf("the next align failed: %v", err)
	}
}

// TestTrustedSpinIsStopped: a trusted (pinned) module is metered like any
// other, so a spin in it meets the wall-time limit, in align and at
// start-up, and the host then closes with no call left running. Before
// the meter a trusted module could not be interrupted and Host.Close
// waited for it for ever.
func TestTrustedSpinIsStopped(t *testing.T) {
	h, err := host.New(context.Background(), host.NewConfig().WithCacheDir(built.cacheDir))
	if err != nil {
		t.Fatal(err)
	}
	wasm := wasmBytes(t, "hostile")
	pinned := host.Manifest{SHA256: sha256Hex(wasm), Trusted: true, Limits: host.Limits{WallTimeMS: 1500}}
	p, err := h.Load(context.Background(), wasm, pinned)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(3), Config: map[string]any{"mode": "loop"}})
	var le *host.LimitError
	if !errors.As(err, &le) || le.Limit != host.LimitWallTime || le.Value != "1.5s" || le.Op != "align" {
		t.Fatalf("trusted spin: err = %v, want the wall-time limit of 1.5s", err)
	}

	initSpin := pinned
	initSpin.Grants = host.Grants{Env: map[string]string{"HOSTILE_INIT": "loop"}}
	_, err = h.Load(context.Background(), wasm, initSpin)
	if !errors.As(err, &le) || le.Limit != host.LimitWallTime || le.Op != "load" {
		t.Fatalf("trusted spin at start-up: err = %v, want the wall-time limit", err)
	}

	// Close waits for calls in flight until its context ends, and fails
	// if any is left: none may be.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}
