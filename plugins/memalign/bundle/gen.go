//go:build ignore

// gen builds the MemAlign module reproducibly and writes memalign.wasm.gz
// and BUILD beside this file. Run it with `go generate` in this directory.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "memalign-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "memalign.wasm")
	wasm, err := Build(out)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return err
	}
	// No name and no modification time in the header: the same module
	// always compresses to the same bytes.
	if _, err := zw.Write(wasm); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile("memalign.wasm.gz", gz.Bytes(), 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(wasm)
	build := fmt.Sprintf("go %s\nsha256 %s\nsize %d\n", runtime.Version(), hex.EncodeToString(sum[:]), len(wasm))
	if err := os.WriteFile("BUILD", []byte(build), 0o644); err != nil {
		return err
	}
	fmt.Printf("memalign.wasm: %d bytes (%d gzipped), sha256 %s\n", len(wasm), gz.Len(), hex.EncodeToString(sum[:]))
	return nil
}

// Build compiles the module to out and returns its bytes. The flags make
// the build reproducible: no file paths (-trimpath), no build ID, no VCS
// stamp.
func Build(out string) ([]byte, error) {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-buildmode=c-shared",
		"-ldflags=-s -w -buildid=", "-o", out, "../cmd/memalign-wasm")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build: %w", err)
	}
	return os.ReadFile(out)
}
