// Package guestbuild builds the Go WebAssembly guests that alignhost's tests
// load: example optimizers, hostile modules, the bundled MemAlign.
//
// It exists for one reason: `go test ./...` runs several test binaries at
// once, and each used to build its guests with its own `go build`. Go's
// build cache does not share work in flight between processes, so on a cold
// cache every binary compiled the standard library for wasip1 again, at the
// same time, on the same cores (minutes of a cold CI run). Build and Go run
// the go tool under one lock per machine and with the same flags everywhere
// (-trimpath, no VCS stamp, cgo off), so the first build of a run compiles
// the standard library and every later one, in any test binary, only links
// from the cache.
//
// The package is imported only by tests; nothing in alignhost's product
// depends on it.
package guestbuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Option configures [Build].
type Option func(*config)

type config struct {
	ldflags string
}

// WithLDFlags sets the linker flags of the build (go build -ldflags).
func WithLDFlags(flags string) Option { return func(c *config) { c.ldflags = flags } }

// Build builds the Go package pkg (an import path, or a directory relative
// to the working directory) as a wasip1 reactor module into the file out.
func Build(ctx context.Context, pkg, out string, opts ...Option) error {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-buildmode=c-shared"}
	if cfg.ldflags != "" {
		args = append(args, "-ldflags="+cfg.ldflags)
	}
	args = append(args, "-o", out, pkg)
	if msg, err := Go(ctx, "", args...); err != nil {
		return fmt.Errorf("build %s for wasip1: %w\n%s", pkg, err, msg)
	}
	return nil
}

// Go runs the go tool with args for GOOS=wasip1 GOARCH=wasm in dir (the
// working directory when empty), holding the machine-wide build lock, and
// returns its combined output.
func Go(ctx context.Context, dir string, args ...string) ([]byte, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("no go tool: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(os.TempDir(), "alignhost-guestbuild.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return out.Bytes(), nil
}
