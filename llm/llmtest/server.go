// Package llmtest is an OpenAI-compatible fake model server for tests.
//
// A [Server] wraps an httptest.Server that speaks the subset of the OpenAI
// API that alignhost uses, at every path go-openai sends it to:
//
//   - chat completions: any path ending in /chat/completions, which covers
//     OpenAI and Ollama (/v1/chat/completions), Databricks serving endpoints
//     (/serving-endpoints/chat/completions, endpoint name in the body) and
//     Azure (/openai/deployments/{deployment}/chat/completions?api-version=…);
//   - embeddings: any path ending in /embeddings, answered with deterministic
//     unit-length vectors (see [Vector]) that honour the dimensions parameter.
//
// Chat answers are scripted by a [Responder] (see [Always], [Sequence],
// [FaultMix], [SchemaAnswer]); each [Reply] may be content, an HTTP error with
// headers (429 with Retry-After, 500), a hang, a truncated body, or any of
// those after a delay. The server checks the API key, can reject
// response_format like providers without structured output, records every
// request for assertions and tracks how many were in flight at once.
//
// [Server.Getenv] hands a client under test the environment that points
// every built-in provider (openai, azure, databricks/endpoints, ollama) at the
// server, so tests never read the real environment.
//
// The package depends on go-openai's wire types only; it does not import the
// model layer, so that layer's own tests can use it.
package llmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// DefaultAPIKey is the key a server expects unless [WithAPIKey] says
// otherwise. It is distinctive so that tests can grep for leaks.
const DefaultAPIKey = "sk-llmtest-SECRET-7f3a9c2e51d84b06"

// DefaultDimensions is the length of embedding vectors when a request does
// not ask for one.
const DefaultDimensions = 256

// Option configures a [Handler] or [Server].
type Option func(*Handler)

// WithResponder scripts chat answers; the default is [SchemaAnswer].
func WithResponder(r Responder) Option { return func(h *Handler) { h.respond = r } }

// WithEmbedResponder scripts embedding answers; see [EmbedResponder].
func WithEmbedResponder(r EmbedResponder) Option { return func(h *Handler) { h.embed = r } }

// WithLatency delays every answer by d, on top of any Reply.Delay.
func WithLatency(d time.Duration) Option { return func(h *Handler) { h.latency = d } }

// WithoutStructuredOutput makes the server reject chat requests whose
// response_format is a JSON schema with a 400, as providers without
// structured output do.
func WithoutStructuredOutput() Option { return func(h *Handler) { h.rejectSchema = true } }

// WithAPIKey sets the key every request must carry, as "Authorization:
// Bearer <key>" or "api-key: <key>". An empty key turns the check off (for
// Ollama, which sends none).
func WithAPIKey(key string) Option { return func(h *Handler) { h.apiKey = key } }

// WithDimensions sets the embedding length used when a request does not ask
// for one.
func WithDimensions(n int) Option { return func(h *Handler) { h.dims = n } }

// Request is one HTTP request the server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Kind is "chat", "embeddings", or "" for a path the server does not
	// serve.
	Kind string
	// Deployment is the Azure deployment named in the path, if any.
	Deployment string
	// Chat is the decoded body of a chat request.
	Chat *openai.ChatCompletionRequest
	// Inputs and Dimensions are the decoded body of an embeddings request.
	Inputs     []string
	Dimensions int
	Model      string
}

// Handler is the fake API as an http.Handler, for serving it other than
// through a [Server] (for example from a separate benchmark process). It is
// safe for concurrent use.
type Handler struct {
	respond      Responder
	embed        EmbedResponder
	latency      time.Duration
	rejectSchema bool
	apiKey       string
	dims         int

	closed    chan struct{}
	closeOnce sync.Once

	mu          sync.Mutex
	requests    []Request
	inFlight    int
	maxInFlight int
}

// NewHandler returns a fake API handler. Call [Handler.Close] to release
// requests that are hanging.
func NewHandler(opts ...Option) *Handler {
	h := &Handler{
		respond: SchemaAnswer(),
		apiKey:  DefaultAPIKey,
		dims:    DefaultDimensions,
		closed:  make(chan struct{}),
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Close releases every hanging or delayed request; they end without an
// answer. It is idempotent.
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.closed) }) }

