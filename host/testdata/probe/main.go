// Command probe is a plugin built with the Go SDK (package pluginapi) whose
// align does what the request's config key "action" says, to test the
// SDK's side of the ABI: "echo" reports the request back, "error" returns
// an error, "panic" panics, "no_judge" returns no judge.
//
// The tests build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o probe.wasm ./host/testdata/probe
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/alignhost/alignhost/pluginapi"
)

type probe struct{}

func (probe) Describe() pluginapi.Description {
	return pluginapi.Description{
		Name: "probe", Version: "0.1.0", MinExamples: 2, WantsTraces: true,
		Config: []pluginapi.ConfigKey{
			{Key: "action", Type: pluginapi.ConfigString, Default: "echo"},
			{Key: "ratio", Type: pluginapi.ConfigNumber, Default: 0.5},
		},
	}
}

func (probe) Align(_ context.Context, _ pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
	switch req.ConfigString("action", "") {
	case "error":
		return nil, errors.New("not enough signal in 2 examples")
	case "panic":
		var m map[string]int
		m["boom"]++
	case "no_judge":
		return &pluginapi.AlignResponse{}, nil
	}
	return &pluginapi.AlignResponse{Judge: req.Judge, Report: pluginapi.Report{
		Summary: fmt.Sprintf("seed %d ratio %v", req.Seed, req.ConfigFloat("ratio", 0)),
		Counts: map[string]int{
			"examples": len(req.Examples), "skipped": len(req.Skipped), "traces": len(req.Traces), "models": len(req.Models),
		},
	}}, nil
}

var _ = pluginapi.Register(probe{})

func main() {}
