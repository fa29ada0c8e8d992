// Package importrules states who may import whom in module edged (the table
// of docs/design.md) once, as data, and checks a list of packages against
// it. Its test runs the check on the whole repository, tests included
// (go list -deps -test -json edged/...): it replaces the copy of an import
// test each package used to keep.
//
// The rules, each with the sentence a violation prints:
//   - the leaves (storage, edge/policy, origin, purge) import nothing of ours
//     but internal/;
//   - the libraries edge and the binary share (edge/access, edge/auth,
//     edge/clientip, edge/compress, edge/fastserve, edge/ratelimit, edge/strictconn, edge/waf)
//     likewise, and
//     edge/compress needs nothing outside the standard library but brotli;
//   - internal/ imports nothing of ours but internal/;
//   - edge never imports purge (the binary connects the purge bus to the
//     store), nor tools or bench;
//   - tools never import edge's internals (edge/internal, the binary), and
//     import only the public packages (purge, storage, edge/config,
//     edge/policy, internal/), but for tools/pathcount, which measures the
//     handler.
//
// A package may always import packages of its own tree (storage/x may import
// storage). Dependencies count transitively: a rule is broken by a package
// that imports one that depends on the forbidden one, and the message says
// through which.
package importrules

import (
	"fmt"
	"strings"
)

// Module is the module path whose packages the rules speak of.
const Module = "edged"

// Rule constrains the dependencies of the packages it governs. Patterns are
// import paths, or a path ending in "/..." for that package and every
// package below it.
type Rule struct {
	// Govern are the packages the rule applies to; Except are exempted.
	Govern, Except []string
	// Allow, when non-nil, are the only packages of Module the governed
	// ones may depend on (besides their own tree).
	Allow []string
	// Deny are packages of Module the governed ones must never depend on.
	Deny []string
	// ThirdParty, when non-nil, are the only packages outside Module and
	// the standard library the governed ones may depend on.
	ThirdParty []string
	// Direct limits the rule to direct imports; otherwise every
	// dependency counts, however indirect.
	Direct bool
	// Why is the rule as docs/design.md states it.
	Why string
}

// Table is the import rules of docs/design.md.
func Table() []Rule {
	return []Rule{
		{
			Govern: []string{"edged/storage/...", "edged/edge/policy/...", "edged/origin/...", "edged/purge/..."},
			Allow:  []string{"edged/internal/..."},
			Why:    "leaf packages (storage, edge/policy, origin, purge) import nothing of ours but internal/",
		},
		{
			Govern: []string{"edged/edge/access/...", "edged/edge/accesslog/...", "edged/edge/auth/...", "edged/edge/clientip/...", "edged/edge/compress/...",
				"edged/edge/cors/...", "edged/edge/fastserve/...", "edged/edge/ratelimit/...", "edged/edge/strictconn/...", "edged/edge/waf/..."},
			Allow: []string{"edged/internal/..."},
			Why:   "the libraries edge and the binary both use import nothing of ours but internal/",
		},
		{
			Govern: []string{"edged/edge/forward/rules/..."},
			Allow:  []string{"edged/edge/access/...", "edged/internal/..."},
			Why:    "the forward proxy's rules are a library the proxy and edge/config share: of ours they use edge/access's time windows and internal/",
		},
		{
			Govern:     []string{"edged/edge/compress/..."},
			ThirdParty: []string{"github.com/andybalholm/brotli/..."},
			Why:        "edge/compress needs nothing beyond the standard library and brotli",
		},
		{
			Govern: []string{"edged/internal/..."},
			Allow:  []string{"edged/internal/..."},
			Why:    "internal/ holds what the leaves share and imports nothing else of ours",
		},
		{
			// edge/config composes the options of every package it
			// configures; the binary wires everything.
			Govern: []string{"edged/edge/..."},
			Except: []string{"edged/edge/cmd/...", "edged/edge/config/..."},
			Deny:   []string{"edged/purge/...", "edged/tools/...", "edged/bench/..."},
			Why:    "edge never imports purge (the binary connects the purge bus to the store), tools or bench",
		},
		{
			Govern: []string{"edged/tools/..."},
			Deny:   []string{"edged/edge/internal/...", "edged/edge/cmd/..."},
			Why:    "tools never import edge internals",
		},
		{
			// edge/config imports edge, hence Direct. tools/pathcount
			// measures the request path, so it drives edge's exported API.
			Govern: []string{"edged/tools/..."},
			Except: []string{"edged/tools/pathcount/..."},
			Allow:  []string{"edged/purge/...", "edged/storage/...", "edged/edge/config", "edged/edge/policy/...", "edged/internal/..."},
			Direct: true,
			Why:    "tools use the public packages (purge, storage, edge/config, edge/policy, internal/), not the edge handler",
		},
	}
}

