package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/llm/llmtest"
)

// alignResponder answers distillation prompts with one guideline sourced
// from the first record, and judge prompts by a rule on the answer text:
// "no" when the answer mentions a refund, "yes" otherwise.
func alignResponder(req openai.ChatCompletionRequest) llmtest.Reply {
	if req.ResponseFormat != nil && req.ResponseFormat.JSONSchema != nil && req.ResponseFormat.JSONSchema.Name != "judgement" {
		return llmtest.Content(`{"guidelines": [{"guideline_text": "Refunds apply only to annual plans within 30 days.", "source_trace_ids": [0]}]}`)
	}
	if strings.Contains(strings.ToLower(req.Messages[len(req.Messages)-1].Content), "refund") {
		return llmtest.Content(`{"rationale": "It discusses a refund.", "result": "no"}`)
	}
	return llmtest.Content(`{"rationale": "Looks fine.", "result": "yes"}`)
}

// demoStore imports the bundled demo traces, feedback and judge.
func demoStore(t *testing.T, srv *llmtest.Server) *cli {
	t.Helper()
	c := newCLI(t)
	c.env["OPENAI_API_KEY"] = srv.APIKey()
	c.env["OPENAI_BASE_URL"] = srv.BaseURL()
	c.env[pluginCacheEnv] = filepath.Join(t.TempDir(), "wasm-cache")
	c.ok("judges", "create", filepath.Join("demodata", "support_quality.toml"))
	c.ok("traces", "import", filepath.Join("demodata", "traces.jsonl"), "--experiment", "support-bot")
	c.ok("feedback", "import", filepath.Join("demodata", "feedback.csv"), "--name", "support_quality")
	return c
}

