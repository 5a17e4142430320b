// Package judge describes LLM judges as declarative, serialisable values.
//
// A Judge is a name, natural-language instructions with template variables
// ({{ inputs }}, {{ outputs }}, {{ expectations }}, {{ trace }},
// {{ conversation }}), a model URI, the type of value it returns and inference
// parameters. Alignment adds memory to a judge (distilled guidelines and stored
// examples) and provenance (which optimizer made it, from how many traces).
//
// Everything needed to ask a model for one judgement — the system and user
// messages and the JSON schema of the {result, rationale} answer — is built
// here as pure code (see [Judge.Request]), so the evaluator on the host and the
// optimizers inside WebAssembly plugins share exactly one definition of what a
// judge asks.
//
// This package is compiled into every WebAssembly optimizer: it depends on the
// standard library only. Reading and writing judge files in TOML lives in
// package judgefile.
package judge

import (
	"encoding/json"
	"time"
)

// DefaultModel is the model URI a judge uses when it names none and no
// configuration overrides it.
const DefaultModel = "openai:/gpt-4.1-mini"

// Judge is an LLM judge: what it asks, which model answers, and what kind of
// value it returns. The zero value is not valid; construct one with [New],
// [Builtin] or by decoding JSON/TOML, then call [Judge.Validate].
//
// Field tags give the JSON and TOML keys; both encodings round-trip without
// loss.
type Judge struct {
	// Name identifies the judge and is the name of the feedback it produces.
	// Human feedback must be recorded under the same name to align it.
	Name string `json:"name" toml:"name"`
	// Description is free text for people; it is never sent to the model.
	Description string `json:"description,omitempty" toml:"description,omitempty"`
	// Instructions is the prompt, with template variables.
	Instructions string `json:"instructions" toml:"instructions"`
	// Model is a model URI such as "openai:/gpt-4.1-mini". Empty means the
	// configured default.
	Model string `json:"model,omitempty" toml:"model,omitempty"`

	// ValueType is the type of the value the judge returns. Its fields are
	// flattened into the judge's JSON and TOML (type, values, min, max).
	ValueType

	// InferenceParams are merged into the completion request (temperature,
	// top_p, max_tokens, seed, …).
	InferenceParams map[string]any `json:"inference_params,omitempty" toml:"inference_params,omitempty"`

	// Builtin names the built-in judge this one was made from ("correctness",
	// …), empty for a custom judge. A built-in judge is an ordinary template
	// judge: this is provenance, not behaviour.
	Builtin string `json:"builtin,omitempty" toml:"builtin,omitempty"`

	// Memory is what alignment added: guidelines and stored examples. Nil for
	// a judge that was never aligned.
	Memory *Memory `json:"memory,omitempty" toml:"memory,omitempty"`
	// Provenance records how an aligned judge was made. Nil otherwise.
	Provenance *Provenance `json:"provenance,omitempty" toml:"provenance,omitempty"`

	// Extra holds the members of the judge's JSON this version of the
	// package does not know (added by a newer alignhost), exactly as they
	// were, so that a judge decoded and encoded again — by a plugin built
	// today, say — keeps them. Members this package knows are never in it.
	Extra map[string]json.RawMessage `json:"-" toml:"-"`
}

// Kind is the kind of value a judge returns.
type Kind string

// The kinds of judge value.
const (
	// Boolean judges answer "yes" or "no"; synonyms (true, pass, 1, …) are
	// normalised to those two values.
	Boolean Kind = "boolean"
	// Categorical judges answer one of an explicit list of values.
	Categorical Kind = "categorical"
	// Integer judges answer a whole number, optionally within [Min, Max].
	Integer Kind = "integer"
	// Float judges answer a number, optionally within [Min, Max].
	Float Kind = "float"
	// String judges answer free text.
	String Kind = "string"
)

