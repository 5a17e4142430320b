package llm

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/alignhost/alignhost/judge"
	openai "github.com/sashabaranov/go-openai"
)

// ParamError reports an inference parameter that cannot be sent.
type ParamError struct {
	Param  string
	Reason string
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameter %s: %s", e.Param, e.Reason) }

// Is makes a ParamError match [ErrInvalidRequest].
func (e *ParamError) Is(target error) bool { return target == ErrInvalidRequest }

// param maps one inference parameter onto the request; it returns the
// canonical value that enters the cache key.
type param func(r *openai.ChatCompletionRequest, v any) (any, error)

// params are the inference parameters ChatRequest.Params accepts.
var params = map[string]param{
	"temperature": floatParam(0, 2, func(r *openai.ChatCompletionRequest, f float32) { r.Temperature = f }),
	"top_p":       floatParam(0, 1, func(r *openai.ChatCompletionRequest, f float32) { r.TopP = f }),
	"presence_penalty": floatParam(-2, 2, func(r *openai.ChatCompletionRequest, f float32) {
		r.PresencePenalty = f
	}),
	"frequency_penalty": floatParam(-2, 2, func(r *openai.ChatCompletionRequest, f float32) {
		r.FrequencyPenalty = f
	}),
	"max_tokens":            intParam(1, func(r *openai.ChatCompletionRequest, n int) { r.MaxTokens = n }),
	"max_completion_tokens": intParam(1, func(r *openai.ChatCompletionRequest, n int) { r.MaxCompletionTokens = n }),
	"seed":                  intParam(math.MinInt, func(r *openai.ChatCompletionRequest, n int) { r.Seed = &n }),
	"stop":                  stopParam,
	"logit_bias":            logitBiasParam,
	"reasoning_effort":      stringParam(func(r *openai.ChatCompletionRequest, s string) { r.ReasoningEffort = s }),
	"service_tier": stringParam(func(r *openai.ChatCompletionRequest, s string) {
		r.ServiceTier = openai.ServiceTier(s)
	}),
	"verbosity": stringParam(func(r *openai.ChatCompletionRequest, s string) { r.Verbosity = s }),
	"user":      stringParam(func(r *openai.ChatCompletionRequest, s string) { r.User = s }),
}

// ParamNames returns the inference parameters [ChatRequest.Params] accepts,
// sorted.
func ParamNames() []string {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// applyParams sets in on r and returns the canonical parameters.
func applyParams(r *openai.ChatCompletionRequest, in map[string]any) (map[string]any, error) {
	if len(in) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make(map[string]any, len(in))
	for _, n := range names {
		p, ok := params[n]
		if !ok {
			return nil, &ParamError{Param: n, Reason: "unknown (known: " + strings.Join(ParamNames(), ", ") + ")"}
		}
		v, err := p(r, in[n])
		if err != nil {
			return nil, &ParamError{Param: n, Reason: err.Error()}
		}
		out[n] = v
	}
	return out, nil
}

func floatParam(lo, hi float64, set func(*openai.ChatCompletionRequest, float32)) param {
	return func(r *openai.ChatCompletionRequest, v any) (any, error) {
		f, ok := judge.Number(v)
		if !ok {
			return nil, fmt.Errorf("want a number, got %s", typeName(v))
		}
		if f < lo || f > hi {
			return nil, fmt.Errorf("%g is outside [%g, %g]", f, lo, hi)
		}
		f32 := float32(f)
		if f32 == 0 {
			// go-openai omits zero floats; the smallest positive float32
			// is sent instead and means zero to every provider.
			f32 = math.SmallestNonzeroFloat32
		}
		set(r, f32)
		return f, nil
	}
}

func intParam(lo int, set func(*openai.ChatCompletionRequest, int)) param {
	return func(r *openai.ChatCompletionRequest, v any) (any, error) {
		f, ok := judge.Number(v)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, fmt.Errorf("want an integer, got %s", typeName(v))
		}
		n := int(f)
		if n < lo {
			return nil, fmt.Errorf("%d is below %d", n, lo)
		}
		set(r, n)
		return int64(n), nil
	}
}

func stringParam(set func(*openai.ChatCompletionRequest, string)) param {
	return func(r *openai.ChatCompletionRequest, v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", typeName(v))
		}
		set(r, s)
		return s, nil
	}
}

func stopParam(r *openai.ChatCompletionRequest, v any) (any, error) {
	var stop []string
	switch v := v.(type) {
	case string:
		stop = []string{v}
	case []string:
		stop = slices.Clone(v)
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want a string or a list of strings, got a list holding %s", typeName(e))
			}
			stop = append(stop, s)
		}
	default:
		return nil, fmt.Errorf("want a string or a list of strings, got %s", typeName(v))
	}
	r.Stop = stop
	return stop, nil
}

func logitBiasParam(r *openai.ChatCompletionRequest, v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a table of token id to bias, got %s", typeName(v))
	}
	bias := make(map[string]int, len(m))
	for tok, b := range m {
		f, ok := judge.Number(b)
		if !ok || f != math.Trunc(f) || f < -100 || f > 100 {
			return nil, fmt.Errorf("token %s: want an integer in [-100, 100]", tok)
		}
		bias[tok] = int(f)
	}
	r.LogitBias = bias
	return bias, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	if _, ok := judge.Number(v); ok {
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
