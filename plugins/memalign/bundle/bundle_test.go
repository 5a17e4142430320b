package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func TestModuleMatchesBUILD(t *testing.T) {
	wasm, err := Module()
	if err != nil {
		t.Fatal(err)
	}
	if len(wasm) < 1<<20 || string(wasm[:4]) != "\x00asm" {
		t.Fatalf("embedded module is not a WebAssembly binary (%d bytes)", len(wasm))
	}
	if GoVersion() == "" || len(SHA256()) != 64 {
		t.Fatalf("BUILD is incomplete: go %q sha256 %q", GoVersion(), SHA256())
	}
}

// TestEmbeddedModuleMatchesSource rebuilds the module from source, exactly
// as `go generate` does, and fails when the embedded binary is stale: run
// `go generate ./plugins/memalign/bundle` after changing MemAlign, the SDK
// or package judge.
func TestEmbeddedModuleMatchesSource(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds the module (seconds); skipped with -short")
	}
	if runtime.Version() != GoVersion() {
		t.Skipf("the module was built with %s and this is %s: a different compiler makes different bytes", GoVersion(), runtime.Version())
	}
	out := filepath.Join(t.TempDir(), "memalign.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-buildmode=c-shared",
		"-ldflags=-s -w -buildid=", "-o", out, "../cmd/memalign-wasm")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	if got := hex.EncodeToString(sum[:]); got != SHA256() {
		t.Fatalf("the embedded MemAlign module does not match its source (built %s, embedded %s): run go generate ./plugins/memalign/bundle", got, SHA256())
	}
}
