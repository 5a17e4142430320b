package trace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// MLflow span types, as stored in the mlflow.spanType attribute. Other
// values are allowed.
const (
	SpanTypeLLM       = "LLM"
	SpanTypeChain     = "CHAIN"
	SpanTypeAgent     = "AGENT"
	SpanTypeTool      = "TOOL"
	SpanTypeChatModel = "CHAT_MODEL"
	SpanTypeRetriever = "RETRIEVER"
	SpanTypeParser    = "PARSER"
	SpanTypeEmbedding = "EMBEDDING"
	SpanTypeReranker  = "RERANKER"
	SpanTypeMemory    = "MEMORY"
	SpanTypeUnknown   = "UNKNOWN"
)

// MLflow attribute and metadata keys this package reads and writes.
const (
	AttrRequestID    = "mlflow.traceRequestId"
	AttrSpanType     = "mlflow.spanType"
	AttrSpanInputs   = "mlflow.spanInputs"
	AttrSpanOutputs  = "mlflow.spanOutputs"
	AttrFunctionName = "mlflow.spanFunctionName"

	MetaSchemaVersion = "mlflow.trace_schema.version"
	MetaTraceInputs   = "mlflow.traceInputs"
	MetaTraceOutputs  = "mlflow.traceOutputs"
	MetaSession       = "mlflow.trace.session"

	TagTraceName = "mlflow.traceName"
)

// attrJSON returns the JSON value stored in attribute key. MLflow stores
// every attribute value as a JSON string holding JSON text; a value that is
// not a string is taken as the JSON value itself.
func (s *Span) attrJSON(key string) (json.RawMessage, bool, error) {
	raw, ok := s.Attributes[key]
	if !ok {
		return nil, false, nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return raw, true, nil
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return nil, true, fmt.Errorf("span %q: %s: %w", s.Name, key, err)
	}
	if !json.Valid([]byte(text)) {
		return nil, true, fmt.Errorf("span %q: %s: not JSON-encoded: %q", s.Name, key, shorten(text, 80))
	}
	return json.RawMessage(text), true, nil
}

