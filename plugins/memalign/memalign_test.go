package memalign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/vector"
)

// fakeHost answers chat requests from a function of the request's position
// in the run (a table, in most tests) and embeds with a deterministic
// model, recording every call.
type fakeHost struct {
	mu sync.Mutex
	// answer returns the result of the n-th chat request of the run; nil
	// answers every batch with no guideline.
	answer func(n int, req pluginapi.ChatRequest) pluginapi.ChatResult
	// chatErr, when set, fails every chat call as a whole.
	chatErr error
	// embed answers embed calls; nil means modelEmbed.
	embed func(call int, req pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error)

	chats    [][]pluginapi.ChatRequest
	embeds   []pluginapi.EmbedRequest
	logs     []string
	progress []string
	served   int
}

func (f *fakeHost) Chat(_ context.Context, reqs []pluginapi.ChatRequest) ([]pluginapi.ChatResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chats = append(f.chats, slices.Clone(reqs))
	if f.chatErr != nil {
		return nil, f.chatErr
	}
	out := make([]pluginapi.ChatResult, len(reqs))
	for i, r := range reqs {
		if f.answer != nil {
			out[i] = f.answer(f.served, r)
		} else {
			out[i] = pluginapi.ChatResult{Content: `{"guidelines": []}`}
		}
		f.served++
	}
	return out, nil
}

func (f *fakeHost) Embed(_ context.Context, req pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.embeds = append(f.embeds, req)
	if f.embed != nil {
		return f.embed(len(f.embeds)-1, req)
	}
	return modelEmbed(req)
}

func (f *fakeHost) Evaluate(context.Context, pluginapi.EvaluateRequest) (*pluginapi.EvaluateResponse, error) {
	return nil, errors.New("memalign must not evaluate")
}

func (f *fakeHost) Log(level pluginapi.Level, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf("%d %s", level, msg))
}

func (f *fakeHost) Progress(done, total int, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.progress = append(f.progress, fmt.Sprintf("%s %d/%d", msg, done, total))
}

// requests returns every chat request, in order.
func (f *fakeHost) requests() []pluginapi.ChatRequest {
	var out []pluginapi.ChatRequest
	for _, c := range f.chats {
		out = append(out, c...)
	}
	return out
}

// embedInputs returns every text sent to the embedding model, in order.
func (f *fakeHost) embedInputs() []string {
	var out []string
	for _, e := range f.embeds {
		out = append(out, e.Inputs...)
	}
	return out
}

const modelSpace = "fake:/embed"

// modelEmbed is the fake embedding model: a bag of words hashed to
// signed dimensions, accumulated in text order, so that its vectors are
// deterministic, lexically similar for similar texts, and visibly not in
// the local embedder's space.
func modelEmbed(req pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error) {
	dims := req.Dimensions
	if dims == 0 {
		dims = 512
	}
	return &pluginapi.EmbedResponse{Vectors: modelVectors(dims, req.Inputs...), Embedder: fmt.Sprintf("%s@%d", modelSpace, dims)}, nil
}

func modelVectors(dims int, texts ...string) [][]float32 {
	out := make([][]float32, len(texts))
	for i, text := range texts {
		acc := make([]float64, dims)
		words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		for _, w := range words {
			h := fnv.New32a()
			h.Write([]byte(w))
			sum := h.Sum32()
			sign := 1.0
			if sum&1 == 1 {
				sign = -1
			}
			acc[int(sum>>1)%dims] += sign
		}
		v := make([]float32, dims)
		for j, x := range acc {
			v[j] = float32(x)
		}
		out[i] = vector.Normalize(v)
	}
	return out
}

// sameVector reports whether a and b are the same vector up to float
// rounding.
func sameVector(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-5 {
			return false
		}
	}
	return true
}

func localVectors(dims int, texts ...string) [][]float32 {
	h, _ := vector.NewHashEmbedder(dims)
	return h.Embed(texts)
}

// sentRecord is a record as the fake reads it back from a prompt.
type sentRecord struct {
	ID        int    `json:"id"`
	Inputs    string `json:"inputs"`
	Outputs   string `json:"outputs"`
	Result    any    `json:"result"`
	Rationale string `json:"rationale"`
}

// records reads the records of a distillation prompt.
func records(t testing.TB, req pluginapi.ChatRequest) []sentRecord {
	t.Helper()
	var out []sentRecord
	for _, line := range strings.Split(req.Messages[len(req.Messages)-1].Content, "\n") {
		if !strings.HasPrefix(line, `{"id":`) {
			continue
		}
		var r sentRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("record is not JSON: %v: %s", err, line)
		}
		out = append(out, r)
	}
	return out
}

// traceOf maps a record back to its trace: the fixtures put the trace ID
// in the inputs, "[tr-007] ...".
func traceOf(r sentRecord) string {
	i := strings.IndexByte(r.Inputs, ']')
	return r.Inputs[1:i]
}

func answerJSON(gs ...any) pluginapi.ChatResult {
	var items []map[string]any
	for i := 0; i+1 < len(gs); i += 2 {
		items = append(items, map[string]any{"guideline_text": gs[i], "source_trace_ids": gs[i+1]})
	}
	b, _ := json.Marshal(map[string]any{"guidelines": items})
	return pluginapi.ChatResult{Content: string(b), Usage: pluginapi.Usage{PromptTokens: 100, CompletionTokens: 10}}
}

