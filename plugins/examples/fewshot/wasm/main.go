// Command wasm is the fewshot optimizer as a WebAssembly plugin:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o fewshot.wasm ./plugins/examples/fewshot/wasm
package main

import (
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/examples/fewshot"
)

// A reactor module never runs main: register during package initialisation.
var _ = pluginapi.Register(fewshot.Optimizer{})

func main() {}
