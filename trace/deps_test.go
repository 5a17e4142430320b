package trace_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies checks the promise of the package doc: package trace is
// compiled into WebAssembly optimizers, so it imports only the standard
// library and package judge.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	allowed := map[string]bool{
		"github.com/alignhost/alignhost/trace": true,
		"github.com/alignhost/alignhost/judge": true,
	}
	for _, dep := range strings.Fields(string(out)) {
		if !allowed[dep] {
			t.Errorf("package trace depends on %s", dep)
		}
	}
}
