package llmtest

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Reply is how the server answers one request. The zero Reply is an empty
// successful answer; the constructors below build the useful ones, and
// [Reply.After] adds latency to any of them.
type Reply struct {
	// Content is the assistant message of a successful chat answer.
	Content string
	// Refusal, when set, answers with a refusal instead of content.
	Refusal string
	// Status, when neither 0 nor 200, makes the reply an HTTP error with Body
	// (an OpenAI-style error object when Body is empty).
	Status int
	// Header is added to the response, successful or not.
	Header http.Header
	// Body is the raw body of an error reply.
	Body string
	// Delay is waited before answering (latency injection); a client that
	// gives up first sees a timeout.
	Delay time.Duration
	// Hang never answers: the request is held until the client gives up or
	// the server closes.
	Hang bool
	// Truncate answers 200 with the first half of the JSON body, as a
	// connection cut mid-response does.
	Truncate bool
	// PromptTokens and CompletionTokens are the usage reported with a
	// successful answer; zero means estimated as characters / 4.
	PromptTokens, CompletionTokens int
}

// Content answers with content.
func Content(content string) Reply { return Reply{Content: content} }

// Error answers with status and an OpenAI-style error object carrying
// message.
func Error(status int, message string) Reply {
	return Reply{Status: status, Body: errorBody(message, errorType(status), "")}
}

