// Package pluginapi is the contract between alignhost and its optimizer
// plugins, and the SDK for writing those plugins in Go.
//
// # Model
//
// An optimizer takes a judge and the examples people labelled, and returns a
// better judge. It runs as a WebAssembly module inside alignhost's sandbox
// (package host), which hands it one [AlignRequest] per alignment and takes
// back one [AlignResponse]. While it works it may use the host's
// capabilities through [Host]: chat with a model, embed texts, evaluate a
// candidate judge on examples through the production judge path, log and
// report progress. It never sees credentials, endpoints or files: models are
// named by role ("reflection", "embedding"), and the host decides what a role
// means.
//
// The wire format is specified in docs/abi.md (ABI version [ABIVersion]):
// exports and imports with exact signatures, memory ownership, the JSON of
// every message, errors and limits. This package holds that contract in Go:
// the constants (export and import names, error codes, limits) and the
// message types, which the host uses too.
//
// # Writing an optimizer
//
// Implement [Optimizer] and register it from a package-level variable:
//
//	type noop struct{}
//
//	func (noop) Describe() pluginapi.Description {
//		return pluginapi.Description{Name: "noop", Version: "1.0.0"}
//	}
//
//	func (noop) Align(_ context.Context, _ pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
//		return &pluginapi.AlignResponse{Judge: req.Judge}, nil
//	}
//
//	var _ = pluginapi.Register(noop{})
//
//	func main() {}
//
// and build it with the standard toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o noop.wasm .
//
// -buildmode=c-shared makes a reactor module: its _initialize export runs
// the Go runtime's start-up and every package initialiser, and main never
// runs. That is why [Register] is called from a variable initialiser (or an
// init function) rather than from main. Built for wasip1, this package
// provides the module's exports (alignhost_alloc, alignhost_align, …) and
// implements [Host] with the host's imports; built for anything else, it is
// the plain Go contract, and the same optimizer runs natively through
// Host.LoadNative of package host, for tests and benchmarks.
//
// # Dependencies
//
// This package is compiled into every Go optimizer: it depends on the
// standard library and package judge only.
package pluginapi
