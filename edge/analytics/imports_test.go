package analytics

import (
	"os/exec"
	"strings"
	"testing"
)

// docs/design.md: edge/analytics is a leaf; the binary feeds it from edge.
func TestImportsNothingOfOurs(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "edged/edge/analytics").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "edged/") && dep != "edged/edge/analytics" {
			t.Errorf("edge/analytics imports %s; docs/design.md says it imports nothing of ours", dep)
		}
	}
}
