package host

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/alignhost/alignhost/host/internal/meter"
)

// Errors a caller may branch on with errors.Is.
var (
	// ErrClosed: the host or the plugin was closed.
	ErrClosed = errors.New("closed")
	// ErrABIVersion: the module was built for another version of the plugin
	// ABI. It is wrapped in an *Error of kind ABIViolation.
	ErrABIVersion = errors.New("unsupported plugin ABI version")
)

// Limit names a limit of a plugin.
type Limit string

// The limits; see [Limits].
const (
	LimitMemory      Limit = "memory"
	LimitWallTime    Limit = "wall time"
	LimitModelCalls  Limit = "model calls"
	LimitTokens      Limit = "tokens"
	LimitMessageSize Limit = "message size"
	// LimitFuel: the call ran out of fuel (Limits.Fuel).
	LimitFuel Limit = "fuel"

	// The compile limits (CompileLimits), met at load or inspect.
	LimitModuleSize           Limit = Limit(meter.LimitModuleBytes)
	LimitFunctions            Limit = Limit(meter.LimitFunctions)
	LimitFunctionSize         Limit = Limit(meter.LimitBodyBytes)
	LimitFunctionInstructions Limit = Limit(meter.LimitInstructions)
	LimitNesting              Limit = Limit(meter.LimitNesting)
	LimitFunctionLocals       Limit = Limit(meter.LimitLocals)
	LimitCompileTime          Limit = "compile time"
)

// LimitError reports that a plugin hit one of its limits. The call that hit
// it ended; the host and every other instance are unaffected.
type LimitError struct {
	// Plugin names the plugin.
	Plugin string
	// Op is what was running: "load", "describe" or "align".
	Op string
	// Limit is the limit that was hit.
	Limit Limit
	// Value is the limit's value, readable: "2s", "64 MiB", "1000".
	Value string
	// Detail says what exceeded it, when the host knows: "function 12
	// reaches 2049" for a compile limit.
	Detail string
}

func (e *LimitError) Error() string {
	msg := fmt.Sprintf("plugin %s: %s: %s limit of %s exceeded", e.Plugin, e.Op, e.Limit, e.Value)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is reports a wall-time limit as context.DeadlineExceeded too.
func (e *LimitError) Is(target error) bool {
	return e.Limit == LimitWallTime && target == context.DeadlineExceeded
}

// Kind classifies an *Error.
type Kind int

// The kinds of plugin failure.
const (
	// InvalidInput: the caller's input was refused before the plugin ran
	// (an invalid judge, too few examples, an unknown configuration key).
	InvalidInput Kind = iota + 1
	// ABIViolation: the module breaks the ABI (docs/abi.md): a missing or
	// mistyped export, an unsupported ABI version ([ErrABIVersion]), a
	// pointer outside its memory, a malformed message.
	ABIViolation
	// Crash: the guest trapped or its runtime aborted (a panic, a deadlock,
	// a stack overflow) or it exited.
	Crash
	// OptimizerFailed: the optimizer returned an error.
	OptimizerFailed
	// InvalidJudge: the optimizer returned a judge that fails validation.
	InvalidJudge
)

func (k Kind) String() string {
	switch k {
	case InvalidInput:
		return "invalid input"
	case ABIViolation:
		return "ABI violation"
	case Crash:
		return "crash"
	case OptimizerFailed:
		return "optimizer failed"
	case InvalidJudge:
		return "invalid judge"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error reports a plugin that failed other than by hitting a limit. Its
// message is one line: "plugin fewshot: align: need at least 2 examples".
type Error struct {
	// Plugin names the plugin.
	Plugin string
	// Op is what was running: "load", "describe" or "align".
	Op string
	// Kind classifies the failure.
	Kind Kind
	// Message says what happened, one line.
	Message string
	// Err is the cause, when there is one: a *pluginapi.Error the optimizer
	// returned, ErrABIVersion, the validation error of a judge, …
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("plugin %s: %s: %s", e.Plugin, e.Op, oneLine(e.Message))
}

func (e *Error) Unwrap() error { return e.Err }

// oneLine folds s onto one line of at most 500 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		cut := 497
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// abort is what a host function panics with to end a guest call: wazero
// unwinds the guest and returns the panic as the call's error. The call
// state keeps the cause, which takes precedence over wazero's wrapping.
type abort struct{ err error }

func (a abort) Error() string { return a.err.Error() }
func (a abort) Unwrap() error { return a.err }
