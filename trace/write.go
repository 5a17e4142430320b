package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
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
// > and &.
func Write(w io.Writer, traces []*Trace, format Format) error {
	for i, t := range traces {
		if t == nil {
			return fmt.Errorf("write traces: trace %d is nil", i)
		}
	}
	bw := bufio.NewWriter(w)
	var err error
	switch format {
	case FormatJSON:
		err = writePretty(bw, traces)
	case FormatMLflow:
		if len(traces) == 1 {
			err = writePretty(bw, traces[0])
		} else {
			err = writePretty(bw, traces)
		}
	case FormatJSONL:
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		for _, t := range traces {
			if err = enc.Encode(t); err != nil {
				err = fmt.Errorf("trace %s: %w", t.Info.TraceID, err)
				break
			}
		}
	case FormatFlat:
		for _, t := range traces {
			var line []byte
			if line, err = t.flatJSON(); err != nil {
				err = fmt.Errorf("trace %s: %w", t.Info.TraceID, err)
				break
			}
			bw.Write(line)
			bw.WriteByte('\n')
		}
	default:
		_, err = ParseFormat(string(format))
	}
	if err != nil {
		return fmt.Errorf("write traces as %s: %w", format, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write traces: %w", err)
	}
	return nil
}

func writePretty(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if traces, ok := v.([]*Trace); ok && traces == nil {
		v = []*Trace{}
	}
	return enc.Encode(v)
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
