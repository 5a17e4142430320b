// Command memalign-wasm is MemAlign as a WebAssembly optimizer plugin, the
// module alignhost embeds as its default optimizer:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o memalign.wasm ./plugins/memalign/cmd/memalign-wasm
//
// The logic is package memalign; this package only registers it.
package main

import (
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/memalign"
)

// A reactor module never runs main: register during package initialisation.
var _ = pluginapi.Register(memalign.Optimizer{})

func main() {}
