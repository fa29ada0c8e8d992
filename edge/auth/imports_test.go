package auth

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfOurs keeps auth a self-contained library: it imports
// no package of module edged, so edge and the binary can both use it.
func TestImportsNothingOfOurs(t *testing.T) {
	const self = "edged/edge/auth"
	out, err := exec.Command("go", "list", "-deps", self).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if (p == "edged" || strings.HasPrefix(p, "edged/")) && p != self {
			t.Errorf("%s imports %s", self, p)
		}
	}
}
