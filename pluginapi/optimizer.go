package pluginapi

import (
	"context"
	"sync"
)

// Optimizer aligns judges. It is what a plugin implements.
type Optimizer interface {
	// Describe says what the optimizer is, which configuration it accepts
	// and which capabilities it uses. It must depend on nothing but the
	// optimizer itself: the host calls it once, when it loads the module.
	Describe() Description
	// Align returns a new judge for the request. h lends the host's
	// capabilities for the duration of the call. An error is reported to
	// the user as the optimizer's failure.
	//
	// In WebAssembly ctx is never cancelled: the host enforces its limits
	// itself. Natively it carries the run's deadline.
	Align(ctx context.Context, h Host, req *AlignRequest) (*AlignResponse, error)
}

// Host is what the host lends an optimizer during Align: typed wrappers
// for every capability of the ABI. In WebAssembly each method is one
// import call; natively (Host.LoadNative of package host) the same rules
// apply in-process.
//
// Chat, Embed and Evaluate return a *Error when the host refuses the request
// as a whole (CodeNotDeclared, CodeUnknownModel, …). Hitting a limit
// (model calls, tokens, wall time) ends the Align call and the host reports
// the limit: in WebAssembly the call simply does not return; natively it
// returns the limit error and cancels Align's context, and whatever Align
// returns afterwards is ignored.
type Host interface {
	// Chat sends the requests to their models in parallel and returns one
	// result per request, in order. A request that failed has its Error
	// set; the others stand.
	Chat(ctx context.Context, reqs []ChatRequest) ([]ChatResult, error)
	// Embed returns one vector per input, in order.
	Embed(ctx context.Context, req EmbedRequest) (*EmbedResponse, error)
	// Evaluate runs a candidate judge on examples through the host's judge
	// path and returns one judgement per example, in order.
	Evaluate(ctx context.Context, req EvaluateRequest) (*EvaluateResponse, error)
	// Log writes a message to the host's log with the plugin's name.
	Log(level Level, msg string)
	// Progress reports that done of total steps are finished (total 0:
	// unknown).
	Progress(done, total int, msg string)
}

// registry holds the optimizer a module registered. A module's exports are
// plain functions without a receiver, so in WebAssembly the registered
// optimizer has to live in a package variable; it is written once, by
// package initialisation, before any export is called.
var registry struct {
	mu        sync.Mutex
	optimizer Optimizer
}

// Register makes o the optimizer this module exports and returns true, so
// it can be called from a package-level variable initialiser:
//
//	var _ = pluginapi.Register(myOptimizer{})
//
// A reactor module (-buildmode=c-shared) runs package initialisers in its
// _initialize export and never runs main, so registration must happen
// during initialisation. Registering twice panics: a module exports one
// optimizer.
func Register(o Optimizer) bool {
	if o == nil {
		panic("pluginapi.Register: nil optimizer")
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.optimizer != nil {
		panic("pluginapi.Register: an optimizer is already registered; a module exports one")
	}
	registry.optimizer = o
	return true
}

// Registered returns the optimizer given to [Register], or nil. A native
// test of a plugin's main package uses it to run the same optimizer through
// Host.LoadNative of package host.
func Registered() Optimizer {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return registry.optimizer
}
