// Package trace holds the traces of an AI application and the assessments
// (human feedback, judge feedback, expectations) recorded on them, in
// MLflow's trace model, and is the one place that decides what a judge
// learns from a trace.
//
// # Model
//
// A [Trace] is MLflow's: an [Info] (id, times, metadata, tags and the
// [Assessment] list) and a [Data] holding the spans. The root span's
// mlflow.spanInputs and mlflow.spanOutputs attributes are the trace's inputs
// and outputs. A human label is a feedback assessment with source HUMAN
// named like the judge.
//
// # JSON
//
// A Trace read from MLflow's JSON export (schema V3) and written back is the
// same JSON: the same keys and values, including keys present with empty or
// null values and integers written as strings (key order may differ). Keys
// this package does not model are kept verbatim in Extra maps at every
// level. Legacy V2 traces are converted to V3 when read.
//
// # Files
//
// [Read] accepts a single trace object, a JSON array of traces, JSON Lines
// of traces, and a flat JSON Lines form for users without MLflow (see
// docs/formats.md), with per-record errors that name the file and line.
// [Write] writes them back; [ReadFeedback] reads human labels kept apart
// from traces (CSV or JSON Lines).
//
// # Extraction
//
// [InputsText], [OutputsText], [Trace.Expectations], [Trace.Text] and
// [Trace.HumanFeedback] implement MLflow's rules for turning a trace into a
// judge's fields and label; [ExampleFor] combines them into the
// judge.Example every optimizer learns from.
//
// This package is compiled into WebAssembly optimizers that ask for full
// traces: it depends on the standard library and package judge only.
package trace

import "encoding/json"

// Trace is one run of an application: metadata and assessments in Info, the
// spans in Data.
type Trace struct {
	Info Info `json:"info"`
	Data Data `json:"data"`
	// Extra holds keys this package does not model, verbatim.
	Extra map[string]json.RawMessage `json:"-"`
}

// Info is MLflow's TraceInfo (schema V3).
type Info struct {
	TraceID             string            `json:"trace_id"`
	ClientRequestID     string            `json:"client_request_id,omitempty"`
	Location            *Location         `json:"trace_location,omitempty"`
	RequestPreview      string            `json:"request_preview,omitempty"`
	ResponsePreview     string            `json:"response_preview,omitempty"`
	RequestTime         Timestamp         `json:"request_time,omitzero"`
	ExecutionDurationMS *int64            `json:"execution_duration_ms,omitempty"`
	State               State             `json:"state,omitempty"`
	Metadata            map[string]string `json:"trace_metadata,omitempty"`
	Tags                map[string]string `json:"tags,omitempty"`
	Assessments         []Assessment      `json:"assessments,omitempty"`
	// Extra holds keys this package does not model, verbatim.
	Extra map[string]json.RawMessage `json:"-"`

	lay layout
}

// State is the outcome of a trace.
type State string

// Trace states.
const (
	StateOK          State = "OK"
	StateError       State = "ERROR"
	StateInProgress  State = "IN_PROGRESS"
	StateUnspecified State = "STATE_UNSPECIFIED"
)

// Location says where a trace is stored.
type Location struct {
	Type             string                     `json:"type"`
	MLflowExperiment *ExperimentLocation        `json:"mlflow_experiment,omitempty"`
	Extra            map[string]json.RawMessage `json:"-"`

	lay layout
}

// LocationExperiment is the location type of a trace stored in an MLflow
// experiment.
const LocationExperiment = "MLFLOW_EXPERIMENT"

// ExperimentLocation names the MLflow experiment holding a trace.
type ExperimentLocation struct {
	ExperimentID string                     `json:"experiment_id"`
	Extra        map[string]json.RawMessage `json:"-"`

	lay layout
}

// Data holds a trace's spans.
type Data struct {
	Spans []Span                     `json:"spans"`
	Extra map[string]json.RawMessage `json:"-"`

	lay layout
}

