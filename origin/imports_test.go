package origin

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoInternalImports enforces docs/design.md: origin is a leaf package and
// imports nothing of module edged but the shared internals (edged/internal/).
func TestNoInternalImports(t *testing.T) {
	// go test puts its own go tool first on PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const self = "edged/origin"
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, self) {
		t.Fatalf("go list output %q does not name %s; the check would prove nothing", out, self)
	}
	for _, dep := range deps {
		if dep != self && (dep == "edged" || strings.HasPrefix(dep, "edged/")) && !strings.HasPrefix(dep, "edged/internal/") {
			t.Errorf("%s imports %s; leaf packages import nothing of ours", self, dep)
		}
	}
}
