// Package fewshot is an example optimizer: it picks the k labelled examples
// that best cover the variety of the inputs and adds each to the judge as a
// guideline, so every judgement sees how the experts decided those cases.
//
// It shows the capabilities of the plugin ABI at work: embed (to measure
// how different examples are), chat (config "condense": the reflection
// model rewrites each example as a one-sentence rule) and evaluate (config
// "verify": the judge is run on the examples before and after, and the
// change is kept only if agreement with the experts does not drop).
//
// Selection is farthest-point sampling over the embeddings of the examples'
// query texts: start with the example nearest the centroid (the most
// typical case), then repeatedly add the example farthest from all picked
// so far. It is deterministic: ties go to the earlier example.
//
// The optimizer is an ordinary Go value; package wasm next to it registers
// it as a WebAssembly plugin:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o fewshot.wasm ./plugins/examples/fewshot/wasm
package fewshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
)

// Optimizer is the fewshot optimizer. The zero value is ready to use.
type Optimizer struct{}

// The configuration keys.
const (
	ConfigK        = "k"
	ConfigCondense = "condense"
	ConfigVerify   = "verify"
)

// maxField is how much of an example's input or output a guideline quotes.
const maxField = 300

// Describe implements pluginapi.Optimizer.
func (Optimizer) Describe() pluginapi.Description {
	return pluginapi.Description{
		Name:    "fewshot",
		Version: "1.0.0",
		Description: "Picks the k most diverse labelled examples (farthest-point sampling over embeddings) " +
			"and adds each to the judge as a guideline quoting the case and the expert's verdict.",
		Capabilities: []pluginapi.Capability{pluginapi.Embed, pluginapi.Chat, pluginapi.Evaluate},
		Config: []pluginapi.ConfigKey{
			{Key: ConfigK, Type: pluginapi.ConfigInteger, Default: 3, Description: "how many examples to add"},
			{Key: ConfigCondense, Type: pluginapi.ConfigBoolean, Default: false,
				Description: "ask the reflection model to condense each example into a one-sentence guideline"},
			{Key: ConfigVerify, Type: pluginapi.ConfigBoolean, Default: false,
				Description: "evaluate the judge on the examples before and after; keep the change only if agreement does not drop"},
		},
	}
}

