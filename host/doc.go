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
// Every call runs under [Limits]: linear memory, wall time, model calls,
// tokens and message size. A limit ends the call with a *[LimitError] that
// names the plugin and the limit ("plugin fewshot: align: wall time limit of
// 15m0s exceeded"); other failures are an *[Error] whose [Kind] says whether
// the module broke the ABI, crashed, reported a failure or returned an
// invalid judge. Either way the host and every other instance carry on.
//
// # Trust and the wall-time guard
//
// WebAssembly offers no way to stop guest code that never calls the host,
// except compiling it with interrupt checks (wazero's
// WithCloseOnContextDone). Those checks are costly for Go guests: measured
// on this project's optimizers (medians on a 2-core machine), the noop
// optimizer's align with 1,000 examples takes 5× as long with them (122 ms
// against 24 ms; natively 2.7 ms), the fewshot optimizer over 300 examples
// 4.2× (244 ms against 58 ms), a host call 1.5× (121 ns against 78 ns).
// Waiting on a model is not slowed. So there are two trust levels:
//
//   - untrusted, the default: compiled with the checks, so the wall-time
//     limit stops any guest, even one spinning in a loop, within
//     milliseconds;
//   - trusted ([Manifest.Trusted], which requires [Manifest.SHA256]): for
//     the optimizers alignhost ships, pinned by hash. Compiled without the
//     checks; the wall-time limit still ends every wait inside a capability,
//     and Align returns to its caller at the limit whatever the guest does,
//     but a trusted guest that spins keeps a thread busy until it returns.
//
// # Native runs
//
// [Host.LoadNative] runs a pluginapi.Optimizer in-process through the same
// request and response types, the same JSON encoding, the same capability
// rules and the same limits, so one optimizer's code is tested natively and
// shipped as WebAssembly, and both give the same judge.
package host
