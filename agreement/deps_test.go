package agreement_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies checks the promise of the package doc: package agreement
// depends on the standard library only.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/alignhost/alignhost/agreement" {
			t.Errorf("package agreement depends on %s", dep)
		}
	}
}
