package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/llm/llmtest"
)

const helpfulJudge = `
name = "helpful"
model = "openai:/gpt-4.1-mini"
type = "boolean"
instructions = "Is {{ outputs }} a helpful answer to {{ inputs }}?"
`

// evalCLI is a cli whose OpenAI provider is a fake server, with a judge
// and traces: support-0 … support-8 and no-outputs, which lacks outputs.
func evalCLI(t *testing.T, srv *llmtest.Server) *cli {
	t.Helper()
	c := newCLI(t)
	c.env["OPENAI_API_KEY"] = srv.APIKey()
	c.env["OPENAI_BASE_URL"] = srv.BaseURL()
	c.ok("judges", "create", c.write("helpful.toml", helpfulJudge))
	var lines []string
	for i := range 9 {
		lines = append(lines, fmt.Sprintf(`{"trace_id": "support-%d", "inputs": {"question": "q%d"}, "outputs": "answer %d"}`, i, i, i))
	}
	lines = append(lines, `{"trace_id": "no-outputs", "inputs": {"question": "q"}}`)
	c.ok("traces", "import", c.write("traces.jsonl", strings.Join(lines, "\n")+"\n"))
	return c
}

type evalJSON struct {
	Status      string         `json:"status"`
	Judged      int            `json:"judged"`
	Skipped     int            `json:"skipped"`
	Failed      int            `json:"failed"`
	Cached      int            `json:"cached"`
	Remaining   int            `json:"remaining"`
	Errors      map[string]int `json:"errors"`
	Values      map[string]int `json:"values"`
	Calls       int            `json:"model_calls"`
	Prompt      int64          `json:"prompt_tokens"`
	CostUSD     *float64       `json:"cost_usd"`
	ErrorSample []struct {
		TraceID string `json:"trace_id"`
		Code    string `json:"error_code"`
	} `json:"error_samples"`
}

func TestEvalEndToEnd(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Always(`{"rationale":"clear and correct","result":"yes"}`)))
	c := evalCLI(t, srv)
	config := c.write("alignhost.toml", `
[prices."gpt-4.1-mini"]
input_per_mtok = 0.4
output_per_mtok = 1.6
`)
	record := filepath.Join(c.dir, "run.jsonl")
	var produced []string // every stdout and stderr, for the secret check

	// First run, with debug logs and a recording.
	out, errOut, code := c.run("--config", config, "-v", "eval", "--judge", "helpful", "--record", record, "--concurrency", "4")
	produced = append(produced, out, errOut)
	if code != exitOK {
		t.Fatalf("eval: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"eval helpful@1 with openai:/gpt-4.1-mini", "done", "judged", "9",
		"MISSING_INPUT 1", "trace no-outputs: MISSING_INPUT: missing outputs", "yes 9 (100.0%)", "$0.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "retry the failed traces") {
		t.Errorf("summary suggests retrying although the only failure cannot succeed:\n%s", out)
	}
	if !strings.Contains(errOut, "llm call") {
		t.Errorf("-v printed no debug log of the model calls:\n%s", errOut)
	}
	if srv.Calls() != 9 {
		t.Errorf("first run: %d model calls, want 9 (no call for the trace without outputs)", srv.Calls())
	}

	// The feedback is in the store, visible to other commands.
	show := c.ok("--json", "traces", "show", "support-3")
	produced = append(produced, show)
	if !strings.Contains(show, `"LLM_JUDGE"`) || !strings.Contains(show, `"judge_version": "1"`) {
		t.Errorf("traces show lacks the judge feedback:\n%s", show)
	}

	runJSON := func(args ...string) evalJSON {
		t.Helper()
		out, errOut, code := c.run(append([]string{"--config", config, "--json", "eval", "--judge", "helpful"}, args...)...)
		produced = append(produced, out, errOut)
		if code != exitOK {
			t.Fatalf("eval %v: exit %d\n%s\n%s", args, code, out, errOut)
		}
		var s evalJSON
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("eval --json: %v\n%s", err, out)
		}
		return s
	}
	// Again: resumes, nothing to do but the trace that cannot be judged.
	if s := runJSON(); s.Skipped != 9 || s.Judged != 0 || s.Failed != 1 || srv.Calls() != 9 || s.Status != "done" {
		t.Errorf("second run = %+v, %d calls in all; want 9 skipped, no new call", s, srv.Calls())
	}
	// Forced: judged again from the cache, free.
	s := runJSON("--force")
	if s.Judged != 9 || s.Cached != 9 || s.Prompt != 0 || s.CostUSD == nil || *s.CostUSD != 0 || srv.Calls() != 9 {
		t.Errorf("forced run = %+v, %d calls in all; want 9 cached judgements and no new call", s, srv.Calls())
	}
	// Forced without the cache: paid again.
	s = runJSON("--force", "--no-cache", "--limit", "4")
	if s.Judged != 4 || s.Cached != 0 || s.Remaining != 6 || s.Prompt == 0 || s.CostUSD == nil || *s.CostUSD <= 0 || srv.Calls() != 13 {
		t.Errorf("no-cache run = %+v, %d calls in all; want 4 fresh judgements", s, srv.Calls())
	}

	// Replay into a new store, with the server gone.
	srv.Close()
	c2 := newCLI(t)
	c2.env["OPENAI_API_KEY"] = srv.APIKey()
	c2.env["OPENAI_BASE_URL"] = srv.BaseURL()
	c2.ok("judges", "create", c2.write("helpful.toml", helpfulJudge))
	c2.ok("traces", "import", filepath.Join(c.dir, "traces.jsonl"))
	out, errOut, code = c2.run("eval", "--judge", "helpful", "--replay", record)
	produced = append(produced, out, errOut)
	if code != exitOK || !strings.Contains(out, "9 answered from the cache") {
		t.Errorf("replay: exit %d\n%s\n%s", code, out, errOut)
	}

	// The key is nowhere: not in any output, the store files or the
	// recording.
	key := srv.APIKey()
	for i, text := range produced {
		if strings.Contains(text, key) {
			t.Errorf("output %d holds the API key", i)
		}
	}
	for _, dir := range []string{c.dir, c2.dir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(key)) {
				t.Errorf("%s holds the API key", e.Name())
			}
		}
	}
	if data, err := os.ReadFile(record); err != nil || !bytes.Contains(data, []byte(`"kind":"chat"`)) {
		t.Errorf("recording %s: %v, %d bytes", record, err, len(data))
	}
}