const instructions = "Decide whether the answer in {{ outputs }} resolves the customer's question in {{ inputs }}."

func newJudge(t testing.TB) *judge.Judge {
	t.Helper()
	j, err := judge.New("support_quality", instructions, judge.WithValueType(judge.ValueType{Type: judge.Boolean}),
		judge.WithModel("openai:/gpt-4.1-mini"))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var t0 = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func example(i int) judge.Example {
	value := "yes"
	if i%3 == 0 {
		value = "no"
	}
	id := fmt.Sprintf("tr-%03d", i)
	return judge.Example{
		TraceID:      id,
		Inputs:       fmt.Sprintf("[%s] How do I change the billing address on invoice %d?", id, i),
		Outputs:      fmt.Sprintf("Go to Settings, then Billing, and edit the address; invoice %d updates.", i),
		Value:        value,
		Rationale:    fmt.Sprintf("Rationale %d: the answer names the exact menu path.", i),
		FeedbackTime: t0.Add(time.Duration(i) * time.Minute),
	}
}

func examples(from, to int) []judge.Example {
	var out []judge.Example
	for i := from; i <= to; i++ {
		out = append(out, example(i))
	}
	return out
}

func request(j *judge.Judge, exs []judge.Example, config map[string]any) *pluginapi.AlignRequest {
	return &pluginapi.AlignRequest{
		Judge:    j,
		Examples: exs,
		Config:   config,
		Models: []pluginapi.Model{
			{Name: pluginapi.RoleReflection, Kind: pluginapi.ChatModel},
			{Name: pluginapi.RoleEmbedding, Kind: pluginapi.EmbedModel, Dimensions: 512},
		},
	}
}

func align(t testing.TB, h pluginapi.Host, req *pluginapi.AlignRequest) *pluginapi.AlignResponse {
	t.Helper()
	resp, err := Optimizer{}.Align(context.Background(), h, req)
	if err != nil {
		t.Fatalf("Align: %v", err)
	}
	if err := resp.Judge.Validate(); err != nil {
		t.Fatalf("aligned judge is invalid: %v", err)
	}
	return resp
}

func guidelineMap(j *judge.Judge) map[string][]string {
	out := map[string][]string{}
	if j.Memory != nil {
		for _, g := range j.Memory.Guidelines {
			out[g.Text] = g.SourceTraceIDs
		}
	}
	return out
}

func TestDescribe(t *testing.T) {
	d := Optimizer{}.Describe()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Name != "memalign" || d.Version == "" || d.Description == "" {
		t.Errorf("description %+v", d)
	}
	if !d.Declares(pluginapi.Chat) || !d.Declares(pluginapi.Embed) || d.Declares(pluginapi.Evaluate) {
		t.Errorf("capabilities %v, want chat and embed", d.Capabilities)
	}
	want := map[string]any{
		"retrieval_k": 5, "embedding_model": "embedding", "embedding_dim": 512, "reflection_model": "reflection",
		"batch_size": 50, "max_input_tokens": 128000, "parallelism": 8, "disable_semantic_memory": false,
		"disable_episodic_memory": false, "max_guidelines": 0, "dedup_similarity": 0.92, "temperature": 0.0,
	}
	if len(d.Config) != len(want) {
		t.Errorf("%d config keys, want %d", len(d.Config), len(want))
	}
	for key, def := range want {
		k, ok := d.Key(key)
		if !ok {
			t.Errorf("config key %s missing", key)
			continue
		}
		if k.Default != def || k.Description == "" {
			t.Errorf("config %s: default %#v (%q), want %#v", key, k.Default, k.Description, def)
		}
	}
	// The defaults, decoded from JSON as the host sends them, are the
	// package's defaults.
	cfg := map[string]any{}
	for _, k := range d.Config {
		b, _ := json.Marshal(k.Default)
		var v any
		_ = json.Unmarshal(b, &v)
		cfg[k.Key] = v
	}
	got, err := ParseConfig(cfg)
	if err != nil || got != DefaultConfig() {
		t.Errorf("ParseConfig(defaults) = %+v, %v; want %+v", got, err, DefaultConfig())
	}
}

func TestParseConfigRefusesBadValues(t *testing.T) {
	tests := []struct {
		config map[string]any
		want   string
	}{
		{map[string]any{"disable_semantic_memory": true, "disable_episodic_memory": true}, "both set"},
		{map[string]any{"retrieval_k": 0.0}, "retrieval_k"},
		{map[string]any{"embedding_dim": 4.0}, "embedding_dim"},
		{map[string]any{"batch_size": 0.0}, "batch_size"},
		{map[string]any{"max_input_tokens": 5000.0}, "max_input_tokens"},
		{map[string]any{"parallelism": 0.0}, "parallelism"},
		{map[string]any{"parallelism": 257.0}, "parallelism"},
		{map[string]any{"max_guidelines": -1.0}, "max_guidelines"},
		{map[string]any{"dedup_similarity": 1.5}, "dedup_similarity"},
		{map[string]any{"temperature": -1.0}, "temperature"},
		{map[string]any{"reflection_model": ""}, "reflection_model"},
	}
	for _, tt := range tests {
		_, err := ParseConfig(tt.config)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%v) = %v, want an error about %s", tt.config, err, tt.want)
		}
		h := &fakeHost{}
		if _, err := (Optimizer{}).Align(context.Background(), h, request(newJudge(t), examples(1, 3), tt.config)); err == nil {
			t.Errorf("Align accepted config %v", tt.config)
		}
		if len(h.chats)+len(h.embeds) > 0 {
			t.Errorf("config %v: model calls before the config was checked", tt.config)
		}
	}
}

