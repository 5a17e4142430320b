package pluginapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/alignhost/alignhost/judge"
)

// Description is what a module says about itself: the result of
// alignhost_describe.
type Description struct {
	// Name identifies the optimizer in every message about it: 1 to 64
	// lower-case letters, digits, '_' or '-', starting with a letter.
	Name string `json:"name"`
	// Version is the optimizer's own version, such as "0.3.1"; unrelated
	// to the ABI version.
	Version string `json:"version"`
	// Description is one paragraph for people.
	Description string `json:"description,omitempty"`
	// Capabilities lists the request–response capabilities the optimizer
	// may use. Using one that is not listed answers CodeNotDeclared.
	Capabilities []Capability `json:"capabilities,omitempty"`
	// Config lists the configuration keys the optimizer accepts. The host
	// refuses other keys and values of the wrong type before running.
	Config []ConfigKey `json:"config,omitempty"`
	// WantsTraces asks for the full traces in every request
	// (AlignRequest.Traces).
	WantsTraces bool `json:"wants_traces,omitempty"`
	// MinExamples is the fewest examples the optimizer can work with; 0
	// means 1.
	MinExamples int `json:"min_examples,omitempty"`
}

// ConfigKey is one configuration key an optimizer accepts.
type ConfigKey struct {
	Key  string     `json:"key"`
	Type ConfigType `json:"type"`
	// Default is the value used when the user gives none; nil for none.
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

// ConfigType is the JSON type of a configuration value.
type ConfigType string

// The configuration types.
const (
	ConfigString  ConfigType = "string"
	ConfigInteger ConfigType = "integer"
	ConfigNumber  ConfigType = "number"
	ConfigBoolean ConfigType = "boolean"
	ConfigArray   ConfigType = "array"
	ConfigObject  ConfigType = "object"
)

// Limits of a Description.
const (
	MaxNameLength        = 64
	MaxVersionLength     = 64
	MaxDescriptionLength = 4 << 10
)

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Validate reports whether the description is usable: a valid name and
// version, a description of at most [MaxDescriptionLength] bytes, known
// capabilities, and configuration keys that are non-empty, distinct, of a
// known type and with a default of that type.
func (d *Description) Validate() error {
	if len(d.Name) == 0 || len(d.Name) > MaxNameLength || !pluginName.MatchString(d.Name) {
		return fmt.Errorf("describe: name %q: want 1 to %d lower-case letters, digits, '_' or '-', starting with a letter",
			shorten(d.Name, 80), MaxNameLength)
	}
	if len(d.Version) == 0 || len(d.Version) > MaxVersionLength || strings.IndexFunc(d.Version, func(r rune) bool {
		return !unicode.IsPrint(r) || r == ' '
	}) >= 0 {
		return fmt.Errorf("describe: version %q: want 1 to %d printable characters without spaces", shorten(d.Version, 80), MaxVersionLength)
	}
	if len(d.Description) > MaxDescriptionLength {
		return fmt.Errorf("describe: description is %d bytes, more than %d", len(d.Description), MaxDescriptionLength)
	}
	for _, c := range d.Capabilities {
		switch c {
		case Chat, Embed, Evaluate:
		default:
			return fmt.Errorf("describe: unknown capability %q; want %s, %s or %s", shorten(string(c), 80), Chat, Embed, Evaluate)
		}
	}
	seen := map[string]bool{}
	for i, k := range d.Config {
		if strings.TrimSpace(k.Key) == "" {
			return fmt.Errorf("describe: config[%d] has no key", i)
		}
		if seen[k.Key] {
			return fmt.Errorf("describe: config key %q is listed twice", k.Key)
		}
		seen[k.Key] = true
		if !k.Type.known() {
			return fmt.Errorf("describe: config key %q has unknown type %q; want string, integer, number, boolean, array or object", k.Key, k.Type)
		}
		if k.Default != nil {
			if err := k.Type.Check(k.Default); err != nil {
				return fmt.Errorf("describe: default of config key %q: %w", k.Key, err)
			}
		}
	}
	if d.MinExamples < 0 {
		return fmt.Errorf("describe: min_examples %d is negative", d.MinExamples)
	}
	return nil
}

// Declares reports whether the description lists capability c.
func (d *Description) Declares(c Capability) bool { return slices.Contains(d.Capabilities, c) }

// Key returns the configuration key named key.
func (d *Description) Key(key string) (ConfigKey, bool) {
	for _, k := range d.Config {
		if k.Key == key {
			return k, true
		}
	}
	return ConfigKey{}, false
}

func (t ConfigType) known() bool {
	switch t {
	case ConfigString, ConfigInteger, ConfigNumber, ConfigBoolean, ConfigArray, ConfigObject:
		return true
	}
	return false
}

// Check reports whether v, a value decoded from JSON or TOML or given in
// Go, has type t. An integer must be a whole number; Go integers, floats and
// json.Number are numbers.
func (t ConfigType) Check(v any) error {
	bad := func() error { return fmt.Errorf("%s is not %s %s", describeValue(v), article(t), t) }
	switch t {
	case ConfigString:
		if _, ok := v.(string); !ok {
			return bad()
		}
	case ConfigBoolean:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case ConfigInteger, ConfigNumber:
		f, ok := judge.Number(v)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return bad()
		}
		if t == ConfigInteger && f != math.Trunc(f) {
			return bad()
		}
	case ConfigArray:
		if v == nil {
			return bad()
		}
		switch v.(type) {
		case []any, []string, []int, []int64, []float64, []bool, []map[string]any:
		default:
			return bad()
		}
	case ConfigObject:
		if _, ok := v.(map[string]any); !ok {
			return bad()
		}
	default:
		return fmt.Errorf("unknown config type %q", t)
	}
	return nil
}

