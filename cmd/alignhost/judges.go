package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/judge/judgefile"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/termtext"
)

func (a *app) judgesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "judges",
		Short: "Create, list, show and delete judges in the versioned registry",
		Long: `A judge is a name, instructions with template variables ({{ inputs }},
{{ outputs }}, {{ expectations }}, {{ trace }}, {{ conversation }}), a model
URI and a value type. Registering a name again creates its next version;
NAME@N selects a version and NAME alone the latest.`,
	}
	cmd.AddCommand(a.judgesCreateCommand(), a.judgesBuiltinCommand(), a.judgesListCommand(),
		a.judgesShowCommand(), a.judgesVersionsCommand(), a.judgesDeleteCommand())
	return cmd
}

func (a *app) judgesCreateCommand() *cobra.Command {
	var tags []string
	cmd := &cobra.Command{
		Use:   "create FILE.toml",
		Short: "Register a judge from a TOML or JSON file",
		Example: `  alignhost judges create support_quality.toml
  alignhost judges create product_quality.toml --tag owner=search-team`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tagMap, err := parseKeyValues("--tag", tags)
			if err != nil {
				return err
			}
			j, err := judgefile.Read(args[0])
			if err != nil {
				return err
			}
			return a.register(cmd, j, tagMap)
		},
	}
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "tag the new version (key=value, repeatable)")
	return cmd
}

func (a *app) judgesBuiltinCommand() *cobra.Command {
	var name, model string
	var guidelines, tags []string
	cmd := &cobra.Command{
		Use:   "builtin NAME",
		Short: "Register one of the built-in judges",
		Long: "Register one of the built-in judges. Built-in judges are ordinary template judges:\n" +
			"they can be shown, evaluated and aligned like any custom judge.\n\nBuilt-in judges: " +
			strings.Join(judge.BuiltinNames(), ", "),
		Example: `  alignhost judges builtin correctness
  alignhost judges builtin guidelines --name tone --guideline "The answer must be polite"`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tagMap, err := parseKeyValues("--tag", tags)
			if err != nil {
				return err
			}
			var opts []judge.Option
			if name != "" {
				opts = append(opts, judge.WithName(name))
			}
			if model != "" {
				opts = append(opts, judge.WithModel(model))
			}
			if len(guidelines) > 0 {
				opts = append(opts, judge.WithGuidelines(guidelines...))
			}
			j, err := judge.Builtin(args[0], opts...)
			if err != nil {
				return err
			}
			return a.register(cmd, j, tagMap)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "register under this name instead of the built-in's")
	cmd.Flags().StringVar(&model, "model", "", "model URI (default: the configured default model)")
	cmd.Flags().StringArrayVar(&guidelines, "guideline", nil, "a guideline for the guidelines judge (repeatable)")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "tag the new version (key=value, repeatable)")
	return cmd
}

// register stores j as the next version of its name and reports it.
func (a *app) register(cmd *cobra.Command, j *judge.Judge, tags map[string]string) error {
	ctx := cmd.Context()
	if j.Model == "" {
		j.Model = a.cfg.DefaultModel
	}
	if err := j.Validate(); err != nil {
		return err
	}
	// judge.Validate checks the shape of a model URI only; a judge whose
	// model the client cannot parse would fail on every evaluation.
	uri, err := llm.ParseModelURI(j.Model)
	if err != nil {
		return fmt.Errorf("judge %q: %w", j.Name, err)
	}
	if !a.knownProvider(uri.Provider) {
		fmt.Fprintf(a.stderr, "note: provider %q of %s is neither built in nor declared in alignhost.toml [providers.%s]; evaluating this judge fails until it is declared\n",
			uri.Provider, termtext.Line(j.Model), termtext.Line(uri.Provider))
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	version, err := st.RegisterJudge(ctx, j, tags)
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(map[string]any{"name": j.Name, "version": version})
	}
	fmt.Fprintf(a.stdout, "registered judge %s version %d\n", termtext.Line(j.Name), version)
	if j.SessionLevel() {
		fmt.Fprintf(a.stdout, "note: %s uses {{ conversation }}: it is session-level and cannot be aligned\n", termtext.Line(j.Name))
	}
	return nil
}

// knownProvider reports whether a model URI scheme is a built-in provider
// or one the configuration declares.
func (a *app) knownProvider(name string) bool {
	switch name {
	case llm.ProviderOpenAI, llm.ProviderAzure, llm.ProviderDatabricks, llm.ProviderEndpoints, llm.ProviderOllama:
		return true
	}
	_, ok := a.cfg.Providers[name]
	return ok
}

func (a *app) judgesListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List judges (latest version of each)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.existingStore(cmd.Context())
			if err != nil {
				return err
			}
			judges, err := st.Judges(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(registeredJSON(judges))
			}
			if len(judges) == 0 {
				fmt.Fprintln(a.stdout, "no judges registered; create one with 'alignhost judges create FILE.toml' or 'alignhost judges builtin NAME'")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tTYPE\tMODEL\tALIGNED\tCREATED")
			for _, r := range judges {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", termtext.Line(r.Name), r.Version, r.Judge.ValueType,
					termtext.Line(r.Judge.Model), alignedSummary(r.Judge), r.CreatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
}

func (a *app) judgesShowCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show NAME[@VERSION]",
		Short: "Show a judge",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := store.ParseJudgeRef(args[0])
			if err != nil {
				return &usageError{err}
			}
			st, err := a.existingStore(cmd.Context())
			if err != nil {
				return err
			}
			r, err := st.Judge(cmd.Context(), name, version)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(registeredJSON([]store.RegisteredJudge{*r})[0])
			}
			switch format {
			case "toml", "json":
				data, err := judgefile.Encode(r.Judge, judgefile.Format(format))
				if err != nil {
					return err
				}
				// The same judge, safe on a terminal: DEL, C1 and bidi
				// controls become \uHHHH escapes (four hex digits), which JSON strings and
				// TOML basic strings (the only strings judgefile writes)
				// read as the same runes.
				data = termtext.JSON(data)
				_, err = a.stdout.Write(data)
				return err
			case "", "text":
			default:
				return usagef("--format %q: want text, toml or json", format)
			}
			a.printJudge(r)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, toml (a file 'judges create' accepts) or json")
	return cmd
}

