package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format is a form [Write] can write traces in.
type Format string

// The output formats. Every one of them can be read back by [Read].
const (
	// FormatJSON is a pretty-printed JSON array of MLflow traces, even for
	// one trace.
	FormatJSON Format = "json"
	// FormatJSONL is one MLflow trace per line.
	FormatJSONL Format = "jsonl"
	// FormatMLflow is what MLflow's Trace.to_json(pretty=True) writes: one
	// pretty-printed trace object when there is exactly one trace, and a
	// pretty-printed array otherwise (MLflow has no multi-trace file; an
	// array is what MLflow users build from a list of trace dicts).
	FormatMLflow Format = "mlflow"
	// FormatFlat is flat JSON Lines: per trace, its id, root inputs and
	// outputs, expectations, the human label of each feedback name,
	// request time, non-MLflow tags and session id (see docs/formats.md).
	// Spans other than the root, and judge feedback, are not written.
	FormatFlat Format = "flat"
)

// Formats lists the output formats.
func Formats() []Format { return []Format{FormatJSON, FormatJSONL, FormatMLflow, FormatFlat} }

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if strings.EqualFold(strings.TrimSpace(s), string(f)) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown trace format %q; want json, jsonl, mlflow or flat", s)
}

// Write writes traces to w in format. JSON is written without escaping <,
// > and &. It is [NewWriter] with every trace written in turn.
func Write(w io.Writer, traces []*Trace, format Format) error {
	tw, err := NewWriter(w, format)
	if err != nil {
		return err
	}
	for i, t := range traces {
		if t == nil {
			return fmt.Errorf("write traces: trace %d is nil", i)
		}
	}
	for _, t := range traces {
		if err := tw.Write(t); err != nil {
			return err
		}
	}
	return tw.Close()
}

// Writer writes traces one at a time, so that exporting a store needs
// memory for one trace, not all of them. The output is the same as
// [Write]'s for the same traces; it is complete only once [Writer.Close]
// returned nil.
type Writer struct {
	bw     *bufio.Writer
	format Format
	n      int    // traces written
	held   *Trace // FormatMLflow: the first trace, until a second one comes
	buf    bytes.Buffer
	err    error
}

// NewWriter returns a Writer of traces to w in format.
func NewWriter(w io.Writer, format Format) (*Writer, error) {
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, fmt.Errorf("write traces as %s: %w", format, err)
	}
	return &Writer{bw: bufio.NewWriterSize(w, 64<<10), format: format}, nil
}

// Write writes one trace.
func (w *Writer) Write(t *Trace) error {
	if w.err != nil {
		return w.err
	}
	if t == nil {
		return fmt.Errorf("write traces: trace %d is nil", w.n)
	}
	if err := w.write(t); err != nil {
		w.err = fmt.Errorf("write traces as %s: trace %s: %w", w.format, t.Info.TraceID, err)
		return w.err
	}
	return nil
}

func (w *Writer) write(t *Trace) error {
	defer func() { w.n++ }()
	switch w.format {
	case FormatJSONL:
		b, err := encodeJSON(&w.buf, t, false, "")
		if err != nil {
			return err
		}
		_, err = w.bw.Write(b)
		return err
	case FormatFlat:
		line, err := t.flatJSON()
		if err != nil {
			return err
		}
		w.bw.Write(line)
		return w.bw.WriteByte('\n')
	case FormatMLflow:
		switch w.n {
		case 0:
			w.held = t
			return nil
		case 1:
			held := w.held
			w.held = nil
			if err := w.element(held, 0); err != nil {
				return err
			}
		}
		return w.element(t, 1)
	default: // FormatJSON
		return w.element(t, w.n)
	}
}

// element writes t as element i of a pretty-printed array.
func (w *Writer) element(t *Trace, i int) error {
	b, err := encodeJSON(&w.buf, t, true, "  ")
	if err != nil {
		return err
	}
	if i == 0 {
		w.bw.WriteString("[\n  ")
	} else {
		w.bw.WriteString(",\n  ")
	}
	_, err = w.bw.Write(bytes.TrimSuffix(b, []byte("\n")))
	return err
}