func article(t ConfigType) string {
	if t == ConfigInteger || t == ConfigArray || t == ConfigObject {
		return "an"
	}
	return "a"
}

func describeValue(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return shorten(string(b), 60)
}

// shorten cuts s to at most n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// AlignRequest is the input of one alignment.
type AlignRequest struct {
	// Judge is the judge to align, with any memory it already has.
	Judge *judge.Judge `json:"judge"`
	// Examples are the labelled examples the host extracted from the
	// traces, in trace order.
	Examples []judge.Example `json:"examples"`
	// Skipped lists the traces that gave no example, with the reason.
	Skipped []Skip `json:"skipped,omitempty"`
	// Config holds every described key with the user's value or its
	// default, as decoded from JSON (numbers are float64).
	Config map[string]any `json:"config,omitempty"`
	// Models are the models the optimizer may call.
	Models []Model `json:"models,omitempty"`
	// JudgeModels are model URIs the returned judge may use instead of the
	// judge's own model; usually none.
	JudgeModels []string `json:"judge_models,omitempty"`
	// JudgeParams are the inference parameters (temperature, max_tokens,
	// …) the returned judge may change; usually none: any other change to
	// the judge's inference_params is refused.
	JudgeParams []string `json:"judge_params,omitempty"`
	// Seed seeds any randomness, so that a run can be repeated
	// (0 ≤ Seed < 2^53).
	Seed int64 `json:"seed"`
	// Budget states the limits of this call, for planning.
	Budget Budget `json:"budget"`
	// Traces holds the full traces in MLflow's JSON when the optimizer's
	// Description asks for them (decode them with package trace).
	Traces []json.RawMessage `json:"traces,omitempty"`
}

// Skip is a trace that gave no example.
type Skip struct {
	TraceID string `json:"trace_id"`
	Reason  string `json:"reason"`
}

// ModelKind says what a model does.
type ModelKind string

// The model kinds.
const (
	ChatModel  ModelKind = "chat"
	EmbedModel ModelKind = "embed"
)

// The model roles every host knows.
const (
	// RoleReflection is the model that thinks about examples: distils
	// guidelines, proposes instructions.
	RoleReflection = "reflection"
	// RoleEmbedding is the model that embeds texts.
	RoleEmbedding = "embedding"
)

// Model is a model the optimizer may call, by name.
type Model struct {
	// Name is a role ("reflection", "embedding") or a name the user
	// allowed; never a URI with an endpoint or a credential.
	Name string    `json:"name"`
	Kind ModelKind `json:"kind"`
	// Dimensions is the default vector length of an embed model; 0 when
	// the model decides.
	Dimensions int `json:"dimensions,omitempty"`
}

