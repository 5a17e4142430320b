package host_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
)

// guidelineAdder is a tiny optimizer: it adds one guideline.
type guidelineAdder struct{}

func (guidelineAdder) Describe() pluginapi.Description {
	return pluginapi.Description{Name: "adder", Version: "1.0.0",
		Config: []pluginapi.ConfigKey{{Key: "text", Type: pluginapi.ConfigString, Default: "Prefer specific answers."}}}
}

func (guidelineAdder) Align(_ context.Context, h pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
	j := req.Judge.Clone()
	j.Memory = &judge.Memory{Guidelines: []judge.Guideline{{Text: req.ConfigString("text", "")}}}
	h.Progress(1, 1, "added a guideline")
	return &pluginapi.AlignResponse{Judge: j, Report: pluginapi.Report{Summary: "added 1 guideline"}}, nil
}

// An optimizer runs in-process through the same types and rules as a
// WebAssembly plugin.
func ExampleHost_LoadNative() {
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig().WithCacheDir(""))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(ctx)
	opt, err := h.LoadNative(guidelineAdder{}, host.Manifest{})
	if err != nil {
		fmt.Println(err)
		return
	}
	j, _ := judge.New("helpful", "Is {{ outputs }} helpful?", judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	examples := []judge.Example{{TraceID: "tr-1", Outputs: "It depends.", Value: "no"}}
	res, err := opt.Align(ctx, host.Input{Judge: j, Examples: examples})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Report.Summary)
	fmt.Println(res.Judge.Memory.Guidelines[0].Text)
	fmt.Println(res.Judge.Provenance.Optimizer, res.Judge.Provenance.NumTraces)

	// The user's configuration is checked against the description.
	_, err = opt.Align(ctx, host.Input{Judge: j, Examples: examples, Config: map[string]any{"txt": "x"}})
	fmt.Println(err)
	// Output:
	// added 1 guideline
	// Prefer specific answers.
	// adder 1
	// plugin adder: align: config key txt is not accepted by the plugin; accepted: text
}

// A limit ends the call with a *LimitError; the wall-time limit also
// matches context.DeadlineExceeded.
func ExampleLimitError() {
	ctx := context.Background()
	h, _ := host.New(ctx, host.NewConfig().WithCacheDir(""))
	defer h.Close(ctx)
	slow := scripted(nil, func(ctx context.Context, _ pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
		<-ctx.Done() // an optimizer that takes too long
		return &pluginapi.AlignResponse{Judge: req.Judge}, nil
	})
	opt, _ := h.LoadNative(slow, host.Manifest{Limits: host.Limits{WallTimeMS: 50}})
	j, _ := judge.New("helpful", "Is {{ outputs }} helpful?")
	_, err := opt.Align(ctx, host.Input{Judge: j, Examples: []judge.Example{{TraceID: "t", Outputs: "ok", Value: "fine"}}})

	var le *host.LimitError
	if errors.As(err, &le) {
		fmt.Println(le.Limit, le.Value)
	}
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	fmt.Println(strings.TrimSpace(err.Error()))
	// Output:
	// wall time 50ms
	// true
	// plugin script: align: wall time limit of 50ms exceeded
}