// printJudge prints a judge for people; every text from the judge is
// escaped for the terminal (package termtext).
func (a *app) printJudge(r *store.RegisteredJudge) {
	j := r.Judge
	w := a.stdout
	fmt.Fprintf(w, "%s@%d", termtext.Line(r.Name), r.Version)
	if j.Builtin != "" {
		fmt.Fprintf(w, "  (built-in %s)", termtext.Line(j.Builtin))
	}
	fmt.Fprintln(w)
	if j.Description != "" {
		fmt.Fprintf(w, "  description: %s\n", termtext.Line(j.Description))
	}
	fmt.Fprintf(w, "  model:       %s\n", termtext.Line(j.Model))
	fmt.Fprintf(w, "  value type:  %s\n", j.ValueType)
	if vars, err := j.Variables(); err == nil {
		names := make([]string, len(vars))
		for i, v := range vars {
			names[i] = string(v)
		}
		fmt.Fprintf(w, "  variables:   %s\n", termtext.Line(strings.Join(names, ", ")))
	}
	fmt.Fprintf(w, "  created:     %s\n", r.CreatedAt.Local().Format(time.DateTime))
	if len(r.Tags) > 0 {
		keys := make([]string, 0, len(r.Tags))
		for k := range r.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  tag:         %s=%s\n", termtext.Line(k), termtext.Line(r.Tags[k]))
		}
	}
	if p := j.Provenance; p != nil {
		fmt.Fprintf(w, "  aligned:     from %s@%d by %s on %d traces at %s\n", termtext.Line(p.BaseJudge), p.BaseVersion,
			termtext.Line(p.Optimizer), p.NumTraces, p.AlignedAt.Local().Format(time.DateTime))
	}
	if m := j.Memory; m != nil {
		fmt.Fprintf(w, "  memory:      %d guidelines, %d examples, retrieval k=%d (%s)\n",
			len(m.Guidelines), len(m.Examples), m.Retrieval.K, termtext.Line(m.Retrieval.Embedder))
		for _, g := range m.Guidelines {
			fmt.Fprintf(w, "    - %s\n", termtext.Line(g.Text))
		}
	}
	fmt.Fprintln(w, "  instructions:")
	for _, line := range strings.Split(strings.TrimRight(termtext.Text(j.Instructions), "\n"), "\n") {
		fmt.Fprintf(w, "    %s\n", line)
	}
}

func (a *app) judgesVersionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "versions NAME",
		Short: "List every version of a judge",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.existingStore(cmd.Context())
			if err != nil {
				return err
			}
			versions, err := st.JudgeVersions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(registeredJSON(versions))
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tCREATED\tMODEL\tALIGNED\tTAGS")
			for _, r := range versions {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Version, r.CreatedAt.Local().Format(time.DateTime),
					termtext.Line(r.Judge.Model), alignedSummary(r.Judge), termtext.Line(formatTags(r.Tags)))
			}
			return tw.Flush()
		},
	}
}

func (a *app) judgesDeleteCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "delete NAME@VERSION | NAME --all",
		Short: "Delete one version of a judge, or every version with --all",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := store.ParseJudgeRef(args[0])
			if err != nil {
				return &usageError{err}
			}
			if version == 0 && !all {
				return usagef("delete %s: name a version (%s@N) or pass --all to delete every version", name, name)
			}
			if version != 0 && all {
				return usagef("delete %s: --all deletes every version; do not name one", args[0])
			}
			st, err := a.existingStore(cmd.Context())
			if err != nil {
				return err
			}
			n, err := st.DeleteJudge(cmd.Context(), name, version)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"name": name, "deleted_versions": n})
			}
			fmt.Fprintf(a.stdout, "deleted %d version(s) of %s\n", n, termtext.Line(name))
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "delete every version")
	return cmd
}

// registeredJSON is the --json form of registered judges.
func registeredJSON(rs []store.RegisteredJudge) []map[string]any {
	out := make([]map[string]any, len(rs))
	for i, r := range rs {
		out[i] = map[string]any{
			"name":       r.Name,
			"version":    r.Version,
			"created_at": r.CreatedAt,
			"tags":       r.Tags,
			"judge":      r.Judge,
		}
	}
	return out
}

func alignedSummary(j *judge.Judge) string {
	if j.Memory == nil {
		return "-"
	}
	return fmt.Sprintf("%d guidelines, %d examples", len(j.Memory.Guidelines), len(j.Memory.Examples))
}

func formatTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, " ")
}

// parseKeyValues parses repeated key=value flag values.
func parseKeyValues(flag string, values []string) (map[string]string, error) {
	out := make(map[string]string, len(values))
	for _, kv := range values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("%s %q: want key=value", flag, kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}