func TestBatchesGoInOneChatCall(t *testing.T) {
	tests := []struct {
		name        string
		n           int
		config      map[string]any
		wantCalls   []int // requests per chat call
		wantRecords []int // records per request
	}{
		{"120 examples, parallelism 8", 120, nil, []int{3}, []int{50, 50, 20}},
		{"120 examples, parallelism 2", 120, map[string]any{"parallelism": 2.0}, []int{2, 1}, []int{50, 50, 20}},
		{"batch size 7", 20, map[string]any{"batch_size": 7.0}, []int{3}, []int{7, 7, 6}},
		{"exactly 50", 50, nil, []int{1}, []int{50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHost{}
			resp := align(t, h, request(newJudge(t), examples(1, tt.n), tt.config))
			var calls, recs []int
			var seen []string
			for _, c := range h.chats {
				calls = append(calls, len(c))
				for _, r := range c {
					rs := records(t, r)
					recs = append(recs, len(rs))
					for _, rec := range rs {
						seen = append(seen, traceOf(rec))
					}
					if r.Model != "reflection" || r.SchemaName != "guidelines" || r.Schema == nil {
						t.Errorf("request model %q schema %q", r.Model, r.SchemaName)
					}
					if r.Params["temperature"] != 0.0 {
						t.Errorf("params %v, want temperature 0", r.Params)
					}
				}
			}
			if !reflect.DeepEqual(calls, tt.wantCalls) || !reflect.DeepEqual(recs, tt.wantRecords) {
				t.Errorf("chat calls %v records %v; want %v %v", calls, recs, tt.wantCalls, tt.wantRecords)
			}
			var want []string
			for _, ex := range examples(1, tt.n) {
				want = append(want, ex.TraceID)
			}
			if !reflect.DeepEqual(seen, want) {
				t.Errorf("records are not every example once, in order")
			}
			c := resp.Report.Counts
			if c["batches"] != len(tt.wantRecords) || c["chat_calls"] != len(tt.wantCalls) || c["embed_calls"] != 1 {
				t.Errorf("counts %v", c)
			}
			if len(h.embeds) != 1 || len(h.embeds[0].Inputs) != tt.n {
				t.Errorf("embed calls %d, want 1 with %d inputs", len(h.embeds), tt.n)
			}
			if got := h.progress[len(h.progress)-1]; !strings.HasPrefix(h.progress[0], "Distilling guidelines 0/") ||
				!slices.Contains(h.progress, fmt.Sprintf("Distilling guidelines %d/%d", len(tt.wantRecords), len(tt.wantRecords))) {
				t.Errorf("progress %v (last %q)", h.progress, got)
			}
		})
	}
}

func TestTokenBudgetAndHugeRecord(t *testing.T) {
	exs := examples(1, 30)
	for i := range exs {
		exs[i].Rationale += " " + strings.Repeat("detail ", 120) // ~850 bytes
	}
	exs[11].Rationale = strings.Repeat("an enormous rationale ", 2000) // ~44 KB, over the budget
	h := &fakeHost{}
	const maxInput = 10000
	align(t, h, request(newJudge(t), exs, map[string]any{"max_input_tokens": float64(maxInput)}))
	budget := maxInput - FlexTokens
	var order []string
	hugeAlone := false
	for _, r := range h.requests() {
		rs := records(t, r)
		used := tokens(r.Messages[0].Content) + tokens(r.Messages[1].Content)
		for _, rec := range rs {
			order = append(order, traceOf(rec))
			if traceOf(rec) == exs[11].TraceID {
				hugeAlone = len(rs) == 1
			}
		}
		if len(rs) > 1 && used > budget {
			t.Errorf("a prompt of %d records uses %d tokens, budget %d", len(rs), used, budget)
		}
	}
	if !hugeAlone {
		t.Error("the oversized record does not have a batch of its own")
	}
	if len(order) != len(exs) {
		t.Errorf("%d records sent, want %d", len(order), len(exs))
	}
	if n := len(h.requests()); n < 4 {
		t.Errorf("only %d prompts: the budget was not applied", n)
	}
}

