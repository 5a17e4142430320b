package llmsim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// material is what one judgement is about, read from the tagged sections
// of a judge prompt or from an example: the customer's side (question,
// with plan when the input names one) and the application's reply.
type material struct {
	question string // the main text of the input: its longest string value
	inputs   string // every string value of the input, for word comparisons
	plan     string // "Free", "Team", "Enterprise" or ""
	answer   string // the reply: the longest string value of the output
}

// example is one expert judgement shown in a judge prompt.
type example struct {
	material
	result    string
	rationale string
}

// judgePrompt is a judge request as the simulated model reads it.
// The judge's instructions are not read: the simulated judge applies the
// same rubric to every yes/no judge.
type judgePrompt struct {
	guidelines []string
	examples   []example
	material   material
}

// Headings of the system message written by judge.Judge.Request, which
// puts them after the judge's own instructions, in this order.
const (
	headGuidelines = "# Guidelines\n"
	headExamples   = "# Examples of judgements by the team's experts\n"
	headAnswer     = "# Answer format\n"
)

var (
	exampleBlock = regexp.MustCompile(`(?s)<example number="\d+">\n(.*?)</example>`)
	resultTag    = regexp.MustCompile(`(?s)<result>(.*?)</result>`)
	rationaleTag = regexp.MustCompile(`(?s)<rationale>(.*?)</rationale>`)
)

// parseJudgePrompt reads the system and user messages of a judge request.
func parseJudgePrompt(system, user string) (*judgePrompt, error) {
	// Cut from the end, so that headings inside the judge's instructions
	// or an example's text are not taken for the request's own.
	body, _ := cutLast(system, headAnswer)
	body, examples := cutLast(body, headExamples)
	_, guidelines := cutLast(body, headGuidelines)

	p := &judgePrompt{}
	for _, line := range strings.Split(guidelines, "\n") {
		if g, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok {
			p.guidelines = append(p.guidelines, strings.TrimSpace(g))
		}
	}
	for _, m := range exampleBlock.FindAllStringSubmatch(examples, -1) {
		block := m[1]
		ex := example{material: readMaterial(block)}
		if r := resultTag.FindStringSubmatch(block); r != nil {
			ex.result = strings.TrimSpace(r[1])
		}
		if r := rationaleTag.FindStringSubmatch(block); r != nil {
			ex.rationale = strings.TrimSpace(r[1])
		}
		p.examples = append(p.examples, ex)
	}
	p.material = readMaterial(user)
	if p.material.answer == "" && p.material.question == "" {
		return nil, fmt.Errorf("the user message has none of the sections <inputs>, <outputs>, <trace> or <conversation>")
	}
	return p, nil
}

// cutLast splits text at the last line that is the markdown heading head:
// before is the text above it, section the text under it. Without the
// heading, before is text and section is empty.
func cutLast(text, head string) (before, section string) {
	i := strings.LastIndex(text, "\n"+head)
	if i < 0 {
		return text, ""
	}
	return text[:i], text[i+1+len(head):]
}

