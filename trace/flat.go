package trace

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// The flat form is for users without MLflow: one JSON object per line,
//
//	{"trace_id": "t1", "inputs": …, "outputs": …,
//	 "expectations": {"name": …},
//	 "feedback": {"judge": <value> | {"value": …, "rationale": "…", "source_id": "…"}},
//	 "request_time": "RFC 3339", "tags": {…}, "session_id": "…"}
//
// Every key is optional. A record is converted to a complete MLflow V3
// trace: one root CHAIN span named "root_span" (as MLflow's
// create_minimal_trace names it) holding the inputs and outputs, previews and
// trace metadata, expectations as HUMAN expectation assessments and feedback
// as HUMAN feedback assessments. Everything generated — the trace id when
// the record has none, span and assessment ids — is derived from the record
// by SHA-256, so importing the same file twice gives the same traces.

// Mapping says which columns of a flat record hold which part of a trace,
// for JSON Lines files with their own column names. An empty field keeps
// the flat form's key ("trace_id", "inputs", "outputs"). For example, for
// HaluEval:
//
//	Mapping{TraceID: "ID", Inputs: "user_query", Outputs: "chatgpt_response",
//		Feedback: map[string]string{"hallucination": "hallucination"}}
//
// When a mapping is set, columns it does not name are ignored; without one,
// a key the flat form does not define is an error (it is usually a column
// that needs mapping).
type Mapping struct {
	TraceID string
	Inputs  string
	Outputs string
	// Expectations maps expectation names to columns.
	Expectations map[string]string
	// Feedback maps feedback (judge) names to the columns holding the
	// human value. A column's value is taken as is.
	Feedback map[string]string
	// Rationale maps feedback names to the columns holding the human's
	// rationale: a string, or a list of strings joined with "; ".
	Rationale map[string]string
}

// isZero reports whether m maps nothing.
func (m Mapping) isZero() bool {
	return m.TraceID == "" && m.Inputs == "" && m.Outputs == "" &&
		len(m.Expectations) == 0 && len(m.Feedback) == 0 && len(m.Rationale) == 0
}