func TestPromptContents(t *testing.T) {
	j := newJudge(t)
	j.Memory = &judge.Memory{Guidelines: []judge.Guideline{
		{Text: "Answers must name the exact menu path."},
		{Text: "Never promise refunds.", SourceTraceIDs: []string{"tr-old"}},
	}}
	exs := examples(1, 3)
	exs[1].Rationale = `Says "Billing" but the menu is <Payments> & more`
	h := &fakeHost{}
	align(t, h, request(j, exs, nil))
	reqs := h.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d prompts, want 1", len(reqs))
	}
	system, user := reqs[0].Messages[0].Content, reqs[0].Messages[1].Content
	for _, want := range []string{"the person's view wins", "complement", "guideline_text", "source_trace_ids", "empty list"} {
		if !strings.Contains(system, want) {
			t.Errorf("system prompt lacks %q", want)
		}
	}
	for _, want := range []string{instructions, "- Answers must name the exact menu path.", "- Never promise refunds."} {
		if !strings.Contains(user, want) {
			t.Errorf("user prompt lacks %q", want)
		}
	}
	rs := records(t, reqs[0])
	for i, ex := range exs {
		if rs[i].ID != i || rs[i].Rationale != ex.Rationale || rs[i].Inputs != ex.Inputs || rs[i].Outputs != ex.Outputs || rs[i].Result != ex.Value {
			t.Errorf("record %d = %+v, want example %+v", i, rs[i], ex)
		}
	}
	if !strings.Contains(user, `<Payments> & more`) {
		t.Error("records are HTML-escaped")
	}
	var debug []string
	for _, l := range h.logs {
		if strings.HasPrefix(l, fmt.Sprint(pluginapi.LevelDebug)+" memory") {
			debug = append(debug, l)
		}
	}
	if want := []string{
		`-4 memory before: 2 guidelines, 0 examples, space ""`,
		`-4 memory after: 2 guidelines, 3 examples, space "fake:/embed@512", k 5`,
	}; !reflect.DeepEqual(debug, want) {
		t.Errorf("debug log %q, want %q", debug, want)
	}
}

func TestIDMappingThroughAlign(t *testing.T) {
	h := &fakeHost{answer: func(int, pluginapi.ChatRequest) pluginapi.ChatResult {
		return answerJSON(
			"By index.", []any{0, 2},
			"By numeric string.", []any{"1"},
			"By trace ID.", []any{"tr-003", "tr-999"},
			"Unknown only.", []any{"tr-999", 17},
			"No sources.", []any{},
		)
	}}
	resp := align(t, h, request(newJudge(t), examples(1, 3), nil))
	want := map[string][]string{
		"By index.":          {"tr-001", "tr-003"},
		"By numeric string.": {"tr-002"},
		"By trace ID.":       {"tr-003"},
	}
	if got := guidelineMap(resp.Judge); !reflect.DeepEqual(got, want) {
		t.Errorf("guidelines %v, want %v", got, want)
	}
	if c := resp.Report.Counts; c["guidelines_rejected"] != 2 || c["guidelines_added"] != 3 {
		t.Errorf("counts %v", c)
	}
}

