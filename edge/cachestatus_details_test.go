package edge

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCacheStatusDetailsDocumented keeps README.md's table of Cache-Status
// detail values (RFC 9211 §2.8) equal to what the code sends: the constants
// of edge/policy/details.go. It fails when a constant has no row, when a row
// names no constant, when a constant is never used, and when code under
// edge/ writes a detail as a string literal (Detail: "x", x.Detail = "x",
// x.reason = "x", a literal reason returned by policy.Storable), so a new
// detail cannot skip the list, nor can a detail constant declared elsewhere. To add one: a constant in details.go, a row
// in the README table.
func TestCacheStatusDetailsDocumented(t *testing.T) {
	consts := detailConstants(t, "policy/details.go")
	if len(consts) < 30 {
		t.Fatalf("found only %d detail constants in policy/details.go", len(consts))
	}
	documented := readmeDetails(t, "../README.md")
	values := make(map[string]bool)
	for name, v := range consts {
		values[v] = true
		if !documented[v] {
			t.Errorf("detail %q (policy.%s) has no row in README.md's Cache-Status detail table", v, name)
		}
	}
	for v := range documented {
		if !values[v] {
			t.Errorf("README.md documents detail %q, which is no constant of edge/policy/details.go", v)
		}
	}
	used := make(map[string]bool)
	for _, lit := range scanDetailUses(t, ".", used) {
		t.Errorf("%s: Cache-Status detail %s written as a literal: use a constant of edge/policy/details.go (and document it in README.md)", lit.pos, lit.value)
	}
	for name := range consts {
		if !used[name] {
			t.Errorf("policy.%s is never sent: remove it and its README row, or use it", name)
		}
	}
}

// detailConstants returns the Detail* string constants of a Go file by name.
func detailConstants(tb testing.TB, file string) map[string]string {
	tb.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]string)
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if v, ok := stringLit(vs.Values[i]); ok && strings.HasPrefix(name.Name, "Detail") {
					out[name.Name] = v
				}
			}
		}
	}
	return out
}

// readmeDetails returns the first column of the table whose header is
// "| detail |".
func readmeDetails(tb testing.TB, file string) map[string]bool {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]bool)
	in := false
	cell := regexp.MustCompile("^\\| `([^`]+)` \\|")
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "| detail |"):
			in = true
		case in && strings.HasPrefix(line, "|---"):
		case in && strings.HasPrefix(line, "|"):
			m := cell.FindStringSubmatch(line)
			if m == nil {
				tb.Errorf("README.md detail row without a `value` first: %s", line)
				continue
			}
			out[m[1]] = true
		case in:
			return out
		}
	}
	if !in {
		tb.Fatal("README.md has no table with a | detail | header")
	}
	return out
}

type detailLiteral struct {
	pos   token.Position
	value string
}

// scanDetailUses parses every non-test Go file under dir and returns the
// string literals written where a Cache-Status detail goes; it records in
// used the Detail* constants the files name.
func scanDetailUses(tb testing.TB, dir string, used map[string]bool) []detailLiteral {
	tb.Helper()
	fset := token.NewFileSet()
	var found []detailLiteral
	lit := func(e ast.Expr) {
		if v, ok := stringLit(e); ok && v != "" {
			found = append(found, detailLiteral{fset.Position(e.Pos()), strconv.Quote(v)})
		}
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && d.Name() == "testdata" {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || path == filepath.Join("policy", "details.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Ident:
				if strings.HasPrefix(n.Name, "Detail") {
					used[n.Name] = true
				}
			case *ast.SelectorExpr:
				if strings.HasPrefix(n.Sel.Name, "Detail") {
					used[n.Sel.Name] = true
				}
			case *ast.KeyValueExpr:
				if isDetailName(n.Key) {
					lit(n.Value)
				}
			case *ast.AssignStmt:
				for i, lhs := range n.Lhs {
					if isDetailName(lhs) && len(n.Rhs) == len(n.Lhs) {
						lit(n.Rhs[i])
					}
				}
			case *ast.BinaryExpr:
				if n.Op == token.EQL || n.Op == token.NEQ {
					if isDetailName(n.X) {
						lit(n.Y)
					}
					if isDetailName(n.Y) {
						lit(n.X)
					}
				}
			case *ast.GenDecl:
				// A detail constant of its own (the WebSocket handshake's
				// "websocket" was one) escaped both the README table and
				// the literal checks above.
				if n.Tok != token.CONST {
					break
				}
				for _, spec := range n.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) && strings.HasPrefix(strings.ToLower(name.Name), "detail") {
							lit(vs.Values[i])
						}
					}
				}
			case *ast.FuncDecl:
				if n.Name.Name == "Storable" && n.Body != nil {
					ast.Inspect(n.Body, func(m ast.Node) bool {
						if r, ok := m.(*ast.ReturnStmt); ok && len(r.Results) == 2 {
							lit(r.Results[1])
						}
						return true
					})
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return found
}

// isDetailName reports whether e names where a detail is kept: a Detail
// field (policy.CacheStatus, policy.Decision) or a fill's reason.
func isDetailName(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name == "Detail"
	case *ast.SelectorExpr:
		return slices.Contains([]string{"Detail", "reason"}, e.Sel.Name)
	}
	return false
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	v, err := strconv.Unquote(bl.Value)
	return v, err == nil
}
