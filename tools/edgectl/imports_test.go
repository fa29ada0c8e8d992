package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports enforces docs/design.md for tools: edgectl may use the
// public packages (purge, storage, edge/config, internal/) but never an
// edge internal, nor edge's handler directly.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{"edged/purge": true, "edged/storage": true, "edged/edge/config": true, "edged/internal/buildinfo": true}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "edged/") && !allowed[dep] {
			t.Errorf("edgectl imports %s; tools use public packages only (docs/design.md)", dep)
		}
	}
}
