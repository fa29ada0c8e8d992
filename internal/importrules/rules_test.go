package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestRepository checks every package of the module, its tests included,
// against Table.
func TestRepository(t *testing.T) {
	pkgs := goList(t, "edged/...")
	if !slices.ContainsFunc(pkgs, func(p Package) bool { return p.ImportPath == "edged/storage" }) {
		t.Fatalf("go list named no edged/storage among %d packages: the check would prove nothing", len(pkgs))
	}
	violations, err := Check(pkgs, Table())
	if err != nil {
		t.Error(err)
	}
	for _, v := range violations {
		t.Error(v)
	}
}

// goList runs go list -deps -test -json on pattern.
func goList(t *testing.T, pattern string) []Package {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-deps", "-test", "-json=ImportPath,Standard,Imports,Deps,Error", pattern)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Package
			Error *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p.Package)
	}
	return pkgs
}

// TestCheckFails proves the check can fail: a synthetic module breaks
// every rule once, and each break is reported, naming the package, the
// forbidden import and the way it came in.
func TestCheckFails(t *testing.T) {
	std := func(path string) Package { return Package{ImportPath: path, Standard: true} }
	pkgs := []Package{
		std("fmt"), std("unsafe"),
		{ImportPath: "github.com/andybalholm/brotli"},
		{ImportPath: "github.com/klauspost/compress/zstd"},
		{ImportPath: "edged/internal/ascii", Imports: []string{"unsafe"}, Deps: []string{"unsafe"}},
		{ImportPath: "edged/internal/bad", Imports: []string{"edged/origin"}, Deps: []string{"edged/origin"}},
		{ImportPath: "edged/origin", Imports: []string{"edged/internal/ascii", "fmt"}, Deps: []string{"edged/internal/ascii", "fmt", "unsafe"}},
		// A leaf's test imports another leaf.
		{ImportPath: "edged/storage [edged/storage.test]", Imports: []string{"edged/origin"}, Deps: []string{"edged/internal/ascii", "edged/origin", "fmt", "unsafe"}},
		{ImportPath: "edged/storage.test", Imports: []string{"edged/storage [edged/storage.test]"}, Deps: []string{"edged/origin", "edged/storage [edged/storage.test]"}},
		// A leaf's subpackage may use its own tree, not another leaf.
		{ImportPath: "edged/purge/wire", Imports: []string{"edged/purge"}, Deps: []string{"edged/purge"}},
		{ImportPath: "edged/purge", Imports: []string{"edged/edge/policy"}, Deps: []string{"edged/edge/policy"}},
		{ImportPath: "edged/edge/policy", Imports: []string{"edged/internal/ascii"}, Deps: []string{"edged/internal/ascii", "unsafe"}},
		{ImportPath: "edged/edge/compress", Imports: []string{"github.com/andybalholm/brotli", "github.com/klauspost/compress/zstd"},
			Deps: []string{"github.com/andybalholm/brotli", "github.com/klauspost/compress/zstd"}},
		// The forward rules may use edge/access, not origin.
		{ImportPath: "edged/edge/forward/rules", Imports: []string{"edged/edge/access", "edged/origin"}, Deps: []string{"edged/edge/access", "edged/origin", "edged/internal/ascii"}},
		{ImportPath: "edged/edge/access"}, {ImportPath: "edged/edge/auth"}, {ImportPath: "edged/edge/clientip"}, {ImportPath: "edged/edge/ratelimit"},
		// edge reaches purge through a package no rule governs.
		{ImportPath: "edged/edge", Imports: []string{"edged/edge/policy", "edged/glue"}, Deps: []string{"edged/edge/policy", "edged/glue", "edged/purge", "edged/internal/ascii", "unsafe"}},
		{ImportPath: "edged/glue", Imports: []string{"edged/purge"}, Deps: []string{"edged/purge", "edged/edge/policy"}},
		{ImportPath: "edged/edge/cmd/edged", Imports: []string{"edged/purge", "edged/edge"}, Deps: []string{"edged/purge", "edged/edge"}},
		{ImportPath: "edged/tools/edgectl_test [edged/tools/edgectl.test]", Imports: []string{"edged/edge", "edged/edge/internal/framingtest"},
			Deps: []string{"edged/edge", "edged/edge/internal/framingtest"}},
		{ImportPath: "edged/tools/pathcount", Imports: []string{"edged/edge"}, Deps: []string{"edged/edge"}},
		// edge/config depends on edge: a tool may import it all the same.
		{ImportPath: "edged/tools/demo", Imports: []string{"edged/edge/config"}, Deps: []string{"edged/edge/config", "edged/edge"}},
	}
	got, err := Check(pkgs, Table())
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, v := range got {
		lines = append(lines, v.String())
	}
	want := []string{
		"edged/internal/bad imports edged/origin: internal/ holds what the leaves share and imports nothing else of ours (docs/design.md)",
		"edged/storage imports edged/origin: leaf packages (storage, edge/policy, origin, purge) import nothing of ours but internal/ (docs/design.md)",
		"edged/purge imports edged/edge/policy: leaf packages (storage, edge/policy, origin, purge) import nothing of ours but internal/ (docs/design.md)",
		"edged/edge/forward/rules imports edged/origin: the forward proxy's rules are a library the proxy and edge/config share: of ours they use edge/access's time windows and internal/ (docs/design.md)",
		"edged/edge/compress imports github.com/klauspost/compress/zstd: edge/compress needs nothing beyond the standard library and brotli (docs/design.md)",
		"edged/edge imports edged/glue, which depends on edged/purge: edge never imports purge (the binary connects the purge bus to the store), tools or bench (docs/design.md)",
		"edged/tools/edgectl imports edged/edge: tools use the public packages (purge, storage, edge/config, edge/policy, internal/), not the edge handler (docs/design.md)",
		"edged/tools/edgectl imports edged/edge/internal/framingtest: tools use the public packages (purge, storage, edge/config, edge/policy, internal/), not the edge handler (docs/design.md)",
		"edged/tools/edgectl imports edged/edge/internal/framingtest: tools never import edge internals (docs/design.md)",
	}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// A rule that governs nothing means the table went stale.
	if _, err := Check(pkgs[:4], Table()); err == nil || !strings.Contains(err.Error(), "governs no package") {
		t.Errorf("a module without the packages of the table: err %v", err)
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"edged/purge/...", "edged/purge", true},
		{"edged/purge/...", "edged/purge/wire", true},
		{"edged/purge/...", "edged/purgeable", false},
		{"edged/edge", "edged/edge", true},
		{"edged/edge", "edged/edge/policy", false},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.path); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
	for in, want := range map[string]string{
		"edged/storage":                           "edged/storage",
		"edged/storage [edged/storage.test]":      "edged/storage",
		"edged/storage_test [edged/storage.test]": "edged/storage",
	} {
		if got := base(in); got != want {
			t.Errorf("base(%q) = %q, want %q", in, got, want)
		}
	}
}
