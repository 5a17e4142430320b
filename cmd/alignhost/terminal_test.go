package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/align"
	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/judge/judgefile"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/termtext"
	"github.com/alignhost/alignhost/trace"
)

// hostile is text that drives a terminal printed as it is: an OSC sequence
// that sets the window title, a CSI colour, a bidi override, a C1 CSI
// (as the valid UTF-8 encoding of U+009B), a carriage return and DEL. It is
// valid UTF-8, so it survives JSON exactly.
const hostile = "a\x1b]0;pwned\x07b\x1b[31mc\u202ed\u009be\rf\x7fg"

// invalidUTF8 adds a lone 0x9B (the 8-bit CSI) and 0xFF.
const invalidUTF8 = "h\x9b[2Ji\xffj"

// assertTerminalSafe fails when out holds what must not reach a terminal:
// a C0 control but \n and \t, DEL, a C1 control, a bidi control, or a
// byte of invalid UTF-8 (a lone 0x9B is the 8-bit CSI).
func assertTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	for i := 0; i < len(out); {
		r, size := utf8.DecodeRuneInString(out[i:])
		bad := ""
		switch {
		case r == utf8.RuneError && size == 1:
			bad = fmt.Sprintf("invalid UTF-8 byte %#x", out[i])
		case r < 0x20 && r != '\n' && r != '\t', r == 0x7f:
			bad = fmt.Sprintf("control byte %#x", r)
		case r >= 0x80 && r <= 0x9f:
			bad = fmt.Sprintf("C1 control %U", r)
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
			bad = fmt.Sprintf("bidi control %U", r)
		}
		if bad != "" {
			t.Fatalf("%s writes a raw %s at byte %d: %q", what, bad, i, out[max(0, i-20):min(len(out), i+20)])
		}
		i += size
	}
	if !strings.Contains(out, `\x1b]0;pwned`) && !strings.Contains(out, `\u001b]0;pwned`) {
		t.Errorf("%s does not show the escaped OSC sequence:\n%s", what, out)
	}
}

