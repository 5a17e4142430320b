package memalign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
)

// systemPrompt tells the reflection model what to distil. It follows the
// substance of MLflow's distillation prompt: model this person's view, the
// person wins over the model, complement the existing guidelines, cite the
// examples each guideline came from.
const systemPrompt = `You help improve an LLM judge. A person reviewed examples of an AI application's work, gave each one a result and usually explained it in a rationale. Distil guidelines from their judgements that capture this person's perspective, so that the judge evaluates future examples the way they would.

A guideline may state a quality preference or expectation of the person, a factual belief they hold, or other knowledge about them (their background, expertise or interests) that matters for judging. Guidelines may be specific to this person rather than generally accepted. Where the person's view of quality conflicts with your own, the person's view wins.

Rules:
- Each guideline is one short sentence about one aspect of belief, preference or expectation, phrased so that it applies to future examples; do not describe a single example.
- Base every guideline on the results and rationales of the examples; do not invent preferences they do not support.
- Do not repeat or rephrase an existing guideline: write only guidelines that complement them. If the existing guidelines already cover the examples, answer with an empty list.
- For each guideline, list in source_trace_ids the ids of the examples it was drawn from.

Answer with a JSON object only, without markdown:
{"guidelines": [{"guideline_text": "<one short sentence>", "source_trace_ids": [<ids of the examples>]}]}`

// guidelinesSchema is the strict JSON schema of the answer.
func guidelinesSchema() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"guidelines": map[string]any{
				"type":        "array",
				"description": "New guidelines that complement the existing ones; empty when they already cover the examples.",
				"items": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"guideline_text": map[string]any{
							"type":        "string",
							"description": "One short sentence about one aspect of the person's beliefs, preferences or expectations.",
						},
						"source_trace_ids": map[string]any{
							"type":        "array",
							"description": "The ids of the examples the guideline was drawn from.",
							"items":       map[string]any{"type": "integer"},
						},
					},
					"required":             []any{"guideline_text", "source_trace_ids"},
					"additionalProperties": false,
				},
			},
		},
		"required":             []any{"guidelines"},
		"additionalProperties": false,
	}
}

// schemaName names the answer schema.
const schemaName = "guidelines"

// userPrompt renders the user message: the judge's instructions, the
// existing guidelines and the records, one JSON object a line.
func userPrompt(instructions string, existing []string, records []string) string {
	var b strings.Builder
	b.WriteString("# The judge's instructions\n\n")
	b.WriteString(strings.TrimSpace(instructions))
	b.WriteString("\n\n# Existing guidelines\n\n")
	if len(existing) == 0 {
		b.WriteString("None yet.\n")
	}
	for _, g := range existing {
		b.WriteString("- ")
		b.WriteString(g)
		b.WriteString("\n")
	}
	b.WriteString("\n# Examples\n\n")
	b.WriteString("Each example is a JSON object on one line: its id, the material the judge saw, the person's result and the person's rationale.\n\n")
	for _, r := range records {
		b.WriteString(r)
		b.WriteString("\n")
	}
	return b.String()
}

// record is one example as the reflection model sees it.
type record struct {
	ID           int            `json:"id"`
	Inputs       string         `json:"inputs,omitempty"`
	Outputs      string         `json:"outputs,omitempty"`
	Expectations map[string]any `json:"expectations,omitempty"`
	Trace        string         `json:"trace,omitempty"`
	Result       any            `json:"result"`
	Rationale    string         `json:"rationale"`
}

