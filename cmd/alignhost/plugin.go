package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/judge/judgefile"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/retrieval"
	"github.com/alignhost/alignhost/termtext"
	"github.com/alignhost/alignhost/trace"
)

// pluginCacheEnv overrides the directory of the plugin compilation cache.
const pluginCacheEnv = "ALIGNHOST_CACHE_DIR"

func (a *app) pluginCommand() *cobra.Command {
	var cacheDir string
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Inspect and check optimizer plugins (WebAssembly modules)",
		Long: `An optimizer plugin is a WebAssembly module that implements the plugin ABI
(docs/abi.md). These commands look inside a module and check that it behaves.
Modules run in alignhost's sandbox: no files, network, environment or real
clock, and limits on memory, time and model calls.

Compiled modules are cached in $ALIGNHOST_CACHE_DIR, or else in alignhost/wasm
under the user cache directory, so the second run loads in milliseconds.`,
	}
	cmd.PersistentFlags().StringVar(&cacheDir, "cache-dir", "", "directory of the compilation cache (default $"+pluginCacheEnv+" or the user cache directory)")
	cmd.AddCommand(a.pluginInspectCommand(&cacheDir), a.pluginVerifyCommand(&cacheDir))
	return cmd
}

// pluginHost returns a host on the compilation cache the flags and the
// environment choose.
func (a *app) pluginHost(ctx context.Context, cacheDir string, cfg host.Config) (*host.Host, error) {
	if cacheDir == "" {
		cacheDir = a.getenv(pluginCacheEnv)
	}
	if cacheDir != "" {
		cfg = cfg.WithCacheDir(cacheDir)
	}
	return host.New(ctx, cfg.WithLogger(a.logger))
}

// pluginInspection is what plugin inspect prints.
type pluginInspection struct {
	File           string                 `json:"file"`
	Size           int                    `json:"size"`
	SHA256         string                 `json:"sha256"`
	ABIVersion     int                    `json:"abi_version,omitempty"`
	Description    *pluginapi.Description `json:"description,omitempty"`
	MemoryMinPages uint32                 `json:"memory_min_pages"`
	MemoryMaxPages uint32                 `json:"memory_max_pages,omitempty"`
	Imports        []host.Function        `json:"imports"`
	Exports        []host.Function        `json:"exports"`
	LoadError      string                 `json:"load_error,omitempty"`
	// Limits are what an alignment with the module would run under, from
	// alignhost.toml's [align.limits] and the host's defaults.
	Limits host.Limits `json:"limits"`
}

func (a *app) pluginInspectCommand(cacheDir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect FILE.wasm",
		Short: "Show a plugin's ABI version, description, imports, exports, size and SHA-256",
		Long: `Inspect reads the module's structure without compiling it, lists what it imports
and exports, then loads it (compile limits, compilation, metering) in the sandbox
to check its ABI version and ask for its description: name, version,
configuration keys with defaults, and the capabilities it uses. A module that
does not load is still described as far as possible, and the command fails.`,
		Example: `  alignhost plugin inspect fewshot.wasm
  alignhost plugin inspect --json fewshot.wasm`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			path := args[0]
			wasm, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("inspect plugin: %w", err)
			}
			h, err := a.pluginHost(ctx, *cacheDir, host.NewConfig())
			if err != nil {
				return err
			}
			defer h.Close(context.Background())
			info, err := h.Inspect(ctx, wasm)
			if err != nil {
				return fmt.Errorf("inspect %s: %w", path, err)
			}
			out := pluginInspection{
				File: filepath.Base(path), Size: info.Size, SHA256: info.SHA256,
				MemoryMinPages: info.MemoryMinPages, MemoryMaxPages: info.MemoryMaxPages,
				Imports: info.Imports, Exports: info.Exports,
				Limits: a.pluginLimits(0, limitFlags{}).WithDefaults(),
			}
			if len(info.ImportedABIs) == 1 {
				out.ABIVersion = info.ImportedABIs[0]
			}
			p, loadErr := h.Load(ctx, wasm, host.Manifest{Name: filepath.Base(path)})
			if loadErr == nil {
				d := p.Description()
				out.Description = &d
				out.ABIVersion = pluginapi.ABIVersion
			} else {
				out.LoadError = loadErr.Error()
			}
			if a.jsonOut {
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				a.printInspection(out)
			}
			return loadErr
		},
	}
}