// tagged returns the content of the first <tag>…</tag> section of text.
func tagged(text, tag string) (string, bool) {
	open, end := "<"+tag+">\n", "\n</"+tag+">"
	i := strings.Index(text, open)
	if i < 0 {
		return "", false
	}
	rest := text[i+len(open):]
	j := strings.Index(rest, end)
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// readMaterial reads the inputs and outputs sections of a prompt or an
// example. A judge that sees only the trace or the conversation gets it as
// both question and answer.
func readMaterial(text string) material {
	var m material
	if in, ok := tagged(text, "inputs"); ok {
		fields := stringFields(in)
		m.question = longest(fields)
		m.inputs = joinFields(fields)
		m.plan = planOf(fields, m.question)
	}
	if out, ok := tagged(text, "outputs"); ok {
		m.answer = longest(stringFields(out))
	}
	for _, tag := range []string{"trace", "conversation"} {
		if m.question != "" && m.answer != "" {
			break
		}
		if t, ok := tagged(text, tag); ok {
			if m.question == "" {
				m.question, m.inputs = t, t
				m.plan = planOf(nil, t)
			}
			if m.answer == "" {
				m.answer = t
			}
		}
	}
	return m
}

// field is one string value of a JSON input, with its key path.
type field struct {
	key, value string
}

// stringFields returns the string values of text read as JSON, in key
// order; text that is not a JSON object or array is one field with an
// empty key.
func stringFields(text string) []field {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return []field{{value: text}}
	}
	var out []field
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case string:
			out = append(out, field{key: key, value: v})
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(strings.TrimPrefix(key+"."+k, "."), v[k])
			}
		case []any:
			for _, e := range v {
				walk(key, e)
			}
		}
	}
	walk("", v)
	if len(out) == 0 {
		return []field{{value: text}}
	}
	return out
}

// longest returns the longest value: the question of an input, the reply
// of an output.
func longest(fields []field) string {
	best := ""
	for _, f := range fields {
		if len(f.value) > len(best) {
			best = f.value
		}
	}
	return best
}

func joinFields(fields []field) string {
	vals := make([]string, len(fields))
	for i, f := range fields {
		vals[i] = f.value
	}
	return strings.Join(vals, "\n")
}

// plans are the plan names of the fact sheet, in table order.
var plans = []string{"Free", "Team", "Enterprise"}

// customerPlan finds "on the Team plan", "our Free workspace", "we're on
// Enterprise" and the like in a question.
var customerPlan = regexp.MustCompile(`(?i)\b(?:on|our|the|a|my)\s+(free|team|enterprise)\b(?:\s+(?:plan|workspace|account|tier|subscription))?`)

// planOf returns the customer's plan: the value of an input field whose key
// names a plan or tier, else a plan the question says the customer is on.
func planOf(fields []field, question string) string {
	for _, f := range fields {
		k := strings.ToLower(f.key)
		if strings.Contains(k, "plan") || strings.Contains(k, "tier") {
			if p := canonicalPlan(f.value); p != "" {
				return p
			}
		}
	}
	if m := customerPlan.FindStringSubmatch(question); m != nil {
		return canonicalPlan(m[1])
	}
	return ""
}

func canonicalPlan(s string) string {
	for _, p := range plans {
		if strings.EqualFold(strings.TrimSpace(s), p) {
			return p
		}
	}
	return ""
}

// distillPrompt is a MemAlign distillation request as the simulated model
// reads it.
type distillPrompt struct {
	existing []string
	records  []record
}

// record is one example line of a distillation prompt.
type record struct {
	ID        int    `json:"id"`
	Inputs    string `json:"inputs"`
	Outputs   string `json:"outputs"`
	Result    any    `json:"result"`
	Rationale string `json:"rationale"`
}

// Headings of the distillation prompt written by plugins/memalign.
const (
	headExisting = "# Existing guidelines\n"
	headRecords  = "# Examples\n"
)

// parseDistillPrompt reads the user message of a distillation request: the
// existing guidelines and one JSON record a line.
func parseDistillPrompt(user string) (*distillPrompt, error) {
	before, records := cutLast(user, headRecords)
	if records == "" {
		return nil, fmt.Errorf("the prompt has no %q section", strings.TrimSpace(headRecords))
	}
	_, existing := cutLast(before, headExisting)
	p := &distillPrompt{}
	for _, line := range strings.Split(existing, "\n") {
		if g, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok {
			p.existing = append(p.existing, strings.TrimSpace(g))
		}
	}
	for n, line := range strings.Split(records, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("example line %d is not a JSON record: %w", n, err)
		}
		p.records = append(p.records, r)
	}
	if len(p.records) == 0 {
		return nil, fmt.Errorf("the prompt lists no examples")
	}
	return p, nil
}
