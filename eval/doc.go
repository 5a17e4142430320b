// Package eval runs LLM judges over traces and keeps what they say: the
// engine behind `alignhost eval`, usable on its own by a Go service.
//
// # Model
//
// An [Evaluator] asks a judge's model for one judgement per trace through
// an llm.Client, which retries, paces, caches and records the calls. One
// judgement ([Evaluator.Evaluate]) goes:
//
//  1. The judge's input fields are taken from the trace, for the template
//     variables its instructions use: {{ inputs }} and {{ outputs }} are the
//     root span's raw inputs and outputs, {{ expectations }} the trace's
//     expectations, {{ trace }} the trace rendered as text. A field the
//     trace lacks makes an error feedback (MISSING_INPUT, "missing
//     outputs") without calling the model.
//  2. judge.Judge.Request builds the messages and the answer's JSON schema,
//     sent as structured output.
//  3. judge.Judge.ParseAnswer reads the answer. A malformed answer, or one
//     outside the judge's value set, gets one repair attempt: the answer is
//     sent back with what is wrong with it, asking for the JSON again,
//     bypassing the cache. If that fails too, or the model cannot be
//     reached, the failure becomes the feedback's error (see the Code
//     constants) and the batch goes on.
//
// The result is a trace.Assessment in MLflow's shape: a feedback named
// after the judge, with source LLM_JUDGE and source_id the model URI, the
// value as JSON, the rationale, and metadata naming the judge version and
// fingerprint ([MetaJudgeVersion], [MetaJudgeFingerprint], [MetaModel]), so
// that every score says which judge version gave it.
//
// # Runs
//
// [Evaluator.Run] judges a stream of traces with N workers and writes each
// feedback to the store as soon as it is made, in small batches, so a crash
// keeps everything finished. It is resumable: a trace that already has a
// feedback from the same judge version and fingerprint is skipped unless
// RunSpec.Force is set; a failed judgement is not a judgement and is tried
// again. Cancelling the context (Ctrl-C) stops handing out traces; requests
// in flight get a grace period ([WithGracePeriod]) to finish and what
// finishes is stored. A run is recorded in the store's eval_runs table with
// its counts, token usage and estimated cost.
//
// Runs of the same judge version in several processes share the work: a
// run claims each trace in the store (store.Store.ClaimTraces) before it
// asks the model, under a lease (RunSpec.Lease) that its heartbeat renews,
// and skips traces another live run has claimed, counting them as Held. A
// process killed with -9 stops renewing; its claims expire and a later run
// takes them, so a kill costs at most the calls in flight. The run's record
// carries its owner and heartbeat, so that store.EvalRun.StateAt shows a
// run whose process is gone as interrupted; [Evaluator.Resume] says what a
// run would pick up.
//
// Feedback the store refuses (another writer holds the lock past the
// store's lock timeout, the disk is full) is kept and retried while the
// run goes on, for up to RunSpec.StoreRetry; what is still refused then is
// counted in RunSummary.Unstored and the run fails. A trace the store
// cannot decode is counted as failed ([CodeCorruptTrace]) and the run goes
// on.
//
// A judgement of a judge version on a trace has a stable assessment ID, so
// re-judging it (RunSpec.Force, or after an error) replaces the earlier
// feedback of that version instead of piling up. Judge feedback never
// supersedes or overrides HUMAN feedback.
//
// Nothing is paid for twice: with the store's response cache
// (store.Store.ResponseCache) on the client, a re-run, a resumed run or a
// forced re-judgement is answered from the cache; [WithNoCache] asks the
// model afresh (and refreshes the cache).
//
// # Aligned judges
//
// A judge whose memory holds examples shows the most similar ones with each
// judgement. Choosing them is the job of an [ExampleRetriever], which the
// alignment packages provide; without one, such a judge is refused with
// [ErrNoRetriever] rather than judged without its examples. Memory
// guidelines need nothing: they are part of the judge's prompt.
package eval
