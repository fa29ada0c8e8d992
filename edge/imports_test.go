package edge

import (
	"os/exec"
	"strings"
	"testing"
)

// docs/design.md: edge never imports purge; the binary connects the purge bus to
// the store.
func TestEdgeDoesNotImportPurge(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "edged/edge").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "edged/purge" || strings.HasPrefix(dep, "edged/purge/") || strings.HasPrefix(dep, "edged/tools/") {
			t.Errorf("edge imports %s, which docs/design.md forbids", dep)
		}
	}
}
