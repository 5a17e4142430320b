// Command alignhost defines LLM judges, loads an application's traces, records
// human feedback on them and aligns the judges with that feedback.
//
// It is a thin shell over the alignhost packages: every command parses its
// flags, calls a package, and prints the result as a table or, with --json,
// as JSON. Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
