package trace

import (
	"strconv"
	"strings"
)

// TextValueLimit is the most characters (runes) [Trace.Text] shows of any
// one value — a request, a response, a span's inputs or outputs, a
// document, a tool result. Longer values are cut and end with
// "… [N more characters]".
const TextValueLimit = 2000

// Text renders the trace as readable text, which a judge sees for
// {{ trace }}: the request and response (as [InputsText] and [OutputsText]
// render them), then every span in tree order — the root, then each span's
// children by start time — with its type, duration and status, and:
//
//   - for a RETRIEVER span, the query and the documents retrieved;
//   - for a TOOL span, the arguments, the result and any error;
//   - for other spans, the inputs and outputs, and any error.
//
// The root span's inputs and outputs are left out when they read exactly as
// the request and response above them.
//
// Assessments (human labels, judge verdicts, expectations) are not part of
// the text: a judge must not see the answer it is asked for. The output is
// deterministic: the same trace always gives the same text.
func (t *Trace) Text() string {
	var b strings.Builder
	in, _ := t.Inputs()
	out, _ := t.Outputs()
	if root := t.Root(); root != nil {
		if raw, ok, err := root.attrJSON(AttrSpanInputs); ok && err == nil {
			in = raw
		}
		if raw, ok, err := root.attrJSON(AttrSpanOutputs); ok && err == nil {
			out = raw
		}
	}
	shown := map[string]string{AttrSpanInputs: InputsText(in), AttrSpanOutputs: OutputsText(out)}
	writeField(&b, 0, "Request", shown[AttrSpanInputs])
	writeField(&b, 0, "Response", shown[AttrSpanOutputs])
	nodes := t.tree()
	if len(nodes) == 0 {
		return b.String()
	}
	b.WriteString("Spans:\n")
	root := t.Root()
	for _, n := range nodes {
		if n.span == root {
			writeSpan(&b, n, shown)
		} else {
			writeSpan(&b, n, nil)
		}
	}
	return b.String()
}

// writeSpan writes one span and its details. Attributes whose text equals
// shown[key] (the request and response already written for the root span)
// are not repeated.
func writeSpan(b *strings.Builder, n node, shown map[string]string) {
	s := n.span
	indent := strings.Repeat("  ", n.depth)
	b.WriteString(indent)
	b.WriteString("- ")
	name := s.Name
	if name == "" {
		name = "(unnamed)"
	}
	b.WriteString(name)
	b.WriteString(" (")
	b.WriteString(s.Type())
	if d := s.Duration(); d > 0 {
		b.WriteString(", ")
		b.WriteString(d.String())
	}
	errText := s.ErrorText()
	if errText != "" {
		b.WriteString(", ERROR")
	}
	b.WriteString(")\n")
	depth := n.depth + 1
	switch s.Type() {
	case SpanTypeRetriever:
		step := retrievalStep(s)
		if step.Query != "" {
			writeField(b, depth, "query", step.Query)
		}
		if len(step.Documents) > 0 {
			writeLine(b, depth, "documents:")
			for i, d := range step.Documents {
				label := "[" + strconv.Itoa(i+1) + "]"
				if d.DocURI != "" {
					label += " " + d.DocURI
				}
				writeField(b, depth+1, label, d.Content)
			}
		}
	case SpanTypeTool:
		writeAttr(b, depth, s, "arguments", AttrSpanInputs, shown)
		writeAttr(b, depth, s, "result", AttrSpanOutputs, shown)
	default:
		writeAttr(b, depth, s, "inputs", AttrSpanInputs, shown)
		writeAttr(b, depth, s, "outputs", AttrSpanOutputs, shown)
	}
	if errText != "" {
		writeField(b, depth, "error", errText)
	}
}

// writeAttr writes a span's JSON attribute as a field, when present and
// not already shown.
func writeAttr(b *strings.Builder, depth int, s *Span, label, key string, shown map[string]string) {
	raw, ok, err := s.attrJSON(key)
	if !ok {
		return
	}
	text := eventString(s.Attributes[key])
	if err == nil {
		text = valueText(raw)
	}
	if prev, ok := shown[key]; ok && prev == text {
		return
	}
	writeField(b, depth, label, text)
}

// writeField writes "label: value", cutting value to TextValueLimit and
// indenting its continuation lines.
func writeField(b *strings.Builder, depth int, label, value string) {
	value = shorten(value, TextValueLimit)
	if strings.TrimSpace(value) == "" {
		value = "(none)"
	}
	indent := strings.Repeat("  ", depth)
	b.WriteString(indent)
	b.WriteString(label)
	b.WriteString(":")
	lines := strings.Split(value, "\n")
	if lines[0] != "" {
		b.WriteString(" ")
		b.WriteString(lines[0])
	}
	b.WriteString("\n")
	for _, l := range lines[1:] {
		if l == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(indent)
		b.WriteString("  ")
		b.WriteString(l)
		b.WriteString("\n")
	}
}

func writeLine(b *strings.Builder, depth int, text string) {
	b.WriteString(strings.Repeat("  ", depth))
	b.WriteString(text)
	b.WriteString("\n")
}