func TestFailedBatchIsReported(t *testing.T) {
	tests := []struct {
		name   string
		answer pluginapi.ChatResult
		reason string
	}{
		{"model error", pluginapi.ChatResult{Error: "status 500 after 3 attempts"}, "status 500"},
		{"invalid JSON", pluginapi.ChatResult{Content: "Sorry, I can't."}, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHost{answer: func(n int, req pluginapi.ChatRequest) pluginapi.ChatResult {
				if n == 1 {
					return tt.answer
				}
				return answerJSON(fmt.Sprintf("Guideline of batch %d.", n), []any{0})
			}}
			// Long trace IDs, so that one warning cannot hold the batch.
			exs := examples(1, 120)
			for i := range exs {
				exs[i].TraceID = fmt.Sprintf("%s-%s", exs[i].TraceID, strings.Repeat("f", 32))
			}
			resp := align(t, h, request(newJudge(t), exs, nil))
			c := resp.Report.Counts
			if c["batches"] != 3 || c["batches_failed"] != 1 || c["examples_not_stored"] != 50 || c["examples_total"] != 70 {
				t.Errorf("counts %v", c)
			}
			all := strings.Join(resp.Report.Warnings, "\n")
			if !strings.Contains(all, "batch 2/3 failed") || !strings.Contains(all, tt.reason) {
				t.Errorf("warnings do not explain the failure:\n%s", all)
			}
			for _, w := range resp.Report.Warnings {
				if len(w) > 1024 {
					t.Errorf("warning of %d bytes would be cut by the host", len(w))
				}
			}
			stored := map[string]bool{}
			for _, ex := range resp.Judge.Memory.Examples {
				stored[ex.TraceID] = true
			}
			for i, ex := range exs {
				inFailed := i >= 50 && i < 100
				if strings.Contains(all, ex.TraceID) != inFailed {
					t.Errorf("trace %s: in warnings %v, want %v", ex.TraceID, !inFailed, inFailed)
				}
				if stored[ex.TraceID] == inFailed {
					t.Errorf("trace %s: stored %v, want %v", ex.TraceID, stored[ex.TraceID], !inFailed)
				}
			}
			if got := guidelineMap(resp.Judge); len(got) != 2 || got["Guideline of batch 0."] == nil || got["Guideline of batch 2."] == nil {
				t.Errorf("guidelines %v", got)
			}
			// Aligning again learns the examples of the failed batch, and only
			// those.
			h2 := &fakeHost{}
			resp2 := align(t, h2, request(resp.Judge, exs, nil))
			if c := resp2.Report.Counts; c["examples_new"] != 50 || c["examples_unchanged"] != 70 || c["examples_total"] != 120 {
				t.Errorf("second alignment counts %v", c)
			}
		})
	}

	t.Run("every batch failed", func(t *testing.T) {
		h := &fakeHost{chatErr: &pluginapi.Error{Code: pluginapi.CodeModelError, Message: "unreachable"}}
		_, err := Optimizer{}.Align(context.Background(), h, request(newJudge(t), examples(1, 60), nil))
		if err == nil || !strings.Contains(err.Error(), "every distillation batch failed") || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestUnavailableReflectionModel(t *testing.T) {
	req := request(newJudge(t), examples(1, 3), map[string]any{"reflection_model": "thinker"})
	h := &fakeHost{}
	_, err := Optimizer{}.Align(context.Background(), h, req)
	if err == nil || !strings.Contains(err.Error(), `"thinker"`) || !strings.Contains(err.Error(), `"reflection"`) {
		t.Errorf("err = %v", err)
	}
	if len(h.chats)+len(h.embeds) != 0 {
		t.Error("calls were made")
	}
}

// tableEmbed embeds the texts of table with its vectors and any other text
// with the fake model.
func tableEmbed(table map[string][]float32) func(int, pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error) {
	return func(_ int, req pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error) {
		resp, _ := modelEmbed(req)
		for i, in := range req.Inputs {
			if v, ok := table[in]; ok {
				resp.Vectors[i] = slices.Clone(v)
			}
		}
		return resp, nil
	}
}

func TestNearDuplicateGuidelinesMerge(t *testing.T) {
	const dims = 16
	unit := func(pairs ...float32) []float32 {
		v := make([]float32, dims)
		for i := 0; i+1 < len(pairs); i += 2 {
			v[int(pairs[i])] = pairs[i+1]
		}
		return vector.Normalize(v)
	}
	table := map[string][]float32{
		"Answers must cite the refund policy.":      unit(0, 1),
		"Be concise.":                               unit(1, 1),
		"Mention the warranty period.":              unit(2, 1),
		"Always state the warranty period clearly.": unit(2, 0.95, 3, 0.31), // cosine 0.95
		"Prices must include VAT.":                  unit(4, 1),
	}
	answers := []pluginapi.ChatResult{
		answerJSON("answers must cite the refund policy", []any{0}, "Mention the warranty period.", []any{0}),
		answerJSON("BE CONCISE!", []any{0}, "Mention the warranty period.", []any{"tr-002"}),
		answerJSON("Always state the warranty period clearly.", []any{"0"}, "Prices must include VAT.", []any{0}),
	}
	base := func() *judge.Judge {
		j := newJudge(t)
		old := example(90)
		old.Embedding = modelVectors(dims, old.Inputs)[0]
		j.Memory = &judge.Memory{
			Guidelines: []judge.Guideline{
				{Text: "Be concise."},
				{Text: "Answers must cite the refund policy.", SourceTraceIDs: []string{old.TraceID}},
			},
			Examples:  []judge.Example{old},
			Retrieval: judge.Retrieval{K: 5, Embedder: fmt.Sprintf("%s@%d", modelSpace, dims), Dimensions: dims},
		}
		return j
	}
	tests := []struct {
		name       string
		similarity float64
		want       map[string][]string
		merged     int
	}{
		{"text and embedding", 0.92, map[string][]string{
			"Be concise.":                          nil,
			"Answers must cite the refund policy.": {"tr-090", "tr-001"},
			"Mention the warranty period.":         {"tr-001", "tr-002", "tr-003"},
			"Prices must include VAT.":             {"tr-003"},
		}, 4},
		{"text only", 0, map[string][]string{
			"Be concise.":                               nil,
			"Answers must cite the refund policy.":      {"tr-090", "tr-001"},
			"Mention the warranty period.":              {"tr-001", "tr-002"},
			"Always state the warranty period clearly.": {"tr-003"},
			"Prices must include VAT.":                  {"tr-003"},
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHost{
				answer: func(n int, _ pluginapi.ChatRequest) pluginapi.ChatResult { return answers[n] },
				embed:  tableEmbed(table),
			}
			resp := align(t, h, request(base(), examples(1, 3), map[string]any{
				"batch_size": 1.0, "embedding_dim": float64(dims), "dedup_similarity": tt.similarity,
			}))
			if got := guidelineMap(resp.Judge); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("guidelines\n%v\nwant\n%v", got, tt.want)
			}
			if c := resp.Report.Counts; c["guidelines_merged"] != tt.merged || c["guidelines_added"] != len(tt.want)-2 {
				t.Errorf("counts %v", c)
			}
			// Every batch saw the same snapshot of the existing guidelines.
			for i, r := range h.requests() {
				user := r.Messages[1].Content
				if !strings.Contains(user, "- Be concise.") || strings.Contains(user, "warranty") {
					t.Errorf("batch %d saw another snapshot:\n%s", i, user)
				}
			}
			// Guidelines were embedded in the same call as the examples.
			if len(h.embeds) != 1 {
				t.Errorf("%d embed calls, want 1", len(h.embeds))
			}
		})
	}
}

func TestGuidelineCap(t *testing.T) {
	j := newJudge(t)
	j.Memory = &judge.Memory{Guidelines: []judge.Guideline{{Text: "Written by a person."}}}
	h := &fakeHost{answer: func(int, pluginapi.ChatRequest) pluginapi.ChatResult {
		return answerJSON(
			"One source.", []any{0},
			"Three sources.", []any{0, 1, 2},
			"Two sources.", []any{1, 2},
			"Another one source.", []any{3},
		)
	}}
	resp := align(t, h, request(j, examples(1, 4), map[string]any{"max_guidelines": 3.0}))
	var texts []string
	for _, g := range resp.Judge.Memory.Guidelines {
		texts = append(texts, g.Text)
	}
	if want := []string{"Written by a person.", "Three sources.", "Two sources."}; !reflect.DeepEqual(texts, want) {
		t.Errorf("guidelines %v, want %v", texts, want)
	}
	if c := resp.Report.Counts; c["guidelines_dropped"] != 2 || c["guidelines_added"] != 2 || c["guidelines_total"] != 3 {
		t.Errorf("counts %v", c)
	}
	if !strings.Contains(strings.Join(resp.Report.Warnings, "\n"), "max_guidelines 3: dropped 2") {
		t.Errorf("warnings %v", resp.Report.Warnings)
	}
}

func TestEmbeddingSpaces(t *testing.T) {
	const dims = 64
	local := fmt.Sprintf("local:hash-v1@%d", dims)
	model := fmt.Sprintf("%s@%d", modelSpace, dims)
	withMemory := func(space string, vecs func(int, ...string) [][]float32) *judge.Judge {
		j := newJudge(t)
		old := examples(50, 52)
		for i := range old {
			old[i].Embedding = vecs(dims, old[i].Inputs)[0]
		}
		j.Memory = &judge.Memory{Examples: old, Retrieval: judge.Retrieval{K: 5, Embedder: space, Dimensions: dims}}
		return j
	}
	failing := func(int, pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error) {
		return nil, &pluginapi.Error{Code: pluginapi.CodeModelError, Message: "no API key"}
	}
	tests := []struct {
		name      string
		judge     *judge.Judge
		noModel   bool
		embed     func(int, pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error)
		n         int
		wantSpace string
		wantSent  []string // texts sent to the model, in order
		warning   string
	}{
		{name: "model", judge: newJudge(t), n: 3, wantSpace: model,
			wantSent: []string{example(1).Inputs, example(2).Inputs, example(3).Inputs}},
		{name: "no embedding model offered", judge: newJudge(t), noModel: true, n: 3, wantSpace: local,
			warning: `no embedding model "embedding" is offered`},
		{name: "model fails", judge: newJudge(t), embed: failing, n: 3, wantSpace: local,
			wantSent: []string{example(1).Inputs, example(2).Inputs, example(3).Inputs}, warning: "no API key"},
		{name: "second call fails: nothing of the model is kept", judge: newJudge(t), n: 250, wantSpace: local,
			embed: func(call int, req pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error) {
				if call == 1 {
					return failing(call, req)
				}
				return modelEmbed(req)
			}, warning: "no API key"},
		{name: "model answers in a space with other dimensions", judge: newJudge(t), n: 2, wantSpace: local,
			embed: func(_ int, req pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error) {
				resp, _ := modelEmbed(req)
				resp.Embedder = modelSpace + "@1536"
				return resp, nil
			}, warning: "promises 1536 dimensions"},
		{name: "same model space: only new examples embedded", judge: withMemory(model, modelVectors), n: 2, wantSpace: model,
			wantSent: []string{example(1).Inputs, example(2).Inputs}},
		{name: "local memory upgraded by the model", judge: withMemory(local, localVectors), n: 2, wantSpace: model,
			wantSent: []string{example(50).Inputs, example(51).Inputs, example(52).Inputs, example(1).Inputs, example(2).Inputs}},
		{name: "memory of another model re-embedded by this one", judge: withMemory("other:/model@64", modelVectors), n: 2, wantSpace: model,
			wantSent: []string{example(1).Inputs, example(2).Inputs, example(50).Inputs, example(51).Inputs, example(52).Inputs}},
		{name: "model memory moved to local when the model fails", judge: withMemory(model, modelVectors), embed: failing, n: 2, wantSpace: local,
			wantSent: []string{example(1).Inputs, example(2).Inputs}, warning: "no API key"},
		{name: "model memory moved to local without a model", judge: withMemory(model, modelVectors), noModel: true, n: 2, wantSpace: local},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHost{embed: tt.embed}
			req := request(tt.judge, examples(1, tt.n), map[string]any{"embedding_dim": float64(dims), "disable_semantic_memory": true})
			if tt.noModel {
				req.Models = req.Models[:1]
			}
			resp := align(t, h, req)
			mem := resp.Judge.Memory
			if mem.Retrieval.Embedder != tt.wantSpace || mem.Retrieval.Dimensions != dims || mem.Retrieval.K != 5 {
				t.Errorf("retrieval %+v, want space %s, %d dimensions, k 5", mem.Retrieval, tt.wantSpace, dims)
			}
			vecs := localVectors
			if tt.wantSpace == model {
				vecs = modelVectors
			}
			for _, ex := range mem.Examples {
				want := vecs(dims, ex.Inputs)[0]
				if !sameVector(ex.Embedding, want) {
					t.Errorf("example %s: vector not in space %s", ex.TraceID, tt.wantSpace)
					break
				}
			}
			if tt.wantSent != nil && !reflect.DeepEqual(h.embedInputs(), tt.wantSent) {
				t.Errorf("sent to the model %d texts:\n%q\nwant\n%q", len(h.embedInputs()), h.embedInputs(), tt.wantSent)
			}
			for _, e := range h.embeds {
				if e.Model != "embedding" || e.Dimensions != dims || len(e.Inputs) > embedBatch {
					t.Errorf("embed request model %q dims %d inputs %d", e.Model, e.Dimensions, len(e.Inputs))
				}
			}
			if tt.noModel && len(h.embeds) > 0 {
				t.Error("the model was called though none is offered")
			}
			warnings := strings.Join(resp.Report.Warnings, "\n")
			if tt.warning != "" && !strings.Contains(warnings, tt.warning) {
				t.Errorf("warnings %q lack %q", warnings, tt.warning)
			}
			if tt.warning == "" && tt.wantSpace == model && warnings != "" {
				t.Errorf("unexpected warnings %q", warnings)
			}
		})
	}
}