func TestAlignWithEmbeddedMemAlign(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(alignResponder))
	c := demoStore(t, srv)

	var out alignSummary
	c.jsonOut(&out, "align", "--judge", "support_quality", "--holdout", "0.25", "--seed", "3")
	if out.Registered != "support_quality@2" {
		t.Fatalf("registered %q, want support_quality@2", out.Registered)
	}
	if out.Examples != 48 || out.Holdout == nil || len(out.Holdout.Test) < 10 || len(out.Holdout.Train)+len(out.Holdout.Test) != 48 {
		t.Fatalf("examples %d, holdout %+v", out.Examples, out.Holdout)
	}
	if out.Holdout.Comparison == nil || out.Holdout.Comparison.A == nil || out.Holdout.Comparison.B == nil {
		t.Fatal("no held-out comparison")
	}
	var shown struct {
		Tags  map[string]string `json:"tags"`
		Judge struct {
			Instructions string `json:"instructions"`
			Memory       struct {
				Guidelines []struct {
					Text    string   `json:"text"`
					Sources []string `json:"source_trace_ids"`
				} `json:"guidelines"`
				Examples []struct {
					TraceID   string    `json:"trace_id"`
					Embedding []float32 `json:"embedding"`
				} `json:"examples"`
				Retrieval struct {
					K        int    `json:"k"`
					Embedder string `json:"embedder"`
				} `json:"retrieval"`
			} `json:"memory"`
			Provenance struct {
				Optimizer string `json:"optimizer"`
				SHA       string `json:"optimizer_sha256"`
				Base      string `json:"base_judge"`
				BaseV     int    `json:"base_version"`
				N         int    `json:"num_traces"`
			} `json:"provenance"`
		} `json:"judge"`
	}
	c.jsonOut(&shown, "judges", "show", "support_quality@2")
	j := shown.Judge
	if len(j.Memory.Guidelines) != 1 || len(j.Memory.Guidelines[0].Sources) == 0 {
		t.Errorf("guidelines = %+v", j.Memory.Guidelines)
	}
	if len(j.Memory.Examples) != len(out.Holdout.Train) || len(j.Memory.Examples[0].Embedding) != 512 {
		t.Errorf("episodic memory: %d examples (train %d)", len(j.Memory.Examples), len(out.Holdout.Train))
	}
	if j.Memory.Retrieval.K != 5 || j.Memory.Retrieval.Embedder != "openai:/text-embedding-3-small@512" {
		t.Errorf("retrieval = %+v", j.Memory.Retrieval)
	}
	if j.Provenance.Optimizer != "memalign" || len(j.Provenance.SHA) != 64 || j.Provenance.Base != "support_quality" || j.Provenance.BaseV != 1 || j.Provenance.N != len(out.Holdout.Train) {
		t.Errorf("provenance = %+v", j.Provenance)
	}
	if strings.Contains(j.Instructions, "Refunds apply") {
		t.Error("guidelines were pasted into the base instructions")
	}
	if shown.Tags["aligned_from"] != "support_quality@1" {
		t.Errorf("tags = %v", shown.Tags)
	}

	// The aligned judge evaluates like any other, with retrieved examples.
	c.ok("eval", "--judge", "support_quality@2", "--limit", "3")
	var tr struct {
		Info struct {
			Assessments []struct {
				Source struct {
					Type string `json:"source_type"`
				} `json:"source"`
				Metadata map[string]string `json:"metadata"`
			} `json:"assessments"`
		} `json:"info"`
	}
	var list []struct {
		TraceID string `json:"trace_id"`
	}
	c.jsonOut(&list, "traces", "list", "--limit", "1")
	c.jsonOut(&tr, "traces", "show", list[0].TraceID)
	var retrieved []string
	for _, a := range tr.Info.Assessments {
		if a.Source.Type == "LLM_JUDGE" && a.Metadata["judge_version"] == "2" {
			if err := json.Unmarshal([]byte(a.Metadata["retrieved_example_trace_ids"]), &retrieved); err != nil {
				t.Fatalf("retrieved ids: %v", err)
			}
		}
	}
	if len(retrieved) != 5 {
		t.Errorf("aligned judgement retrieved %v, want 5 examples", retrieved)
	}

	// Unalign forgets a trace's example and the guideline only it supported.
	src := j.Memory.Guidelines[0].Sources
	args := []string{"unalign", "--judge", "support_quality@2"}
	for _, id := range src {
		args = append(args, "--trace", id)
	}
	if out := c.ok(args...); !strings.Contains(out, "registered support_quality@3") || !strings.Contains(out, "1 guidelines") {
		t.Errorf("unalign: %q", out)
	}
}

func TestAlignRefusals(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(alignResponder))
	c := demoStore(t, srv)
	c.ok("judges", "builtin", "safety", "--name", "tone")
	errOut := c.fail(exitFailure, "align", "--judge", "tone")
	for _, want := range []string{`no usable examples for judge "tone"`, "HUMAN", "48 traces"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("no-examples error %q lacks %q", errOut, want)
		}
	}
	c.write("conv.toml", "name = \"coherence\"\ninstructions = \"Is {{ conversation }} coherent?\"\ntype = \"boolean\"\n")
	c.ok("judges", "create", filepath.Join(c.dir, "conv.toml"))
	if errOut := c.fail(exitFailure, "align", "--judge", "coherence"); !strings.Contains(errOut, "session-level") {
		t.Errorf("session judge: %q", errOut)
	}
	c.fail(exitUsage, "align", "--judge", "support_quality", "--require-improvement")
	c.fail(exitUsage, "align")

	// The base judge says "no" to every refund answer; the aligned judge
	// (same scripted model) cannot do better, so registration is refused.
	errOut = c.fail(exitFailure, "align", "--judge", "support_quality", "--holdout", "0.3", "--require-improvement")
	if !strings.Contains(errOut, "not registered") || !strings.Contains(errOut, "kappa") {
		t.Errorf("require-improvement: %q", errOut)
	}
	var versions []map[string]any
	c.jsonOut(&versions, "judges", "versions", "support_quality")
	if len(versions) != 1 {
		t.Errorf("%d versions after a refused alignment, want 1", len(versions))
	}
}