// printInspection prints what plugin inspect found for people; what the
// module chose (its description, config keys, function names) is escaped
// for the terminal (package termtext).
func (a *app) printInspection(in pluginInspection) {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "file\t%s\n", termtext.Line(in.File))
	fmt.Fprintf(w, "size\t%s (%d bytes)\n", pluginSize(in.Size), in.Size)
	fmt.Fprintf(w, "sha256\t%s\n", in.SHA256)
	abi := "unknown"
	if in.ABIVersion > 0 {
		abi = fmt.Sprintf("v%d", in.ABIVersion)
	}
	fmt.Fprintf(w, "abi\t%s\n", abi)
	if d := in.Description; d != nil {
		fmt.Fprintf(w, "name\t%s\n", termtext.Line(d.Name))
		fmt.Fprintf(w, "version\t%s\n", termtext.Line(d.Version))
		if d.Description != "" {
			fmt.Fprintf(w, "description\t%s\n", termtext.Line(d.Description))
		}
		caps := make([]string, len(d.Capabilities))
		for i, c := range d.Capabilities {
			caps[i] = string(c)
		}
		fmt.Fprintf(w, "capabilities\t%s\n", termtext.Line(orNone(strings.Join(caps, ", "))))
		fmt.Fprintf(w, "wants traces\t%s\n", yesNo(d.WantsTraces))
		fmt.Fprintf(w, "min examples\t%d\n", max(1, d.MinExamples))
	}
	mem := fmt.Sprintf("%d pages at start", in.MemoryMinPages)
	if in.MemoryMaxPages > 0 {
		mem += fmt.Sprintf(", at most %d", in.MemoryMaxPages)
	}
	fmt.Fprintf(w, "memory\t%s\n", mem)
	l := in.Limits
	fmt.Fprintf(w, "limits\tmemory %d MiB, wall time %s, fuel %s, %s model calls, %s tokens, messages %d MiB, %d instances\n",
		l.MemoryPages/16, time.Duration(l.WallTimeMS)*time.Millisecond, thousands(l.Fuel), thousands(l.ModelCalls),
		thousands(l.Tokens), l.MessageBytes>>20, l.Instances)
	w.Flush()

	if d := in.Description; d != nil {
		fmt.Fprintln(a.stdout, "\nconfig")
		if len(d.Config) == 0 {
			fmt.Fprintln(a.stdout, "  (none)")
		} else {
			w = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "  KEY\tTYPE\tDEFAULT\tDESCRIPTION")
			for _, k := range d.Config {
				def := "-"
				if k.Default != nil {
					b, _ := json.Marshal(k.Default)
					def = string(b)
				}
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", termtext.Line(k.Key), termtext.Line(string(k.Type)), termtext.Line(def), termtext.Line(k.Description))
			}
			w.Flush()
		}
	}
	fmt.Fprintf(a.stdout, "\nimports (%d)\n", len(in.Imports))
	for _, f := range in.Imports {
		fmt.Fprintf(a.stdout, "  %s\n", termtext.Line(f.String()))
	}
	fmt.Fprintf(a.stdout, "\nexports (%d)\n", len(in.Exports))
	for _, f := range in.Exports {
		fmt.Fprintf(a.stdout, "  %s\n", termtext.Line(f.String()))
	}
}

func pluginSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// pluginStep is one check of plugin verify.
type pluginStep struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// pluginVerdict is what plugin verify prints with --json.
type pluginVerdict struct {
	File       string           `json:"file"`
	SHA256     string           `json:"sha256,omitempty"`
	Plugin     string           `json:"plugin,omitempty"`
	Version    string           `json:"version,omitempty"`
	ABIVersion int              `json:"abi_version"`
	Conforms   bool             `json:"conforms"`
	Steps      []pluginStep     `json:"steps"`
	Report     pluginapi.Report `json:"report"`
	Usage      host.Usage       `json:"usage"`
}

func (a *app) pluginVerifyCommand(cacheDir *string) *cobra.Command {
	var (
		settings []string
		examples int
		wallTime time.Duration
		limits   limitFlags
	)
	cmd := &cobra.Command{
		Use:   "verify FILE.wasm",
		Short: "Check that a plugin loads, describes itself and aligns a judge within its limits",
		Long: `Verify runs a conformance check offline. It starts a fake model server that
answers every chat and embedding request, loads the plugin in the sandbox,
checks its description, and aligns the bundled demo judge (support_quality) with
a small set of labelled examples from the demo data. The plugin may use every
capability: chat ("reflection"), embed ("embedding") and evaluate. The aligned
judge must pass validation (same name, value type and model, a valid template,
sane sizes, and description, inference parameters and unknown members kept),
and the run must stay within the plugin's limits. A second align with the same
input checks that the result is repeatable, and the aligned judge then judges
every example through the production judge path: a judge that cannot judge
fails verify.`,
		Example: `  alignhost plugin verify fewshot.wasm
  alignhost plugin verify fewshot.wasm --set k=5 --set condense=true`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := pluginSettings(settings)
			if err != nil {
				return err
			}
			if examples < 1 {
				return usagef("--examples must be at least 1")
			}
			return a.verifyPlugin(cmd.Context(), *cacheDir, args[0], cfg, examples, a.pluginLimits(wallTime, limits))
		},
	}
	cmd.Flags().StringArrayVar(&settings, "set", nil, "set a plugin configuration key (key=value; the value is read as JSON when it parses, as text otherwise; repeatable)")
	cmd.Flags().IntVar(&examples, "examples", 12, "how many labelled examples to align with")
	cmd.Flags().DurationVar(&wallTime, "wall-time", 2*time.Minute, "wall-time limit of each align")
	limits.register(cmd.Flags())
	return cmd
}