// hostileTraceFile is the MLflow reference fixture with hostile text in its
// trace ID's neighbours: the request and response, the span names, the
// state of a span, and an assessment's rationale and source. A second
// trace carries invalid UTF-8.
func hostileTraceFile(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/traces/mlflow/trace_with_human_override.json")
	if err != nil {
		t.Fatal(err)
	}
	build := func(id, bad string) map[string]any {
		var tr map[string]any
		if err := json.Unmarshal(raw, &tr); err != nil {
			t.Fatal(err)
		}
		info := tr["info"].(map[string]any)
		info["trace_id"] = id
		in, _ := json.Marshal(map[string]string{"question": "q " + bad})
		out, _ := json.Marshal(map[string]string{"answer": "r " + bad})
		info["request_preview"], info["response_preview"] = string(in), string(out)
		md := info["trace_metadata"].(map[string]any)
		md["mlflow.traceInputs"], md["mlflow.traceOutputs"] = string(in), string(out)
		for _, a := range info["assessments"].([]any) {
			a := a.(map[string]any)
			a["trace_id"] = id
			a["assessment_id"] = a["assessment_id"].(string) + id[len(id)-4:]
			if o, ok := a["overrides"].(string); ok {
				a["overrides"] = o + id[len(id)-4:]
			}
			a["assessment_name"] = "helpfulness" + bad
			a["rationale"] = "why " + bad
			a["source"].(map[string]any)["source_id"] = "who " + bad
		}
		for i, s := range tr["data"].(map[string]any)["spans"].([]any) {
			s := s.(map[string]any)
			s["name"] = fmt.Sprintf("span%d %s", i, bad)
			attrs := s["attributes"].(map[string]any)
			attrs["mlflow.traceRequestId"] = fmt.Sprintf("%q", id)
			if i == 0 {
				attrs["mlflow.spanInputs"], attrs["mlflow.spanOutputs"] = string(in), string(out)
			}
		}
		return tr
	}
	b, err := json.Marshal([]any{
		build("tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8", hostile),
		build("tr-00000000000000000000000000000009", invalidUTF8),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTraceCommandsEscapeControls imports traces whose text holds terminal
// controls and shows them with every command that prints traces: the text
// output holds no raw control, and --json gives back the exact strings.
func TestTraceCommandsEscapeControls(t *testing.T) {
	c := newCLI(t)
	c.ok("traces", "import", "--skip-bad-rows", c.write("hostile.json", string(hostileTraceFile(t))))
	const id = "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"traces list", []string{"traces", "list"}},
		{"traces show", []string{"traces", "show", id}},
		{"traces show (invalid UTF-8)", []string{"traces", "show", "tr-00000000000000000000000000000009"}},
		{"traces list --json", []string{"--json", "traces", "list"}},
		{"traces show --json", []string{"--json", "traces", "show", id}},
		{"traces export", []string{"traces", "export", id}},
		{"traces export --format jsonl", []string{"traces", "export", "--format", "jsonl", id}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := c.run(tc.args...)
			if code != exitOK {
				if strings.Contains(tc.name, "invalid") {
					t.Skipf("the trace with invalid UTF-8 was not imported: %s", errOut)
				}
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Contains(tc.name, "invalid") {
				// Invalid UTF-8 does not survive JSON; only safety is asked.
				for i := 0; i < len(out); {
					r, size := utf8.DecodeRuneInString(out[i:])
					if (r == utf8.RuneError && size == 1) || (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x80 && r <= 0x9f) {
						t.Fatalf("raw %q at byte %d of %q", out[i:i+size], i, out)
					}
					i += size
				}
				return
			}
			assertTerminalSafe(t, tc.name, out+errOut)
		})
	}

	// --json is exact: the strings decode to what was imported.
	var got trace.Trace
	c.jsonOut(&got, "traces", "show", id)
	want := map[string]string{
		"span name":  "span0 " + hostile,
		"rationale":  "why " + hostile,
		"source":     "who " + hostile,
		"assessment": "helpfulness" + hostile,
	}
	have := map[string]string{
		"span name":  got.Data.Spans[0].Name,
		"rationale":  got.Info.Assessments[0].Rationale,
		"source":     got.Info.Assessments[0].Source.ID,
		"assessment": got.Info.Assessments[0].Name,
	}
	for k, w := range want {
		if have[k] != w {
			t.Errorf("--json %s = %q, want %q", k, have[k], w)
		}
	}
	// So is an export to standard output, though it escapes the controls.
	exported, _, code := c.run("traces", "export", "--format", "jsonl", id)
	if code != exitOK {
		t.Fatalf("traces export: exit %d", code)
	}
	var fromExport trace.Trace
	if err := json.Unmarshal([]byte(exported), &fromExport); err != nil {
		t.Fatalf("export does not decode: %v", err)
	}
	if fromExport.Data.Spans[0].Name != "span0 "+hostile || fromExport.Info.Assessments[0].Rationale != "why "+hostile {
		t.Errorf("export changed the text: span %q, rationale %q", fromExport.Data.Spans[0].Name, fromExport.Info.Assessments[0].Rationale)
	}
	in, err := got.Root().Inputs()
	if m, _ := in.(map[string]any); err != nil || m["question"] != "q "+hostile {
		t.Errorf("--json inputs = %v (%v), want the hostile question", in, err)
	}
}

// TestJudgeCommandsEscapeControls registers a judge whose description,
// instructions and tag hold terminal controls and shows it.
func TestJudgeCommandsEscapeControls(t *testing.T) {
	c := newCLI(t)
	// A TOML basic string reads JSON's escapes; termtext.JSON escapes the
	// DEL and C1 controls TOML forbids raw.
	quoted, _ := json.Marshal(hostile)
	quoted = termtext.JSON(quoted)
	file := c.write("j.toml", fmt.Sprintf(`name = "hostile_judge"
model = "openai:/gpt-4.1-mini"
type = "boolean"
description = %s
instructions = "Is {{ outputs }} fine? %s"
`, quoted, strings.Trim(string(quoted), `"`)))
	c.ok("judges", "create", file, "--tag", "owner="+hostile)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"judges show", []string{"judges", "show", "hostile_judge"}},
		{"judges list", []string{"judges", "list"}},
		{"judges versions", []string{"judges", "versions", "hostile_judge"}},
		{"judges show --json", []string{"--json", "judges", "show", "hostile_judge"}},
		{"judges show --format json", []string{"judges", "show", "hostile_judge", "--format", "json"}},
		{"judges show --format toml", []string{"judges", "show", "hostile_judge", "--format", "toml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := c.ok(tc.args...)
			if tc.name == "judges list" {
				// The list shows no description, instructions or tags.
				for _, r := range out {
					if r == 0x1b || r == 0x202e || r == 0x9b {
						t.Fatalf("raw %U in %q", r, out)
					}
				}
				return
			}
			assertTerminalSafe(t, tc.name, out)
		})
	}
	var got struct {
		Tags  map[string]string `json:"tags"`
		Judge judge.Judge       `json:"judge"`
	}
	c.jsonOut(&got, "judges", "show", "hostile_judge")
	if got.Tags["owner"] != hostile || got.Judge.Description != hostile {
		t.Errorf("--json tag %q, description %q, want %q", got.Tags["owner"], got.Judge.Description, hostile)
	}
	var encoded judge.Judge
	if err := json.Unmarshal([]byte(c.ok("judges", "show", "hostile_judge", "--format", "json")), &encoded); err != nil || encoded.Description != hostile {
		t.Errorf("--format json: description %q (%v), want %q", encoded.Description, err, hostile)
	}
	toml, err := judgefile.Decode([]byte(c.ok("judges", "show", "hostile_judge", "--format", "toml")), judgefile.TOML)
	if err != nil || toml.Description != hostile || toml.Instructions != "Is {{ outputs }} fine? "+hostile {
		t.Errorf("--format toml: description %q, instructions %q (%v), want %q", toml.Description, toml.Instructions, err, hostile)
	}
}