// ValueType is the type of a judge's value.
type ValueType struct {
	// Type is the kind of value. Empty means Categorical when Values is set
	// and String otherwise.
	Type Kind `json:"type,omitempty" toml:"type,omitempty"`
	// Values lists the allowed values of a Categorical judge, in order from
	// best to worst when they are ordinal.
	Values []string `json:"values,omitempty" toml:"values,omitempty"`
	// Ordinal says that Values are ordered (best first), so that agreement
	// statistics weigh a near miss less than a far one.
	Ordinal bool `json:"ordinal,omitempty" toml:"ordinal,omitempty"`
	// Min and Max bound Integer and Float values (inclusive); nil means
	// unbounded.
	Min *float64 `json:"min,omitempty" toml:"min,omitempty"`
	Max *float64 `json:"max,omitempty" toml:"max,omitempty"`
}

// Memory is what an optimizer adds to a judge. It is self-contained: an
// aligned judge keeps working when the traces it learnt from are deleted.
type Memory struct {
	// Guidelines are appended to the instructions of every judgement.
	Guidelines []Guideline `json:"guidelines,omitempty" toml:"guidelines,omitempty"`
	// Examples are the human-labelled examples the judge remembers; the most
	// similar ones are shown to the model with each judgement.
	Examples []Example `json:"examples,omitempty" toml:"examples,omitempty"`
	// Retrieval says how examples are chosen.
	Retrieval Retrieval `json:"retrieval" toml:"retrieval"`
}

// Guideline is one distilled rule. A guideline with no SourceTraceIDs was
// written by a person and is never removed by unalignment.
type Guideline struct {
	Text           string   `json:"text" toml:"text"`
	SourceTraceIDs []string `json:"source_trace_ids,omitempty" toml:"source_trace_ids,omitempty"`
}

// Retrieval configures how stored examples are retrieved at judgement time.
type Retrieval struct {
	// K is how many examples are retrieved (0 disables retrieval).
	K int `json:"k" toml:"k"`
	// Embedder identifies the embedding space of every stored vector, for
	// example "openai:/text-embedding-3-small@512" or "local:hash-v1@512".
	// Vectors from different embedders are never compared.
	Embedder string `json:"embedder,omitempty" toml:"embedder,omitempty"`
	// Dimensions is the length of every stored vector.
	Dimensions int `json:"dimensions,omitempty" toml:"dimensions,omitempty"`
}

// Example is one human-labelled judgement, extracted from a trace by the
// rules of the judge's template variables. It is what crosses the plugin
// boundary and what episodic memory stores.
type Example struct {
	TraceID string `json:"trace_id" toml:"trace_id"`
	// Inputs, Outputs and Trace are the judge's input fields rendered as
	// text; only the fields the judge's template uses are set.
	Inputs  string `json:"inputs,omitempty" toml:"inputs,omitempty"`
	Outputs string `json:"outputs,omitempty" toml:"outputs,omitempty"`
	Trace   string `json:"trace,omitempty" toml:"trace,omitempty"`
	// Expectations maps expectation names to their JSON values.
	Expectations map[string]any `json:"expectations,omitempty" toml:"expectations,omitempty"`
	// Value is the human's value, normalised to the judge's value type.
	Value any `json:"value" toml:"value"`
	// Rationale is the human's explanation, possibly empty.
	Rationale string `json:"rationale,omitempty" toml:"rationale,omitempty"`
	// FeedbackTime is when the human gave the feedback.
	FeedbackTime time.Time `json:"feedback_time,omitzero" toml:"feedback_time,omitempty"`
	// Embedding is the vector of the example's query field, in the space
	// named by Retrieval.Embedder. Empty until an optimizer embeds it.
	Embedding []float32 `json:"embedding,omitempty" toml:"embedding,omitempty"`
}

// Provenance records how an aligned judge was made.
type Provenance struct {
	BaseJudge        string    `json:"base_judge" toml:"base_judge"`
	BaseVersion      int       `json:"base_version,omitempty" toml:"base_version,omitempty"`
	Optimizer        string    `json:"optimizer" toml:"optimizer"`
	OptimizerVersion string    `json:"optimizer_version,omitempty" toml:"optimizer_version,omitempty"`
	OptimizerSHA256  string    `json:"optimizer_sha256,omitempty" toml:"optimizer_sha256,omitempty"`
	NumTraces        int       `json:"num_traces" toml:"num_traces"`
	AlignedAt        time.Time `json:"aligned_at,omitzero" toml:"aligned_at,omitempty"`
}