// pluginSettings parses --set flags.
func pluginSettings(settings []string) (map[string]any, error) {
	kv, err := parseKeyValues("--set", settings)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(kv))
	for k, v := range kv {
		var decoded any
		if err := json.Unmarshal([]byte(v), &decoded); err == nil {
			out[k] = decoded
		} else {
			out[k] = v
		}
	}
	return out, nil
}

// verifyPlugin runs the conformance check.
func (a *app) verifyPlugin(ctx context.Context, cacheDir, path string, cfg map[string]any, n int, limits host.Limits) error {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("verify plugin: %w", err)
	}
	verdict := pluginVerdict{File: filepath.Base(path)}
	step := func(name string, err error, detail string) bool {
		s := pluginStep{Name: name, OK: err == nil, Detail: detail}
		if err != nil {
			s.Error = err.Error()
		}
		verdict.Steps = append(verdict.Steps, s)
		return err == nil
	}
	finish := func(failure error) error {
		verdict.Conforms = failure == nil
		if a.jsonOut {
			if err := a.printJSON(verdict); err != nil {
				return err
			}
		} else {
			a.printVerdict(verdict)
		}
		return failure
	}

	// The fake model server and what the capabilities answer with.
	fake := llmtest.NewHandler()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer fake.Close()
	env := map[string]string{"OPENAI_API_KEY": llmtest.DefaultAPIKey, "OPENAI_BASE_URL": srv.URL + "/v1"}
	client, err := llm.New(llm.WithGetenv(func(k string) string { return env[k] }), llm.WithRetry(llm.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		return fmt.Errorf("verify plugin: %w", err)
	}
	// The evaluate capability goes through the production judge path.
	ev, err := eval.New(client, eval.WithLogger(a.logger), eval.WithExampleRetriever(retrieval.New(client)))
	if err != nil {
		return fmt.Errorf("verify plugin: %w", err)
	}
	h, err := a.pluginHost(ctx, cacheDir, host.NewConfig().
		WithModels(client,
			host.Role{Name: pluginapi.RoleReflection, Kind: pluginapi.ChatModel, Model: "openai:/gpt-4.1-mini"},
			host.Role{Name: pluginapi.RoleEmbedding, Kind: pluginapi.EmbedModel, Model: "openai:/text-embedding-3-small", Dimensions: 256}).
		WithEvaluator(host.EvaluatorFunc(ev.EvaluateExamples)))
	if err != nil {
		return err
	}
	defer h.Close(context.Background())

	j, examples, skipped, err := pluginVerifySet(n)
	if err != nil {
		return fmt.Errorf("verify plugin: labelled set: %w", err)
	}

	start := time.Now()
	p, err := h.Load(ctx, wasm, host.Manifest{Name: verdict.File, Limits: limits})
	if !step("load", err, fmt.Sprintf("%s, loaded in %s", pluginSize(len(wasm)), time.Since(start).Round(time.Millisecond))) {
		return finish(err)
	}
	d := p.Description()
	verdict.SHA256, verdict.Plugin, verdict.Version, verdict.ABIVersion = p.Info().SHA256, d.Name, d.Version, pluginapi.ABIVersion
	caps := make([]string, len(d.Capabilities))
	for i, c := range d.Capabilities {
		caps[i] = string(c)
	}
	keys := make([]string, len(d.Config))
	for i, k := range d.Config {
		keys[i] = k.Key
	}
	step("describe", nil, fmt.Sprintf("%s %s; capabilities: %s; config: %s", d.Name, d.Version,
		orNone(strings.Join(caps, ", ")), orNone(strings.Join(keys, ", "))))
	if len(examples) < max(1, d.MinExamples) {
		err := fmt.Errorf("the plugin needs %d examples; run with --examples %d", d.MinExamples, d.MinExamples)
		step("align", err, "")
		return finish(err)
	}

	in := host.Input{Judge: j, Examples: examples, Skipped: skipped, Config: cfg, Seed: 1}
	res, err := p.Align(ctx, in)
	if err != nil {
		step("align", err, "")
		return finish(err)
	}
	verdict.Report, verdict.Usage = res.Report, res.Usage
	guidelines, stored := 0, 0
	if m := res.Judge.Memory; m != nil {
		guidelines, stored = len(m.Guidelines), len(m.Examples)
	}
	step("align", nil, fmt.Sprintf("%d examples: a valid judge with %d guidelines and %d stored examples in %s; %d model calls, %d tokens",
		len(examples), guidelines, stored, res.Duration.Round(time.Millisecond), res.Usage.ModelCalls, res.Usage.PromptTokens+res.Usage.CompletionTokens))

	again, err := p.Align(ctx, in)
	switch {
	case err != nil:
		step("repeat", err, "")
		return finish(err)
	case again.Judge.Fingerprint() != res.Judge.Fingerprint():
		err := errors.New("a second align with the same input gave a different judge")
		step("repeat", err, "")
		return finish(err)
	}
	step("repeat", nil, "a second align with the same input gave the same judge")

	// The aligned judge must judge: every example through the production
	// judge path (template, memory, retrieval, prompt budget, parsing).
	judged, err := ev.EvaluateExamples(ctx, res.Judge.Clone(), examples)
	if err == nil {
		for _, r := range judged.Results {
			if rerr := r.Err(); rerr != nil {
				err = fmt.Errorf("the aligned judge cannot judge example %s: %w", r.TraceID, rerr)
				break
			}
		}
	}
	if err != nil {
		step("judge", err, "")
		return finish(err)
	}
	agree, n := pluginapi.Agreement(judged.Results)
	step("judge", nil, fmt.Sprintf("the aligned judge judged all %d examples through the production path (%d agree with the humans on the fake model)", n, agree))
	return finish(nil)
}