func TestBlankQueryKeptWithoutVector(t *testing.T) {
	exs := examples(1, 3)
	exs[1].Inputs = "   "
	h := &fakeHost{}
	resp := align(t, h, request(newJudge(t), exs, nil))
	mem := resp.Judge.Memory
	if len(mem.Examples) != 3 || mem.Examples[1].Embedding != nil || mem.Examples[0].Embedding == nil {
		t.Errorf("examples %d, blank one has vector %v", len(mem.Examples), mem.Examples[1].Embedding != nil)
	}
	if got := h.embedInputs(); len(got) != 2 {
		t.Errorf("embedded %q: blank texts must not reach the host", got)
	}

	// With no query text at all, retrieval is off rather than broken.
	for i := range exs {
		exs[i].Inputs = ""
	}
	resp = align(t, &fakeHost{}, request(newJudge(t), exs, nil))
	if r := resp.Judge.Memory.Retrieval; r.K != 0 || r.Embedder != "" {
		t.Errorf("retrieval %+v, want off", r)
	}
}

func TestIncrementalAlignment(t *testing.T) {
	first := &fakeHost{answer: func(int, pluginapi.ChatRequest) pluginapi.ChatResult {
		return answerJSON(
			"Learnt from trace 3 only.", []any{"tr-003"},
			"Learnt from traces 3 and 4.", []any{"tr-003", "tr-004"},
			"Learnt from trace 5.", []any{"tr-005"},
		)
	}}
	cfg := map[string]any{"dedup_similarity": 0.0}
	one := align(t, first, request(newJudge(t), examples(1, 10), cfg))
	if c := one.Report.Counts; c["examples_new"] != 10 || c["guidelines_added"] != 3 || c["examples_total"] != 10 {
		t.Fatalf("first alignment counts %v", c)
	}

	t.Run("unchanged feedback makes no call and no change", func(t *testing.T) {
		h := &fakeHost{}
		again := align(t, h, request(one.Judge, examples(1, 10), cfg))
		if len(h.chats)+len(h.embeds) != 0 {
			t.Errorf("%d chat and %d embed calls for unchanged examples", len(h.chats), len(h.embeds))
		}
		if c := again.Report.Counts; c["examples_unchanged"] != 10 || c["examples_new"]+c["examples_changed"] != 0 {
			t.Errorf("counts %v", c)
		}
		a, _ := json.Marshal(one.Judge)
		b, _ := json.Marshal(again.Judge)
		if string(a) != string(b) {
			t.Error("realigning unchanged examples changed the judge")
		}
	})

	t.Run("changed replaced, new added", func(t *testing.T) {
		exs := examples(1, 12)
		exs[2].Rationale = "On reflection, the path is outdated." // tr-003
		exs[2].FeedbackTime = exs[2].FeedbackTime.Add(time.Hour)
		h := &fakeHost{answer: func(int, pluginapi.ChatRequest) pluginapi.ChatResult {
			return answerJSON("Outdated menu paths are wrong.", []any{0})
		}}
		two := align(t, h, request(one.Judge, exs, cfg))
		reqs := h.requests()
		if len(reqs) != 1 {
			t.Fatalf("%d prompts, want 1", len(reqs))
		}
		var sent []string
		for _, r := range records(t, reqs[0]) {
			sent = append(sent, traceOf(r))
		}
		if want := []string{"tr-003", "tr-011", "tr-012"}; !reflect.DeepEqual(sent, want) {
			t.Errorf("distilled %v, want %v", sent, want)
		}
		if got, want := h.embedInputs(), []string{exs[2].Inputs, exs[10].Inputs, exs[11].Inputs}; !reflect.DeepEqual(got, want) {
			t.Errorf("embedded %q, want %q", got, want)
		}
		// The snapshot the model saw no longer holds the guideline learnt
		// only from the old feedback.
		if strings.Contains(reqs[0].Messages[1].Content, "Learnt from trace 3 only.") {
			t.Error("the changed example's old guideline was shown as existing")
		}
		want := map[string][]string{
			"Learnt from traces 3 and 4.":    {"tr-004"},
			"Learnt from trace 5.":           {"tr-005"},
			"Outdated menu paths are wrong.": {"tr-003"},
		}
		if got := guidelineMap(two.Judge); !reflect.DeepEqual(got, want) {
			t.Errorf("guidelines %v, want %v", got, want)
		}
		c := two.Report.Counts
		if c["examples_changed"] != 1 || c["examples_new"] != 2 || c["examples_unchanged"] != 9 ||
			c["examples_total"] != 12 || c["guidelines_forgotten"] != 1 || c["embedded"] != 3 {
			t.Errorf("counts %v", c)
		}
		var rationale string
		n := 0
		for _, ex := range two.Judge.Memory.Examples {
			if ex.TraceID == "tr-003" {
				rationale = ex.Rationale
				n++
			}
		}
		if n != 1 || rationale != exs[2].Rationale {
			t.Errorf("tr-003 stored %d times with rationale %q", n, rationale)
		}
	})
}

