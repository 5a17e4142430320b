package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// cli runs alignhost commands against one store in a temporary directory.
type cli struct {
	t     *testing.T
	dir   string
	store string
	env   map[string]string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	dir := t.TempDir()
	return &cli{t: t, dir: dir, store: filepath.Join(dir, "test.db"), env: map[string]string{"USER": "tester"}}
}

// run executes args and returns stdout, stderr and the exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	var stdout, stderr bytes.Buffer
	full := append([]string{"--store", c.store}, args...)
	code := run(context.Background(), full, strings.NewReader(""), &stdout, &stderr, func(k string) string { return c.env[k] })
	return stdout.String(), stderr.String(), code
}

// ok runs args and fails the test unless they succeed.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != exitOK {
		c.t.Fatalf("alignhost %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fail runs args and fails the test unless they exit with want; it returns stderr.
func (c *cli) fail(want int, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != want {
		c.t.Fatalf("alignhost %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return errOut
}

func (c *cli) write(name, content string) string {
	c.t.Helper()
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

func (c *cli) jsonOut(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("alignhost %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

const qualityJudge = `
name = "product_quality"
model = "openai:/gpt-4.1-mini"
values = ["excellent", "good", "fair", "poor"]
instructions = """
Rate how well {{ outputs }} answers {{ inputs }}.
"""
`

func TestUsageErrorsExitTwo(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"no-such-command"},
		{"judges", "show"},
		{"traces", "list", "--no-such-flag"},
		{"judges", "delete", "product_quality"}, // needs @V or --all
		{"feedback", "log", "tr-1"},             // needs --name and --value
	} {
		errOut := c.fail(exitUsage, args...)
		if !strings.HasPrefix(errOut, "alignhost: ") {
			t.Errorf("%v: stderr %q does not start with a one-line error", args, errOut)
		}
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	c := newCLI(t)
	root := (&app{}).rootCommand()
	for _, sub := range root.Commands() {
		for _, leaf := range append(sub.Commands(), sub) {
			path := strings.Fields(strings.TrimPrefix(leaf.CommandPath(), "alignhost"))
			out := c.ok(append(path, "--help")...)
			if !strings.Contains(out, "Usage:") {
				t.Errorf("%v --help: no usage in %q", path, out)
			}
		}
	}
}

func TestJudgeRegistryLifecycle(t *testing.T) {
	c := newCLI(t)
	file := c.write("q.toml", qualityJudge)
	if out := c.ok("judges", "create", file); !strings.Contains(out, "product_quality version 1") {
		t.Fatalf("create: %q", out)
	}
	c.ok("judges", "create", file, "--tag", "owner=search")
	c.ok("judges", "builtin", "correctness")
	c.ok("judges", "builtin", "safety", "--name", "harmless", "--model", "ollama:/llama3")

	var list []struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
	}
	c.jsonOut(&list, "judges", "list")
	got := map[string]int{}
	for _, r := range list {
		got[r.Name] = r.Version
	}
	want := map[string]int{"product_quality": 2, "correctness": 1, "harmless": 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("judges list = %v, want %v", got, want)
	}

	var shown struct {
		Version int               `json:"version"`
		Tags    map[string]string `json:"tags"`
		Judge   struct {
			Model   string `json:"model"`
			Builtin string `json:"builtin"`
		} `json:"judge"`
	}
	c.jsonOut(&shown, "judges", "show", "product_quality@2")
	if shown.Version != 2 || shown.Tags["owner"] != "search" {
		t.Errorf("show @2 = %+v", shown)
	}
	c.jsonOut(&shown, "judges", "show", "harmless")
	if shown.Judge.Model != "ollama:/llama3" || shown.Judge.Builtin != "safety" {
		t.Errorf("builtin override = %+v", shown.Judge)
	}
	if out := c.ok("judges", "show", "product_quality"); !strings.Contains(out, "product_quality@2") || !strings.Contains(out, "excellent/good/fair/poor") {
		t.Errorf("show text = %q", out)
	}
	// The TOML form of a registered judge is a file 'judges create' accepts.
	toml := c.ok("judges", "show", "product_quality@1", "--format", "toml")
	c.ok("judges", "create", c.write("again.toml", toml))

	c.ok("judges", "delete", "product_quality@2")
	errOut := c.fail(exitFailure, "judges", "show", "product_quality@2")
	if !strings.Contains(errOut, "not found") {
		t.Errorf("show deleted version: %q", errOut)
	}
	// Versions are never reused: the next registration is 4, not 2.
	if out := c.ok("judges", "create", file); !strings.Contains(out, "version 4") {
		t.Errorf("after delete: %q", out)
	}
	c.ok("judges", "delete", "product_quality", "--all")
	c.fail(exitFailure, "judges", "show", "product_quality")
}

func TestReadCommandsNeedAStore(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{"traces", "list"}, {"judges", "list"}, {"judges", "show", "x"}, {"eval", "--judge", "x"}} {
		errOut := c.fail(exitFailure, args...)
		if !strings.Contains(errOut, "no store at "+c.store) {
			t.Errorf("%v: %q", args, errOut)
		}
	}
	if _, err := os.Stat(c.store); err == nil {
		t.Error("a read command created the store")
	}
	c.ok("judges", "builtin", "safety")
	c.ok("judges", "list")
}

func TestJudgeCreateRejectsBadTemplate(t *testing.T) {
	c := newCLI(t)
	file := c.write("bad.toml", "name = \"x\"\ninstructions = \"Judge {{ question }} please\"\n")
	errOut := c.fail(exitFailure, "judges", "create", file)
	for _, want := range []string{"question", "{{ inputs }}", "{{ outputs }}"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error %q does not mention %q", errOut, want)
		}
	}
	if strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
		t.Errorf("error is not one line plus a hint: %q", errOut)
	}
}

const flatTraces = `{"trace_id": "tr-00000000000000000000000000000001", "inputs": {"question": "How do I reset my password?"}, "outputs": {"answer": "Use the Forgot password link."}}
{"trace_id": "tr-00000000000000000000000000000002", "inputs": {"question": "Can I export my data?"}, "outputs": {"answer": "Yes, from Settings > Export."}}
{"trace_id": "tr-00000000000000000000000000000003", "inputs": "plain string question", "outputs": "plain answer"}
`

func TestTracesImportListShowExport(t *testing.T) {
	c := newCLI(t)
	file := c.write("traces.jsonl", flatTraces)
	out := c.ok("traces", "import", file, "--experiment", "bot")
	if !strings.Contains(out, "3 new") {
		t.Fatalf("import: %q", out)
	}
	// Re-import is idempotent.
	if out := c.ok("traces", "import", file, "--experiment", "bot"); !strings.Contains(out, "0 new") || !strings.Contains(out, "3 unchanged") {
		t.Errorf("re-import: %q", out)
	}
	var list []map[string]any
	c.jsonOut(&list, "traces", "list", "--experiment", "bot")
	if len(list) != 3 {
		t.Fatalf("list: %d traces", len(list))
	}
	show := c.ok("traces", "show", "tr-00000000000000000000000000000002")
	if !strings.Contains(show, "Can I export my data?") || !strings.Contains(show, "Settings > Export") {
		t.Errorf("show: %q", show)
	}
	c.fail(exitFailure, "traces", "show", "tr-missing")
}

func TestTracesImportBadRowChangesNothing(t *testing.T) {
	c := newCLI(t)
	c.ok("judges", "builtin", "safety") // the store exists, with no traces
	bad := flatTraces + "{\"trace_id\": \"tr-4\", \"inputs\": \n" + `{"trace_id": "tr-00000000000000000000000000000005", "inputs": "q", "outputs": "a"}` + "\n"
	file := c.write("bad.jsonl", bad)
	errOut := c.fail(exitFailure, "traces", "import", file)
	if !strings.Contains(errOut, "bad.jsonl line 4") || !strings.Contains(errOut, "nothing was imported") {
		t.Errorf("error %q does not name the file and line", errOut)
	}
	var list []map[string]any
	c.jsonOut(&list, "traces", "list")
	if len(list) != 0 {
		t.Fatalf("store changed by a failed import: %d traces", len(list))
	}
	out := c.ok("traces", "import", file, "--skip-bad-rows")
	if !strings.Contains(out, "4 new") || !strings.Contains(out, "1 bad rows skipped") {
		t.Errorf("skip-bad-rows: %q", out)
	}
}

func TestMLflowFixtureRoundTripsThroughTheStore(t *testing.T) {
	c := newCLI(t)
	fixture := filepath.Join("..", "..", "testdata", "traces", "mlflow", "trace_with_human_override.json")
	original, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	c.ok("traces", "import", fixture)
	exported := c.ok("traces", "export", "--format", "mlflow", "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8")
	var want, got any
	if err := json.Unmarshal(original, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(exported), &got); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, exported)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("export differs from the MLflow original:\nwant %v\ngot  %v", want, got)
	}
}

