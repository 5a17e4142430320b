package host

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alignhost/alignhost/host/internal/meter"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/trace"
)

// Config configures a [Host]. It is immutable: each With method returns a
// changed copy, and nothing is validated until [New].
//
//	cfg := host.NewConfig().
//		WithLogger(logger).
//		WithModels(client,
//			host.Role{Name: "reflection", Kind: pluginapi.ChatModel, Model: "openai:/gpt-4.1"},
//			host.Role{Name: "embedding", Kind: pluginapi.EmbedModel, Model: "openai:/text-embedding-3-small", Dimensions: 512})
type Config struct {
	cacheDir     string
	cacheDirSet  bool
	logger       *slog.Logger
	models       ModelClient
	roles        []Role
	evaluator    Evaluator
	compileProcs int
	compile      CompileLimits
	noCache      bool
	// guard is guardMeter outside the guard-cost benchmark.
	guard guard
}

// guard is how the host keeps a module to its wall time. Only the meter is
// offered; the others are there to measure it against (export_test.go).
type guard int

const (
	guardMeter      guard = iota // the meter (fuel, zeroed at the deadline)
	guardNone                    // nothing: a spinning module cannot be stopped
	guardInterrupts              // wazero's WithCloseOnContextDone
)

// NewConfig returns the default configuration: compiled modules cached on
// disk in the user's cache directory, no logger, no models and no
// evaluator (plugins that use those capabilities are answered
// CodeUnavailable).
func NewConfig() Config { return Config{} }

// WithCacheDir sets the directory of the on-disk compilation cache. The
// default is alignhost/wasm under os.UserCacheDir; "" keeps compiled code
// in memory only. The directory is created private (0700), and an existing
// one is made private: it holds machine code the host will run.
func (c Config) WithCacheDir(dir string) Config {
	c.cacheDir, c.cacheDirSet = dir, true
	return c
}

// WithLogger sets the logger for plugin logs, captured guest output and
// the host's own messages. Nil discards.
func (c Config) WithLogger(l *slog.Logger) Config {
	c.logger = l
	return c
}

// WithModels sets the client that answers the chat and embed capabilities
// and the roles a plugin may name. A plugin sees each role's Name, Kind and
// Dimensions, never its Model.
func (c Config) WithModels(client ModelClient, roles ...Role) Config {
	c.models = client
	c.roles = append([]Role(nil), roles...)
	return c
}

// WithNoCache makes every chat and embed request of a plugin skip the
// model client's response cache (fresh answers still refresh it), as
// `alignhost align --no-cache` asks.
func (c Config) WithNoCache() Config {
	c.noCache = true
	return c
}

// WithEvaluator sets what answers the evaluate capability.
func (c Config) WithEvaluator(e Evaluator) Config {
	c.evaluator = e
	return c
}

// WithCompilationWorkers sets how many goroutines compile one module; 0
// (the default) means GOMAXPROCS.
func (c Config) WithCompilationWorkers(n int) Config {
	c.compileProcs = n
	return c
}

// WithCompileLimits sets what the host agrees to compile; zero fields take
// their defaults ([DefaultCompileLimits]).
func (c Config) WithCompileLimits(l CompileLimits) Config {
	c.compile = l
	return c
}