func TestDisableFlags(t *testing.T) {
	t.Run("semantic", func(t *testing.T) {
		j := newJudge(t)
		j.Memory = &judge.Memory{Guidelines: []judge.Guideline{{Text: "Kept."}}}
		h := &fakeHost{}
		resp := align(t, h, request(j, examples(1, 5), map[string]any{"disable_semantic_memory": true}))
		if len(h.chats) != 0 {
			t.Error("distilled with semantic memory disabled")
		}
		mem := resp.Judge.Memory
		if len(mem.Examples) != 5 || mem.Retrieval.K != 5 || mem.Examples[0].Embedding == nil || len(mem.Guidelines) != 1 {
			t.Errorf("memory %d examples, k %d, %d guidelines", len(mem.Examples), mem.Retrieval.K, len(mem.Guidelines))
		}
	})
	t.Run("episodic", func(t *testing.T) {
		j := newJudge(t)
		old := example(40)
		old.Embedding = modelVectors(512, old.Inputs)[0]
		j.Memory = &judge.Memory{Examples: []judge.Example{old}, Retrieval: judge.Retrieval{K: 5, Embedder: modelSpace + "@512", Dimensions: 512}}
		h := &fakeHost{answer: func(int, pluginapi.ChatRequest) pluginapi.ChatResult { return answerJSON("G.", []any{0}) }}
		resp := align(t, h, request(j, examples(1, 5), map[string]any{"disable_episodic_memory": true}))
		mem := resp.Judge.Memory
		if mem.Retrieval != (judge.Retrieval{}) {
			t.Errorf("retrieval %+v, want off", mem.Retrieval)
		}
		for _, ex := range mem.Examples {
			if ex.Embedding != nil {
				t.Errorf("example %s keeps a vector", ex.TraceID)
			}
		}
		if len(mem.Examples) != 6 || len(mem.Guidelines) != 1 {
			t.Errorf("memory %d examples, %d guidelines", len(mem.Examples), len(mem.Guidelines))
		}
		// Only the guideline is embedded, for duplicate detection.
		if got := h.embedInputs(); !reflect.DeepEqual(got, []string{"G."}) {
			t.Errorf("embedded %q", got)
		}
	})
}

