package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	openai "github.com/sashabaranov/go-openai"
)

// Message is one chat message.
type Message struct {
	// Role is "system", "user" or "assistant".
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest asks a model for one answer.
type ChatRequest struct {
	// Model is a model URI; empty means the client's default model.
	Model    string    `json:"model,omitempty"`
	Messages []Message `json:"messages"`
	// Schema, when set, is the JSON schema the answer must satisfy, sent as
	// a strict json_schema response_format (or, to a model without
	// structured output, as an instruction appended to the last message).
	Schema map[string]any `json:"schema,omitempty"`
	// SchemaName names the schema for the provider; empty means "response".
	// Letters, digits, '_' and '-', at most 64.
	SchemaName string `json:"schema_name,omitempty"`
	// Params are inference parameters ([ParamNames]: temperature, top_p,
	// max_tokens, max_completion_tokens, seed, stop, presence_penalty,
	// frequency_penalty, logit_bias, reasoning_effort, service_tier,
	// verbosity, user). Numbers may be any Go, JSON or TOML number. An
	// unknown key is a [*ParamError].
	Params map[string]any `json:"params,omitempty"`
	// NoCache skips the cache lookup; the answer still refreshes the cache.
	NoCache bool `json:"-"`
	// Accept, when set, says whether an answer is usable, given its
	// content; it must be safe to call concurrently. Only answers it
	// accepts are cached: an answer it rejects is still returned (Chat does
	// not fail because of it), so the caller may repair it, but the same
	// request asks the model afresh next time instead of replaying the
	// unusable answer. A cached answer it rejects (one cached before the
	// check) is ignored and asked afresh. A recording holds every answer,
	// accepted or not, so that a replay repeats the run exactly.
	Accept func(content string) error `json:"-"`
}

// Usage is the tokens a call billed.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// ChatResponse is a model's answer.
type ChatResponse struct {
	// Model is the canonical URI of the model that answered.
	Model   string
	Content string
	// Usage is what this call billed: zero when Cached.
	Usage Usage
	// Cached reports an answer from the cache or a replay, which cost
	// nothing; Replayed tells the replay apart.
	Cached   bool
	Replayed bool
	// StructuredOutput reports that the schema was enforced by the provider
	// (response_format) rather than only asked for in the prompt.
	StructuredOutput bool
}

// recordedChat is a chat request as written to a recording.
type recordedChat struct {
	Messages   []Message      `json:"messages"`
	Schema     map[string]any `json:"schema,omitempty"`
	SchemaName string         `json:"schema_name,omitempty"`
	Params     map[string]any `json:"params,omitempty"`
}

// defaultSchemaName names a schema sent without a name.
const defaultSchemaName = "response"

// Chat sends req to its model and returns the answer.
//
// The request is answered, in order, from the replay when the client
// replays (and fails with [*ReplayMissError] when the replay lacks it),
// from the cache unless NoCache (or the cached answer is not accepted; see
// ChatRequest.Accept), and otherwise by the model, retrying transient
// failures. A prompt over the model's budget ([Provider.MaxPromptTokens])
// is not sent. A model that rejects structured output with a 400 is
// asked once more with the schema in the prompt; if that succeeds, the
// client remembers and asks that model prompt-only from then on.
//
// # Errors
//
// Invalid requests wrap [ErrInvalidRequest] (a [*ParamError] for a bad
// parameter); an unknown provider or missing credentials wrap
// [ErrUnknownProvider] or [ErrMissingCredentials]; a prompt over budget is
// a [*PromptTooLargeError]; a failed call is an [*APIError] (matching
// [ErrUnauthorized] for a 401 or 403); a cancelled ctx returns its error,
// wrapped.
func (c *Client) Chat(ctx context.Context, req ChatRequest) (*ChatResponse, error) {
	uri, ep, err := c.resolve(req.Model)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	model := uri.String()
	base, canon, schemaJSON, err := prepareChat(&req)
	if err != nil {
		return nil, fmt.Errorf("chat %s: %w", model, err)
	}
	key, err := hashKey(chatKeyed{V: keyVersion, Kind: "chat", Model: model, Messages: req.Messages,
		Schema: req.Schema, SchemaName: req.SchemaName, Params: canon})
	if err != nil {
		return nil, fmt.Errorf("chat %s: %w: %w", model, ErrInvalidRequest, err)
	}
	recReq := recordedChat{Messages: req.Messages, Schema: req.Schema, SchemaName: req.SchemaName, Params: canon}

	if c.recorder != nil && c.recorder.Replaying() {
		var a chatAnswer
		ok, err := c.recorder.lookup(key, &a)
		if err == nil && !ok {
			err = c.recorder.miss(model, key)
		}
		if err != nil {
			c.meter.addCall(model, false, true, Usage{})
			return nil, err
		}
		c.meter.addCall(model, true, false, Usage{})
		return &ChatResponse{Model: model, Content: a.Content, Cached: true, Replayed: true, StructuredOutput: a.StructuredOutput}, nil
	}

	var a chatAnswer
	cached := !req.NoCache && c.cacheGet(ctx, key, &a)
	if cached && req.Accept != nil {
		if err := req.Accept(a.Content); err != nil {
			c.log.LogAttrs(ctx, slog.LevelDebug, "llm cached answer not accepted; asking again",
				slog.String("model", model), slog.String("key", digest(key)))
			cached = false
		}
	}
	if !cached {
		if estimate, budget := EstimatePromptTokens(req.Messages, schemaJSON), ep.promptBudget(uri.Model); estimate > budget {
			return nil, &PromptTooLargeError{Model: model, Estimate: estimate, Budget: budget}
		}
		a, err = c.chatRemote(ctx, uri, ep, base, req.Messages, req.SchemaName, schemaJSON)
		if err != nil {
			c.meter.addCall(model, false, true, Usage{})
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				return nil, err
			}
			return nil, fmt.Errorf("chat %s: %w", model, err)
		}
		if req.Accept == nil || req.Accept(a.Content) == nil {
			c.cachePut(ctx, key, a)
		}
	}
	if c.recorder != nil {
		if err := c.recorder.record(key, "chat", model, recReq, a); err != nil {
			c.meter.addCall(model, cached, true, a.Usage)
			return nil, err
		}
	}
	resp := &ChatResponse{Model: model, Content: a.Content, Cached: cached, StructuredOutput: a.StructuredOutput}
	if !cached {
		resp.Usage = a.Usage
	}
	c.meter.addCall(model, cached, false, resp.Usage)
	return resp, nil
}

