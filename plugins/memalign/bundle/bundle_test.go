package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/alignhost/alignhost/internal/guestbuild"
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
	// The flags of `go generate` (gen.go): -trimpath, no VCS stamp, no
	// build ID, stripped.
	if err := guestbuild.Build(t.Context(), "../cmd/memalign-wasm", out, guestbuild.WithLDFlags("-s -w -buildid=")); err != nil {
		t.Fatal(err)
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
