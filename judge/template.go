package judge

import (
	"fmt"
	"regexp"
	"strings"
)

// Variable is a template variable a judge's instructions may use.
type Variable string

// The template variables. No others are allowed.
const (
	Inputs       Variable = "inputs"
	Outputs      Variable = "outputs"
	Expectations Variable = "expectations"
	Trace        Variable = "trace"
	Conversation Variable = "conversation"
)

// allVariables lists every allowed template variable, in the fixed order in
// which a judge's input fields are presented.
var allVariables = [...]Variable{Inputs, Outputs, Expectations, Trace, Conversation}

// AllowedVariables returns the allowed template variables in their fixed
// order.
func AllowedVariables() []Variable { return append([]Variable(nil), allVariables[:]...) }

// placeholder matches {{ name }} with optional inner whitespace.
var placeholder = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// TemplateError reports instructions whose template variables are not
// acceptable.
type TemplateError struct {
	// Unknown lists variables that are not allowed, in order of appearance.
	Unknown []string
	// Reason explains any other problem (no variable at all, a bad
	// combination).
	Reason string
}

func (e *TemplateError) Error() string {
	allowed := make([]string, len(allVariables))
	for i, v := range allVariables {
		allowed[i] = "{{ " + string(v) + " }}"
	}
	if len(e.Unknown) > 0 {
		quoted := make([]string, len(e.Unknown))
		for i, u := range e.Unknown {
			quoted[i] = "{{ " + u + " }}"
		}
		return fmt.Sprintf("instructions use unknown template variable %s; allowed: %s",
			strings.Join(quoted, ", "), strings.Join(allowed, ", "))
	}
	return fmt.Sprintf("instructions: %s; allowed variables: %s", e.Reason, strings.Join(allowed, ", "))
}

// ParseVariables returns the template variables used by instructions, in the
// fixed order of [AllowedVariables] (not the order of appearance), each once.
// It fails with a *TemplateError when instructions use no variable, use one
// that is not allowed, or combine {{ conversation }} with anything but
// {{ expectations }}.
func ParseVariables(instructions string) ([]Variable, error) {
	used := map[Variable]bool{}
	var unknown []string
	for _, m := range placeholder.FindAllStringSubmatch(instructions, -1) {
		name := m[1]
		v := Variable(name)
		if !isAllowed(v) {
			unknown = append(unknown, name)
			continue
		}
		used[v] = true
	}
	if len(unknown) > 0 {
		return nil, &TemplateError{Unknown: unknown}
	}
	if len(used) == 0 {
		return nil, &TemplateError{Reason: "no template variable found; use at least one"}
	}
	if used[Conversation] {
		for v := range used {
			if v != Conversation && v != Expectations {
				return nil, &TemplateError{Reason: fmt.Sprintf(
					"{{ conversation }} can be combined only with {{ expectations }}, not with {{ %s }}", v)}
			}
		}
	}
	out := make([]Variable, 0, len(used))
	for _, v := range allVariables {
		if used[v] {
			out = append(out, v)
		}
	}
	return out, nil
}

func isAllowed(v Variable) bool {
	for _, a := range allVariables {
		if a == v {
			return true
		}
	}
	return false
}
