package purge

import (
	"os/exec"
	"strings"
	"testing"
)

// purge is a leaf package (docs/design.md): neither it nor its tests may import
// any other package of module edged but the shared internals (edged/internal/).
func TestImportsNothingOfOurs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if (p == "edged" || strings.HasPrefix(p, "edged/")) && !isSelf(p) && !strings.HasPrefix(p, "edged/internal/") {
			t.Errorf("purge depends on %s; leaf packages import nothing of ours", p)
		}
	}
}

// isSelf reports whether go list named this package or one of its test
// variants ("edged/purge [edged/purge.test]", "edged/purge.test").
func isSelf(p string) bool {
	p, _, _ = strings.Cut(p, " ")
	switch p {
	case "edged/purge", "edged/purge_test", "edged/purge.test":
		return true
	}
	return false
}
