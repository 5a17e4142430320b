package host_test

import (
	"context"
	"errors"
	"runtime"
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

// BenchmarkStopAtDeadline measures how far past its wall time a spinning
// guest runs before the zeroed fuel stops it (the bound: the
// limit + 100 ms), on a warm instance, pinned or not.
func BenchmarkStopAtDeadline(b *testing.B) {
	h := newHost(b, host.NewConfig())
	wasm := wasmBytes(b, "hostile")
	const wall = 200 * time.Millisecond
	for _, trusted := range []bool{false, true} {
		m := host.Manifest{Limits: host.Limits{WallTimeMS: wall.Milliseconds()}}
		name := "untrusted"
		if trusted {
			m.SHA256, m.Trusted, name = sha256Hex(wasm), true, "trusted"
		}
		p, err := h.Load(context.Background(), wasm, m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			var over time.Duration
			for b.Loop() {
				if _, err := p.Align(context.Background(), host.Input{Judge: testJudge(b), Examples: testExamples(3)}); err != nil {
					b.Fatal(err) // leaves a warm instance in the pool
				}
				start := time.Now()
				_, err := p.Align(context.Background(), host.Input{Judge: testJudge(b), Examples: testExamples(3), Config: map[string]any{"mode": "loop"}})
				over = max(over, time.Since(start)-wall)
				var le *host.LimitError
				if !errors.As(err, &le) || le.Limit != host.LimitWallTime {
					b.Fatalf("err = %v, want the wall-time limit", err)
				}
			}
			b.ReportMetric(float64(over.Microseconds())/1000, "max-overshoot-ms")
		})
	}
}

// TestSpinSurvivesGC spins a guest while the garbage collector runs over
// and over. wazero's native code cannot be preempted, so a guest that
// never left it would hold up the collector's stop-the-world, and with it
// every goroutine, the one that zeroes the fuel at the deadline included:
// the process froze. The meter's slow path leaves native code every
// meter.YieldEvery fuel, so the wall-time limit still ends the spin.
func TestSpinSurvivesGC(t *testing.T) {
	h := newHost(t, host.NewConfig())
	p := load(t, h, "hostile", host.Manifest{Limits: host.Limits{WallTimeMS: 1500}})
	stop := make(chan struct{})
	collected := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				collected <- n
				return
			default:
				runtime.GC()
				n++
			}
		}
	}()
	_, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(3), Config: map[string]any{"mode": "loop"}})
	close(stop)
	n := <-collected
	var le *host.LimitError
	if !errors.As(err, &le) || le.Limit != host.LimitWallTime || le.Value != "1.5s" {
		t.Fatalf("err = %v, want the wall-time limit", err)
	}
	if n < 2 {
		t.Errorf("the collector ran %d times during the spin", n)
	}
}
