package judge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Input is what one judgement is about. Only the fields the judge's template
// uses are read; each of them must be set.
type Input struct {
	// Inputs and Outputs are the application's input and output: strings,
	// or values decoded from JSON. Nil means not supplied.
	Inputs  any `json:"inputs,omitempty"`
	Outputs any `json:"outputs,omitempty"`
	// Expectations maps expectation names (expected_response,
	// expected_facts, guidelines, …) to their JSON values. Empty means not
	// supplied.
	Expectations map[string]any `json:"expectations,omitempty"`
	// Trace is the trace, already rendered to text by the caller. Empty
	// means not supplied.
	Trace string `json:"trace,omitempty"`
	// Conversation is a session's messages, oldest first. Empty means not
	// supplied.
	Conversation []Message `json:"conversation,omitempty"`
}

// Message is one chat message.
type Message struct {
	// Role is "system", "user", "assistant" or "tool".
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one chat completion that asks a model for a judgement.
type Request struct {
	// Model is the judge's model URI; empty means the configured default.
	Model string `json:"model,omitempty"`
	// Messages are the system message and the user message.
	Messages []Message `json:"messages"`
	// Schema is the JSON schema of the answer, suitable for OpenAI's strict
	// structured outputs: an object with "rationale" and "result".
	Schema map[string]any `json:"schema"`
	// SchemaName names the schema for providers that need a name.
	SchemaName string `json:"schema_name"`
	// Params are the judge's inference parameters, to merge into the
	// completion request. Nil when the judge has none.
	Params map[string]any `json:"params,omitempty"`
}

// SchemaName is the name of the answer schema in every [Request].
const SchemaName = "judgement"

// MissingInputError reports that the judge's template uses a variable for
// which the [Input] has no value.
type MissingInputError struct {
	Variable Variable
}

func (e *MissingInputError) Error() string {
	return fmt.Sprintf("must supply %s: required by the judge's instructions", e.Variable)
}

// RequestOption configures one judgement request.
type RequestOption interface {
	applyRequest(*requestSettings)
}

type requestSettings struct {
	guidelines []string
	examples   []Example
}

type examplesOption []Example

func (o examplesOption) applyRequest(r *requestSettings) { r.examples = append(r.examples, o...) }

// WithExamples shows examples of the team's expert judgements with the
// request: typically the stored examples of an aligned judge that are most
// similar to the input. Only the example fields the judge's template uses
// are shown, with the human's value and rationale.
func WithExamples(examples ...Example) RequestOption {
	return examplesOption(slices.Clone(examples))
}

// sectionDescription says what the section of variable v holds, for the
// system message.
func sectionDescription(v Variable) string {
	switch v {
	case Inputs:
		return "the input given to the AI application"
	case Outputs:
		return "the output the AI application produced"
	case Expectations:
		return "the expected results provided by the team, as ground truth"
	case Trace:
		return "a record of one run of the AI application: the request, the final response and every step in between, such as retrieved documents and tool calls"
	case Conversation:
		return "a conversation between a user and the AI application"
	}
	return string(v)
}

// Request builds the chat request that asks the judge's model for one
// judgement about in.
//
// The system message holds a fixed preamble, the judge's instructions with
// each {{ variable }} replaced by a reference to its section, such as
// <outputs>, then the guidelines (the judge's memory guidelines followed by
// any given by [WithGuidelines]) and the examples given by [WithExamples],
// and finally the answer format. The user message holds one section per
// variable the template uses, in the fixed order of [AllowedVariables],
// each enclosed in tags named after it: strings as they are, other values as
// indented JSON, a conversation as "role: content" turns.
//
// A variable the template uses but in does not supply fails with a
// *MissingInputError.
func (j *Judge) Request(in Input, opts ...RequestOption) (*Request, error) {
	vars, err := j.Variables()
	if err != nil {
		return nil, fmt.Errorf("judge %q: %w", j.Name, err)
	}
	if err := j.ValueType.Validate(); err != nil {
		return nil, fmt.Errorf("judge %q: %w", j.Name, err)
	}
	var rs requestSettings
	for _, o := range opts {
		o.applyRequest(&rs)
	}

	sections := make([]string, 0, len(vars))
	for _, v := range vars {
		text, err := renderSection(v, in)
		if err != nil {
			return nil, fmt.Errorf("judge %q: %w", j.Name, err)
		}
		sections = append(sections, fmt.Sprintf("<%s>\n%s\n</%s>", v, text, v))
	}
	user := strings.Join(sections, "\n\n") +
		"\n\nJudge the material above by the instructions, and answer with the JSON object only."

	var guidelines []string
	if j.Memory != nil {
		for _, g := range j.Memory.Guidelines {
			guidelines = append(guidelines, g.Text)
		}
	}
	guidelines = append(guidelines, rs.guidelines...)

	var system strings.Builder
	system.WriteString("You are an expert judge evaluating the output of an AI application. ")
	system.WriteString("Follow the instructions below exactly and judge rigorously and impartially: base your judgement only on the material you are given, ")
	system.WriteString("do not reward length or a confident tone, and do not give the benefit of the doubt where the instructions call for evidence.\n\n")
	system.WriteString("The material to judge is in the user message, each part enclosed in tags named after it:\n")
	for _, v := range vars {
		fmt.Fprintf(&system, "- <%s>: %s\n", v, sectionDescription(v))
	}
	system.WriteString("The instructions refer to each part by its tag.\n\n")
	system.WriteString("# Instructions\n\n")
	system.WriteString(strings.TrimSpace(substitute(j.Instructions)))
	system.WriteString("\n")
	writeGuidelines(&system, guidelines)
	if err := writeExamples(&system, rs.examples, vars, j.ValueType); err != nil {
		return nil, fmt.Errorf("judge %q: %w", j.Name, err)
	}
	system.WriteString("\n# Answer format\n\n")
	system.WriteString("Answer with a JSON object only, without markdown, with exactly two keys:\n")
	system.WriteString(`- "rationale": your reasoning, written before you decide: a few sentences that cite the evidence in the material.` + "\n")
	fmt.Fprintf(&system, "- \"result\": %s.\n", j.ValueType.describe())

	return &Request{
		Model: j.Model,
		Messages: []Message{
			{Role: "system", Content: system.String()},
			{Role: "user", Content: user},
		},
		Schema:     j.ValueType.answerSchema(),
		SchemaName: SchemaName,
		Params:     j.clonedParams(),
	}, nil
}

func (j *Judge) clonedParams() map[string]any {
	if len(j.InferenceParams) == 0 {
		return nil
	}
	p, _ := copyAny(j.InferenceParams).(map[string]any)
	return p
}

// substitute replaces each {{ variable }} in instructions by <variable>,
// the tag of its section.
func substitute(instructions string) string {
	return placeholder.ReplaceAllString(instructions, "<$1>")
}

// renderSection renders the value in for variable v, or fails with a
// *MissingInputError when in has none.
func renderSection(v Variable, in Input) (string, error) {
	missing := &MissingInputError{Variable: v}
	switch v {
	case Inputs:
		if in.Inputs == nil {
			return "", missing
		}
		return renderValue(in.Inputs)
	case Outputs:
		if in.Outputs == nil {
			return "", missing
		}
		return renderValue(in.Outputs)
	case Expectations:
		if len(in.Expectations) == 0 {
			return "", missing
		}
		return renderValue(in.Expectations)
	case Trace:
		if strings.TrimSpace(in.Trace) == "" {
			return "", missing
		}
		return in.Trace, nil
	case Conversation:
		if len(in.Conversation) == 0 {
			return "", missing
		}
		turns := make([]string, len(in.Conversation))
		for i, m := range in.Conversation {
			turns[i] = m.Role + ": " + m.Content
		}
		return strings.Join(turns, "\n\n"), nil
	}
	return "", fmt.Errorf("unknown template variable %q", v)
}

// renderValue renders a string as it is and any other value as indented
// JSON.
func renderValue(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("render value as JSON: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// writeGuidelines appends the guidelines block, each distinct text once.
func writeGuidelines(b *strings.Builder, guidelines []string) {
	seen := map[string]bool{}
	var list []string
	for _, g := range guidelines {
		g = strings.TrimSpace(g)
		if g == "" || seen[g] {
			continue
		}
		seen[g] = true
		list = append(list, g)
	}
	if len(list) == 0 {
		return
	}
	b.WriteString("\n# Guidelines\n\n")
	b.WriteString("These guidelines come from the team's experts. Apply every one of them in your judgement; where one conflicts with your own view of quality, the guideline wins. ")
	b.WriteString("Weave them into your reasoning, but never mention in your rationale that you were given guidelines.\n\n")
	for _, g := range list {
		b.WriteString("- ")
		b.WriteString(g)
		b.WriteString("\n")
	}
}

// writeExamples appends the block of expert judgements, showing for each
// example the fields the template uses and the human's value, normalised to
// the judge's value type when it fits.
func writeExamples(b *strings.Builder, examples []Example, vars []Variable, vt ValueType) error {
	if len(examples) == 0 {
		return nil
	}
	b.WriteString("\n# Examples of judgements by the team's experts\n\n")
	b.WriteString("These are judgements the team's experts made on similar material. Judge the new material the way they would, following their reasoning where it applies. ")
	b.WriteString("Some parts of the material may be left out of an example. Never mention these examples in your rationale.\n")
	for i, ex := range examples {
		fmt.Fprintf(b, "\n<example number=\"%d\">\n", i+1)
		for _, v := range vars {
			var text string
			switch v {
			case Inputs:
				text = ex.Inputs
			case Outputs:
				text = ex.Outputs
			case Trace:
				text = ex.Trace
			case Expectations:
				if len(ex.Expectations) > 0 {
					s, err := renderValue(ex.Expectations)
					if err != nil {
						return fmt.Errorf("example %d (trace %s): %w", i+1, ex.TraceID, err)
					}
					text = s
				}
			}
			if text != "" {
				fmt.Fprintf(b, "<%s>\n%s\n</%s>\n", v, text, v)
			}
		}
		value := ex.Value
		if v, err := vt.Normalize(value); err == nil {
			value = v
		}
		fmt.Fprintf(b, "<result>%s</result>\n", valueText(value))
		if r := strings.TrimSpace(ex.Rationale); r != "" {
			fmt.Fprintf(b, "<rationale>%s</rationale>\n", r)
		}
		b.WriteString("</example>\n")
	}
	return nil
}

// valueText writes a judge value as plain text: strings without quotes.
func valueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return describe(v)
}

// describe says, for the answer format, what the result must be.
func (v ValueType) describe() string {
	switch v.Effective() {
	case Boolean:
		return `"yes" or "no", as the instructions define them`
	case Categorical:
		quoted := make([]string, len(v.Values))
		for i, s := range v.Values {
			quoted[i] = fmt.Sprintf("%q", s)
		}
		return "exactly one of " + strings.Join(quoted, ", ") + ", spelled as listed"
	case Integer:
		return strings.TrimSpace("a whole number " + v.rangeText() + " (a JSON integer, not a string)")
	case Float:
		return strings.TrimSpace("a number " + v.rangeText() + " (a JSON number, not a string)")
	}
	return "your judgement, as a short text"
}

// answerSchema returns the JSON schema of the {rationale, result} answer.
// It keeps to the subset OpenAI's strict structured outputs accept: every
// property required, no additional properties.
func (v ValueType) answerSchema() map[string]any {
	var result map[string]any
	switch v.Effective() {
	case Boolean:
		result = map[string]any{"type": "string", "enum": []any{Yes, No}}
	case Categorical:
		enum := make([]any, len(v.Values))
		for i, s := range v.Values {
			enum[i] = s
		}
		result = map[string]any{"type": "string", "enum": enum}
	case Integer, Float:
		typ, bound := "number", func(f float64) any { return f }
		if v.Effective() == Integer {
			typ, bound = "integer", func(f float64) any { return int64(f) }
		}
		result = map[string]any{"type": typ}
		if v.Min != nil {
			result["minimum"] = bound(*v.Min)
		}
		if v.Max != nil {
			result["maximum"] = bound(*v.Max)
		}
	default:
		result = map[string]any{"type": "string"}
	}
	result["description"] = "The judgement: " + v.describe() + "."
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"rationale": map[string]any{
				"type":        "string",
				"description": "Reasoning that leads to the result, citing the evidence, written before deciding.",
			},
			"result": result,
		},
		"required":             []any{"rationale", "result"},
		"additionalProperties": false,
	}
}
