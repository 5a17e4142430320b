// Package bundle embeds the compiled MemAlign optimizer, the WebAssembly
// module alignhost runs when no other optimizer is named, so that
// `go install …/cmd/alignhost` gives a working default with no file to
// download.
//
// The module is built from ../cmd/memalign-wasm by `go generate` (see
// gen.go): a reproducible build (-trimpath, no build ID) compressed with
// gzip. BUILD records the Go version that made it and the SHA-256 of the
// uncompressed module; the host pins that hash as the module's trust
// anchor. A test rebuilds the module from source and fails when the
// embedded binary does not match it.
package bundle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

//go:generate go run gen.go

//go:embed memalign.wasm.gz
var compressed []byte

//go:embed BUILD
var build string

// Module returns the MemAlign WebAssembly module, checked against the
// SHA-256 recorded when it was built.
func Module() ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("embedded memalign module: %w", err)
	}
	wasm, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("embedded memalign module: %w", err)
	}
	sum := sha256.Sum256(wasm)
	if got, want := hex.EncodeToString(sum[:]), SHA256(); got != want {
		return nil, fmt.Errorf("embedded memalign module: sha256 %s, BUILD says %s", got, want)
	}
	return wasm, nil
}

// SHA256 returns the hex SHA-256 of the uncompressed module.
func SHA256() string { return field("sha256") }

// GoVersion returns the Go version that built the module.
func GoVersion() string { return field("go") }

// field reads "key value" lines of BUILD.
func field(key string) string {
	for _, line := range strings.Split(build, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
