package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/internal/guestbuild"
)

// buildPlugins builds the example plugins into dir with the standard
// toolchain, as a plugin author would (through package guestbuild, which
// shares the work with the other test binaries).
func buildPlugins(t *testing.T, dir string, pkgs map[string]string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for name, pkg := range pkgs {
		out := filepath.Join(dir, name+".wasm")
		if err := guestbuild.Build(t.Context(), pkg, out); err != nil {
			t.Fatal(err)
		}
		paths[name] = out
	}
	return paths
}

func TestPluginCommands(t *testing.T) {
	c := newCLI(t)
	c.env[pluginCacheEnv] = filepath.Join(c.dir, "cache")
	wasm := buildPlugins(t, c.dir, map[string]string{
		"noop":    "../../plugins/examples/noop",
		"fewshot": "../../plugins/examples/fewshot/wasm",
	})
	data, err := os.ReadFile(wasm["fewshot"])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)

	t.Run("inspect", func(t *testing.T) {
		out := c.ok("plugin", "inspect", wasm["fewshot"])
		for _, want := range []string{
			"file          fewshot.wasm",
			"sha256        " + hex.EncodeToString(sum[:]),
			"abi           v1",
			"name          fewshot",
			"version       1.0.0",
			"capabilities  embed, chat, evaluate",
			"  k         integer  3        how many examples to add",
			"  alignhost_v1.embed (i32, i32) -> i64",
			"  alignhost_align (i32, i32) -> i64",
			"limits        memory 256 MiB, wall time 15m0s, fuel 1,000,000,000,000,000, 1,000 model calls, 2,000,000 tokens, messages 16 MiB, 4 instances",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("inspect output lacks %q:\n%s", want, out)
			}
		}
		var got pluginInspection
		c.jsonOut(&got, "plugin", "inspect", wasm["fewshot"])
		if got.ABIVersion != 1 || got.Description == nil || got.Description.Name != "fewshot" || got.Size != len(data) || got.LoadError != "" {
			t.Errorf("inspect --json = %+v", got)
		}
	})
	t.Run("inspect a broken module", func(t *testing.T) {
		bad := c.write("bad.wasm", "\x00asm\x01\x00\x00\x00garbage")
		if errOut := c.fail(exitFailure, "plugin", "inspect", bad); !strings.Contains(errOut, "not a valid WebAssembly module") {
			t.Errorf("stderr = %q", errOut)
		}
	})
	t.Run("verify", func(t *testing.T) {
		out := c.ok("plugin", "verify", wasm["fewshot"], "--set", "k=2", "--set", "condense=true", "--set", "verify=true")
		for _, want := range []string{
			"load      ok", "describe  ok  fewshot 1.0.0", "align     ok  12 examples: a valid judge with 2 guidelines",
			"repeat    ok", "plugin fewshot 1.0.0 conforms to plugin ABI v1",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("verify output lacks %q:\n%s", want, out)
			}
		}
		var v pluginVerdict
		c.jsonOut(&v, "plugin", "verify", wasm["noop"])
		if !v.Conforms || len(v.Steps) != 5 || v.Steps[4].Name != "judge" || !v.Steps[4].OK || v.Plugin != "noop" || v.ABIVersion != 1 {
			t.Errorf("verify --json = %+v", v)
		}
	})
	t.Run("verify refuses bad configuration", func(t *testing.T) {
		out, errOut, code := c.run("plugin", "verify", wasm["fewshot"], "--set", "k=many")
		if code != exitFailure || !strings.Contains(out, "align     FAIL") ||
			!strings.Contains(errOut, `config key "k": "many" is not an integer`) {
			t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
		}
	})
	t.Run("usage", func(t *testing.T) {
		c.fail(exitUsage, "plugin", "verify", wasm["noop"], "--set", "novalue")
		c.fail(exitUsage, "plugin", "inspect")
	})
}
