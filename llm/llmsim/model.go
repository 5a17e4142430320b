package llmsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm/llmtest"
)

// APIKey is the key the simulated endpoint accepts. It is not a secret:
// it only keeps a client configured for another endpoint from talking to
// the simulation by accident.
const APIKey = "sk-alignhost-simulation"

// DistillSchemaName is the response_format schema name of MemAlign's
// distillation requests (plugins/memalign).
const DistillSchemaName = "guidelines"

// MaxDimensions is the longest embedding the simulation returns, as for
// OpenAI's largest embedding model.
const MaxDimensions = 3072

// Option configures a [Model].
type Option func(*config)

type config struct {
	latency time.Duration
}

// WithLatency delays every answer by d, to show what a real endpoint's
// latency does to a run.
func WithLatency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// Model is the simulated model behind an OpenAI-compatible HTTP API: chat
// completions answered by [Chat] and embeddings by [Embed]. It is safe for
// concurrent use.
type Model struct {
	handler *llmtest.Handler
}

// New returns a simulated model. Serve it with [Model.Serve], or mount
// [Model.Handler] on a server of your own.
func New(opts ...Option) *Model {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return &Model{handler: llmtest.NewHandler(
		llmtest.WithAPIKey(APIKey),
		llmtest.WithResponder(Chat),
		llmtest.WithEmbedResponder(Embed),
		llmtest.WithLatency(c.latency),
	)}
}

// Handler returns the OpenAI-compatible API: POST …/chat/completions and
// POST …/embeddings, authenticated with [APIKey].
func (m *Model) Handler() http.Handler { return m.handler }

// Requests returns every request the model has received, in arrival
// order. The model keeps them, bodies included, for its whole life: it is
// meant for a demo or a test, not a long-running service.
func (m *Model) Requests() []llmtest.Request { return m.handler.Requests() }

// Close ends requests that are waiting out a latency. It is idempotent.
func (m *Model) Close() { m.handler.Close() }

// Server is a simulated model listening on the loopback interface.
type Server struct {
	// URL is the server's root, http://127.0.0.1:PORT.
	URL string

	srv  *http.Server
	stop func() bool
	once sync.Once
	err  error
}

// Serve starts serving the model on 127.0.0.1 at a free port, until
// [Server.Close] or until ctx is done.
func (m *Model) Serve(ctx context.Context) (*Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serve simulated model: %w", err)
	}
	s := &Server{
		URL: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: m.handler, ReadHeaderTimeout: 10 * time.Second},
	}
	go s.srv.Serve(ln)
	s.stop = context.AfterFunc(ctx, s.shutdown)
	return s, nil
}

// BaseURL returns the OpenAI base URL, URL + "/v1": the value for
// OPENAI_BASE_URL.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Getenv is an environment with OPENAI_BASE_URL set to the server and
// OPENAI_API_KEY to [APIKey]; every other variable is empty. Layer it over
// the real environment to point the openai provider, and only it, at the
// simulation:
//
//	getenv := func(k string) string {
//		if v := srv.Getenv(k); v != "" {
//			return v
//		}
//		return os.Getenv(k)
//	}
func (s *Server) Getenv(name string) string {
	switch name {
	case "OPENAI_BASE_URL":
		return s.BaseURL()
	case "OPENAI_API_KEY":
		return APIKey
	}
	return ""
}

// Close stops the server at once, ending requests in flight. It is
// idempotent.
func (s *Server) Close() error {
	s.stop()
	s.shutdown()
	return s.err
}

func (s *Server) shutdown() {
	s.once.Do(func() {
		if err := s.srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.err = fmt.Errorf("close simulated model: %w", err)
		}
	})
}