// CompileLimits bound what the host compiles. They are checked on the
// module's bytes before anything is compiled (a module past one is refused
// with a *LimitError naming the limit, its value and the function), then
// compilation runs under CompileTime. A zero field takes its default.
//
// Compiling is about linear in a function's instructions and quadratic in
// its nesting, and the compiler's memory follows the largest function
// times the compilation workers: these limits are what bounds a compile's
// time and memory; the host has no other hold on the compiler's memory.
type CompileLimits struct {
	// ModuleBytes bounds the module's size (default 64 MiB).
	ModuleBytes int `json:"module_bytes,omitempty"`
	// Functions bounds the functions the module defines (default 100,000).
	Functions int `json:"functions,omitempty"`
	// FunctionBytes bounds one function body (default 1 MiB).
	FunctionBytes int `json:"function_bytes,omitempty"`
	// FunctionInstructions bounds one function's instructions (default
	// 200,000).
	FunctionInstructions int `json:"function_instructions,omitempty"`
	// Nesting bounds the depth of blocks, loops and ifs in one function
	// (default 2,048).
	Nesting int `json:"nesting,omitempty"`
	// FunctionLocals bounds one function's declared locals (default
	// 50,000).
	FunctionLocals int `json:"function_locals,omitempty"`
	// CompileTime bounds the compilation (default 2 minutes). wazero checks
	// for it only between functions, so the host returns at the deadline
	// and leaves the compile to end on its own.
	CompileTime time.Duration `json:"compile_time,omitempty"`
}

// DefaultCompileLimits returns the limits a zero CompileLimits stands for.
// The bundled MemAlign (a 4.7 MB Go guest: 2,733 functions, at most 50,636
// bytes, 22,772 instructions and 550 levels of nesting in one) passes them
// with a factor of 3.7 (nesting) or more.
func DefaultCompileLimits() CompileLimits {
	d := meter.DefaultLimits()
	return CompileLimits{
		ModuleBytes:          d.ModuleBytes,
		Functions:            d.Functions,
		FunctionBytes:        d.BodyBytes,
		FunctionInstructions: d.Instructions,
		Nesting:              d.Nesting,
		FunctionLocals:       d.Locals,
		CompileTime:          2 * time.Minute,
	}
}

func (l CompileLimits) withDefaults() CompileLimits {
	if l.CompileTime <= 0 {
		l.CompileTime = DefaultCompileLimits().CompileTime
	}
	return l
}

// decodeLimits are the structural limits, for the decoder (which fills in
// the zeros).
func (l CompileLimits) decodeLimits() meter.Limits {
	return meter.Limits{
		ModuleBytes: l.ModuleBytes, Functions: l.Functions, BodyBytes: l.FunctionBytes,
		Instructions: l.FunctionInstructions, Nesting: l.Nesting, Locals: l.FunctionLocals,
	}
}

// ModelClient answers the chat and embed capabilities. *llm.Client
// implements it.
type ModelClient interface {
	Chat(ctx context.Context, req llm.ChatRequest) (*llm.ChatResponse, error)
	Embed(ctx context.Context, req llm.EmbedRequest) (*llm.EmbedResponse, error)
}

// Role is a model a plugin may call, by name.
type Role struct {
	// Name is what the plugin calls it: "reflection", "embedding", or a
	// name the user chose.
	Name string
	// Kind is ChatModel or EmbedModel.
	Kind pluginapi.ModelKind
	// Model is the model URI the host calls. The plugin never sees it.
	Model string
	// Dimensions is the default vector length of an embed model (0: the
	// model's own).
	Dimensions int
}

// Evaluator answers the evaluate capability: it runs a candidate judge on
// examples through the production judge path. It returns one judgement per
// example, in order, with Value and Rationale, or Error for an example
// that could not be judged; the host fills in TraceID and Agree. An error
// return fails the whole call.
type Evaluator interface {
	Evaluate(ctx context.Context, j *judge.Judge, examples []judge.Example) (*pluginapi.EvaluateResponse, error)
}

// EvaluatorFunc adapts a function to [Evaluator].
type EvaluatorFunc func(ctx context.Context, j *judge.Judge, examples []judge.Example) (*pluginapi.EvaluateResponse, error)

// Evaluate calls f.
func (f EvaluatorFunc) Evaluate(ctx context.Context, j *judge.Judge, examples []judge.Example) (*pluginapi.EvaluateResponse, error) {
	return f(ctx, j, examples)
}