// Align implements pluginapi.Optimizer.
func (Optimizer) Align(ctx context.Context, h pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
	k := req.ConfigInt(ConfigK, 3)
	if k < 1 {
		return nil, fmt.Errorf("config k must be at least 1, got %d", k)
	}
	report := pluginapi.Report{Counts: map[string]int{"examples_seen": len(req.Examples)}}

	// Examples already behind a guideline are not added again, so aligning
	// an aligned judge only adds what is new.
	used := map[string]bool{}
	if m := req.Judge.Memory; m != nil {
		for _, g := range m.Guidelines {
			for _, id := range g.SourceTraceIDs {
				used[id] = true
			}
		}
	}
	var candidates []judge.Example
	for _, ex := range req.Examples {
		if !used[ex.TraceID] {
			candidates = append(candidates, ex)
		}
	}
	if len(candidates) == 0 {
		report.Summary = "every example is already in the judge's guidelines"
		return &pluginapi.AlignResponse{Judge: req.Judge, Report: report}, nil
	}

	h.Progress(0, 3, "embedding examples")
	texts := make([]string, len(candidates))
	for i, ex := range candidates {
		texts[i] = queryText(ex)
	}
	emb, err := h.Embed(ctx, pluginapi.EmbedRequest{Inputs: texts})
	if err != nil {
		return nil, fmt.Errorf("embed examples: %w", err)
	}
	picked := Pick(emb.Vectors, min(k, len(candidates)))
	h.Log(pluginapi.LevelInfo, fmt.Sprintf("picked %d of %d examples", len(picked), len(candidates)))
	report.Counts["picked"] = len(picked)

	h.Progress(1, 3, "writing guidelines")
	texts = make([]string, len(picked))
	for i, idx := range picked {
		texts[i] = Guideline(candidates[idx])
	}
	if req.ConfigBool(ConfigCondense, false) {
		warnings, err := condense(ctx, h, candidates, picked, texts)
		if err != nil {
			return nil, err
		}
		report.Warnings = append(report.Warnings, warnings...)
	}
	aligned := req.Judge.Clone()
	if aligned.Memory == nil {
		aligned.Memory = &judge.Memory{}
	}
	for i, idx := range picked {
		aligned.Memory.Guidelines = append(aligned.Memory.Guidelines, judge.Guideline{
			Text: texts[i], SourceTraceIDs: []string{candidates[idx].TraceID},
		})
	}

	h.Progress(2, 3, "checking")
	if req.ConfigBool(ConfigVerify, false) {
		indices := make([]int, len(req.Examples))
		for i := range indices {
			indices[i] = i
		}
		before, err := agreement(ctx, h, req.Judge, indices)
		if err != nil {
			return nil, err
		}
		after, err := agreement(ctx, h, aligned, indices)
		if err != nil {
			return nil, err
		}
		report.Counts["agreement_before"] = before
		report.Counts["agreement_after"] = after
		if after < before {
			report.Summary = fmt.Sprintf("kept the judge unchanged: agreement would drop from %d to %d of %d", before, after, len(indices))
			report.Warnings = append(report.Warnings, "the picked examples made the judge agree less with the experts")
			h.Progress(3, 3, "done")
			return &pluginapi.AlignResponse{Judge: req.Judge, Report: report}, nil
		}
	}
	report.Counts["guidelines_added"] = len(picked)
	report.Summary = fmt.Sprintf("added %d example guidelines from %d examples", len(picked), len(req.Examples))
	h.Progress(3, 3, "done")
	return &pluginapi.AlignResponse{Judge: aligned, Report: report}, nil
}