// decodeAny decodes JSON keeping numbers exact (json.Number).
func decodeAny(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Type returns the span's type (LLM, CHAIN, RETRIEVER, TOOL, …), or UNKNOWN
// when the span does not say.
func (s *Span) Type() string {
	raw, ok := s.Attributes[AttrSpanType]
	if !ok {
		return SpanTypeUnknown
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return SpanTypeUnknown
	}
	var inner string
	if json.Unmarshal([]byte(text), &inner) == nil {
		text = inner
	}
	if text == "" {
		return SpanTypeUnknown
	}
	return text
}

// Inputs returns the span's inputs decoded from the mlflow.spanInputs
// attribute (numbers as json.Number), or nil when the span has none.
func (s *Span) Inputs() (any, error) {
	return s.attrValue(AttrSpanInputs)
}

// Outputs returns the span's outputs decoded from the mlflow.spanOutputs
// attribute (numbers as json.Number), or nil when the span has none.
func (s *Span) Outputs() (any, error) {
	return s.attrValue(AttrSpanOutputs)
}

func (s *Span) attrValue(key string) (any, error) {
	raw, ok, err := s.attrJSON(key)
	if err != nil || !ok {
		return nil, err
	}
	v, err := decodeAny(raw)
	if err != nil {
		return nil, fmt.Errorf("span %q: %s: %w", s.Name, key, err)
	}
	return v, nil
}

// Duration returns how long the span ran, or 0 when its times are unset.
func (s *Span) Duration() time.Duration {
	if s.StartTimeUnixNano <= 0 || s.EndTimeUnixNano < s.StartTimeUnixNano {
		return 0
	}
	return time.Duration(s.EndTimeUnixNano - s.StartTimeUnixNano)
}

// isRoot reports whether the span has no parent.
func (s *Span) isRoot() bool {
	return s.ParentSpanID == nil || *s.ParentSpanID == ""
}

// ErrorText returns what went wrong in a span: its first exception event as
// "Type: message", else the status message of a span whose status is an
// error. It is empty for a span that did not fail.
func (s *Span) ErrorText() string {
	failed := s.Status.Code == StatusError || s.Status.Code == "ERROR"
	for _, ev := range s.Events {
		if ev.Name != "exception" {
			continue
		}
		typ := eventString(ev.Attributes["exception.type"])
		msg := eventString(ev.Attributes["exception.message"])
		switch {
		case typ != "" && msg != "":
			return typ + ": " + msg
		case typ != "" || msg != "":
			return typ + msg
		}
	}
	if failed {
		if s.Status.Message != "" {
			return s.Status.Message
		}
		return "error"
	}
	return ""
}

// eventString reads an event attribute as text.
func eventString(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Root returns the trace's root span: the first span without a parent, else
// the first span whose parent is not in the trace. It is nil for a trace
// without spans.
func (t *Trace) Root() *Span {
	for i := range t.Data.Spans {
		if t.Data.Spans[i].isRoot() {
			return &t.Data.Spans[i]
		}
	}
	ids := make(map[string]bool, len(t.Data.Spans))
	for _, s := range t.Data.Spans {
		ids[s.SpanID] = true
	}
	for i := range t.Data.Spans {
		if !ids[*t.Data.Spans[i].ParentSpanID] {
			return &t.Data.Spans[i]
		}
	}
	return nil
}

// Spans returns the spans of the given type in the order the trace lists
// them, or every span when spanType is empty.
func (t *Trace) Spans(spanType string) []*Span {
	var out []*Span
	for i := range t.Data.Spans {
		if spanType == "" || t.Data.Spans[i].Type() == spanType {
			out = append(out, &t.Data.Spans[i])
		}
	}
	return out
}

// Inputs returns the root span's inputs, or nil when the trace has no root
// span or it recorded no inputs.
func (t *Trace) Inputs() (any, error) {
	root := t.Root()
	if root == nil {
		return nil, nil
	}
	return root.Inputs()
}

// Outputs returns the root span's outputs, or nil when the trace has no
// root span or it recorded no outputs.
func (t *Trace) Outputs() (any, error) {
	root := t.Root()
	if root == nil {
		return nil, nil
	}
	return root.Outputs()
}

// RequestTime returns when the trace started: info.request_time, else the
// root span's start time, else the zero time.
func (t *Trace) RequestTime() time.Time {
	if !t.Info.RequestTime.IsZero() {
		return t.Info.RequestTime.Time
	}
	if root := t.Root(); root != nil && root.StartTimeUnixNano > 0 {
		return time.Unix(0, root.StartTimeUnixNano).UTC()
	}
	return time.Time{}
}

// SessionID returns the conversation the trace belongs to (the
// mlflow.trace.session metadata), or "".
func (t *Trace) SessionID() string {
	return t.Info.Metadata[MetaSession]
}

// Decode returns the expectation's value: Value decoded, or SerializedValue
// decoded when its format is JSON (a SerializedValue in another format is
// returned as its string). Numbers are json.Number.
func (x *Expectation) Decode() (any, error) {
	switch {
	case x.Value != nil:
		return decodeAny(x.Value)
	case x.SerializedValue != nil:
		if x.SerializedValue.Format != JSONSerialization && x.SerializedValue.Format != "" {
			return x.SerializedValue.Value, nil
		}
		return decodeAny([]byte(x.SerializedValue.Value))
	}
	return nil, nil
}

// Expectations returns the value of every expectation on the trace, by
// name, from any source, decoded from JSON (numbers as json.Number; a
// serialized_value is decoded from its JSON text). When several
// expectations share a name the most recent wins (create_time, then
// last_update_time, then the later in the list); expectations marked
// valid=false are ignored. It returns nil when there are none.
func (t *Trace) Expectations() map[string]any {
	raw := t.expectationsJSON()
	if raw == nil {
		return nil
	}
	out := make(map[string]any, len(raw))
	for name, r := range raw {
		v, err := decodeAny(r)
		if err != nil {
			v = string(r)
		}
		out[name] = v
	}
	return out
}

// expectationsJSON returns the JSON of each expectation value by name, by
// the rules of Expectations. A serialized_value that is not JSON is given
// as a JSON string.
func (t *Trace) expectationsJSON() map[string]json.RawMessage {
	type found struct {
		a     *Assessment
		index int
	}
	latest := map[string]found{}
	for i := range t.Info.Assessments {
		a := &t.Info.Assessments[i]
		if a.Expectation == nil || (a.Valid != nil && !*a.Valid) {
			continue
		}
		if prev, ok := latest[a.Name]; ok && !newer(a, i, prev.a, prev.index) {
			continue
		}
		latest[a.Name] = found{a, i}
	}
	if len(latest) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(latest))
	for name, f := range latest {
		out[name] = f.a.Expectation.rawValue()
	}
	return out
}

// rawValue returns the expectation's value as JSON.
func (x *Expectation) rawValue() json.RawMessage {
	switch {
	case x.Value != nil:
		if json.Valid(x.Value) {
			return x.Value
		}
		return attrValue(string(x.Value))
	case x.SerializedValue != nil:
		text := x.SerializedValue.Value
		if (x.SerializedValue.Format == JSONSerialization || x.SerializedValue.Format == "") && json.Valid([]byte(text)) {
			return json.RawMessage(text)
		}
		return attrValue(text)
	}
	return json.RawMessage("null")
}

// newer reports whether assessment a at index i is more recent than b at
// index j: later create_time, then later last_update_time, then later in
// the list.
func newer(a *Assessment, i int, b *Assessment, j int) bool {
	if !a.CreateTime.Equal(b.CreateTime.Time) {
		return a.CreateTime.After(b.CreateTime.Time)
	}
	if !a.LastUpdateTime.Equal(b.LastUpdateTime.Time) {
		return a.LastUpdateTime.After(b.LastUpdateTime.Time)
	}
	return i > j
}

// RetrievalStep is what one RETRIEVER span retrieved.
type RetrievalStep struct {
	SpanID   string
	SpanName string
	// Query is the span's inputs as text: a string input, the "query" of
	// an object input, or the inputs rendered by [InputsText].
	Query     string
	Documents []Document
}

// Document is one retrieved document.
type Document struct {
	// Content is the document's page_content (JSON when it is not text).
	Content string
	// DocURI is metadata.doc_uri, or "".
	DocURI string
	// ID is the document's id, or "".
	ID string
	// Metadata is the document's metadata, nil when absent.
	Metadata map[string]any
}

// RetrievedDocuments returns the documents of every RETRIEVER span, in tree
// order (see [Trace.Text]). A retriever's outputs are a list of
// {page_content, metadata: {doc_uri, …}, id?} objects or of strings; other
// items are skipped.
func (t *Trace) RetrievedDocuments() []RetrievalStep {
	var out []RetrievalStep
	for _, n := range t.tree() {
		if n.span.Type() != SpanTypeRetriever {
			continue
		}
		out = append(out, retrievalStep(n.span))
	}
	return out
}

func retrievalStep(s *Span) RetrievalStep {
	step := RetrievalStep{SpanID: s.SpanID, SpanName: s.Name}
	if raw, ok, err := s.attrJSON(AttrSpanInputs); ok && err == nil {
		in := toOrdered(raw)
		if o, ok := in.(*object); ok {
			if q, ok := o.get("query").(string); ok {
				in = q
			}
		}
		step.Query = InputsText(in)
	}
	outputs, err := s.Outputs()
	if err != nil {
		return step
	}
	items, _ := outputs.([]any)
	for _, it := range items {
		switch it := it.(type) {
		case string:
			step.Documents = append(step.Documents, Document{Content: it})
		case map[string]any:
			var doc Document
			if c, ok := it["page_content"]; ok {
				doc.Content = valueText(c)
			}
			if id, ok := it["id"].(string); ok {
				doc.ID = id
			}
			if md, ok := it["metadata"].(map[string]any); ok {
				doc.Metadata = md
				if uri, ok := md["doc_uri"].(string); ok {
					doc.DocURI = uri
				}
			}
			step.Documents = append(step.Documents, doc)
		}
	}
	return step
}

// ToolCall is one TOOL span: a tool the application called.
type ToolCall struct {
	SpanID string
	// Name is the span's name, which MLflow sets to the tool's name.
	Name string
	// Arguments are the span's inputs, Result its outputs (decoded JSON,
	// nil when absent).
	Arguments any
	Result    any
	// Error says why the call failed, empty when it did not (see
	// [Span.ErrorText]).
	Error string
}

// ToolCalls returns every TOOL span, in tree order (see [Trace.Text]).
// Inputs or outputs that are not valid JSON are given as their raw text.
func (t *Trace) ToolCalls() []ToolCall {
	var out []ToolCall
	for _, n := range t.tree() {
		s := n.span
		if s.Type() != SpanTypeTool {
			continue
		}
		call := ToolCall{SpanID: s.SpanID, Name: s.Name, Error: s.ErrorText()}
		call.Arguments = lenientAttr(s, AttrSpanInputs)
		call.Result = lenientAttr(s, AttrSpanOutputs)
		out = append(out, call)
	}
	return out
}

// lenientAttr decodes an attribute, falling back to its raw text.
func lenientAttr(s *Span, key string) any {
	v, err := s.attrValue(key)
	if err != nil {
		return eventString(s.Attributes[key])
	}
	return v
}

// node is a span at a depth of the span tree.
type node struct {
	span  *Span
	depth int
}

// tree returns the spans depth first: the root, then each span's children
// by start time (ties in list order). Spans whose parent is missing start
// new trees after the root's; spans caught in a parent cycle come last.
func (t *Trace) tree() []node {
	spans := t.Data.Spans
	byID := make(map[string]int, len(spans))
	for i, s := range spans {
		if _, dup := byID[s.SpanID]; !dup {
			byID[s.SpanID] = i
		}
	}
	children := map[int][]int{}
	var roots []int
	for i := range spans {
		s := &spans[i]
		p, ok := -1, false
		if !s.isRoot() {
			p, ok = byID[*s.ParentSpanID]
		}
		if !ok || p == i {
			roots = append(roots, i)
			continue
		}
		children[p] = append(children[p], i)
	}
	byStart := func(ids []int) {
		sort.SliceStable(ids, func(a, b int) bool {
			return spans[ids[a]].StartTimeUnixNano < spans[ids[b]].StartTimeUnixNano
		})
	}
	// The true roots (no parent at all) come before orphans.
	sort.SliceStable(roots, func(a, b int) bool {
		ra, rb := spans[roots[a]].isRoot(), spans[roots[b]].isRoot()
		if ra != rb {
			return ra
		}
		return spans[roots[a]].StartTimeUnixNano < spans[roots[b]].StartTimeUnixNano
	})
	out := make([]node, 0, len(spans))
	seen := make([]bool, len(spans))
	var walk func(i, depth int)
	walk = func(i, depth int) {
		if seen[i] {
			return
		}
		seen[i] = true
		out = append(out, node{&spans[i], depth})
		kids := children[i]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for i := range spans {
		walk(i, 0)
	}
	return out
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + fmt.Sprintf("… [%d more characters]", len(r)-n)
}
