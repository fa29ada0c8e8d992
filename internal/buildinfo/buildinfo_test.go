package buildinfo

import (
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestReadInTestBinary(t *testing.T) {
	b := Read()
	if b.GoVersion != runtime.Version() || b.Version == "" || b.Revision == "" {
		t.Errorf("Read() = %+v", b)
	}
	line := b.Line("prog")
	if !strings.HasPrefix(line, "prog "+b.Version+" (revision "+b.Revision+", go") {
		t.Errorf("Line = %q", line)
	}
}

// TestNoInternalImports enforces docs/design.md: internal/ imports nothing
// else of ours.
func TestNoInternalImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const self = "edged/internal/buildinfo"
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, self) {
		t.Fatalf("go list output %q does not name %s", out, self)
	}
	for _, dep := range deps {
		if dep != self && strings.HasPrefix(dep, "edged/") {
			t.Errorf("%s imports %s", self, dep)
		}
	}
}
