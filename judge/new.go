package judge

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLength is the maximum length of a judge name, in bytes.
const MaxNameLength = 200

// Option configures a judge made by [New] or [Builtin].
type Option interface {
	applyJudge(*settings)
}

// settings is what options configure: the judge being made, and the
// guidelines of the guidelines built-in judge.
type settings struct {
	judge      *Judge
	guidelines []string
	// withGuidelines records that WithGuidelines was given, even with no
	// text, so that New can reject it.
	withGuidelines bool
}

type optionFunc func(*settings)

func (f optionFunc) applyJudge(s *settings) { f(s) }

// WithName sets the judge's name, which is also the name of the feedback it
// produces. It is how a built-in judge gets a name other than its own.
func WithName(name string) Option {
	return optionFunc(func(s *settings) { s.judge.Name = name })
}

// WithDescription sets the judge's description, free text for people.
func WithDescription(description string) Option {
	return optionFunc(func(s *settings) { s.judge.Description = description })
}

// WithModel sets the model URI, such as "openai:/gpt-4.1-mini".
func WithModel(model string) Option {
	return optionFunc(func(s *settings) { s.judge.Model = model })
}

// WithValues makes the judge categorical, answering one of values.
func WithValues(values ...string) Option {
	return optionFunc(func(s *settings) {
		s.judge.ValueType = ValueType{Type: Categorical, Values: slices.Clone(values)}
	})
}

// WithValueType sets the type of the judge's value.
func WithValueType(vt ValueType) Option {
	return optionFunc(func(s *settings) { s.judge.ValueType = vt.clone() })
}

// WithInferenceParams sets the parameters merged into every completion
// request (temperature, top_p, max_tokens, seed, …). The map is copied.
func WithInferenceParams(params map[string]any) Option {
	return optionFunc(func(s *settings) {
		s.judge.InferenceParams, _ = copyAny(params).(map[string]any)
	})
}

// GuidelinesOption is returned by [WithGuidelines]. It is both an [Option]
// and a [RequestOption].
type GuidelinesOption struct {
	texts []string
}

// WithGuidelines gives guidelines, one rule per text.
//
// Given to [Builtin] for the "guidelines" judge, they become part of its
// instructions and are required; no other judge made by [Builtin] or [New]
// accepts them. Given to [Judge.Request], they are appended to the
// instructions of that one judgement, after the guidelines in the judge's
// memory, as an aligned judge's distilled guidelines are.
func WithGuidelines(texts ...string) GuidelinesOption {
	return GuidelinesOption{texts: slices.Clone(texts)}
}

func (o GuidelinesOption) applyJudge(s *settings) {
	s.withGuidelines = true
	s.guidelines = append(s.guidelines, o.texts...)
}

func (o GuidelinesOption) applyRequest(r *requestSettings) {
	r.guidelines = append(r.guidelines, o.texts...)
}

// New returns a custom judge with the given name and instructions, then
// configured by opts, or an error when the result does not pass
// [Judge.Validate]. Without WithValues or WithValueType the judge returns
// free text ([String]), as MLflow's make_judge does.
func New(name, instructions string, opts ...Option) (*Judge, error) {
	s := settings{judge: &Judge{Name: name, Instructions: instructions}}
	for _, o := range opts {
		o.applyJudge(&s)
	}
	if s.withGuidelines {
		return nil, fmt.Errorf("new judge %q: WithGuidelines applies only to the %q built-in judge; write guidelines into the instructions instead",
			name, "guidelines")
	}
	if err := s.judge.Validate(); err != nil {
		return nil, err
	}
	return s.judge, nil
}