func TestEvalReportsFailedJudgementsAndExitsZero(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(req openai.ChatCompletionRequest) llmtest.Reply {
		if strings.Contains(req.Messages[1].Content, "answer 2") { // the trace's message, repair included
			return llmtest.Content("no idea")
		}
		return llmtest.Content(`{"rationale":"r","result":"no"}`)
	}))
	c := evalCLI(t, srv)
	out := c.ok("eval", "--judge", "helpful@1")
	for _, want := range []string{"PARSE_ERROR 1", "MISSING_INPUT 1", "trace support-2: PARSE_ERROR", "run the same command again to retry the failed traces", "no 8 (100.0%)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestEvalInterruptedThenResumed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	srv := llmtest.NewServer(t, llmtest.WithLatency(10*time.Millisecond),
		llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply {
			if calls.Add(1) == 3 {
				cancel() // Ctrl-C
			}
			return llmtest.Content(`{"rationale":"r","result":"yes"}`)
		}))
	c := evalCLI(t, srv)
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--store", c.store, "eval", "--judge", "helpful", "--concurrency", "2"},
		strings.NewReader(""), &stdout, &stderr, func(k string) string { return c.env[k] })
	if code != exitFailure || !strings.Contains(stdout.String(), "interrupted") ||
		!strings.Contains(stderr.String(), "run the same command again to resume") {
		t.Fatalf("interrupted eval: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	first := srv.Calls()
	var s evalJSON
	c.jsonOut(&s, "eval", "--judge", "helpful")
	if s.Status != "done" || s.Skipped != first || s.Judged != 9-first || srv.Calls() != 9 {
		t.Errorf("resumed eval = %+v after %d calls, %d in all; want the %d judged skipped and 9 calls in all", s, first, srv.Calls(), first)
	}
}

func TestEvalRefusals(t *testing.T) {
	srv := llmtest.NewServer(t)
	c := evalCLI(t, srv)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"eval"}, exitUsage, "judge"},
		{[]string{"eval", "--judge", "helpful@x"}, exitUsage, "version"},
		{[]string{"eval", "--judge", "helpful", "--concurrency", "0"}, exitUsage, "concurrency"},
		{[]string{"eval", "--judge", "helpful", "--record", "a.jsonl", "--replay", "b.jsonl"}, exitUsage, "together"},
		{[]string{"eval", "--judge", "nobody"}, exitFailure, "not found"},
		{[]string{"eval", "--judge", "helpful@7"}, exitFailure, "versions are 1"},
		{[]string{"eval", "--judge", "helpful", "--experiment", "empty"}, exitFailure, "experiment"},
		{[]string{"eval", "--judge", "helpful", "--replay", filepath.Join(c.dir, "missing.jsonl")}, exitFailure, "replay"},
	} {
		if errOut := c.fail(tc.code, tc.args...); !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errOut, tc.want)
		}
	}
	delete(c.env, "OPENAI_API_KEY")
	if errOut := c.fail(exitFailure, "eval", "--judge", "helpful"); !strings.Contains(errOut, "OPENAI_API_KEY is not set") {
		t.Errorf("without a key: %q", errOut)
	}
	if srv.Calls() != 0 {
		t.Errorf("%d model calls from refused runs", srv.Calls())
	}
}

