package policy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfOurs enforces DESIGN.md: edge/policy is a leaf and
// imports no package of module edged.
func TestImportsNothingOfOurs(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "edged/edge/policy").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if (p == "edged" || strings.HasPrefix(p, "edged/")) && p != "edged/edge/policy" {
			t.Errorf("edged/edge/policy imports %s", p)
		}
	}
}