func TestFeedbackImportValidatesAgainstJudge(t *testing.T) {
	c := newCLI(t)
	c.ok("traces", "import", c.write("traces.jsonl", flatTraces))
	labels := c.write("labels.csv", "trace_id,value,rationale\n"+
		"tr-00000000000000000000000000000001,Good,clear\n"+
		"tr-00000000000000000000000000000002,great,too vague\n"+
		"tr-00000000000000000000000000000003,poor,wrong\n")

	// No judge of that name: refused with advice.
	errOut := c.fail(exitFailure, "feedback", "import", labels, "--name", "product_quality")
	if !strings.Contains(errOut, "no judge named") {
		t.Errorf("unregistered judge: %q", errOut)
	}
	c.ok("judges", "create", c.write("q.toml", qualityJudge))

	errOut = c.fail(exitFailure, "feedback", "import", labels, "--name", "product_quality")
	if !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "excellent") {
		t.Errorf("bad value error %q does not give the line and the allowed values", errOut)
	}
	var list []struct {
		FeedbackNames []string `json:"feedback_names"`
	}
	c.jsonOut(&list, "traces", "list", "--feedback", "product_quality")
	if len(list) != 0 {
		t.Fatalf("a failed feedback import recorded %d rows", len(list))
	}

	out := c.ok("feedback", "import", labels, "--name", "product_quality", "--skip-bad-rows")
	if !strings.Contains(out, "recorded 2") {
		t.Errorf("skip: %q", out)
	}
	c.jsonOut(&list, "traces", "list", "--feedback", "product_quality")
	if len(list) != 2 {
		t.Fatalf("after --skip-bad-rows %d traces carry product_quality feedback, want 2", len(list))
	}
	// Unknown trace: a bad row too.
	c.fail(exitFailure, "feedback", "log", "tr-nope", "--name", "product_quality", "--value", "good")
	// Logging again by the same person replaces the earlier value.
	out = c.ok("feedback", "log", "tr-00000000000000000000000000000001", "--name", "product_quality", "--value", "FAIR", "--rationale", "misses a step")
	if !strings.Contains(out, "replacing") {
		t.Errorf("re-log: %q", out)
	}
	var tr struct {
		Info struct {
			Assessments []struct {
				Name     string          `json:"assessment_name"`
				Valid    *bool           `json:"valid"`
				Feedback json.RawMessage `json:"feedback"`
			} `json:"assessments"`
		} `json:"info"`
	}
	c.jsonOut(&tr, "traces", "show", "tr-00000000000000000000000000000001")
	var valid []string
	for _, a := range tr.Info.Assessments {
		if a.Name == "product_quality" && (a.Valid == nil || *a.Valid) {
			valid = append(valid, string(a.Feedback))
		}
	}
	if len(valid) != 1 || !strings.Contains(valid[0], `"fair"`) {
		t.Errorf("valid feedback after re-log = %v, want the one normalised value \"fair\"", valid)
	}
}

