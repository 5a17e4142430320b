// Package host runs alignment optimizers: WebAssembly plugins, sandboxed
// with wazero, and the same optimizers in-process for tests and
// benchmarks.
//
// # Model
//
// An optimizer plugin is a WebAssembly module that implements the plugin ABI
// (docs/abi.md; the Go side of the contract is package pluginapi). A [Host]
// loads modules and lends them capabilities; a [Plugin] is one loaded
// module; an align call runs on an instance of it:
//
//	h, err := host.New(ctx, host.NewConfig().
//		WithLogger(logger).
//		WithModels(client,
//			host.Role{Name: "reflection", Kind: pluginapi.ChatModel, Model: "openai:/gpt-4.1"},
//			host.Role{Name: "embedding", Kind: pluginapi.EmbedModel, Model: "openai:/text-embedding-3-small", Dimensions: 512}).
//		WithEvaluator(evaluator))
//	defer h.Close(ctx)
//	p, err := h.LoadFile(ctx, "fewshot.wasm", host.Manifest{})
//	examples, skipped, err := trace.Examples(j, traces)
//	res, err := p.Align(ctx, host.Input{Judge: j, Examples: examples, Skipped: skipped})
//	// res.Judge is validated and carries its provenance.
//
// The host extracts the labelled examples from the traces once, natively
// (package trace); the plugin decides and returns a judge, which the host
// validates ([ValidateJudge]) before anyone uses it: same name, same value
// type, same model unless the caller allows another, a valid template, sane
// sizes.
//
// # Compilation and instances
//
// [Host.Load] compiles a module once and keeps the machine code in an
// on-disk cache (alignhost/wasm under the user's cache directory, mode
// 0700), so a later process loads a 4 MB Go module in about 70 ms instead of
// compiling it again for about a second. Each concurrent Align gets its own
// instance from a pool ([Limits.Instances] at a time). An instance is
// discarded after any error — a trapped Go guest is not safe to call again —
// and replaced after [Pool.MaxUses] calls or once its memory has grown past
// [Pool.RecyclePages], because a Go guest's heap never shrinks.
//
// # Sandbox and limits
//
// A plugin gets no files, network, environment or real clock unless its
// [Manifest] grants them ([Grants]); its randomness is a deterministic stream
// seeded by [Manifest.Seed]; its stdout and stderr go to the log, with the
// plugin's name, so a Go panic reaches the user. It names models by role and
// never sees a URI, an endpoint or a credential: the host maps roles to
// models ([Role]) and words model failures without them.
//
// Every call runs under [Limits]: linear memory, wall time, fuel, model
// calls, tokens and message size. A limit ends the call with a
// *[LimitError] that names the plugin and the limit ("plugin fewshot:
// align: wall time limit of 15m0s exceeded"); other failures are an
// *[Error] whose [Kind] says whether the module broke the ABI, crashed,
// reported a failure or returned an invalid judge. Either way the host and
// every other instance carry on.
//
// # Metering and trust
//
// WebAssembly offers no way to stop guest code that never calls the host.
// wazero's interrupt checks (WithCloseOnContextDone) do it at 3.7–5× the
// CPU for Go guests, so the host meters every module instead (package
// host/internal/meter, described in docs/abi.md): at load it adds a fuel
// counter, exported as alignhost_fuel, and charges it at every function
// entry and loop header the instructions that follow, trapping when it
// goes below zero (and leaving native code every 2^24 fuel, so that a
// spinning guest cannot hold up the garbage collector). Each align gets [Limits.Fuel] (start-up and describe
// their own); the fuel used is [Usage.Fuel] in the result, the same for
// the same input on any machine. At the wall-time limit the host zeroes
// the counter from its side, so a spinning guest traps at its next
// function entry or loop header and the call ends with the wall-time
// limit; out of fuel it ends with [LimitFuel]. Waits inside a capability
// are cut by the call's context as before.
//
// Every module is metered, so every module is stoppable and Host.Close
// never waits on a spinning guest. [Manifest.Trusted] means only that the
// module's bytes are pinned by [Manifest.SHA256]; it changes nothing in
// how the module runs. The cost, measured by BenchmarkGuard (CPU per align
// against the same module with no guard at all, medians, on a shared 2-core
// machine whose figures move between runs): the meter 1.0–1.2× on noop,
// fewshot and MemAlign (100 and 1,000 examples), against 2.4–4.2× for the
// interrupt checks; docs/abi.md has the table.
//
// # Compile limits
//
// Compiling is not covered by the sandbox, and wazero's compiler is about
// linear in a function's instructions and quadratic in its nesting. So
// before compiling, [Host.Load] decodes the module and checks it against
// [CompileLimits] (module size, function count, function body size and
// instructions, nesting depth, locals; see [DefaultCompileLimits]),
// refusing one past a limit with a *LimitError naming the limit, the value
// and the function; then it compiles under CompileLimits.CompileTime.
// [Host.Inspect] reads the same structure without compiling.
//
// # Native runs
//
// [Host.LoadNative] runs a pluginapi.Optimizer in-process through the same
// request and response types, the same JSON encoding, the same capability
// rules and the same limits, so one optimizer's code is tested natively and
// shipped as WebAssembly, and both give the same judge.
package host