// An optimizer that calls no model needs no key; one that chats gets a
// clear message naming the missing credential.
func TestAlignWithAPluginThatCallsNoModel(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(alignResponder))
	c := demoStore(t, srv)
	delete(c.env, "OPENAI_API_KEY")
	plugins := buildPlugins(t, t.TempDir(), map[string]string{"noop": "github.com/alignhost/alignhost/plugins/examples/noop"})
	var out alignSummary
	c.jsonOut(&out, "align", "--judge", "support_quality", "--optimizer", plugins["noop"])
	if out.Registered != "support_quality@2" || !strings.HasPrefix(out.Optimizer, "noop") {
		t.Errorf("noop alignment without a key: %+v", out)
	}
	// The summary says what the meter charged the plugin.
	if text := c.ok("align", "--judge", "support_quality@1", "--optimizer", plugins["noop"]); !strings.Contains(text, "  fuel:        ") {
		t.Errorf("the align summary does not show the fuel used:\n%s", text)
	}
	errOut := c.fail(exitFailure, "align", "--judge", "support_quality")
	if !strings.Contains(errOut, "reflection model for memalign") || !strings.Contains(errOut, "OPENAI_API_KEY") {
		t.Errorf("memalign without a key: %q", errOut)
	}
}

// An alignment recorded once replays in CI without a model: same aligned
// memory, no server.
func TestAlignRecordThenReplay(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(alignResponder))
	rec := filepath.Join(t.TempDir(), "align.jsonl")
	first := demoStore(t, srv)
	first.ok("align", "--judge", "support_quality", "--holdout", "0.3", "--record", rec)
	srv.Close()

	second := demoStore(t, srv) // same data, a new store; the server is gone
	second.ok("align", "--judge", "support_quality", "--holdout", "0.3", "--replay", rec)

	// The memory without feedback times, which differ: each store recorded
	// the CSV's feedback when it was imported.
	memory := func(c *cli) string {
		var shown struct {
			Judge struct {
				Memory struct {
					Guidelines json.RawMessage `json:"guidelines"`
					Retrieval  json.RawMessage `json:"retrieval"`
					Examples   []struct {
						TraceID   string    `json:"trace_id"`
						Value     any       `json:"value"`
						Embedding []float32 `json:"embedding"`
					} `json:"examples"`
				} `json:"memory"`
			} `json:"judge"`
		}
		c.jsonOut(&shown, "judges", "show", "support_quality@2")
		b, _ := json.Marshal(shown.Judge.Memory)
		return string(b)
	}
	if a, b := memory(first), memory(second); a != b || len(a) < 100 {
		t.Errorf("replayed alignment differs from the recorded one:\n%.300s\n%.300s", a, b)
	}
}

// TestAlignLimitsFromFlagsAndConfig: the sandbox limits of an alignment
// come from [align.limits] in alignhost.toml, and a flag overrides them.
func TestAlignLimitsFromFlagsAndConfig(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(alignResponder))
	c := demoStore(t, srv)
	errOut := c.fail(exitFailure, "align", "--judge", "support_quality", "--model-calls", "1")
	if !strings.Contains(errOut, "model") || !strings.Contains(errOut, "limit of 1") {
		t.Errorf("--model-calls 1: %s", errOut)
	}
	cfg := c.write("alignhost.toml", "[align.limits]\nmodel_calls = 1\n")
	errOut = c.fail(exitFailure, "--config", cfg, "align", "--judge", "support_quality")
	if !strings.Contains(errOut, "limit of 1") {
		t.Errorf("[align.limits] model_calls = 1: %s", errOut)
	}
	// The flag wins over the file.
	c.ok("--config", cfg, "align", "--judge", "support_quality", "--model-calls", "100")
	bad := c.write("bad.toml", "[align.limits]\nwall_time = 5\n")
	if errOut := c.fail(exitFailure, "--config", bad, "judges", "list"); !strings.Contains(errOut, "wall_time") {
		t.Errorf("a bare-integer wall_time: %s", errOut)
	}
}