// Close finishes the output (the end of an array) and flushes it. It does
// not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	err := w.finish()
	if err == nil {
		err = w.bw.Flush()
	}
	if err != nil {
		w.err = fmt.Errorf("write traces: %w", err)
		return w.err
	}
	w.err = errors.New("write traces: writer is closed")
	return nil
}

func (w *Writer) finish() error {
	switch w.format {
	case FormatMLflow:
		if w.n == 1 {
			b, err := encodeJSON(&w.buf, w.held, true, "")
			if err != nil {
				return fmt.Errorf("trace %s: %w", w.held.Info.TraceID, err)
			}
			w.held = nil
			_, err = w.bw.Write(b)
			return err
		}
		fallthrough
	case FormatJSON:
		if w.n == 0 {
			_, err := w.bw.WriteString("[]\n")
			return err
		}
		_, err := w.bw.WriteString("\n]\n")
		return err
	}
	return nil
}

// encodeJSON encodes v into buf, without escaping <, > and &: compact, or
// pretty: indented by two spaces, every line after the first starting with
// prefix. The result ends with a newline and is valid until the next call.
func encodeJSON(buf *bytes.Buffer, v any, pretty bool, prefix string) ([]byte, error) {
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent(prefix, "  ")
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// flatJSON renders the trace as one flat record, compact.
func (t *Trace) flatJSON() ([]byte, error) {
	e := newObjectEncoder(&layout{})
	e.write("trace_id", t.Info.TraceID)
	if root := t.Root(); root != nil {
		for _, f := range []struct{ key, attr string }{{"inputs", AttrSpanInputs}, {"outputs", AttrSpanOutputs}} {
			raw, ok, err := root.attrJSON(f.attr)
			if err != nil {
				return nil, err
			}
			if ok {
				e.writeRaw(f.key, compactJSON(raw))
			}
		}
	}
	if exp := t.expectationsJSON(); exp != nil {
		o := newObjectEncoder(&layout{})
		for _, name := range sortedKeys(exp) {
			o.writeRaw(name, compactJSON(exp[name]))
		}
		b, err := o.finish()
		if err != nil {
			return nil, err
		}
		e.writeRaw("expectations", b)
	}
	if fb, err := t.flatFeedback(); err != nil {
		return nil, err
	} else if fb != nil {
		e.writeRaw("feedback", fb)
	}
	if !t.Info.RequestTime.IsZero() {
		e.write("request_time", t.Info.RequestTime)
	}
	tags := map[string]string{}
	for k, v := range t.Info.Tags {
		if !strings.HasPrefix(k, "mlflow.") {
			tags[k] = v
		}
	}
	if len(tags) > 0 {
		e.write("tags", tags)
	}
	if s := t.SessionID(); s != "" {
		e.write("session_id", s)
	}
	b, err := e.finish()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// flatFeedback renders the human label of each feedback name on the trace
// (by the rules of HumanFeedback) as the flat form's "feedback" object, or
// nil when there is none.
func (t *Trace) flatFeedback() ([]byte, error) {
	var names []string
	seen := map[string]bool{}
	for i := range t.Info.Assessments {
		a := &t.Info.Assessments[i]
		if a.Feedback == nil || !isHuman(a) || seen[normalizeName(a.Name)] {
			continue
		}
		seen[normalizeName(a.Name)] = true
		names = append(names, a.Name)
	}
	o := newObjectEncoder(&layout{})
	n := 0
	for _, name := range names {
		i, _, _, ok := t.humanLabel(name)
		if !ok {
			continue
		}
		a := &t.Info.Assessments[i]
		entry := newObjectEncoder(&layout{})
		entry.writeRaw("value", compactJSON(a.Feedback.Value))
		if a.Rationale != "" {
			entry.write("rationale", a.Rationale)
		}
		if a.Source.ID != "" && a.Source.ID != flatSourceID {
			entry.write("source_id", a.Source.ID)
		}
		b, err := entry.finish()
		if err != nil {
			return nil, err
		}
		o.writeRaw(a.Name, b)
		n++
	}
	if n == 0 {
		return nil, nil
	}
	return o.finish()
}