func TestRefusals(t *testing.T) {
	session, err := judge.New("frustration", "Is the user frustrated in {{ conversation }}?", judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{}
	_, err = Optimizer{}.Align(context.Background(), h, request(session, examples(1, 3), nil))
	if !errors.Is(err, ErrSessionJudge) || !strings.Contains(err.Error(), "frustration") {
		t.Errorf("session judge: err = %v", err)
	}

	req := request(newJudge(t), []judge.Example{{TraceID: "tr-1", Value: "maybe"}, {Value: "yes"}}, nil)
	req.Skipped = []pluginapi.Skip{{TraceID: "tr-2", Reason: "no HUMAN feedback named support_quality"}}
	_, err = Optimizer{}.Align(context.Background(), h, req)
	if !errors.Is(err, ErrNoExamples) {
		t.Fatalf("no usable examples: err = %v", err)
	}
	for _, want := range []string{`"support_quality"`, "HUMAN", "tr-2: no HUMAN feedback", `"maybe"`, "no trace ID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(h.chats)+len(h.embeds) != 0 {
		t.Error("calls were made")
	}
}

func TestDuplicateTraceKeepsLatestFeedback(t *testing.T) {
	older, newer := example(1), example(1)
	newer.Value, newer.Rationale, newer.FeedbackTime = "no", "Changed my mind.", older.FeedbackTime.Add(time.Hour)
	resp := align(t, &fakeHost{}, request(newJudge(t), []judge.Example{newer, older, example(2)}, nil))
	mem := resp.Judge.Memory
	if len(mem.Examples) != 2 || mem.Examples[0].Rationale != "Changed my mind." {
		t.Errorf("examples %+v", mem.Examples)
	}
	if !strings.Contains(strings.Join(resp.Report.Warnings, "\n"), "tr-001 has more than one example") {
		t.Errorf("warnings %v", resp.Report.Warnings)
	}
}

func TestContextCancelledStopsAlignment(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	limit := errors.New("model call limit of 1 reached")
	h := &cancellingHost{fakeHost: &fakeHost{}, cancel: func() { cancel(limit) }}
	_, err := Optimizer{}.Align(ctx, h, request(newJudge(t), examples(1, 3), nil))
	if !errors.Is(err, limit) {
		t.Errorf("err = %v, want the limit", err)
	}
}

// cancellingHost fails chat as a host does at a limit: the context ends.
type cancellingHost struct {
	*fakeHost
	cancel func()
}

func (c *cancellingHost) Chat(context.Context, []pluginapi.ChatRequest) ([]pluginapi.ChatResult, error) {
	c.cancel()
	return nil, errors.New("limit")
}

func TestDeterministic(t *testing.T) {
	run := func() []byte {
		h := &fakeHost{answer: func(n int, req pluginapi.ChatRequest) pluginapi.ChatResult {
			rs := records(t, req)
			return answerJSON(
				fmt.Sprintf("Guideline A of batch %d.", n), []any{0, len(rs) - 1},
				"A shared guideline.", []any{1},
				fmt.Sprintf("guideline a of batch %d", n), []any{2},
			)
		}}
		resp := align(t, h, request(newJudge(t), examples(1, 120), map[string]any{"max_guidelines": 4.0}))
		b, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := run(), run()
	if string(a) != string(b) {
		t.Error("two runs on the same answers differ")
	}
}