func TestEvalReplayMissFails(t *testing.T) {
	srv := llmtest.NewServer(t)
	c := evalCLI(t, srv)
	empty := c.write("empty.jsonl", "")
	errOut := c.fail(exitFailure, "eval", "--judge", "helpful", "--replay", empty)
	if !strings.Contains(errOut, "holds no answer") {
		t.Errorf("replay miss: stderr %q", errOut)
	}
	if srv.Calls() != 0 {
		t.Errorf("a replay called the model %d times", srv.Calls())
	}
}

func TestProgressText(t *testing.T) {
	for _, tc := range []struct {
		p    eval.Progress
		want string
	}{
		{eval.Progress{Judged: 150, Failed: 6, Todo: 2028, Elapsed: 5 * time.Second}, "156/2028 judged, 31.2/s, eta 1m0s, 6 failed"},
		{eval.Progress{Judged: 10, Skipped: 20, Todo: 10, Elapsed: time.Second}, "10/10 judged, 10.0/s, eta 0s, 20 skipped"},
		{eval.Progress{Todo: 100}, "0/100 judged, 0.0/s, eta -"},
		{eval.Progress{Judged: 3, Elapsed: 2 * time.Second}, "3 judged, 1.5/s"},
	} {
		if got := progressText(tc.p); got != tc.want {
			t.Errorf("progressText(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false)
	for _, sec := range []int{1, 4, 5, 6, 9, 10, 12} {
		p.update(eval.Progress{Judged: sec * 10, Todo: 200, Elapsed: time.Duration(sec) * time.Second})
	}
	p.finish()
	want := "eval: 50/200 judged, 10.0/s, eta 15s\neval: 100/200 judged, 10.0/s, eta 10s\n"
	if buf.String() != want {
		t.Errorf("plain progress:\n%q\nwant\n%q", buf.String(), want)
	}
}

func TestProgressTerminalRedraws(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, true)
	p.bar = 10
	p.update(eval.Progress{Judged: 5, Failed: 1, Todo: 20, Elapsed: time.Second})
	p.update(eval.Progress{Judged: 6, Todo: 20, Elapsed: time.Second + 50*time.Millisecond}) // too soon
	p.update(eval.Progress{Judged: 20, Todo: 20, Elapsed: 2 * time.Second})
	p.finish()
	first := "\reval [###-------] 6/20 judged, 6.0/s, eta 2s, 1 failed"
	second := "\reval [##########] 20/20 judged, 10.0/s, eta 0s"
	second += strings.Repeat(" ", len(first)-1-(len(second)-1))
	clear := "\r" + strings.Repeat(" ", len(first)-1) + "\r"
	if got, want := buf.String(), first+second+clear; got != want {
		t.Errorf("terminal progress:\n%q\nwant\n%q", got, want)
	}
}

func TestCacheStatsAndPrune(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(alignResponder))
	c := demoStore(t, srv)
	c.ok("eval", "--judge", "support_quality", "--limit", "5")
	var stats struct {
		Entries int `json:"entries"`
	}
	c.jsonOut(&stats, "cache", "stats")
	if stats.Entries != 5 {
		t.Fatalf("%d cached answers after judging 5 traces", stats.Entries)
	}
	c.fail(exitUsage, "cache", "prune")
	c.fail(exitUsage, "cache", "prune", "--all", "--model", "x")
	if out := c.ok("cache", "prune", "--older-than", "1h"); !strings.Contains(out, "deleted 0") {
		t.Errorf("prune of fresh answers: %q", out)
	}
	if out := c.ok("cache", "prune", "--model", "openai:/gpt-4.1-mini"); !strings.Contains(out, "deleted 5") {
		t.Errorf("prune by model: %q", out)
	}
	c.jsonOut(&stats, "cache", "stats")
	if stats.Entries != 0 {
		t.Errorf("%d answers left", stats.Entries)
	}
}
