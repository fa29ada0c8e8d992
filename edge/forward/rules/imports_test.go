package rules

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyAccess keeps rules a library that the proxy and the
// config loader both use: of module edged it imports edge/access alone
// (whose time windows it shares), which itself imports nothing of ours.
func TestImportsOnlyAccess(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "edged/edge/forward/rules").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "edged/edge/forward/rules", p == "edged/edge/access":
		case p == "edged", strings.HasPrefix(p, "edged/"):
			t.Errorf("rules imports %s; of module edged only edge/access is allowed", p)
		}
	}
}