// Requests returns a copy of every request received so far, in arrival
// order.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.requests...)
}

// ChatRequests returns the chat requests received so far.
func (h *Handler) ChatRequests() []Request { return h.ofKind("chat") }

// EmbedRequests returns the embeddings requests received so far.
func (h *Handler) EmbedRequests() []Request { return h.ofKind("embeddings") }

func (h *Handler) ofKind(kind string) []Request {
	var out []Request
	for _, r := range h.Requests() {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// Calls returns how many requests the server has received.
func (h *Handler) Calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests)
}

// MaxInFlight returns the largest number of requests that were being
// handled at the same time.
func (h *Handler) MaxInFlight() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxInFlight
}

// Reset forgets the recorded requests and the in-flight maximum.
func (h *Handler) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests = nil
	h.maxInFlight = h.inFlight
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	rec := Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.Query(),
		Header: r.Header.Clone(),
		Body:   body,
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/chat/completions"):
		rec.Kind = "chat"
	case strings.HasSuffix(r.URL.Path, "/embeddings"):
		rec.Kind = "embeddings"
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/openai/deployments/"); ok {
		rec.Deployment, _, _ = strings.Cut(rest, "/")
	}
	var decodeErr error
	switch rec.Kind {
	case "chat":
		var cr openai.ChatCompletionRequest
		if decodeErr = json.Unmarshal(body, &cr); decodeErr == nil {
			rec.Chat = &cr
			rec.Model = cr.Model
		}
	case "embeddings":
		rec.Inputs, rec.Dimensions, rec.Model, decodeErr = decodeEmbeddings(body)
	}

	h.mu.Lock()
	h.requests = append(h.requests, rec)
	h.inFlight++
	h.maxInFlight = max(h.maxInFlight, h.inFlight)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.inFlight--
		h.mu.Unlock()
	}()

	switch {
	case rec.Kind == "":
		writeError(w, http.StatusNotFound, "unknown path "+r.URL.Path)
	case r.Method != http.MethodPost:
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
	case !h.authorized(r.Header):
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided")
	case decodeErr != nil:
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+decodeErr.Error())
	case rec.Kind == "chat":
		h.serveChat(w, r, rec.Chat)
	default:
		h.serveEmbeddings(w, r, rec)
	}
}

func (h *Handler) authorized(hdr http.Header) bool {
	if h.apiKey == "" {
		return true
	}
	return hdr.Get("Authorization") == "Bearer "+h.apiKey || hdr.Get("api-key") == h.apiKey
}

func (h *Handler) serveChat(w http.ResponseWriter, r *http.Request, req *openai.ChatCompletionRequest) {
	if req.Stream {
		writeError(w, http.StatusBadRequest, "streaming is not supported by llmtest")
		return
	}
	if h.rejectSchema && req.ResponseFormat != nil && req.ResponseFormat.Type == openai.ChatCompletionResponseFormatTypeJSONSchema {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, errorBody("response_format of type json_schema is not supported with this model", "invalid_request_error", "response_format"))
		return
	}
	reply := h.respond(*req)
	if !h.wait(r, reply) {
		return
	}
	if reply.isError() {
		writeReplyError(w, reply)
		return
	}
	prompt := reply.PromptTokens
	if prompt == 0 {
		n := 0
		for _, m := range req.Messages {
			n += len(m.Content)
		}
		prompt = max(1, n/4)
	}
	completion := reply.CompletionTokens
	if completion == 0 {
		completion = max(1, len(reply.Content)/4)
	}
	resp := openai.ChatCompletionResponse{
		ID:      "chatcmpl-llmtest",
		Object:  "chat.completion",
		Created: 1700000000,
		Model:   req.Model,
		Choices: []openai.ChatCompletionChoice{{
			Message:      openai.ChatCompletionMessage{Role: openai.ChatMessageRoleAssistant, Content: reply.Content, Refusal: reply.Refusal},
			FinishReason: openai.FinishReasonStop,
		}},
		Usage: openai.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion},
	}
	writeJSON(w, reply, resp)
}

