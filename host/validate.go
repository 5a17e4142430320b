package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
)

// The sizes a returned judge may have.
const (
	MaxInstructionsBytes = 64 << 10
	MaxGuidelines        = 1000
	MaxGuidelineBytes    = 4 << 10
	MaxMemoryExamples    = 100_000
	// MaxGuidelinesBytes bounds all guidelines together: they are sent
	// with every judgement the aligned judge makes, so they bound the
	// prompt it sends (about 64k tokens).
	MaxGuidelinesBytes = 256 << 10
	// MaxRetrievalK bounds how many stored examples every judgement
	// retrieves into its prompt.
	MaxRetrievalK = 100
)

// The sizes a report is trimmed to.
const (
	maxWarnings     = 100
	maxReportLine   = 1 << 10
	maxReportCounts = 100
)

// ValidateJudge reports whether got may replace base as the result of an
// alignment: it passes judge.Validate; it keeps base's name and value type
// (kind, values, bounds); it keeps base's model unless got's model is one
// of allowedModels; it keeps base's description, builtin, inference
// parameters and unknown members (judge.Judge.Extra); and it has at most
// [MaxInstructionsBytes] of instructions, [MaxGuidelines] guidelines of at
// most [MaxGuidelineBytes] each and [MaxGuidelinesBytes] together, a
// retrieval k of at most [MaxRetrievalK] and [MaxMemoryExamples] memory
// examples.
//
// allowedParams are the inference parameters got may change, add or drop.
func ValidateJudge(base, got *judge.Judge, allowedModels []string, allowedParams ...string) error {
	if got == nil {
		return errors.New("no judge returned")
	}
	if err := sameContract(base, got, allowedModels, allowedParams); err != nil {
		return err
	}
	if err := got.Validate(); err != nil {
		return err
	}
	if n := len(got.Instructions); n > MaxInstructionsBytes {
		return fmt.Errorf("instructions are %d bytes, more than %d", n, MaxInstructionsBytes)
	}
	if m := got.Memory; m != nil {
		if len(m.Guidelines) > MaxGuidelines {
			return fmt.Errorf("memory holds %d guidelines, more than %d", len(m.Guidelines), MaxGuidelines)
		}
		total := 0
		for i, g := range m.Guidelines {
			if len(g.Text) > MaxGuidelineBytes {
				return fmt.Errorf("guideline %d is %d bytes, more than %d", i, len(g.Text), MaxGuidelineBytes)
			}
			total += len(g.Text)
		}
		if total > MaxGuidelinesBytes {
			return fmt.Errorf("the guidelines are %d bytes together, more than %d: every judgement would send them", total, MaxGuidelinesBytes)
		}
		if k := m.Retrieval.K; k > MaxRetrievalK {
			return fmt.Errorf("retrieval k is %d, more than %d: every judgement would send that many examples", k, MaxRetrievalK)
		}
		if len(m.Examples) > MaxMemoryExamples {
			return fmt.Errorf("memory holds %d examples, more than %d", len(m.Examples), MaxMemoryExamples)
		}
	}
	return nil
}