// Manifest is everything the host needs to know about a plugin besides its
// code: the limits it runs under, what it is granted, and the SHA-256 it
// must have. It is plain data, so it can live in a configuration file; the
// zero value is valid and means the defaults.
type Manifest struct {
	// Name labels the plugin in messages until its describe names it,
	// typically the file name.
	Name string `json:"name,omitempty"`
	// SHA256 is the expected hex SHA-256 of the module; empty accepts any.
	// Loading a module with another hash fails.
	SHA256 string `json:"sha256,omitempty"`
	// Trusted marks a module whose bytes are pinned by SHA256, which it
	// requires. It changes nothing in how the module runs: every module is
	// metered and stopped at its limits alike (see the package
	// documentation).
	Trusted bool `json:"trusted,omitempty"`
	// Limits bound every call.
	Limits Limits `json:"limits"`
	// Grants open parts of the sandbox.
	Grants Grants `json:"grants"`
	// Pool says when instances are replaced.
	Pool Pool `json:"pool"`
	// Seed seeds the WASI random source of every instance.
	Seed int64 `json:"seed,omitempty"`
}

// Limits bound a plugin. A zero field takes its default; see
// [DefaultLimits].
type Limits struct {
	// MemoryPages caps each instance's linear memory, in 64 KiB pages.
	MemoryPages uint32 `json:"memory_pages,omitempty"`
	// WallTimeMS bounds one align call, imports included, in milliseconds.
	WallTimeMS int64 `json:"wall_time_ms,omitempty"`
	// ModelCalls bounds the model calls of one align: each chat request,
	// each embed call and each evaluated example counts one.
	ModelCalls int `json:"model_calls,omitempty"`
	// Tokens bounds the prompt plus completion tokens of one align.
	Tokens int64 `json:"tokens,omitempty"`
	// MessageBytes bounds every message crossing the boundary, either way.
	MessageBytes int `json:"message_bytes,omitempty"`
	// Instances bounds the concurrent aligns of the plugin; more wait.
	Instances int `json:"instances,omitempty"`
	// Fuel bounds the instructions one call runs, as the meter charges
	// them (see the package documentation): the same input uses the same
	// fuel on any machine. It applies to one align (every export it calls)
	// and separately to start-up and to describe.
	Fuel int64 `json:"fuel,omitempty"`
}

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits {
	return Limits{
		MemoryPages:  4096, // 256 MiB
		WallTimeMS:   int64(15 * time.Minute / time.Millisecond),
		ModelCalls:   1000,
		Tokens:       2_000_000,
		MessageBytes: 16 << 20,
		Instances:    4,
		// 10^15: Go guests are charged 10^10 to 10^11 a CPU second (each
		// entry to a Go function is charged its whole body), so the wall
		// time comes first.
		Fuel: 1_000_000_000_000_000,
	}
}

// WithDefaults returns l with each zero field set to its default
// ([DefaultLimits]): the limits a plugin loaded with l runs under.
func (l Limits) WithDefaults() Limits { return l.withDefaults() }

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MemoryPages == 0 {
		l.MemoryPages = d.MemoryPages
	}
	if l.WallTimeMS == 0 {
		l.WallTimeMS = d.WallTimeMS
	}
	if l.ModelCalls == 0 {
		l.ModelCalls = d.ModelCalls
	}
	if l.Tokens == 0 {
		l.Tokens = d.Tokens
	}
	if l.MessageBytes == 0 {
		l.MessageBytes = d.MessageBytes
	}
	if l.Instances == 0 {
		l.Instances = d.Instances
	}
	if l.Fuel == 0 {
		l.Fuel = d.Fuel
	}
	return l
}

func (l Limits) validate() error {
	switch {
	case l.MemoryPages > 65536:
		return fmt.Errorf("memory_pages %d is more than 65536 (4 GiB), the most a 32-bit memory has", l.MemoryPages)
	case l.WallTimeMS < 0, l.ModelCalls < 0, l.Tokens < 0, l.MessageBytes < 0, l.Instances < 0, l.Fuel < 0:
		return fmt.Errorf("limits must not be negative")
	case l.MessageBytes > 1<<30:
		return fmt.Errorf("message_bytes %d is more than 1 GiB", l.MessageBytes)
	}
	return nil
}

