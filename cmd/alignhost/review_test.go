package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/llm/llmtest"
)

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestImportWithOneBadRowFailsInOneLine(t *testing.T) {
	c := newCLI(t)
	c.ok("traces", "import", c.write("traces.jsonl", flatTraces))
	c.ok("judges", "create", c.write("q.toml", qualityJudge))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"traces", []string{"traces", "import", c.write("bad.jsonl", `{"trace_id": "tr-9", "inputs": bad}`+"\n")},
			"bad.jsonl line 1: invalid character 'b'"},
		{"feedback jsonl", []string{"feedback", "import", c.write("fb.jsonl",
			`{"trace_id": "tr-00000000000000000000000000000001", "value": "good"}`+"\n"+`{"trace_id": bad}`+"\n"), "--name", "product_quality"},
			"fb.jsonl line 2: invalid character 'b'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errOut := c.fail(exitFailure, tt.args...)
			got := lines(errOut)
			if len(got) != 1 || !strings.HasPrefix(got[0], "alignhost: ") || !strings.Contains(got[0], tt.want) || !strings.Contains(got[0], "nothing was imported") {
				t.Errorf("stderr = %q, want one line with %q", errOut, tt.want)
			}
			if n := strings.Count(errOut, "line "); n != 1 {
				t.Errorf("stderr names a line %d times, want once: %q", n, errOut)
			}
		})
	}
}

