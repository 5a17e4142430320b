// Package memalign is MemAlign, alignhost's default optimizer: MLflow's
// memory-based judge alignment, written against package pluginapi so that
// the same code runs natively (tests, benchmarks) and as the WebAssembly
// module alignhost embeds (cmd/memalign-wasm).
//
// # Model
//
// MemAlign never rewrites a judge's instructions. It gives the judge two
// memories, both kept in judge.Memory:
//
//   - Semantic memory: guidelines, short sentences distilled by a
//     reflection model from the human values and rationales, each with the
//     trace IDs it was drawn from. The host appends every guideline to the
//     instructions at judgement time (judge.Judge.Request).
//   - Episodic memory: every labelled example, self-contained (its input
//     fields as text, expectations, the human value and rationale, the
//     trace ID and feedback time) with the embedding of its query field
//     (judge.Judge.QueryVariable: the first of inputs, outputs,
//     expectations and trace the judge uses). At judgement time the host
//     embeds the new query in the same space and shows the model the
//     Retrieval.K most similar examples.
//
// # Algorithm
//
// One alignment, for the request's examples:
//
//  1. Refuse a session-level judge ({{ conversation }}), as MLflow does.
//     Keep the examples with a trace ID and a value that fits the judge's
//     value type (normalised); for a trace given twice, the most recent
//     feedback. None left is an error that says what was looked for and why
//     traces were skipped.
//  2. Compare each example with the judge's memory by its feedback
//     fingerprint (trace ID, value, rationale, feedback time;
//     judge.Example.FeedbackFingerprint). Unchanged examples are skipped:
//     no distillation, no embedding. A changed example first forgets its
//     old self (judge.Memory.Forget, as unalignment does: its guideline
//     sources go, and a guideline whose sources are all gone is dropped),
//     then is learnt like a new one.
//  3. Distil (unless disable_semantic_memory). The new and changed
//     examples are packed greedily, in order, into batches of at most
//     batch_size records whose prompt stays within max_input_tokens − 5000
//     tokens (a token is counted as 4 bytes); a record too large for any
//     batch gets one of its own. Each batch is one prompt: the judge's
//     instructions, the existing guidelines (the same snapshot for every
//     batch, so that new guidelines complement them), and each example as a
//     JSON line {id, inputs, outputs, expectations, trace, result,
//     rationale}. The answer is {"guidelines": [{"guideline_text",
//     "source_trace_ids"}]}, asked for with a strict JSON schema and parsed
//     leniently (fences, prose, alternative keys). A cited id may be the
//     record's integer id, a numeric string or a literal trace ID of the
//     batch; unknown ids are dropped, and so is a guideline left without
//     one. The prompts go to the host in as few chat calls as possible, at
//     most parallelism prompts a call, answered in parallel by the host:
//     ⌈N/batch_size⌉ prompts in ⌈batches/parallelism⌉ calls for N examples
//     of ordinary size.
//  4. Merge. A proposed guideline whose text equals, or after normalising
//     (case, punctuation, spacing) matches, an existing guideline or an
//     earlier proposal is merged into it: its source trace IDs are added
//     (never to a guideline written by a person, which keeps no sources so
//     that unalignment never removes it). The others are embedded with the
//     existing guidelines, and one whose cosine similarity to an existing
//     or earlier accepted guideline is at least dedup_similarity is merged
//     into the most similar. With max_guidelines set, the guidelines
//     written by people are kept and then the distilled ones learnt from
//     the most examples; a warning says how many were dropped.
//  5. Store the new and changed examples and embed what needs a vector
//     (below). Retrieval.K is retrieval_k; Retrieval.Embedder and
//     Dimensions name the space of every vector.
//
// Model calls: ⌈N/50⌉ distillation prompts for N new or changed examples
// (more only when examples are so large that 50 exceed the token budget),
// and ⌈T/200⌉ embed calls for T texts: the query texts of the examples
// that need a vector, plus, when there are new guidelines to check, the
// existing and proposed guideline texts, all in the same calls. Nothing
// else: MemAlign never calls the judge.
//
// # Embedding spaces
//
// Embeddings come from the embed model named by embedding_model (the
// "embedding" role, which the host maps to a model) with embedding_dim
// dimensions, in calls of at most 200 texts of at most 24 KiB. When that
// model is not offered, or any call fails, every vector of the judge is
// made by the built-in local embedder (vector.HashEmbedder, space
// "local:hash-v1@<dim>") and a warning says so: spaces are never mixed.
// The space of the newest alignment wins: a memory embedded by another
// model, or with other dimensions, is re-embedded in the new space (for the
// local embedder at no model cost). A memory in the local space is
// re-embedded by the model whenever the model is offered, so that a
// passing outage does not leave the judge in the weaker space for good.
// An example whose query text is blank is stored without a vector and is
// never retrieved.
//
// # Failures
//
// A batch whose chat request fails, or whose answer is not JSON of the
// expected shape, is reported in Report.Warnings with every trace ID it
// covered; its examples are neither distilled nor stored, so that aligning
// again learns them (they are new to the memory). When every batch fails,
// Align fails. An unavailable reflection model is an error before any call.
// Hitting a host limit ends the alignment with the limit's error.
//
// # Configuration
//
//	retrieval_k              5            examples retrieved per judgement
//	embedding_model          "embedding"  embed model (role)
//	embedding_dim            512          vector length (≥ 8)
//	reflection_model         "reflection" chat model (role) that distils
//	batch_size               50           records per distillation prompt
//	max_input_tokens         128000       prompt budget + 5000
//	parallelism              8            prompts per chat call
//	disable_semantic_memory  false        no guidelines
//	disable_episodic_memory  false        no retrieval (not both)
//	max_guidelines           0            cap (0: none)
//	dedup_similarity         0.92         cosine for near-duplicates (0: text only)
//	temperature              0            reflection sampling temperature
//
// # Differences from MLflow's MemAlign
//
//   - The base instructions are never modified; MLflow appended a
//     "Distilled Guidelines" block that accumulated on repeated alignment
//     (fixed there by PR #22834).
//   - Episodic memory is self-contained: the aligned judge keeps the
//     examples' text and vectors, instead of trace IDs to re-fetch, so it
//     survives the deletion of its traces, and only new or changed examples
//     are embedded (MLflow re-embeds the whole corpus on every alignment and
//     load).
//   - Near-duplicate guidelines (normalised text, embedding similarity) are
//     merged with their sources; MLflow only skips exact repeats. An
//     optional cap bounds the number of guidelines.
//   - A failed batch is reported with its trace IDs and its examples are
//     left for the next alignment; MLflow logs it and drops its guidelines
//     while storing its examples, so re-aligning never retries them.
//   - Examples are shown to the reflection model as real JSON (MLflow's
//     records are unescaped pseudo-JSON), with the value normalised to the
//     judge's value type rather than lower-cased text.
//   - Tokens are always estimated as bytes/4: there is no tokenizer in the
//     sandbox.
//   - Without an embedding model, retrieval still works through the local
//     embedder; the judge records which embedder made its vectors.
//   - Examples with a blank query text are kept without a vector (MLflow
//     drops them from episodic memory).
//   - disable_episodic_memory keeps the examples, without vectors, with
//     retrieval off (k = 0), so that incremental alignment and unalignment
//     still know them.
//   - The report counts everything (examples new, changed and unchanged,
//     guidelines added, merged, rejected, forgotten and dropped, batches,
//     calls, vectors) and is deterministic: the same model answers give
//     byte-identical judges.
package memalign