// TestCompareEscapesControls compares two judges on a trace whose human
// rationale and whose model answers hold terminal controls.
func TestCompareEscapesControls(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(req openai.ChatCompletionRequest) llmtest.Reply {
		b, _ := json.Marshal(map[string]string{"rationale": "model says " + hostile, "result": "no"})
		return llmtest.Content(string(b))
	}))
	c := newCLI(t)
	c.env["OPENAI_API_KEY"] = srv.APIKey()
	c.env["OPENAI_BASE_URL"] = srv.BaseURL()
	c.ok("judges", "create", c.write("base.toml", helpfulBase))
	c.ok("judges", "create", c.write("candidate.toml", helpfulCandidate))
	var lines []string
	for i := range 3 {
		b, _ := json.Marshal(map[string]any{
			"trace_id": fmt.Sprintf("t%d", i), "inputs": "question " + hostile, "outputs": "answer " + hostile,
			"feedback": map[string]any{"helpful": map[string]any{"value": "yes", "rationale": "human says " + hostile}},
		})
		lines = append(lines, string(b))
	}
	c.ok("traces", "import", c.write("t.jsonl", strings.Join(lines, "\n")+"\n"))

	args := []string{"compare", "--judge", "helpful@1", "--judge", "helpful@2", "--resamples", "0"}
	out, errOut, code := c.run(args...)
	if code != exitOK {
		t.Fatalf("compare: exit %d: %s", code, errOut)
	}
	assertTerminalSafe(t, "compare", out+errOut)

	var page struct {
		Comparison struct {
			Disagreements []struct {
				Human struct{ Rationale string } `json:"human"`
				A     struct{ Rationale string } `json:"a"`
			} `json:"disagreements"`
		} `json:"comparison"`
	}
	jsonOut, _, _ := c.run(append([]string{"--json"}, args...)...)
	assertTerminalSafe(t, "compare --json", jsonOut)
	if err := json.Unmarshal([]byte(jsonOut), &page); err != nil {
		t.Fatal(err)
	}
	ds := page.Comparison.Disagreements
	if len(ds) == 0 || ds[0].Human.Rationale != "human says "+hostile || ds[0].A.Rationale != "model says "+hostile {
		t.Errorf("--json disagreements = %+v, want the exact rationales", ds)
	}
}