// RateLimited answers 429 with a Retry-After header of retryAfter, written in
// whole seconds when it is one and as retry-after-ms otherwise. A zero
// retryAfter sends no header.
func RateLimited(retryAfter time.Duration) Reply {
	r := Error(http.StatusTooManyRequests, "Rate limit reached for requests")
	switch {
	case retryAfter <= 0:
	case retryAfter%time.Second == 0:
		r = r.WithHeader("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	default:
		r = r.WithHeader("retry-after-ms", strconv.FormatInt(retryAfter.Milliseconds(), 10))
	}
	return r
}

// ServerError answers 500.
func ServerError() Reply {
	return Error(http.StatusInternalServerError, "The server had an error while processing your request")
}

// Refuse answers with a refusal message and no content.
func Refuse(refusal string) Reply { return Reply{Refusal: refusal} }

// Hang never answers; see [Reply.Hang].
func Hang() Reply { return Reply{Hang: true} }

// Truncated answers 200 with half of the JSON body that would carry content.
func Truncated(content string) Reply { return Reply{Content: content, Truncate: true} }

// After returns r delayed by d more.
func (r Reply) After(d time.Duration) Reply {
	r.Delay += d
	return r
}

// WithHeader returns r with the response header key set to value.
func (r Reply) WithHeader(key, value string) Reply {
	h := r.Header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	h.Set(key, value)
	r.Header = h
	return r
}

func (r Reply) isError() bool { return r.Status != 0 && r.Status != http.StatusOK }

// Responder scripts the server's chat answers. It is called concurrently,
// once per chat request that passed authentication and the structured-output
// check.
type Responder func(req openai.ChatCompletionRequest) Reply

// EmbedResponder scripts embedding answers. A zero Reply (or one that only
// sets Delay) means "answer with the deterministic vectors"; Content is
// ignored.
type EmbedResponder func(inputs []string, dimensions int) Reply

// Always answers every request with content.
func Always(content string) Responder {
	return func(openai.ChatCompletionRequest) Reply { return Content(content) }
}

// Sequence answers the n-th request (counting from 0) with replies[n] and
// every request after the last with the last reply. It panics without
// replies.
func Sequence(replies ...Reply) Responder {
	if len(replies) == 0 {
		panic("llmtest: Sequence needs at least one reply")
	}
	var n atomic.Int64
	return func(openai.ChatCompletionRequest) Reply {
		i := int(n.Add(1) - 1)
		return replies[min(i, len(replies)-1)]
	}
}

// FaultMix injects transient faults in front of a Responder. Each rate is
// the fraction of requests, in [0, 1], that get that fault; the rest are
// answered by the wrapped Responder. Whether the n-th request faults depends
// only on Seed and n, so a run's fault count is reproducible even when
// requests race.
type FaultMix struct {
	RateLimited float64 // 429, with RetryAfter when it is set
	ServerError float64 // 500
	Hang        float64 // no answer until the client gives up
	Truncated   float64 // 200 with half a JSON body
	// RetryAfter is sent with the 429s; zero sends no Retry-After.
	RetryAfter time.Duration
	Seed       uint64
}

// Wrap returns a Responder that injects m's faults and otherwise answers
// with next.
func (m FaultMix) Wrap(next Responder) Responder {
	var n atomic.Uint64
	return func(req openai.ChatCompletionRequest) Reply {
		u := unitFloat(m.Seed, n.Add(1))
		for _, f := range []struct {
			rate  float64
			reply func() Reply
		}{
			{m.RateLimited, func() Reply { return RateLimited(m.RetryAfter) }},
			{m.ServerError, ServerError},
			{m.Hang, Hang},
			{m.Truncated, func() Reply { return Truncated(`{"result":"yes"}`) }},
		} {
			if u < f.rate {
				return f.reply()
			}
			u -= f.rate
		}
		return next(req)
	}
}

// Faults answers a fraction rate of requests with a transient fault, half
// 429 (without Retry-After) and half 500, and the rest with next.
func Faults(rate float64, seed uint64, next Responder) Responder {
	return FaultMix{RateLimited: rate / 2, ServerError: rate / 2, Seed: seed}.Wrap(next)
}

// unitFloat maps (seed, n) to a float in [0, 1) with a SplitMix64 step.
func unitFloat(seed, n uint64) float64 {
	z := seed + n*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// SchemaAnswer answers with the smallest JSON value that satisfies the
// request's response_format JSON schema (first enum value, true, the
// minimum of a number, "fake rationale" for strings), and with
// {"result":"yes","rationale":"fake rationale"} when the request has no
// schema. It is the server's default Responder.
func SchemaAnswer() Responder {
	return func(req openai.ChatCompletionRequest) Reply {
		rf := req.ResponseFormat
		if rf == nil || rf.JSONSchema == nil || rf.JSONSchema.Schema == nil {
			return Content(`{"result":"yes","rationale":"fake rationale"}`)
		}
		raw, err := rf.JSONSchema.Schema.MarshalJSON()
		if err != nil {
			return Error(http.StatusBadRequest, "invalid schema: "+err.Error())
		}
		var schema map[string]any
		if err := json.Unmarshal(raw, &schema); err != nil {
			return Error(http.StatusBadRequest, "invalid schema: "+err.Error())
		}
		out, err := json.Marshal(instance(schema))
		if err != nil {
			return Error(http.StatusBadRequest, "invalid schema: "+err.Error())
		}
		return Content(string(out))
	}
}

// instance builds a minimal value satisfying schema.
func instance(schema map[string]any) any {
	if enum, ok := schema["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	typ, _ := schema["type"].(string)
	if types, ok := schema["type"].([]any); ok && len(types) > 0 {
		typ, _ = types[0].(string)
	}
	switch typ {
	case "object":
		out := map[string]any{}
		props, _ := schema["properties"].(map[string]any)
		for name, p := range props {
			if ps, ok := p.(map[string]any); ok {
				out[name] = instance(ps)
			}
		}
		return out
	case "array":
		return []any{}
	case "boolean":
		return true
	case "integer", "number":
		if m, ok := schema["minimum"].(float64); ok {
			if typ == "integer" {
				return math.Ceil(m)
			}
			return m
		}
		return 0
	case "null":
		return nil
	default:
		return "fake rationale"
	}
}

// errorBody is an OpenAI error object.
func errorBody(message, typ, param string) string {
	e := map[string]any{"message": message, "type": typ}
	if param != "" {
		e["param"] = param
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return string(b)
}

func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}