func (h *Handler) serveEmbeddings(w http.ResponseWriter, r *http.Request, rec Request) {
	dims := rec.Dimensions
	if dims <= 0 {
		dims = h.dims
	}
	var reply Reply
	if h.embed != nil {
		reply = h.embed(rec.Inputs, dims)
	}
	if !h.wait(r, reply) {
		return
	}
	if reply.isError() {
		writeReplyError(w, reply)
		return
	}
	resp := openai.EmbeddingResponse{Object: "list", Model: openai.EmbeddingModel(rec.Model)}
	tokens := 0
	for i, in := range rec.Inputs {
		resp.Data = append(resp.Data, openai.Embedding{Object: "embedding", Embedding: Vector(in, dims), Index: i})
		tokens += max(1, len(in)/4)
	}
	resp.Usage = openai.Usage{PromptTokens: tokens, TotalTokens: tokens}
	writeJSON(w, reply, resp)
}

// wait applies latency, delay and hang; it reports whether to answer.
func (h *Handler) wait(r *http.Request, reply Reply) bool {
	if d := h.latency + reply.Delay; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-h.closed:
			return false
		}
	}
	if reply.Hang {
		select {
		case <-r.Context().Done():
		case <-h.closed:
		}
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, reply Reply, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	for k, vs := range reply.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	if reply.Truncate {
		b = b[:len(b)/2]
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.Write(b)
}

func writeReplyError(w http.ResponseWriter, reply Reply) {
	for k, vs := range reply.Header {
		w.Header()[k] = vs
	}
	body := reply.Body
	if body == "" {
		body = errorBody(http.StatusText(reply.Status), errorType(reply.Status), "")
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(reply.Status)
	io.WriteString(w, body)
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeReplyError(w, Reply{Status: status, Body: errorBody(message, errorType(status), "")})
}

func decodeEmbeddings(body []byte) (inputs []string, dims int, model string, err error) {
	var req struct {
		Input      json.RawMessage `json:"input"`
		Model      string          `json:"model"`
		Dimensions int             `json:"dimensions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, 0, "", err
	}
	if bytes.HasPrefix(bytes.TrimSpace(req.Input), []byte(`"`)) {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			return nil, 0, "", err
		}
		return []string{one}, req.Dimensions, req.Model, nil
	}
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		return nil, 0, "", fmt.Errorf("input must be a string or a list of strings: %w", err)
	}
	return inputs, req.Dimensions, req.Model, nil
}

// Server is a running fake API; see the package documentation.
type Server struct {
	*Handler
	// URL is the server's root, such as http://127.0.0.1:PORT.
	URL string

	srv       *httptest.Server
	closeOnce sync.Once
}

// NewServer starts a fake API server that is closed when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	h := NewHandler(opts...)
	s := &Server{Handler: h, srv: httptest.NewServer(h)}
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close releases hanging requests and shuts the server down; later requests
// fail to connect. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.Handler.Close()
		s.srv.Close()
	})
}

// BaseURL returns the OpenAI-style base URL, URL + "/v1".
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// APIKey returns the key the server expects ("" when unchecked).
func (s *Server) APIKey() string { return s.Handler.apiKey }

// Getenv is an environment that points every built-in provider at the
// server: OPENAI_BASE_URL, AZURE_OPENAI_ENDPOINT, DATABRICKS_HOST and
// OLLAMA_HOST name the server, and OPENAI_API_KEY, AZURE_OPENAI_API_KEY and
// DATABRICKS_TOKEN hold its key. Every other variable is empty.
func (s *Server) Getenv(name string) string {
	switch name {
	case "OPENAI_BASE_URL":
		return s.BaseURL()
	case "AZURE_OPENAI_ENDPOINT", "DATABRICKS_HOST", "OLLAMA_HOST":
		return s.URL
	case "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "DATABRICKS_TOKEN":
		return s.APIKey()
	}
	return ""
}