// Package is what the check needs of one package, as go list -json reports
// it. Test variants ("p [p.test]", "p_test [p.test]") count as p.
type Package struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
}

// Violation is one forbidden dependency.
type Violation struct {
	Package string // the package that breaks the rule
	Dep     string // what it must not depend on
	Via     string // the direct import that brings Dep in; "" if Dep is one
	Why     string // the rule
}

func (v Violation) String() string {
	if v.Via == "" {
		return fmt.Sprintf("%s imports %s: %s (docs/design.md)", v.Package, v.Dep, v.Why)
	}
	return fmt.Sprintf("%s imports %s, which depends on %s: %s (docs/design.md)", v.Package, v.Via, v.Dep, v.Why)
}

// Check returns every violation of rules by the packages of Module in pkgs,
// and an error naming each rule that governs none of them (a renamed
// package must not slip out of the table unnoticed). pkgs must hold every
// dependency too (go list -deps), so third-party ones can be told from the
// standard library.
func Check(pkgs []Package, rules []Rule) ([]Violation, error) {
	byPath := make(map[string]*Package, len(pkgs))
	for i := range pkgs {
		byPath[pkgs[i].ImportPath] = &pkgs[i]
	}
	governs := make([]bool, len(rules))
	seen := make(map[Violation]bool)
	var out []Violation
	for _, p := range pkgs {
		self := base(p.ImportPath)
		if !inModule(self) || strings.HasSuffix(self, ".test") {
			continue // not ours, or a generated test main
		}
		for i, r := range rules {
			if !matchAny(r.Govern, self) || matchAny(r.Except, self) {
				continue
			}
			governs[i] = true
			deps := p.Deps
			if r.Direct {
				deps = p.Imports
			}
			for _, dep := range deps {
				d := base(dep)
				if d == self || !forbidden(r, self, d, byPath[dep]) {
					continue
				}
				v := Violation{Package: self, Dep: d, Via: via(p, dep, byPath), Why: r.Why}
				if !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
			}
		}
	}
	var errs []string
	for i, r := range rules {
		if !governs[i] {
			errs = append(errs, fmt.Sprintf("rule %q governs no package of %v", r.Why, r.Govern))
		}
	}
	if errs != nil {
		return out, fmt.Errorf("importrules: the table is out of date: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// forbidden reports whether r forbids self (governed by r) to depend on dep.
func forbidden(r Rule, self, dep string, p *Package) bool {
	if !inModule(dep) {
		standard := p != nil && p.Standard
		return r.ThirdParty != nil && !standard && !matchAny(r.ThirdParty, dep)
	}
	if matchAny(r.Deny, dep) {
		return true
	}
	if r.Allow == nil || matchAny(r.Allow, dep) {
		return false
	}
	// Its own tree: the pattern of r that governs self also covers dep.
	for _, pat := range r.Govern {
		if match(pat, self) && match(pat, dep) {
			return false
		}
	}
	return true
}

// via is p's direct import that is dep or depends on it; "" if dep is one.
func via(p Package, dep string, byPath map[string]*Package) string {
	for _, imp := range p.Imports {
		if imp == dep {
			return ""
		}
	}
	for _, imp := range p.Imports {
		if q := byPath[imp]; q != nil {
			for _, d := range q.Deps {
				if d == dep {
					return base(imp)
				}
			}
		}
	}
	return ""
}

// base is the package a go list name stands for: "p [p.test]" and
// "p_test [p.test]" (a package compiled for its tests, an external test
// package) are p.
func base(importPath string) string {
	p, _, _ := strings.Cut(importPath, " ")
	return strings.TrimSuffix(p, "_test")
}

func inModule(p string) bool { return p == Module || strings.HasPrefix(p, Module+"/") }

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if match(pat, p) {
			return true
		}
	}
	return false
}

// match reports whether p is pattern, or, for "x/...", x or below x.
func match(pattern, p string) bool {
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == tree || strings.HasPrefix(p, tree+"/")
	}
	return p == pattern
}