// ParseMapping parses mapping specifications of the form target=column, as
// given to the CLI's --map flag:
//
//	trace_id=ID  inputs=user_query  outputs=chatgpt_response
//	expectations.expected_response=target
//	feedback.hallucination=hallucination  rationale.hallucination=notes
//
// Each target may be given once.
func ParseMapping(specs []string) (Mapping, error) {
	var m Mapping
	seen := map[string]bool{}
	for _, spec := range specs {
		target, col, ok := strings.Cut(spec, "=")
		target, col = strings.TrimSpace(target), strings.TrimSpace(col)
		if !ok || target == "" || col == "" {
			return Mapping{}, fmt.Errorf("mapping %q: want target=column", spec)
		}
		if seen[target] {
			return Mapping{}, fmt.Errorf("mapping %q: %s is mapped twice", spec, target)
		}
		seen[target] = true
		kind, name, dotted := strings.Cut(target, ".")
		if dotted && strings.TrimSpace(name) == "" {
			return Mapping{}, fmt.Errorf("mapping %q: %s needs a name after the dot", spec, kind)
		}
		switch {
		case target == "trace_id":
			m.TraceID = col
		case target == "inputs":
			m.Inputs = col
		case target == "outputs":
			m.Outputs = col
		case dotted && kind == "expectations":
			m.Expectations = setKey(m.Expectations, name, col)
		case dotted && kind == "feedback":
			m.Feedback = setKey(m.Feedback, name, col)
		case dotted && kind == "rationale":
			m.Rationale = setKey(m.Rationale, name, col)
		default:
			return Mapping{}, fmt.Errorf("mapping %q: unknown target %q; want trace_id, inputs, outputs, "+
				"expectations.NAME, feedback.NAME or rationale.NAME", spec, target)
		}
	}
	return m, nil
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// flatKeys are the keys of the flat form.
var flatKeys = map[string]bool{
	"trace_id": true, "inputs": true, "outputs": true, "expectations": true,
	"feedback": true, "request_time": true, "tags": true, "session_id": true,
}

// flatFeedback is one human feedback of a flat record.
type flatFeedback struct {
	value     json.RawMessage
	rationale string
	sourceID  string
}

// The sizes MLflow truncates previews and trace metadata to.
const (
	previewLimit  = 1000
	metadataLimit = 250
)

// flatSpanName is the name of the root span of a converted flat record.
const flatSpanName = "root_span"

// flatSourceID is the source_id of assessments that do not name one.
const flatSourceID = "default"

// flatTrace converts a flat record; keys are raw's keys.
func flatTrace(raw json.RawMessage, keys map[string]json.RawMessage, cfg readConfig) (*Trace, error) {
	m := cfg.mapping
	if m.isZero() {
		var unknown []string
		for k := range keys {
			if !flatKeys[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, fmt.Errorf("unknown key %q in a flat record (an MLflow trace has \"info\" and \"data\"); "+
				"map other columns with a mapping such as --map inputs=%s", unknown[0], unknown[0])
		}
	}
	column := func(mapped, key string) (json.RawMessage, string) {
		if mapped != "" {
			key = mapped
		}
		v, ok := keys[key]
		if !ok {
			return nil, key
		}
		return v, key
	}

	// A column the user mapped by name must be there: a misspelt --map
	// would otherwise import traces without inputs, or with made-up IDs.
	for _, c := range []struct{ target, col string }{{"trace_id", m.TraceID}, {"inputs", m.Inputs}, {"outputs", m.Outputs}} {
		if c.col != "" {
			if _, ok := keys[c.col]; !ok {
				return nil, fmt.Errorf("column %q (mapped to %s) is not in the record", c.col, c.target)
			}
		}
	}
	id, err := flatTraceID(column(m.TraceID, "trace_id"))
	if err != nil {
		return nil, err
	}
	if id == "" {
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(compact.Bytes())
		id = "tr-" + hex.EncodeToString(sum[:16])
	}
	inputs, _ := column(m.Inputs, "inputs")
	outputs, _ := column(m.Outputs, "outputs")

	expectations := map[string]json.RawMessage{}
	if v, ok := keys["expectations"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &expectations); err != nil || wantKind(v, '{') != nil {
			return nil, fmt.Errorf("expectations: got %s, want an object of name: value", jsonKind(v))
		}
	}
	for name, col := range m.Expectations {
		if v, ok := keys[col]; ok {
			expectations[name] = v
		}
	}

	feedback := map[string]flatFeedback{}
	if v, ok := keys["feedback"]; ok && string(v) != "null" {
		var entries map[string]json.RawMessage
		if err := json.Unmarshal(v, &entries); err != nil || wantKind(v, '{') != nil {
			return nil, fmt.Errorf("feedback: got %s, want an object of name: value", jsonKind(v))
		}
		for name, e := range entries {
			fb, err := parseFlatFeedback(e)
			if err != nil {
				return nil, fmt.Errorf("feedback: %s: %w", name, err)
			}
			feedback[name] = fb
		}
	}
	for name, col := range m.Feedback {
		if v, ok := keys[col]; ok {
			feedback[name] = flatFeedback{value: v}
		}
	}
	for name, col := range m.Rationale {
		fb, ok := feedback[name]
		if !ok {
			continue
		}
		if v, ok := keys[col]; ok {
			fb.rationale = rationaleText(v)
			feedback[name] = fb
		}
	}

	var requestTime Timestamp
	if v, ok := keys["request_time"]; ok {
		if err := requestTime.UnmarshalJSON(v); err != nil {
			return nil, fmt.Errorf("request_time: %w", err)
		}
		requestTime = NewTimestamp(requestTime.Time)
	}
	var tags map[string]string
	if v, ok := keys["tags"]; ok {
		if err := json.Unmarshal(v, &tags); err != nil {
			return nil, fmt.Errorf("tags: %w", typeError(err))
		}
	}
	var session string
	if v, ok := keys["session_id"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &session); err != nil {
			return nil, fmt.Errorf("session_id: %w", typeError(err))
		}
	}

	t := newFlatTrace(id, inputs, outputs, requestTime, cfg.experimentID)
	if session != "" {
		t.Info.Metadata[MetaSession] = session
	}
	for k, v := range tags {
		t.Info.Tags[k] = v
	}
	for _, name := range sortedKeys(expectations) {
		a := flatAssessment(id, "expectation", name, flatSourceID, requestTime)
		a.Expectation = expectationFor(expectations[name])
		t.Info.Assessments = append(t.Info.Assessments, a)
	}
	for _, name := range sortedKeys(feedback) {
		fb := feedback[name]
		if len(fb.value) == 0 || string(fb.value) == "null" {
			continue
		}
		source := fb.sourceID
		if source == "" {
			source = flatSourceID
		}
		a := flatAssessment(id, "feedback", name, source, requestTime)
		a.Feedback = &Feedback{Value: compactJSON(fb.value)}
		a.Rationale = fb.rationale
		t.Info.Assessments = append(t.Info.Assessments, a)
	}
	return t, nil
}

// flatTraceID reads the trace id column: a string, or a number written as
// text. Null, "" or no column gives "".
func flatTraceID(raw json.RawMessage, col string) (string, error) {
	if raw == nil || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s), nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("%s: got %s, want a string trace id", col, jsonKind(raw))
}