// Chat answers one chat completion request as the simulated model: a judge
// request (response_format json_schema named judge.SchemaName) with a
// judgement, a MemAlign distillation request ([DistillSchemaName]) with
// guidelines, and anything else with a 400 that says what the simulation
// handles. It is an llmtest.Responder.
func Chat(req openai.ChatCompletionRequest) llmtest.Reply {
	name := ""
	if rf := req.ResponseFormat; rf != nil && rf.Type == openai.ChatCompletionResponseFormatTypeJSONSchema && rf.JSONSchema != nil {
		name = rf.JSONSchema.Name
	}
	system, user := messages(req.Messages)
	switch name {
	case judge.SchemaName:
		return answerJudge(req, system, user)
	case DistillSchemaName:
		p, err := parseDistillPrompt(user)
		if err != nil {
			return unsupported("a distillation request it cannot read: " + err.Error())
		}
		return jsonReply(distillation(p))
	}
	what := "a request without a JSON schema"
	if name != "" {
		what = fmt.Sprintf("a request for the schema %q", name)
	}
	return unsupported(what)
}

func answerJudge(req openai.ChatCompletionRequest, system, user string) llmtest.Reply {
	results, err := resultValues(req.ResponseFormat.JSONSchema.Schema)
	if err != nil {
		return unsupported("a judge request whose answer schema it cannot read: " + err.Error())
	}
	if !slices.Contains(results, yes) || !slices.Contains(results, no) {
		return unsupported(`a judge whose result is not "yes" or "no": it simulates pass/fail judges only`)
	}
	p, err := parseJudgePrompt(system, user)
	if err != nil {
		return unsupported("a judge request it cannot read: " + err.Error())
	}
	return jsonReply(judgement(p))
}

// messages returns the system messages, joined, and the first user
// message: the judge or distillation prompt. Later messages, such as a
// repair request after an unusable answer, change nothing in a
// deterministic model's answer.
func messages(msgs []openai.ChatCompletionMessage) (system, user string) {
	var sys []string
	for _, m := range msgs {
		switch m.Role {
		case openai.ChatMessageRoleSystem, openai.ChatMessageRoleDeveloper:
			sys = append(sys, m.Content)
		case openai.ChatMessageRoleUser:
			if user == "" {
				user = m.Content
			}
		}
	}
	return strings.Join(sys, "\n\n"), user
}

// resultValues returns the enum of the "result" property of an answer
// schema; nil when it has none.
func resultValues(schema json.Marshaler) ([]string, error) {
	if schema == nil {
		return nil, errors.New("no schema")
	}
	raw, err := schema.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var s struct {
		Properties struct {
			Result struct {
				Enum []any `json:"enum"`
			} `json:"result"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	var out []string
	for _, v := range s.Properties.Result.Enum {
		if str, ok := v.(string); ok {
			out = append(out, str)
		}
	}
	return out, nil
}

func jsonReply(v any) llmtest.Reply {
	b, err := json.Marshal(v)
	if err != nil {
		return llmtest.Error(http.StatusInternalServerError, "simulated model: encode answer: "+err.Error())
	}
	return llmtest.Content(string(b))
}

// unsupported is the 400 for a request the simulation does not handle.
// Its wording avoids the phrases by which the model layer recognises a
// provider that lacks structured output (llm's rejectsSchema), so that the
// client reports the error instead of retrying without the schema.
func unsupported(what string) llmtest.Reply {
	return llmtest.Error(http.StatusBadRequest, "alignhost's simulated model (docs/simulation.md) cannot answer "+what+
		`. It answers judge requests (a JSON schema named "`+judge.SchemaName+
		`"), MemAlign distillation requests (a JSON schema named "`+DistillSchemaName+`") and embeddings`)
}

// Embed answers an embeddings request with llmtest.Vector of each input,
// of the requested dimensions: deterministic, unit length, and similar for
// texts that share words. An empty input list, an empty text or more than
// [MaxDimensions] dimensions is a 400, as OpenAI answers. It is an
// llmtest.EmbedResponder.
func Embed(inputs []string, dimensions int) llmtest.Reply {
	switch {
	case len(inputs) == 0:
		return llmtest.Error(http.StatusBadRequest, "input must not be empty")
	case dimensions > MaxDimensions:
		return llmtest.Error(http.StatusBadRequest, fmt.Sprintf("dimensions %d is more than the simulation's maximum of %d", dimensions, MaxDimensions))
	}
	for i, in := range inputs {
		if in == "" {
			return llmtest.Error(http.StatusBadRequest, fmt.Sprintf("input[%d] is an empty string", i))
		}
	}
	return llmtest.Reply{}
}
