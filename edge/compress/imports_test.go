package compress

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfOurs keeps edge/compress a self-contained library: it
// imports the standard library and brotli, and no package of module edged
// but the shared internals (edged/internal/, DESIGN.md).
func TestImportsNothingOfOurs(t *testing.T) {
	const self = "edged/edge/compress"
	out, err := exec.Command("go", "list", "-deps",
		"-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", self).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == self, strings.HasPrefix(p, "edged/internal/"):
		case p == "edged" || strings.HasPrefix(p, "edged/"):
			t.Errorf("%s imports %s of module edged", self, p)
		case p == "github.com/andybalholm/brotli" || strings.HasPrefix(p, "github.com/andybalholm/brotli/"):
		default:
			t.Errorf("%s imports %s, beyond the standard library and brotli", self, p)
		}
	}
}