// TestPluginOutputEscapesControls prints what a plugin chooses (its name,
// progress messages, report summary, warnings, guidelines, config keys and
// function names) through each printer of align and plugin.
func TestPluginOutputEscapesControls(t *testing.T) {
	aligned := &judge.Judge{Name: "j", Model: "openai:/m", Memory: &judge.Memory{
		Guidelines: []judge.Guideline{{Text: "guideline " + hostile}},
		Retrieval:  judge.Retrieval{K: 3, Embedder: "emb " + hostile},
	}, Provenance: &judge.Provenance{BaseJudge: "j", Optimizer: "opt " + hostile}}
	report := pluginapi.Report{Summary: "summary " + hostile, Warnings: []string{"warning " + hostile}}
	desc := pluginapi.Description{Name: "plugin " + hostile, Version: "v " + hostile, Description: "desc " + hostile,
		Config: []pluginapi.ConfigKey{{Key: "key " + hostile, Description: "what " + hostile, Default: hostile}}}
	for _, tc := range []struct {
		name  string
		print func(a *app)
	}{
		{"align summary", func(a *app) {
			out := &align.Outcome{Judge: aligned, Result: &host.Result{Judge: aligned, Report: report},
				Skipped:  []trace.Skip{{TraceID: "t", Reason: "reason " + hostile}},
				Warnings: []string{"align warning " + hostile}}
			a.printAlign(&store.RegisteredJudge{Name: "j", Version: 1, Judge: aligned}, out, desc, time.Second, false)
		}},
		{"align progress", func(a *app) {
			a.alignProgress()(host.Progress{Plugin: "plugin " + hostile, Message: "message " + hostile, Done: 1, Total: 2})
		}},
		{"plugin verify", func(a *app) {
			a.printVerdict(pluginVerdict{Plugin: desc.Name, Version: desc.Version, Conforms: true, Report: report,
				Steps: []pluginStep{{Name: "load", OK: true, Detail: "detail " + hostile}, {Name: "align", Error: "error " + hostile}}})
		}},
		{"plugin inspect", func(a *app) {
			a.printInspection(pluginInspection{File: "f.wasm", Description: &desc,
				Imports: []host.Function{{Module: "m " + hostile, Name: "n " + hostile}},
				Exports: []host.Function{{Name: "e " + hostile}}})
		}},
		{"judge with a learnt memory", func(a *app) {
			a.printJudge(&store.RegisteredJudge{Name: "j", Version: 2, Judge: aligned})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			a := &app{stdout: &stdout, stderr: &stderr}
			tc.print(a)
			assertTerminalSafe(t, tc.name, stdout.String()+stderr.String())
		})
	}
}

// TestErrorsAndLogsEscapeControls checks the lines written to stderr: the
// final error, which quotes data, the rejected rows of an import, and log
// lines such as those relayed from a plugin.
func TestErrorsAndLogsEscapeControls(t *testing.T) {
	c := newCLI(t)
	c.ok("judges", "builtin", "safety")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"error quoting an argument", []string{"traces", "show", "tr-" + hostile}},
		{"rejected rows", []string{"traces", "import", c.write("bad.jsonl",
			`{"trace_id": "tr-1", "inputs": "x", "outputs": "y", "feedback": {"n\u001b]0;pwned\u0007": {"value": {"\u202e": 1}}}}`+"\n"+
				`{"trace_id": 5, "inputs": "\u001b]0;pwned\u0007"}`+"\n"+
				`{"trace_id": "\u001b]0;pwned\u0007\u009b"}`+"\n")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := c.run(tc.args...)
			if code == exitOK {
				t.Fatalf("succeeded; stderr %q", errOut)
			}
			assertTerminalSafe(t, tc.name, errOut)
		})
	}
	t.Run("logger", func(t *testing.T) {
		var stderr bytes.Buffer
		a := &app{stderr: &stderr, verbose: true}
		if err := a.setup(); err != nil {
			t.Fatal(err)
		}
		a.logger.With("plugin", "p"+hostile).Warn("line "+hostile, slog.String("stream", hostile), slog.Any("err", fmt.Errorf("%s", hostile)))
		assertTerminalSafe(t, "logger", stderr.String())
	})
}