// modelURI matches a model URI: a provider, optionally followed by ":/" and
// a model or endpoint name ("openai:/gpt-4.1-mini", "databricks").
var modelURI = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*(:/\S+)?$`)

// Validate reports whether the judge is usable:
//
//   - Name is non-empty, at most [MaxNameLength] bytes of valid UTF-8, with
//     no control characters, no leading or trailing space and no '@' (which
//     separates a name from a version, as in "quality@3"). Any other
//     character is allowed, because the name must equal the name under which
//     people record feedback, which MLflow does not restrict.
//   - Instructions are non-empty and use valid template variables (see
//     [ParseVariables]).
//   - Model, when set, is a model URI such as "openai:/gpt-4.1-mini".
//   - The value type is sound (see [ValueType.Validate]).
//   - InferenceParams can be encoded as JSON.
//   - Memory, when set, has a non-negative retrieval size and dimension, no
//     empty guideline, and examples whose values fit the value type and whose
//     embeddings have the stated dimension.
func (j *Judge) Validate() error {
	if err := validateName(j.Name); err != nil {
		return err
	}
	wrap := func(err error) error { return fmt.Errorf("judge %q: %w", j.Name, err) }
	if strings.TrimSpace(j.Instructions) == "" {
		return wrap(errors.New("instructions are empty"))
	}
	if _, err := j.Variables(); err != nil {
		return wrap(err)
	}
	if j.Model != "" && !modelURI.MatchString(j.Model) {
		return wrap(fmt.Errorf("model %q is not a model URI such as %q", j.Model, DefaultModel))
	}
	if err := j.ValueType.Validate(); err != nil {
		return wrap(err)
	}
	for k := range j.InferenceParams {
		if k == "" {
			return wrap(errors.New("inference_params has an empty key"))
		}
	}
	if _, err := json.Marshal(j.InferenceParams); err != nil {
		return wrap(fmt.Errorf("inference_params cannot be encoded as JSON: %w", err))
	}
	if j.Memory != nil {
		if err := j.validateMemory(); err != nil {
			return wrap(err)
		}
	}
	return nil
}

func validateName(name string) error {
	switch {
	case name == "":
		return errors.New("judge name is empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("judge name %.40q… is longer than %d bytes", name, MaxNameLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("judge name %q is not valid UTF-8", name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("judge name %q has leading or trailing space", name)
	case strings.ContainsRune(name, '@'):
		return fmt.Errorf("judge name %q contains '@', which separates a name from a version", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("judge name %q contains a control character", name)
		}
	}
	return nil
}

// Validate reports whether the value type is sound: a known kind; for a
// Categorical type at least two values, non-empty, without surrounding
// space and distinct ignoring case; Min and Max only for Integer and Float,
// finite, whole for Integer, with Min ≤ Max.
func (v ValueType) Validate() error {
	kind := v.Effective()
	switch kind {
	case Boolean, Categorical, Integer, Float, String:
	default:
		return fmt.Errorf("unknown value type %q; want %s, %s, %s, %s or %s",
			v.Type, Boolean, Categorical, Integer, Float, String)
	}
	if kind != Categorical && len(v.Values) > 0 {
		return fmt.Errorf("values are given for a %s judge; values apply only to %s judges", kind, Categorical)
	}
	if kind != Categorical && v.Ordinal {
		return fmt.Errorf("ordinal is set for a %s judge; it applies only to %s judges", kind, Categorical)
	}
	if kind != Integer && kind != Float && (v.Min != nil || v.Max != nil) {
		return fmt.Errorf("min or max is given for a %s judge; they apply only to %s and %s judges", kind, Integer, Float)
	}
	switch kind {
	case Categorical:
		if len(v.Values) < 2 {
			return fmt.Errorf("a %s judge needs at least two values, got %d", Categorical, len(v.Values))
		}
		for i, value := range v.Values {
			switch {
			case strings.TrimSpace(value) == "":
				return fmt.Errorf("values[%d] is empty", i)
			case strings.TrimSpace(value) != value:
				return fmt.Errorf("values[%d] %q has leading or trailing space", i, value)
			}
			for _, earlier := range v.Values[:i] {
				if strings.EqualFold(earlier, value) {
					return fmt.Errorf("values[%d] %q repeats %q (values are matched ignoring case)", i, value, earlier)
				}
			}
		}
	case Integer, Float:
		for _, b := range []struct {
			name string
			f    *float64
		}{{"min", v.Min}, {"max", v.Max}} {
			if b.f == nil {
				continue
			}
			if math.IsNaN(*b.f) || math.IsInf(*b.f, 0) {
				return fmt.Errorf("%s is not a finite number", b.name)
			}
			if kind == Integer && *b.f != math.Trunc(*b.f) {
				return fmt.Errorf("%s %s is not a whole number, as an %s judge needs", b.name, formatFloat(*b.f), Integer)
			}
		}
		if v.Min != nil && v.Max != nil && *v.Min > *v.Max {
			return fmt.Errorf("min %s is greater than max %s", formatFloat(*v.Min), formatFloat(*v.Max))
		}
	}
	return nil
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (j *Judge) validateMemory() error {
	m := j.Memory
	if m.Retrieval.K < 0 {
		return fmt.Errorf("memory.retrieval.k %d is negative", m.Retrieval.K)
	}
	if m.Retrieval.Dimensions < 0 {
		return fmt.Errorf("memory.retrieval.dimensions %d is negative", m.Retrieval.Dimensions)
	}
	for i, g := range m.Guidelines {
		if strings.TrimSpace(g.Text) == "" {
			return fmt.Errorf("memory.guidelines[%d] is empty", i)
		}
	}
	for i, ex := range m.Examples {
		if _, err := j.ValueType.Normalize(ex.Value); err != nil {
			return fmt.Errorf("memory.examples[%d] (trace %s): %w", i, ex.TraceID, err)
		}
		if n := len(ex.Embedding); n > 0 && m.Retrieval.Dimensions > 0 && n != m.Retrieval.Dimensions {
			return fmt.Errorf("memory.examples[%d] (trace %s): embedding has %d dimensions, want %d",
				i, ex.TraceID, n, m.Retrieval.Dimensions)
		}
	}
	return nil
}

// SessionLevel reports whether the judge judges a whole conversation (its
// instructions use {{ conversation }}) rather than a single trace.
func (j *Judge) SessionLevel() bool {
	vars, err := j.Variables()
	return err == nil && slices.Contains(vars, Conversation)
}