// parseFlatFeedback reads one entry of a flat record's "feedback": a bare
// value, or {"value": …, "rationale": "…", "source_id": "…"}. An object is
// that wrapper when it has a "value" key and no keys but those three;
// otherwise it is itself the value.
func parseFlatFeedback(raw json.RawMessage) (flatFeedback, error) {
	var fields map[string]json.RawMessage
	if wantKind(raw, '{') != nil || json.Unmarshal(raw, &fields) != nil {
		return flatFeedback{value: raw}, nil
	}
	if _, ok := fields["value"]; !ok {
		return flatFeedback{value: raw}, nil
	}
	for k := range fields {
		if k != "value" && k != "rationale" && k != "source_id" {
			return flatFeedback{value: raw}, nil
		}
	}
	fb := flatFeedback{value: fields["value"]}
	for key, dst := range map[string]*string{"rationale": &fb.rationale, "source_id": &fb.sourceID} {
		v, ok := fields[key]
		if !ok || string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return flatFeedback{}, fmt.Errorf("%s: %w", key, typeError(err))
		}
	}
	return fb, nil
}

// rationaleText renders a rationale column: a string as is, a list of
// strings joined with "; ", null as "", anything else as JSON.
func rationaleText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && string(raw) != "null" {
		return strings.Join(list, "; ")
	}
	if string(raw) == "null" {
		return ""
	}
	return pyJSON(json.RawMessage(raw))
}

// newFlatTrace builds the trace of a flat record, without assessments.
func newFlatTrace(id string, inputs, outputs json.RawMessage, requestTime Timestamp, experimentID string) *Trace {
	otelTrace := otelTraceID(id)
	spanSum := sha256.Sum256([]byte("span\x00" + id))
	attrs := map[string]json.RawMessage{
		AttrRequestID: attrValue(pyJSON(id)),
		AttrSpanType:  attrValue(pyJSON(SpanTypeChain)),
	}
	metadata := map[string]string{MetaSchemaVersion: "3"}
	info := Info{
		TraceID: id,
		Location: &Location{
			Type:             LocationExperiment,
			MLflowExperiment: &ExperimentLocation{ExperimentID: experimentID},
		},
		RequestTime: requestTime,
		State:       StateOK,
		Metadata:    metadata,
		Tags:        map[string]string{TagTraceName: flatSpanName},
	}
	if inputs != nil {
		text := pyJSON(inputs)
		attrs[AttrSpanInputs] = attrValue(text)
		info.RequestPreview = truncate(text, previewLimit)
		metadata[MetaTraceInputs] = truncate(text, metadataLimit)
	}
	if outputs != nil {
		text := pyJSON(outputs)
		attrs[AttrSpanOutputs] = attrValue(text)
		info.ResponsePreview = truncate(text, previewLimit)
		metadata[MetaTraceOutputs] = truncate(text, metadataLimit)
	}
	var start int64
	if !requestTime.IsZero() {
		start = requestTime.UnixNano()
		zero := int64(0)
		info.ExecutionDurationMS = &zero
	}
	span := Span{
		Name:              flatSpanName,
		TraceID:           base64.StdEncoding.EncodeToString(otelTrace),
		SpanID:            base64.StdEncoding.EncodeToString(spanSum[:8]),
		StartTimeUnixNano: start,
		EndTimeUnixNano:   start,
		Events:            []Event{},
		Status:            Status{Code: StatusOK},
		Attributes:        attrs,
	}
	return &Trace{Info: info, Data: Data{Spans: []Span{span}}}
}

// otelTraceID returns the 16-byte OpenTelemetry trace id of a trace id:
// the hex of an MLflow "tr-" id, else the first 16 bytes of its SHA-256.
func otelTraceID(id string) []byte {
	if h, ok := strings.CutPrefix(id, "tr-"); ok && len(h) == 32 {
		if b, err := hex.DecodeString(h); err == nil {
			return b
		}
	}
	sum := sha256.Sum256([]byte(id))
	return sum[:16]
}

// flatAssessment returns an assessment with a deterministic id.
func flatAssessment(traceID, kind, name, sourceID string, at Timestamp) Assessment {
	sum := sha256.Sum256([]byte(traceID + "\x00" + kind + "\x00" + name))
	return Assessment{
		ID:             "a-" + hex.EncodeToString(sum[:16]),
		Name:           name,
		TraceID:        traceID,
		Source:         Source{Type: SourceHuman, ID: sourceID},
		CreateTime:     at,
		LastUpdateTime: at,
	}
}

// expectationFor stores an expectation value as MLflow does: a scalar as
// value, a list, object or null as a JSON serialized_value.
func expectationFor(raw json.RawMessage) *Expectation {
	switch jsonKind(raw) {
	case "an object", "an array", "null":
		return &Expectation{SerializedValue: &SerializedValue{Format: JSONSerialization, Value: pyJSON(raw)}}
	}
	return &Expectation{Value: compactJSON(raw)}
}

// attrValue encodes JSON text as an MLflow attribute value: a JSON string.
func attrValue(jsonText string) json.RawMessage {
	b, _ := marshalJSON(jsonText)
	return b
}

// compactJSON returns raw without insignificant space.
func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return buf.Bytes()
}

// truncate cuts s to n characters as MLflow does, ending with "...".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-3]) + "..."
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