// sameContract reports whether got keeps base's name, value type and
// model (or a model in allowed).
func sameContract(base, got *judge.Judge, allowed, allowedParams []string) error {
	if got.Name != base.Name {
		return fmt.Errorf("the judge was renamed from %q to %q; a plugin must keep the name", base.Name, shorten(got.Name, 80))
	}
	bv, gv := base.ValueType, got.ValueType
	if bv.Effective() != gv.Effective() || !slices.Equal(bv.Values, gv.Values) || bv.Ordinal != gv.Ordinal || !sameBound(bv.Min, gv.Min) || !sameBound(bv.Max, gv.Max) {
		return fmt.Errorf("the judge's value type changed from %s to %s; a plugin must keep it", bv, gv)
	}
	if got.Model != base.Model && !slices.Contains(allowed, got.Model) {
		return fmt.Errorf("the judge's model changed from %q to %q, which the user did not allow", base.Model, shorten(got.Model, 80))
	}
	// What alignment is not for stays as it was: the description, the
	// built-in it came from, the inference parameters every judgement
	// sends (a plugin could raise max_tokens, the temperature or the
	// service tier of every later call), and members this host does not
	// know.
	if got.Description != base.Description {
		return errors.New("the judge's description changed; a plugin must keep it")
	}
	if got.Builtin != base.Builtin {
		return fmt.Errorf("the judge's builtin changed from %q to %q; a plugin must keep it", base.Builtin, shorten(got.Builtin, 80))
	}
	if k, changed := changedParam(base.InferenceParams, got.InferenceParams, allowedParams); changed {
		return fmt.Errorf("the judge's inference_params changed (%s), which the user did not allow", shorten(k, 80))
	}
	for k, v := range base.Extra {
		if w, ok := got.Extra[k]; !ok || !sameJSON(v, w) {
			return fmt.Errorf("the judge's member %q was dropped or changed; a plugin must keep members it does not know", shorten(k, 80))
		}
	}
	for k := range got.Extra {
		if _, ok := base.Extra[k]; !ok {
			return fmt.Errorf("the judge gained an unknown member %q", shorten(k, 80))
		}
	}
	return nil
}

