package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/store"
)

func (a *app) cacheCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and prune the store's cache of model answers",
		Long: `Every model answer is kept in the store, keyed by everything that determines it
(model, messages, schema, parameters — never a key), so that re-running or
resuming work pays for nothing twice. The cache grows until it is pruned.`,
	}
	stats := &cobra.Command{
		Use:   "stats",
		Short: "How many answers the cache holds, how often they were reused, and their size",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.existingStore(cmd.Context())
			if err != nil {
				return err
			}
			s, err := st.ResponseCache().Stats(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"entries": s.Entries, "hits": s.Hits, "bytes": s.Bytes})
			}
			fmt.Fprintf(a.stdout, "%d cached answers, reused %d times, %.1f MiB\n", s.Entries, s.Hits, float64(s.Bytes)/(1<<20))
			return nil
		},
	}
	var opts store.PruneOptions
	var all bool
	prune := &cobra.Command{
		Use:   "prune (--older-than DURATION | --model URI | --all)",
		Short: "Delete cached answers; later requests ask the model again",
		Example: `  alignhost cache prune --older-than 720h
  alignhost cache prune --model openai:/gpt-4.1-mini`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !all && opts.OlderThan <= 0 && opts.Model == "" {
				return usagef("say what to prune: --older-than, --model, or --all")
			}
			if all && (opts.OlderThan > 0 || opts.Model != "") {
				return usagef("--all prunes everything; do not combine it with --older-than or --model")
			}
			st, err := a.existingStore(cmd.Context())
			if err != nil {
				return err
			}
			n, err := st.ResponseCache().Prune(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"deleted": n})
			}
			fmt.Fprintf(a.stdout, "deleted %d cached answers\n", n)
			return nil
		},
	}
	prune.Flags().DurationVar(&opts.OlderThan, "older-than", 0, "delete answers stored longer ago than this (e.g. 720h)")
	prune.Flags().StringVar(&opts.Model, "model", "", "delete only answers of this model URI")
	prune.Flags().BoolVar(&all, "all", false, "delete every cached answer")
	cmd.AddCommand(stats, prune)
	return cmd
}
