package main

import (
	"context"
	"testing"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
)

// TestNoop runs the registered optimizer natively: package initialisation
// registered it, and it returns the judge unchanged.
func TestNoop(t *testing.T) {
	o := pluginapi.Registered()
	if o == nil {
		t.Fatal("package initialisation registered no optimizer")
	}
	h, err := host.New(context.Background(), host.NewConfig().WithCacheDir(""))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	n, err := h.LoadNative(o, host.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := judge.New("concise", "Is {{ outputs }} concise?", judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Align(context.Background(), host.Input{Judge: j, Examples: []judge.Example{{TraceID: "t1", Outputs: "Yes.", Value: "yes"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Judge.Fingerprint() != j.Fingerprint() || res.Report.Counts["examples_seen"] != 1 {
		t.Errorf("noop changed the judge or miscounted: %+v", res.Report)
	}
}