// prepareChat validates req, fills in the schema name and maps the
// parameters onto a go-openai request.
func prepareChat(req *ChatRequest) (base openai.ChatCompletionRequest, canon map[string]any, schemaJSON []byte, err error) {
	if len(req.Messages) == 0 {
		return base, nil, nil, fmt.Errorf("%w: no messages", ErrInvalidRequest)
	}
	for i, m := range req.Messages {
		if strings.TrimSpace(m.Role) == "" {
			return base, nil, nil, fmt.Errorf("%w: message %d has no role", ErrInvalidRequest, i)
		}
	}
	if canon, err = applyParams(&base, req.Params); err != nil {
		return base, nil, nil, err
	}
	if req.Schema == nil {
		req.SchemaName = ""
		return base, canon, nil, nil
	}
	if req.SchemaName == "" {
		req.SchemaName = defaultSchemaName
	}
	if !validSchemaName(req.SchemaName) {
		return base, nil, nil, fmt.Errorf("%w: schema name %q: want 1 to 64 letters, digits, '_' or '-'", ErrInvalidRequest, req.SchemaName)
	}
	if schemaJSON, err = json.Marshal(req.Schema); err != nil {
		return base, nil, nil, fmt.Errorf("%w: schema: %w", ErrInvalidRequest, err)
	}
	return base, canon, schemaJSON, nil
}