// printVerdict prints plugin verify's checks for people; what the plugin
// chose (its name, report and warnings, and the errors that quote it) is
// escaped for the terminal (package termtext).
func (a *app) printVerdict(v pluginVerdict) {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, s := range v.Steps {
		status, text := "ok", s.Detail
		if !s.OK {
			status, text = "FAIL", s.Error
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", s.Name, status, termtext.Line(text))
	}
	w.Flush()
	if v.Conforms {
		fmt.Fprintf(a.stdout, "\nplugin %s %s conforms to plugin ABI v%d\n", termtext.Line(v.Plugin), termtext.Line(v.Version), v.ABIVersion)
		if v.Report.Summary != "" {
			fmt.Fprintf(a.stdout, "its report: %s\n", termtext.Line(v.Report.Summary))
		}
		for _, warning := range v.Report.Warnings {
			fmt.Fprintf(a.stdout, "  warning: %s\n", termtext.Line(warning))
		}
	}
}

// pluginVerifySet returns the demo judge and up to n of its labelled
// examples, extracted from the demo traces and feedback by the rules every
// optimizer shares.
func pluginVerifySet(n int) (*judge.Judge, []judge.Example, []trace.Skip, error) {
	spec, err := demoData.ReadFile("demodata/support_quality.toml")
	if err != nil {
		return nil, nil, nil, err
	}
	j, err := judgefile.Decode(spec, judgefile.TOML)
	if err != nil {
		return nil, nil, nil, err
	}
	raw, err := demoData.ReadFile("demodata/traces.jsonl")
	if err != nil {
		return nil, nil, nil, err
	}
	records, err := trace.Read(bytes.NewReader(raw), "demodata/traces.jsonl")
	if err != nil {
		return nil, nil, nil, err
	}
	byID := map[string]*trace.Trace{}
	var traces []*trace.Trace
	for _, r := range records {
		if r.Err != nil {
			return nil, nil, nil, r.Err
		}
		byID[r.Trace.Info.TraceID] = r.Trace
		traces = append(traces, r.Trace)
	}
	csv, err := demoData.ReadFile("demodata/feedback.csv")
	if err != nil {
		return nil, nil, nil, err
	}
	rows, err := trace.ReadFeedback(bytes.NewReader(csv), "demodata/feedback.csv")
	if err != nil {
		return nil, nil, nil, err
	}
	for _, r := range rows {
		t, ok := byID[r.TraceID]
		if r.Err != nil || !ok {
			continue
		}
		as, err := humanFeedback(j, j.Name, r.TraceID, r.Value, r.Rationale, r.SourceID, demoFeedbackTime(r))
		if err != nil {
			return nil, nil, nil, err
		}
		t.Info.Assessments = append(t.Info.Assessments, as)
	}
	examples, skipped, err := trace.Examples(j, traces)
	if err != nil {
		return nil, nil, nil, err
	}
	return j, examples[:min(n, len(examples))], skipped, nil
}