// Span is one operation inside a trace, in MLflow 3's OTLP-style form.
// Attribute values are JSON-encoded, as MLflow writes them: the span type
// "LLM" is stored as the JSON string "\"LLM\"".
type Span struct {
	Name              string                     `json:"name"`
	TraceID           string                     `json:"trace_id,omitempty"`
	SpanID            string                     `json:"span_id"`
	ParentSpanID      *string                    `json:"parent_span_id"`
	StartTimeUnixNano int64                      `json:"start_time_unix_nano"`
	EndTimeUnixNano   int64                      `json:"end_time_unix_nano"`
	Events            []Event                    `json:"events"`
	Status            Status                     `json:"status"`
	Attributes        map[string]json.RawMessage `json:"attributes"`
	Extra             map[string]json.RawMessage `json:"-"`

	lay layout
}

// Event is a point-in-time event on a span, such as an exception.
type Event struct {
	Name         string                     `json:"name"`
	TimeUnixNano int64                      `json:"time_unix_nano"`
	Attributes   map[string]json.RawMessage `json:"attributes,omitempty"`
	Extra        map[string]json.RawMessage `json:"-"`

	lay layout
}

// Status is a span's status.
type Status struct {
	Code    string                     `json:"code"`
	Message string                     `json:"message"`
	Extra   map[string]json.RawMessage `json:"-"`

	lay layout
}

// Span status codes.
const (
	StatusOK    = "STATUS_CODE_OK"
	StatusError = "STATUS_CODE_ERROR"
	StatusUnset = "STATUS_CODE_UNSET"
)

// Assessment is a judgement recorded on a trace: a feedback (a value given
// by a human, a judge or code) or an expectation (a ground truth). Exactly one
// of Feedback and Expectation is set.
type Assessment struct {
	ID             string            `json:"assessment_id,omitempty"`
	Name           string            `json:"assessment_name"`
	TraceID        string            `json:"trace_id,omitempty"`
	SpanID         string            `json:"span_id,omitempty"`
	Source         Source            `json:"source"`
	CreateTime     Timestamp         `json:"create_time,omitzero"`
	LastUpdateTime Timestamp         `json:"last_update_time,omitzero"`
	Rationale      string            `json:"rationale,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	// Overrides is the ID of the assessment this one replaces.
	Overrides string `json:"overrides,omitempty"`
	// Valid is false once another assessment overrides this one; nil when
	// the export did not say.
	Valid       *bool                      `json:"valid,omitempty"`
	Feedback    *Feedback                  `json:"feedback,omitempty"`
	Expectation *Expectation               `json:"expectation,omitempty"`
	Extra       map[string]json.RawMessage `json:"-"`

	lay layout
}

// SourceType is who made an assessment.
type SourceType string

// Assessment source types.
const (
	SourceHuman       SourceType = "HUMAN"
	SourceLLMJudge    SourceType = "LLM_JUDGE"
	SourceCode        SourceType = "CODE"
	SourceUnspecified SourceType = "SOURCE_TYPE_UNSPECIFIED"
)

// Source is who made an assessment.
type Source struct {
	Type  SourceType                 `json:"source_type"`
	ID    string                     `json:"source_id,omitempty"`
	Extra map[string]json.RawMessage `json:"-"`

	lay layout
}

// Feedback is a value given about a trace, or the error that prevented one.
// Value keeps its JSON type (bool, number, string, list, object) verbatim.
type Feedback struct {
	Value json.RawMessage            `json:"value,omitempty"`
	Error *FeedbackError             `json:"error,omitempty"`
	Extra map[string]json.RawMessage `json:"-"`

	lay layout
}

// FeedbackError records why a feedback has no value.
type FeedbackError struct {
	Code       string                     `json:"error_code,omitempty"`
	Message    string                     `json:"error_message,omitempty"`
	StackTrace string                     `json:"stack_trace,omitempty"`
	Extra      map[string]json.RawMessage `json:"-"`

	lay layout
}

// Expectation is a ground-truth value. MLflow writes scalars as Value and
// lists, objects and null as SerializedValue (a JSON string).
type Expectation struct {
	Value           json.RawMessage            `json:"value,omitempty"`
	SerializedValue *SerializedValue           `json:"serialized_value,omitempty"`
	Extra           map[string]json.RawMessage `json:"-"`

	lay layout
}

// SerializedValue is an expectation value encoded as a string.
type SerializedValue struct {
	Format string                     `json:"serialization_format"`
	Value  string                     `json:"value"`
	Extra  map[string]json.RawMessage `json:"-"`

	lay layout
}

// JSONSerialization is the serialization format of a JSON-encoded
// expectation value.
const JSONSerialization = "JSON_FORMAT"