func validSchemaName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// chatRemote asks the model, with structured output unless the model is
// known to lack it, and falls back to prompt-only JSON when it is rejected.
func (c *Client) chatRemote(ctx context.Context, uri ModelURI, ep *endpoint, base openai.ChatCompletionRequest,
	msgs []Message, schemaName string, schemaJSON []byte) (chatAnswer, error) {
	model := uri.String()
	structured := schemaJSON != nil
	if _, lacks := c.noSchema.Load(model); lacks {
		structured = false
	}
	a, err := c.chatOnce(ctx, uri, ep, base, msgs, schemaName, schemaJSON, structured)
	if err != nil && structured && rejectsSchema(err) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "llm structured output rejected; retrying with the schema in the prompt",
			slog.String("model", model))
		a, err = c.chatOnce(ctx, uri, ep, base, msgs, schemaName, schemaJSON, false)
		if err == nil {
			c.noSchema.Store(model, true)
			c.log.LogAttrs(ctx, slog.LevelInfo, "llm model lacks structured output; asking for JSON in the prompt from now on",
				slog.String("model", model))
		}
	}
	return a, err
}

// rejectsSchema reports whether err is a provider refusing response_format.
func rejectsSchema(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || (apiErr.Status != http.StatusBadRequest && apiErr.Status != http.StatusUnprocessableEntity) {
		return false
	}
	m := strings.ToLower(apiErr.Message)
	for _, s := range []string{"response_format", "response format", "json_schema", "structured output", "not supported", "unsupported"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// schemaInstruction asks for JSON matching the schema in the prompt.
func schemaInstruction(schemaJSON []byte) string {
	return "\n\nRespond with a single JSON object, without markdown fences or any other text, that conforms to this JSON schema:\n" + string(schemaJSON)
}

// badAnswer is an answer that arrived whole but cannot be used (a refusal,
// vectors that do not fit); asking again would not help, so it is not
// retried.
type badAnswer struct{ msg string }

func (b *badAnswer) Error() string { return b.msg }

// chatOnce sends one chat request (with its retries).
func (c *Client) chatOnce(ctx context.Context, uri ModelURI, ep *endpoint, base openai.ChatCompletionRequest,
	msgs []Message, schemaName string, schemaJSON []byte, structured bool) (chatAnswer, error) {
	r := base
	r.Model = uri.Model
	r.Messages = make([]openai.ChatCompletionMessage, len(msgs))
	chars := 0
	for i, m := range msgs {
		r.Messages[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
		chars += len(m.Content)
	}
	if schemaJSON != nil {
		chars += len(schemaJSON)
		if structured {
			r.ResponseFormat = &openai.ChatCompletionResponseFormat{
				Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
				JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{
					Name: schemaName, Schema: json.RawMessage(schemaJSON), Strict: true,
				},
			}
		} else {
			r.Messages[len(r.Messages)-1].Content += schemaInstruction(schemaJSON)
		}
	}
	var out chatAnswer
	err := c.send(ctx, ep, uri.String(), "chat", max(1, (chars+3)/4), func(ctx context.Context) (int, func(), error) {
		resp, err := ep.client.CreateChatCompletion(ctx, r)
		if err != nil {
			return 0, nil, err
		}
		if len(resp.Choices) == 0 {
			return 0, nil, errors.New("no choices in the answer")
		}
		msg := resp.Choices[0].Message
		if msg.Content == "" && msg.Refusal != "" {
			return 0, nil, &badAnswer{msg: "model refused: " + msg.Refusal}
		}
		a := chatAnswer{
			Content:          msg.Content,
			StructuredOutput: structured,
			Usage:            Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens},
		}
		return a.Usage.PromptTokens + a.Usage.CompletionTokens, func() { out = a }, nil
	})
	return out, err
}
