// Command noop is the smallest optimizer: it returns the judge unchanged.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o noop.wasm ./plugins/examples/noop
package main

import (
	"context"

	"github.com/alignhost/alignhost/pluginapi"
)

type noop struct{}

func (noop) Describe() pluginapi.Description {
	return pluginapi.Description{Name: "noop", Version: "1.0.0", Description: "Returns the judge unchanged."}
}

func (noop) Align(_ context.Context, _ pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
	return &pluginapi.AlignResponse{Judge: req.Judge, Report: pluginapi.Report{
		Summary: "judge unchanged", Counts: map[string]int{"examples_seen": len(req.Examples)},
	}}, nil
}

// A reactor module never runs main: register during package initialisation.
var _ = pluginapi.Register(noop{})

func main() {}