// renderRecord writes example ex as the one-line JSON record with the given
// id.
func renderRecord(id int, ex *judge.Example) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(record{
		ID: id, Inputs: ex.Inputs, Outputs: ex.Outputs, Expectations: ex.Expectations, Trace: ex.Trace,
		Result: ex.Value, Rationale: ex.Rationale,
	})
	if err != nil {
		return "", fmt.Errorf("render example of trace %s: %w", ex.TraceID, err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// tokens estimates the tokens of s as MLflow does without a tokenizer: one
// token per four bytes, rounded up.
func tokens(s string) int { return (len(s) + 3) / 4 }

// batch is one distillation prompt's share of the examples.
type batch struct {
	examples []*judge.Example
	records  []string
}

// traceIDs returns the trace IDs of the batch's examples, in order.
func (b *batch) traceIDs() []string {
	ids := make([]string, len(b.examples))
	for i, ex := range b.examples {
		ids[i] = ex.TraceID
	}
	return ids
}

// planBatches packs examples greedily, in order, into batches of at most
// maxRecords whose prompt stays within budget tokens: base is the cost of
// the prompt without records. A record that alone exceeds the budget gets a
// batch of its own.
func planBatches(examples []*judge.Example, base, budget, maxRecords int) ([]batch, error) {
	var (
		out  []batch
		cur  batch
		used = base
	)
	for _, ex := range examples {
		// Render with the id the record would have in the current batch;
		// ids have few digits, so the cost barely depends on it.
		id := len(cur.examples)
		line, err := renderRecord(id, ex)
		if err != nil {
			return nil, err
		}
		cost := tokens(line) + 1 // the newline
		if len(cur.examples) > 0 && (len(cur.examples) == maxRecords || used+cost > budget) {
			out = append(out, cur)
			cur, used = batch{}, base
			if line, err = renderRecord(0, ex); err != nil {
				return nil, err
			}
			cost = tokens(line) + 1
		}
		cur.examples = append(cur.examples, ex)
		cur.records = append(cur.records, line)
		used += cost
	}
	if len(cur.examples) > 0 {
		out = append(out, cur)
	}
	return out, nil
}

// candidate is one guideline a batch proposed, with the trace IDs it came
// from.
type candidate struct {
	text    string
	sources []string
}

// rawGuideline is one guideline as the model wrote it, before its ids are
// mapped.
type rawGuideline struct {
	text string
	ids  []any
}

// parseGuidelines decodes a distillation answer robustly: a JSON object
// with a "guidelines" array, possibly in a markdown fence or surrounded by
// prose, or a bare array. Items that are not objects are skipped; the text
// may be under guideline_text, text or guideline and the ids under
// source_trace_ids or source_ids, as a list or a single value.
func parseGuidelines(content string) ([]rawGuideline, error) {
	v, err := decodeLenient(content)
	if err != nil {
		return nil, err
	}
	var items []any
	switch v := v.(type) {
	case map[string]any:
		g, ok := v["guidelines"]
		if !ok {
			return nil, errors.New(`answer has no "guidelines" member`)
		}
		if g == nil {
			return nil, nil
		}
		if items, ok = g.([]any); !ok {
			return nil, errors.New(`"guidelines" is not a list`)
		}
	case []any:
		items = v
	default:
		return nil, errors.New("answer is not a JSON object")
	}
	var out []rawGuideline
	for _, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			continue
		}
		var g rawGuideline
		for _, k := range []string{"guideline_text", "text", "guideline"} {
			if s, ok := obj[k].(string); ok {
				g.text = s
				break
			}
		}
	sourceKeys:
		for _, k := range []string{"source_trace_ids", "source_ids"} {
			switch ids := obj[k].(type) {
			case nil:
			case []any:
				g.ids = ids
				break sourceKeys
			default:
				g.ids = []any{ids}
				break sourceKeys
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// decodeLenient decodes the first JSON value in text: the whole text, the
// content of a markdown fence, or the span from the first '{' or '[' to the
// last matching bracket.
func decodeLenient(text string) (any, error) {
	text = strings.TrimSpace(strings.TrimPrefix(text, "\ufeff"))
	if text == "" {
		return nil, errors.New("answer is empty")
	}
	try := func(s string) (any, bool) {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return nil, false
		}
		return v, true
	}
	if v, ok := try(text); ok {
		return v, nil
	}
	if i := strings.Index(text, "```"); i >= 0 {
		rest := text[i+3:]
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[nl+1:]
		}
		if j := strings.Index(rest, "```"); j >= 0 {
			rest = rest[:j]
		}
		if v, ok := try(rest); ok {
			return v, nil
		}
	}
	for _, pair := range [...][2]string{{"{", "}"}, {"[", "]"}} {
		i, j := strings.Index(text, pair[0]), strings.LastIndex(text, pair[1])
		if i >= 0 && j > i {
			if v, ok := try(text[i : j+1]); ok {
				return v, nil
			}
		}
	}
	return nil, fmt.Errorf("answer is not JSON: %q", shorten(text, 120))
}

// mapIDs turns the ids a model cited into the batch's trace IDs: a number
// is an index into the batch, a string is a trace ID of the batch or else a
// numeric index. Unknown ids are dropped; each trace ID appears once, in
// the order first cited.
func mapIDs(ids []any, traceIDs []string) []string {
	var out []string
	add := func(id string) {
		for _, have := range out {
			if have == id {
				return
			}
		}
		out = append(out, id)
	}
	index := func(f float64) {
		if f == math.Trunc(f) && f >= 0 && f < float64(len(traceIDs)) {
			add(traceIDs[int(f)])
		}
	}
	for _, id := range ids {
		switch id := id.(type) {
		case json.Number:
			if f, err := id.Float64(); err == nil {
				index(f)
			}
		case float64:
			index(id)
		case string:
			s := strings.TrimSpace(id)
			found := false
			for _, t := range traceIDs {
				if t == s {
					add(t)
					found = true
					break
				}
			}
			if !found {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					index(f)
				}
			}
		}
	}
	return out
}

// batchOutcome is what one distillation prompt gave.
type batchOutcome struct {
	candidates []candidate
	rejected   int   // guidelines with no text or no known source
	err        error // the batch failed
	usage      pluginapi.Usage
}

// readAnswer turns the chat result of batch b into candidates.
func readAnswer(res pluginapi.ChatResult, b *batch) batchOutcome {
	out := batchOutcome{usage: res.Usage}
	if err := res.Err(); err != nil {
		out.err = err
		return out
	}
	raws, err := parseGuidelines(res.Content)
	if err != nil {
		out.err = err
		return out
	}
	ids := b.traceIDs()
	for _, r := range raws {
		text := strings.Join(strings.Fields(r.text), " ")
		sources := mapIDs(r.ids, ids)
		if text == "" || len(sources) == 0 {
			out.rejected++
			continue
		}
		out.candidates = append(out.candidates, candidate{text: text, sources: sources})
	}
	return out
}

// shorten cuts s to at most n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
