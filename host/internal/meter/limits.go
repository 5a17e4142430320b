package meter

import "fmt"

// Limits bound what [Decode] accepts, so that compiling what it accepts is
// bounded too. A zero field takes its default; see [DefaultLimits].
type Limits struct {
	// ModuleBytes bounds the module's size.
	ModuleBytes int
	// Functions bounds the number of defined functions.
	Functions int
	// BodyBytes bounds one function body's size.
	BodyBytes int
	// Instructions bounds one function body's instructions: the compiler's
	// memory grows with the largest function.
	Instructions int
	// Nesting bounds the depth of blocks, loops and ifs in one function.
	Nesting int
	// Locals bounds one function's declared locals.
	Locals int
}

// DefaultLimits returns the limits a zero Limits stands for. The bundled
// MemAlign, a 4.7 MB Go guest, has 2,733 functions, at most 50,636 bytes
// and 22,772 instructions in one, nested at most 550 deep; the defaults
// leave it a factor of 3.7 (nesting) to 36 (functions).
func DefaultLimits() Limits {
	return Limits{
		ModuleBytes:  64 << 20,
		Functions:    100_000,
		BodyBytes:    1 << 20,
		Instructions: 200_000,
		Nesting:      2_048,
		Locals:       50_000,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.ModuleBytes <= 0 {
		l.ModuleBytes = d.ModuleBytes
	}
	if l.Functions <= 0 {
		l.Functions = d.Functions
	}
	if l.BodyBytes <= 0 {
		l.BodyBytes = d.BodyBytes
	}
	if l.Instructions <= 0 {
		l.Instructions = d.Instructions
	}
	if l.Nesting <= 0 {
		l.Nesting = d.Nesting
	}
	if l.Locals <= 0 {
		l.Locals = d.Locals
	}
	return l
}

// Limit names one of [Limits].
type Limit string

// The limits.
const (
	LimitModuleBytes  Limit = "module size"
	LimitFunctions    Limit = "function count"
	LimitBodyBytes    Limit = "function body size"
	LimitInstructions Limit = "function instructions"
	LimitNesting      Limit = "nesting depth"
	LimitLocals       Limit = "function locals"
)

// LimitError reports a module refused by a limit.
type LimitError struct {
	Limit Limit
	// Max is the limit; Value what the module has, or at least how far the
	// decoder got before it stopped.
	Max, Value int64
	// Function is the index of the function (imports counted) that
	// exceeds it, or -1 for a limit of the whole module.
	Function int
	// AtLeast: the decoder stopped counting at Value (instructions and
	// nesting are counted as the body is walked).
	AtLeast bool
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s limit of %d exceeded: %s", e.Limit, e.Max, e.Detail())
}

// Detail says what exceeded the limit: "function 12 has 9437184",
// "function 3 reaches 2049".
func (e *LimitError) Detail() string {
	what := "the module"
	if e.Function >= 0 {
		what = fmt.Sprintf("function %d", e.Function)
	}
	if e.AtLeast {
		return fmt.Sprintf("%s reaches %d", what, e.Value)
	}
	return fmt.Sprintf("%s has %d", what, e.Value)
}
