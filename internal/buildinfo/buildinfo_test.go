package buildinfo

import (
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestReadInTestBinary(t *testing.T) {
	b := Read()
	if b.GoVersion != runtime.Version() || b.Version == "" || b.Revision == "" {
		t.Errorf("Read() = %+v", b)
	}
	line := b.Line("prog")
	if !strings.HasPrefix(line, "prog "+b.Version+" (revision "+b.Revision+", go") {
		t.Errorf("Line = %q", line)
	}
}

// TestNoInternalImports enforces docs/design.md: internal/ imports nothing
// else of ours.
func TestNoInternalImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const self = "edged/internal/buildinfo"
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, self) {
		t.Fatalf("go list output %q does not name %s", out, self)
	}
	for _, dep := range deps {
		if dep != self && strings.HasPrefix(dep, "edged/") {
			t.Errorf("%s imports %s", self, dep)
		}
	}
}

// TestEveryBinaryAnswersVersion builds edged and every tool and
// runs it with -version: issue 15 asks for it everywhere, and a new tool
// that forgets it fails here.
func TestEveryBinaryAnswersVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every command; skipped with -short")
	}
	out, err := exec.Command("go", "list", "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "edged/edge/cmd/...", "edged/tools/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	cmds := strings.Fields(string(out))
	if len(cmds) < 3 {
		t.Fatalf("go list found only %q", cmds)
	}
	dir := t.TempDir()
	if out, err := exec.Command("go", append([]string{"build", "-o", dir + "/"}, cmds...)...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, cmd := range cmds {
		name := cmd[strings.LastIndex(cmd, "/")+1:]
		out, err := exec.Command(dir+"/"+name, "-version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), name+" ") || !strings.Contains(string(out), "(revision ") {
			t.Errorf("%s -version: %v, %q", name, err, out)
		}
	}
}