// queryText is what is embedded for an example: the first of its inputs,
// outputs, trace and expectations that is set.
func queryText(ex judge.Example) string {
	for _, s := range []string{ex.Inputs, ex.Outputs, ex.Trace} {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	if len(ex.Expectations) > 0 {
		if b, err := json.Marshal(ex.Expectations); err == nil {
			return string(b)
		}
	}
	return "trace " + ex.TraceID
}

// Pick returns the indices of k vectors chosen by farthest-point sampling
// under cosine distance: first the vector nearest the centroid, then each
// time the one whose nearest picked vector is farthest. Ties go to the
// lower index.
func Pick(vectors [][]float32, k int) []int {
	n := len(vectors)
	if k <= 0 || n == 0 {
		return nil
	}
	k = min(k, n)
	unit := make([][]float64, n)
	var centroid []float64
	for i, v := range vectors {
		unit[i] = normalize(v)
		if centroid == nil {
			centroid = make([]float64, len(unit[i]))
		}
		for d := range min(len(centroid), len(unit[i])) {
			centroid[d] += unit[i][d]
		}
	}
	first, best := 0, math.Inf(-1)
	for i, u := range unit {
		if s := dot(u, centroid); s > best {
			first, best = i, s
		}
	}
	picked := []int{first}
	nearest := make([]float64, n) // distance to the nearest picked vector
	for i, u := range unit {
		nearest[i] = 1 - dot(u, unit[first])
	}
	for len(picked) < k {
		next, far := -1, math.Inf(-1)
		for i := range unit {
			if nearest[i] > far && !contains(picked, i) {
				next, far = i, nearest[i]
			}
		}
		picked = append(picked, next)
		for i, u := range unit {
			nearest[i] = min(nearest[i], 1-dot(u, unit[next]))
		}
	}
	return picked
}

func contains(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func normalize(v []float32) []float64 {
	out := make([]float64, len(v))
	var norm float64
	for i, x := range v {
		out[i] = float64(x)
		norm += float64(x) * float64(x)
	}
	if norm = math.Sqrt(norm); norm > 0 {
		for i := range out {
			out[i] /= norm
		}
	}
	return out
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range min(len(a), len(b)) {
		s += a[i] * b[i]
	}
	return s
}

// Guideline renders an example as a guideline: the case, quoted briefly,
// and the expert's verdict with the reason.
func Guideline(ex judge.Example) string {
	var b strings.Builder
	b.WriteString("In a case like")
	if ex.Inputs != "" {
		fmt.Fprintf(&b, " the request %q", clip(ex.Inputs))
	}
	if ex.Outputs != "" {
		if ex.Inputs != "" {
			b.WriteString(" answered with")
		} else {
			b.WriteString(" the answer")
		}
		fmt.Fprintf(&b, " %q", clip(ex.Outputs))
	}
	if ex.Inputs == "" && ex.Outputs == "" {
		fmt.Fprintf(&b, " trace %s", ex.TraceID)
	}
	fmt.Fprintf(&b, ", the experts' verdict was %s", valueText(ex.Value))
	if r := strings.TrimSpace(ex.Rationale); r != "" {
		fmt.Fprintf(&b, ": %s", clip(r))
	}
	out := b.String()
	if !strings.HasSuffix(out, ".") && !strings.HasSuffix(out, "!") && !strings.HasSuffix(out, "?") && !strings.HasSuffix(out, "…") {
		out += "."
	}
	return out
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxField {
		return s
	}
	cut := maxField
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

func valueText(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// condenseSchema is the answer the reflection model gives.
var condenseSchema = map[string]any{
	"type":                 "object",
	"properties":           map[string]any{"guideline": map[string]any{"type": "string"}},
	"required":             []any{"guideline"},
	"additionalProperties": false,
}

// condense asks the reflection model, in one batch, to rewrite each picked
// example as a one-sentence rule. A failed request keeps the plain
// rendering and becomes a warning.
func condense(ctx context.Context, h pluginapi.Host, candidates []judge.Example, picked []int, texts []string) ([]string, error) {
	reqs := make([]pluginapi.ChatRequest, len(picked))
	for i := range picked {
		reqs[i] = pluginapi.ChatRequest{
			Model: pluginapi.RoleReflection,
			Messages: []pluginapi.Message{
				{Role: "system", Content: "You turn an expert's judgement of one case into one short sentence stating the rule the expert applied, for an LLM judge to follow. Do not mention the case's details unless they define the rule."},
				{Role: "user", Content: texts[i]},
			},
			Schema:     condenseSchema,
			SchemaName: "guideline",
			Params:     map[string]any{"temperature": 0},
		}
	}
	results, err := h.Chat(ctx, reqs)
	if err != nil {
		return nil, fmt.Errorf("condense guidelines: %w", err)
	}
	var warnings []string
	for i, r := range results {
		var answer struct {
			Guideline string `json:"guideline"`
		}
		if err := r.Err(); err != nil {
			warnings = append(warnings, fmt.Sprintf("trace %s: kept the example as it is: %v", candidates[picked[i]].TraceID, err))
			continue
		}
		if err := json.Unmarshal([]byte(r.Content), &answer); err != nil || strings.TrimSpace(answer.Guideline) == "" {
			warnings = append(warnings, fmt.Sprintf("trace %s: kept the example as it is: the model's answer was not a guideline", candidates[picked[i]].TraceID))
			continue
		}
		texts[i] = clip(answer.Guideline)
	}
	return warnings, nil
}

// agreement evaluates j on the examples at indices and returns how many
// judgements agree with the experts.
func agreement(ctx context.Context, h pluginapi.Host, j *judge.Judge, indices []int) (int, error) {
	resp, err := h.Evaluate(ctx, pluginapi.EvaluateRequest{Judge: j, Indices: indices})
	if err != nil {
		return 0, fmt.Errorf("evaluate: %w", err)
	}
	agree, judged := pluginapi.Agreement(resp.Results)
	if judged == 0 {
		return 0, errors.New("evaluate: no example could be judged")
	}
	return agree, nil
}