func demoCLI(t *testing.T) *cli {
	c := newCLI(t)
	c.env[pluginCacheEnv] = filepath.Join(t.TempDir(), "wasm-cache")
	c.env["OPENAI_API_KEY"] = "sk-real-key-that-must-not-be-used"
	return c
}

func TestDemoRuns(t *testing.T) {
	out := demoCLI(t).ok("demo")
	for _, want := range []string{
		"SIMULATION",
		"registered judge support_quality@1",
		"imported 48 traces",
		"eval support_quality@1",
		"recorded 48 human feedback rows",
		"aligned support_quality@1 with memalign",
		"B agrees with the humans better than A",
		"registered support_quality@2",
		"eval support_quality@2",
		"That was a simulation",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sk-real-key") {
		t.Error("the demo printed the real key")
	}
	// Deterministic: a second run, in a new store, prints the same figures.
	again := demoCLI(t).ok("demo")
	if figures(out) != figures(again) {
		t.Errorf("two demo runs differ:\n%s\n---\n%s", figures(out), figures(again))
	}
}

// figures keeps the lines of demo output that carry results, dropping
// those with times, ports and paths.
func figures(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "127.0.0.1") || strings.Contains(line, "Store:") || strings.Contains(line, " in ") && strings.Contains(line, "ms") ||
			strings.Contains(line, "rate ") || strings.Contains(line, "wall time") || strings.Contains(line, "done in") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}
