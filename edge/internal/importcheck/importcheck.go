// Package importcheck holds the import-rule check of edge's self-contained
// packages (docs/design.md: edge/policy, and the libraries edge and the binary
// both use): each package's own test calls NothingOfOurs with its path.
//
// It looks at the package's dependencies, not its test's, so a test may
// import this package. storage, origin and purge keep checks of their own:
// they sit outside edge, and storage's rule covers its tests too.
package importcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// NothingOfOurs fails t if the package self depends on any package of
// module edged but the shared internals (edged/internal/, DESIGN.md).
func NothingOfOurs(t *testing.T, self string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", self).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if (p == "edged" || strings.HasPrefix(p, "edged/")) && p != self && !strings.HasPrefix(p, "edged/internal/") {
			t.Errorf("%s imports %s, a package of module edged", self, p)
		}
	}
}