func (l Limits) wallTime() time.Duration { return time.Duration(l.WallTimeMS) * time.Millisecond }

// Grants open parts of the sandbox to a plugin. The zero value grants
// nothing: no environment, no files, fake clocks.
type Grants struct {
	// Clock gives the real wall and monotonic clocks and real sleep. Without
	// it the clocks are fake (they start at 2022-01-01 and advance 1 ms per
	// read) and sleeps return at once.
	Clock bool `json:"clock,omitempty"`
	// Env is the environment the plugin sees, name to value.
	Env map[string]string `json:"env,omitempty"`
	// Dirs mounts host directories read-only, guest path to host path.
	Dirs map[string]string `json:"dirs,omitempty"`
}

// Pool says when an instance is replaced by a fresh one. Instances are
// always replaced after an error. A zero field takes its default.
type Pool struct {
	// MaxUses is how many aligns an instance serves (default 16).
	MaxUses int `json:"max_uses,omitempty"`
	// RecyclePages replaces an instance whose memory has grown past this
	// many pages (default 1024, 64 MiB): a Go guest's heap never shrinks.
	RecyclePages uint32 `json:"recycle_pages,omitempty"`
}

func (p Pool) withDefaults() Pool {
	if p.MaxUses <= 0 {
		p.MaxUses = 16
	}
	if p.RecyclePages == 0 {
		p.RecyclePages = 1024
	}
	return p
}

// Input is one alignment to run.
type Input struct {
	// Judge is the judge to align.
	Judge *judge.Judge
	// Examples are the labelled examples (trace.Examples extracts them).
	Examples []judge.Example
	// Skipped are the traces that gave no example, with the reason.
	Skipped []trace.Skip
	// Traces are sent, in MLflow's JSON, only to a plugin whose Description
	// asks for them.
	Traces []*trace.Trace
	// Config is the user's configuration for the plugin. Keys the plugin
	// does not describe, and values of the wrong type, are refused.
	Config map[string]any
	// JudgeModels are model URIs the aligned judge may use instead of its
	// own; usually none.
	JudgeModels []string
	// JudgeParams are the inference parameters the aligned judge may
	// change (an allow-list, [align] allowed_inference_params in
	// alignhost.toml); usually none.
	JudgeParams []string
	// Seed seeds the optimizer's randomness (masked to 53 bits).
	Seed int64
	// Progress, when set, receives the plugin's progress reports.
	Progress func(Progress)
}

// Progress is one progress report of a plugin.
type Progress struct {
	Plugin  string
	Done    int
	Total   int
	Message string
}

// Result is the outcome of one alignment.
type Result struct {
	// Judge is the aligned judge, validated, with Provenance set.
	Judge *judge.Judge
	// Report is the optimizer's account, trimmed to sane sizes.
	Report pluginapi.Report
	// Usage is what the plugin spent.
	Usage Usage
	// Duration is the wall time of the call.
	Duration time.Duration
}

// Usage counts what a plugin spent in one align.
type Usage struct {
	// ModelCalls counts chat requests, embed calls and evaluated examples.
	ModelCalls int
	// PromptTokens and CompletionTokens are what the models billed.
	PromptTokens     int64
	CompletionTokens int64
	// Fuel is what the guest was charged by the meter (instructions, as
	// counted in docs/abi.md); 0 for a native optimizer.
	Fuel int64
}

// Runner runs an optimizer: a WebAssembly [Plugin] or an in-process
// [Native] optimizer, through the same types and rules.
type Runner interface {
	// Description is what the optimizer said about itself.
	Description() pluginapi.Description
	// Align runs one alignment.
	Align(ctx context.Context, in Input) (*Result, error)
}