func TestFeedbackImportReportsEveryBadRow(t *testing.T) {
	c := newCLI(t)
	c.ok("traces", "import", c.write("traces.jsonl", flatTraces))
	c.ok("judges", "create", c.write("q.toml", qualityJudge))
	labels := c.write("labels.csv", "trace_id,value,rationale\n"+
		"tr-00000000000000000000000000000001,good,clear\n"+
		"tr-00000000000000000000000000000002,great,too vague\n"+
		"tr-nope,poor,wrong\n")
	errOut := c.fail(exitFailure, "feedback", "import", labels, "--name", "product_quality")
	for _, want := range []string{
		"labels.csv line 3: judge product_quality: value \"great\"",
		"labels.csv line 4: trace tr-nope is not in the store",
		"alignhost: 2 bad rows",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	var list []map[string]any
	c.jsonOut(&list, "traces", "list", "--feedback", "product_quality")
	if len(list) != 0 {
		t.Fatalf("a refused import recorded feedback on %d traces", len(list))
	}
	var res struct {
		Added    int `json:"added"`
		Rejected []struct {
			Line int `json:"line"`
		} `json:"rejected"`
	}
	c.jsonOut(&res, "feedback", "import", labels, "--name", "product_quality", "--skip-bad-rows")
	if res.Added != 1 || len(res.Rejected) != 2 || res.Rejected[0].Line != 3 || res.Rejected[1].Line != 4 {
		t.Errorf("--skip-bad-rows = %+v, want 1 added and lines 3 and 4 rejected", res)
	}
}

func TestFeedbackLogOnUnknownTrace(t *testing.T) {
	c := newCLI(t)
	c.ok("judges", "create", c.write("q.toml", qualityJudge))
	errOut := c.fail(exitFailure, "feedback", "log", "tr-nope", "--name", "product_quality", "--value", "good")
	if want := "alignhost: feedback on tr-nope: trace tr-nope is not in the store\n"; errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
}

func TestJudgeCreateChecksTheModelURI(t *testing.T) {
	judgeWith := func(model string) string {
		return "name = \"q\"\nmodel = \"" + model + "\"\ninstructions = \"Is {{ outputs }} good?\"\n"
	}
	c := newCLI(t)
	c.ok("judges", "builtin", "safety") // the store exists
	errOut := c.fail(exitFailure, "judges", "create", c.write("bare.toml", judgeWith("gpt4")))
	if !strings.Contains(errOut, `invalid model uri "gpt4"`) || len(lines(errOut)) != 1 {
		t.Errorf("model without a provider: stderr %q", errOut)
	}
	var versions []map[string]any
	c.jsonOut(&versions, "judges", "list")
	if len(versions) != 1 { // safety only
		t.Fatalf("a refused judge was registered: %v", versions)
	}
	// A provider that is not declared yet is registered, with a note.
	out, errOut, code := c.run("judges", "create", c.write("vllm.toml", judgeWith("vllm:/llama")))
	if code != exitOK || !strings.Contains(out, "registered judge q version 1") || !strings.Contains(errOut, `provider "vllm"`) {
		t.Errorf("undeclared provider: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A built-in one needs no note.
	if _, errOut, _ := c.run("judges", "create", c.write("ok.toml", judgeWith("ollama:/llama3"))); errOut != "" {
		t.Errorf("built-in provider: stderr %q", errOut)
	}
}

func TestMoreUsageErrorsExitTwo(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"--json", "demo"},
		{"traces", "list", "--limit", "-1"},
		{"traces", "export", "--limit", "-1"},
		{"align", "--judge", "q", "--holdout", "1.5"},
		{"align", "--judge", "q", "--folds", "1"},
		{"align", "--judge", "q", "--holdout", "0.3", "--folds", "3"},
	} {
		errOut := c.fail(exitUsage, args...)
		if !strings.HasPrefix(errOut, "alignhost: ") || strings.Contains(errOut, "OPENAI_API_KEY") {
			t.Errorf("%v: stderr %q", args, errOut)
		}
	}
}

func TestAlignReportsABadOptimizerFileBeforeCredentials(t *testing.T) {
	c := newCLI(t) // no OPENAI_API_KEY
	tests := []struct {
		file string
		want string
	}{
		{filepath.Join(c.dir, "missing.wasm"), "no such file"},
		{c.write("labels.csv", "trace_id,value\n"), "not a WebAssembly module"},
	}
	for _, tt := range tests {
		errOut := c.fail(exitFailure, "align", "--judge", "q", "--optimizer", tt.file)
		if !strings.Contains(errOut, "--optimizer "+tt.file) || !strings.Contains(errOut, tt.want) || len(lines(errOut)) != 1 {
			t.Errorf("--optimizer %s: stderr %q, want one line with %q", tt.file, errOut, tt.want)
		}
	}
}

func TestCompareChecksTheHTMLDirectoryFirst(t *testing.T) {
	c := newCLI(t)
	target := filepath.Join(c.dir, "no-such-dir", "report.html")
	errOut := c.fail(exitFailure, "compare", "--judge", "a", "--judge", "b", "--html", target)
	if !strings.Contains(errOut, "--html "+target) || strings.Contains(errOut, "not found") {
		t.Errorf("stderr %q: want the --html target named before the judges are looked up", errOut)
	}
}

func TestEvalExitsOneWhenNoTraceCouldBeJudged(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply {
		return llmtest.Error(http.StatusBadRequest, "invalid request") // not retried; a 401 would stop the run
	}))
	c := evalCLI(t, srv)
	out, errOut, code := c.run("--json", "eval", "--judge", "helpful")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitFailure, out, errOut)
	}
	var s evalJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, out)
	}
	if s.Judged != 0 || s.Failed != 10 {
		t.Errorf("summary = %+v, want 0 judged and 10 failed", s)
	}
	last := lines(errOut)
	if len(last) == 0 || !strings.HasPrefix(last[len(last)-1], "alignhost: no trace could be judged: all 10 judgements failed") {
		t.Errorf("stderr does not end with the reason: %q", errOut)
	}
	if strings.Contains(out+errOut, srv.APIKey()) {
		t.Error("the API key appears in the output")
	}
}

func TestImportOfAnEmptyFileSaysSo(t *testing.T) {
	c := newCLI(t)
	c.ok("judges", "create", c.write("q.toml", qualityJudge))
	empty := c.write("empty.jsonl", "")
	for _, args := range [][]string{
		{"traces", "import", empty},
		{"feedback", "import", empty, "--name", "product_quality"},
	} {
		_, errOut, code := c.run(args...)
		if code != exitOK || !strings.Contains(errOut, "note: "+empty+" holds no") {
			t.Errorf("%v: exit %d, stderr %q; want 0 and a note", args, code, errOut)
		}
	}
}

func TestDemoAgainOnTheSameStoreShowsTheVersionsItUses(t *testing.T) {
	c := demoCLI(t)
	c.ok("demo")
	out := c.ok("demo") // registers support_quality@3 and aligns it into @4
	for _, want := range []string{
		"$ alignhost eval --judge support_quality@4 --experiment support-bot",
		"$ alignhost compare --judge support_quality@3 --judge support_quality@4 --traces",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second demo lacks %q", want)
		}
	}
}
