package auth

import (
	"fmt"
	"slices"
	"strings"
)

// grants is what a token grants, read from its claims.
type grants struct {
	scopes, roles []string
}

// requirements are the scopes and roles a route needs; all of each.
type requirements struct {
	scopes, roles []string
	rolesPath     []string // the roles claim, split at dots
}

func (q requirements) empty() bool { return len(q.scopes) == 0 && len(q.roles) == 0 }

// check returns a *scopeError naming what claims lack, or nil.
func (q requirements) check(claims map[string]any) error {
	if q.empty() {
		return nil
	}
	g := grants{scopes: tokenScopes(claims), roles: stringsAt(claims, q.rolesPath)}
	e := &scopeError{}
	for _, s := range q.scopes {
		if !slices.Contains(g.scopes, s) {
			e.scopes = append(e.scopes, s)
		}
	}
	for _, r := range q.roles {
		if !slices.Contains(g.roles, r) {
			e.roles = append(e.roles, r)
		}
	}
	if len(e.scopes) == 0 && len(e.roles) == 0 {
		return nil
	}
	e.required = q.scopes
	return e
}

// tokenScopes reads "scope", a space-separated string (RFC 8693 §4.2, as
// RFC 6749 §3.3 defines scope), and "scp", which some issuers send as an
// array or a string.
func tokenScopes(claims map[string]any) []string {
	return append(stringList(claims["scope"]), stringList(claims["scp"])...)
}

// stringsAt reads the strings at a dotted claim path
// ("realm_access.roles"): nested JSON objects down to an array of strings
// or a space-separated string. Anything else holds no string.
func stringsAt(claims map[string]any, path []string) []string {
	var v any = claims
	for _, name := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[name]
	}
	return stringList(v)
}

// stringList reads a space-separated string or an array of strings; other
// elements are skipped, never turned into text.
func stringList(v any) []string {
	switch t := v.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// scopeError is an ErrInsufficientScope naming what the token lacks.
type scopeError struct {
	scopes, roles []string // missing
	required      []string // every required scope, for the challenge
}

func (e *scopeError) Error() string {
	var parts []string
	if len(e.scopes) > 0 {
		parts = append(parts, "missing scopes "+strings.Join(e.scopes, " "))
	}
	if len(e.roles) > 0 {
		parts = append(parts, "missing roles "+strings.Join(e.roles, " "))
	}
	return fmt.Sprintf("%v: %s", ErrInsufficientScope, strings.Join(parts, "; "))
}

func (e *scopeError) Unwrap() error { return ErrInsufficientScope }

// validScopeToken reports whether s is a scope-token (RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E )), so it can sit in a challenge's scope
// attribute (RFC 6750 §3).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