// Budget is the limits of one align call; 0 means unlimited.
type Budget struct {
	ModelCalls int   `json:"model_calls"`
	Tokens     int64 `json:"tokens"`
	WallTimeMS int64 `json:"wall_time_ms"`
}

// Model returns the model named name.
func (r *AlignRequest) Model(name string) (Model, bool) {
	for _, m := range r.Models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}

// ConfigString returns the string configuration value key, or fallback
// when it is absent or not a string.
func (r *AlignRequest) ConfigString(key, fallback string) string {
	if s, ok := r.Config[key].(string); ok {
		return s
	}
	return fallback
}

// ConfigInt returns the integer configuration value key, or fallback when
// it is absent or not a whole number.
func (r *AlignRequest) ConfigInt(key string, fallback int) int {
	f, ok := judge.Number(r.Config[key])
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return fallback
	}
	return int(f)
}

// ConfigFloat returns the numeric configuration value key, or fallback.
func (r *AlignRequest) ConfigFloat(key string, fallback float64) float64 {
	if f, ok := judge.Number(r.Config[key]); ok {
		return f
	}
	return fallback
}

// ConfigBool returns the boolean configuration value key, or fallback.
func (r *AlignRequest) ConfigBool(key string, fallback bool) bool {
	if b, ok := r.Config[key].(bool); ok {
		return b
	}
	return fallback
}

// AlignResponse is the output of one alignment.
type AlignResponse struct {
	// Judge is the new judge. It must keep the name and value type and,
	// unless AlignRequest.JudgeModels allows another, the model.
	Judge *judge.Judge `json:"judge"`
	// Report tells the user what happened.
	Report Report `json:"report"`
}

// Report is an optimizer's account of one alignment.
type Report struct {
	// Summary is one line, such as "added 3 guidelines from 40 examples".
	Summary string `json:"summary,omitempty"`
	// Counts are named counts: examples_used, guidelines_added, …
	Counts map[string]int `json:"counts,omitempty"`
	// Warnings are things the user should know.
	Warnings []string `json:"warnings,omitempty"`
}

// Usage is the tokens model calls billed.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Total returns prompt plus completion tokens.
func (u Usage) Total() int { return u.PromptTokens + u.CompletionTokens }

// Message is one chat message.
type Message = judge.Message

// ChatRequest asks a model for one answer.
type ChatRequest struct {
	// Model is a chat model from AlignRequest.Models; empty means
	// RoleReflection.
	Model    string    `json:"model,omitempty"`
	Messages []Message `json:"messages"`
	// Schema, when set, is the JSON schema the answer must satisfy
	// (OpenAI's strict subset), named SchemaName.
	Schema     map[string]any `json:"schema,omitempty"`
	SchemaName string         `json:"schema_name,omitempty"`
	// Params are inference parameters: temperature, top_p, max_tokens,
	// seed, stop, …
	Params map[string]any `json:"params,omitempty"`
}

// ChatBatchRequest is the message of the chat import.
type ChatBatchRequest struct {
	Requests []ChatRequest `json:"requests"`
}

// ChatResult is the answer to one ChatRequest: Content, or Error when that
// request failed.
type ChatResult struct {
	Content string `json:"content,omitempty"`
	Usage   Usage  `json:"usage"`
	Error   string `json:"error,omitempty"`
}

// Err returns the request's failure as an error, or nil.
func (r ChatResult) Err() error {
	if r.Error == "" {
		return nil
	}
	return errors.New(r.Error)
}

// ChatBatchResponse answers a ChatBatchRequest, one result per request in
// order.
type ChatBatchResponse struct {
	Results []ChatResult `json:"results"`
}

// EmbedRequest asks for the embeddings of texts.
type EmbedRequest struct {
	// Model is an embed model from AlignRequest.Models; empty means
	// RoleEmbedding.
	Model string `json:"model,omitempty"`
	// Inputs are non-empty texts.
	Inputs []string `json:"inputs"`
	// Dimensions, when positive, asks for vectors of that length; 0 means
	// the model's default.
	Dimensions int `json:"dimensions,omitempty"`
}

