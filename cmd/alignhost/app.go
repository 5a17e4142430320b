package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/config"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/termtext"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks an error in how the command was called.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// app is the state shared by every command of one invocation.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// global flags
	storePath  string
	configPath string
	jsonOut    bool
	verbose    bool

	cfg    config.Config
	logger *slog.Logger
	st     *store.Store
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	a.close()
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "alignhost: %s\n", oneLine(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		fmt.Fprintln(stderr, "Run 'alignhost --help' for usage.")
		return exitUsage
	}
	return exitFailure
}

// isCobraUsageError recognises the errors cobra returns for unknown commands
// and arguments, which it does not type.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// oneLine folds a multi-line message into one line and escapes what is
// left of control characters for the terminal (package termtext): error
// messages quote data, such as a row's reason or a model's answer.
func oneLine(s string) string {
	return termtext.Line(strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " "))
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "alignhost",
		Short: "Align LLM judges with human feedback",
		Long: `alignhost defines LLM judges, loads an application's traces (MLflow JSON or plain
JSON Lines), records human feedback on them, and keeps everything in an embedded
SQLite store (alignhost.db in the working directory unless --store or
ALIGNHOST_STORE says otherwise).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.storePath, "store", "", "path of the SQLite store (default $ALIGNHOST_STORE or ./alignhost.db)")
	pf.StringVar(&a.configPath, "config", "", "configuration file (default ./alignhost.toml when present)")
	pf.BoolVar(&a.jsonOut, "json", false, "print machine-readable JSON")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "print debug logs")

	root.AddCommand(a.tracesCommand(), a.feedbackCommand(), a.judgesCommand(), a.demoCommand(), a.evalCommand(), a.pluginCommand(), a.compareCommand(), a.alignCommand(), a.unalignCommand(), a.cacheCommand(), a.runsCommand())
	return root
}

// setup loads the configuration and the logger; the store opens lazily.
func (a *app) setup() error {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelDebug
	}
	// The text handler quotes every message, key and value that holds a
	// space, a control or a non-printing rune, escaping the controls
	// (strconv.Quote), so log lines relayed from plugins and data cannot
	// drive the terminal; TestErrorsAndLogsEscapeControls holds it to that.
	a.logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := config.Load(a.configPath)
	if err != nil {
		return err
	}
	a.cfg = cfg
	return nil
}

// storeAt resolves the store path: --store, then $ALIGNHOST_STORE, then the
// configuration file, then the default.
func (a *app) resolvedStorePath() string {
	if a.storePath != "" {
		return a.storePath
	}
	if p := a.getenv("ALIGNHOST_STORE"); p != "" {
		return p
	}
	if a.cfg.Store != "" {
		return a.cfg.Store
	}
	return store.DefaultPath
}

// openStore opens the store on first use.
func (a *app) openStore(ctx context.Context) (*store.Store, error) {
	if a.st != nil {
		return a.st, nil
	}
	opts, err := a.storeOptions()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, a.resolvedStorePath(), opts...)
	if err != nil {
		return nil, err
	}
	a.st = st
	return st, nil
}

// existingStore opens the store for a command that needs one to exist: a
// mistyped --store must not silently answer from a new, empty store.
func (a *app) existingStore(ctx context.Context) (*store.Store, error) {
	if a.st == nil {
		path := a.resolvedStorePath()
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no store at %s: import traces ('alignhost traces import') or register a judge ('alignhost judges create') first, or name the store with --store or ALIGNHOST_STORE", path)
		}
	}
	return a.openStore(ctx)
}

func (a *app) close() {
	if a.st != nil {
		if err := a.st.Close(); err != nil {
			fmt.Fprintf(a.stderr, "alignhost: close store: %v\n", err)
		}
		a.st = nil
	}
}

// experiment returns the experiment flag value or the configured default.
func (a *app) experiment(flag string) string {
	if flag != "" {
		return flag
	}
	if a.cfg.Experiment != "" {
		return a.cfg.Experiment
	}
	return store.DefaultExperiment
}

// printJSON writes v as indented JSON, with the control runes that
// encoding/json leaves raw escaped (termtext.JSON): it decodes to exactly
// v, and cannot drive the terminal it is printed on.
func (a *app) printJSON(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := a.stdout.Write(termtext.JSON(buf.Bytes()))
	return err
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}