// changedParam returns the first inference parameter, in name order, that
// differs between base and got and is not in allowed.
func changedParam(base, got map[string]any, allowed []string) (string, bool) {
	keys := map[string]bool{}
	for k := range base {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		if !slices.Contains(allowed, k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		bv, bok := base[k]
		gv, gok := got[k]
		if bok != gok || !sameJSON(bv, gv) {
			return k, true
		}
	}
	return "", false
}

// sameJSON reports whether a and b encode to the same JSON (so 1 and 1.0,
// or a nil and an empty map, are the same).
func sameJSON(a, b any) bool {
	norm := func(v any) string {
		if m, ok := v.(map[string]any); ok && len(m) == 0 {
			v = nil
		}
		if r, ok := v.(json.RawMessage); ok {
			var x any
			if json.Unmarshal(r, &x) != nil {
				return string(r)
			}
			v = x
		}
		bs, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		var x any
		if json.Unmarshal(bs, &x) == nil {
			bs, _ = json.Marshal(x)
		}
		return string(bs)
	}
	return norm(a) == norm(b)
}

func sameBound(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// shorten cuts s to at most n bytes on a rune boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// trimReport bounds a report's size and folds its lines.
func trimReport(r pluginapi.Report) pluginapi.Report {
	out := pluginapi.Report{Summary: shorten(oneLine(r.Summary), maxReportLine)}
	if len(r.Counts) > 0 {
		keys := make([]string, 0, len(r.Counts))
		for k := range r.Counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out.Counts = make(map[string]int, min(len(keys), maxReportCounts))
		for _, k := range keys[:min(len(keys), maxReportCounts)] {
			out.Counts[shorten(k, 100)] = r.Counts[k]
		}
	}
	for i, w := range r.Warnings {
		if i == maxWarnings {
			out.Warnings = append(out.Warnings, fmt.Sprintf("… %d more warnings", len(r.Warnings)-maxWarnings))
			break
		}
		out.Warnings = append(out.Warnings, shorten(oneLine(w), maxReportLine))
	}
	return out
}

// resolveConfig checks the user's configuration against the description
// and fills in defaults.
func resolveConfig(desc *pluginapi.Description, user map[string]any) (map[string]any, error) {
	out := map[string]any{}
	var unknown []string
	for k, v := range user {
		key, ok := desc.Key(k)
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		if err := key.Type.Check(v); err != nil {
			return nil, fmt.Errorf("config key %q: %w", k, err)
		}
		out[k] = v
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		accepted := make([]string, len(desc.Config))
		for i, k := range desc.Config {
			accepted[i] = k.Key
		}
		list := "none"
		if len(accepted) > 0 {
			list = strings.Join(accepted, ", ")
		}
		return nil, fmt.Errorf("config key %s is not accepted by the plugin; accepted: %s", strings.Join(unknown, ", "), list)
	}
	for _, k := range desc.Config {
		if _, set := out[k.Key]; !set && k.Default != nil {
			out[k.Key] = k.Default
		}
	}
	if _, err := json.Marshal(out); err != nil {
		return nil, fmt.Errorf("config cannot be encoded as JSON: %w", err)
	}
	return out, nil
}

// preparer builds requests and finishes results for one optimizer, the
// same way for a WebAssembly plugin and a native one.
type preparer struct {
	name   string
	desc   *pluginapi.Description
	sha256 string
	limits Limits
	roles  []Role
}

// request checks the input and builds the align request.
func (p *preparer) request(in Input) (*pluginapi.AlignRequest, error) {
	bad := func(format string, args ...any) error {
		return &Error{Plugin: p.name, Op: "align", Kind: InvalidInput, Message: fmt.Sprintf(format, args...)}
	}
	if in.Judge == nil {
		return nil, bad("no judge to align")
	}
	if err := in.Judge.Validate(); err != nil {
		return nil, &Error{Plugin: p.name, Op: "align", Kind: InvalidInput, Message: err.Error(), Err: err}
	}
	if need := max(1, p.desc.MinExamples); len(in.Examples) < need {
		return nil, bad("needs at least %d labelled examples, got %d", need, len(in.Examples))
	}
	cfg, err := resolveConfig(p.desc, in.Config)
	if err != nil {
		return nil, &Error{Plugin: p.name, Op: "align", Kind: InvalidInput, Message: err.Error(), Err: err}
	}
	req := &pluginapi.AlignRequest{
		Judge:       in.Judge,
		Examples:    in.Examples,
		Config:      cfg,
		JudgeModels: in.JudgeModels,
		JudgeParams: in.JudgeParams,
		Seed:        in.Seed & (1<<53 - 1),
		Budget: pluginapi.Budget{
			ModelCalls: p.limits.ModelCalls, Tokens: p.limits.Tokens, WallTimeMS: p.limits.WallTimeMS,
		},
	}
	if req.Examples == nil {
		req.Examples = []judge.Example{}
	}
	for _, s := range in.Skipped {
		req.Skipped = append(req.Skipped, pluginapi.Skip{TraceID: s.TraceID, Reason: s.Reason})
	}
	for _, r := range p.roles {
		req.Models = append(req.Models, pluginapi.Model{Name: r.Name, Kind: r.Kind, Dimensions: r.Dimensions})
	}
	if p.desc.WantsTraces {
		for i, t := range in.Traces {
			raw, err := json.Marshal(t)
			if err != nil {
				return nil, bad("encode trace %d: %v", i, err)
			}
			req.Traces = append(req.Traces, raw)
		}
	}
	return req, nil
}

// finish validates a response and makes the result.
func (p *preparer) finish(in Input, resp *pluginapi.AlignResponse, usage Usage, took time.Duration) (*Result, error) {
	if err := ValidateJudge(in.Judge, resp.Judge, in.JudgeModels, in.JudgeParams...); err != nil {
		return nil, &Error{Plugin: p.name, Op: "align", Kind: InvalidJudge, Message: "returned an invalid judge: " + err.Error(), Err: err}
	}
	j := resp.Judge
	j.Provenance = &judge.Provenance{
		BaseJudge:        in.Judge.Name,
		Optimizer:        p.desc.Name,
		OptimizerVersion: p.desc.Version,
		OptimizerSHA256:  p.sha256,
		NumTraces:        len(in.Examples),
		AlignedAt:        time.Now().UTC().Truncate(time.Millisecond),
	}
	return &Result{Judge: j, Report: trimReport(resp.Report), Usage: usage, Duration: took}, nil
}

// roleMap indexes roles by name.
func roleMap(roles []Role) map[string]Role {
	m := make(map[string]Role, len(roles))
	for _, r := range roles {
		m[r.Name] = r
	}
	return m
}