// EmbedResponse holds one vector per input, in order.
type EmbedResponse struct {
	Vectors [][]float32 `json:"vectors"`
	// Embedder names the embedding space, for judge.Retrieval.Embedder.
	Embedder string `json:"embedder"`
	Usage    Usage  `json:"usage"`
}

// EvaluateRequest asks the host to run a candidate judge on examples.
type EvaluateRequest struct {
	// Judge is the candidate. It must keep the judge's name, value type
	// and model.
	Judge *judge.Judge `json:"judge"`
	// Indices refer to AlignRequest.Examples.
	Indices []int `json:"indices,omitempty"`
	// Examples are further examples given in full, judged after Indices.
	Examples []judge.Example `json:"examples,omitempty"`
}

// EvaluateResponse holds one judgement per example, in order.
type EvaluateResponse struct {
	Results []Judgement `json:"results"`
	Usage   Usage       `json:"usage"`
}

// Judgement is what a candidate judge said about one example.
type Judgement struct {
	TraceID   string `json:"trace_id"`
	Value     any    `json:"value,omitempty"`
	Rationale string `json:"rationale,omitempty"`
	// Agree reports that Value equals the example's human value after both
	// are normalised to the judge's value type.
	Agree bool `json:"agree"`
	// Error says why there is no judgement.
	Error string `json:"error,omitempty"`
}

// Err returns the judgement's failure as an error, or nil.
func (j Judgement) Err() error {
	if j.Error == "" {
		return nil
	}
	return errors.New(j.Error)
}

// Agreement returns how many judgements agree with the human value and how
// many judgements were made (failed ones are not counted).
func Agreement(results []Judgement) (agree, judged int) {
	for _, r := range results {
		if r.Error != "" {
			continue
		}
		judged++
		if r.Agree {
			agree++
		}
	}
	return agree, judged
}

// Error is the error object of the ABI: what an optimizer returns instead of
// a response, and what a capability answers instead of a result.
type Error struct {
	// Code is a short machine word; see the Code constants.
	Code string `json:"code"`
	// Message is one readable line.
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Code == "" || e.Code == CodeOptimizer {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// ErrorResponse is the JSON envelope of an Error: {"error": {...}}.
type ErrorResponse struct {
	Error *Error `json:"error"`
}

// The reply types decode a message that is either a response or an error
// object in one pass.
type (
	describeReply struct {
		Description
		Error *Error `json:"error"`
	}
	alignReply struct {
		AlignResponse
		Error *Error `json:"error"`
	}
	chatReply struct {
		ChatBatchResponse
		Error *Error `json:"error"`
	}
	embedReply struct {
		EmbedResponse
		Error *Error `json:"error"`
	}
	evaluateReply struct {
		EvaluateResponse
		Error *Error `json:"error"`
	}
)

// DecodeDescription decodes the result of alignhost_describe. It returns a
// *Error when the module answered with an error object.
func DecodeDescription(data []byte) (*Description, error) {
	var r describeReply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return &r.Description, nil
}

// DecodeAlignResponse decodes the result of alignhost_align. It returns a
// *Error when the module answered with an error object.
func DecodeAlignResponse(data []byte) (*AlignResponse, error) {
	var r alignReply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return &r.AlignResponse, nil
}

// DecodeChatResponse decodes the response of the chat import.
func DecodeChatResponse(data []byte) (*ChatBatchResponse, error) {
	var r chatReply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return &r.ChatBatchResponse, nil
}

// DecodeEmbedResponse decodes the response of the embed import.
func DecodeEmbedResponse(data []byte) (*EmbedResponse, error) {
	var r embedReply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return &r.EmbedResponse, nil
}

// DecodeEvaluateResponse decodes the response of the evaluate import.
func DecodeEvaluateResponse(data []byte) (*EvaluateResponse, error) {
	var r evaluateReply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return &r.EvaluateResponse, nil
}

// EncodeError returns the JSON of an error object.
func EncodeError(code, message string) []byte {
	b, err := json.Marshal(ErrorResponse{Error: &Error{Code: code, Message: message}})
	if err != nil {
		// Strings always encode; this is unreachable.
		return []byte(`{"error":{"code":"` + code + `","message":"unencodable message"}}`)
	}
	return b
}
