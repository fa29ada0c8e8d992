package access

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"edged/internal/fielderr"
	"edged/internal/prefixset"
)

// ErrInvalidRules is wrapped by every Compile error; the message names the
// field, for example "access: Windows[1].From: ...".
var ErrInvalidRules = errors.New("access: invalid rules")

// Policy is compiled Rules; immutable and safe for concurrent use.
type Policy struct {
	allow, deny prefixset.Set
	denyPaths   []string
	agents      []string // lower-cased
	windows     []window
}

type window struct {
	paths    []string
	days     [7]bool // indexed by time.Weekday; all true when Days was empty
	from, to int     // minutes since midnight; to in 1..1440
	loc      *time.Location
	allow    bool // ActionAllow: refuse outside the window
}

// Compile validates r (Rules.Validate: every problem, each naming its
// field) and returns its Policy.
func Compile(r Rules) (*Policy, error) {
	if err := r.Validate(); err != nil {
		return nil, fielderr.Prefix("access: ", err)
	}
	p := &Policy{denyPaths: compilePaths(r.DenyPaths)}
	var err error
	if p.allow, err = newPrefixSet("Allow", r.Allow); err != nil {
		return nil, err
	}
	if p.deny, err = newPrefixSet("Deny", r.Deny); err != nil {
		return nil, err
	}
	for _, a := range r.BlockUserAgents {
		p.agents = append(p.agents, strings.ToLower(a))
	}
	for _, w := range r.Windows {
		p.windows = append(p.windows, compileWindow(w))
	}
	return p, nil
}

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidRules, field, fmt.Sprintf(format, args...))
}

// compilePaths canonicalizes validated path prefixes.
func compilePaths(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		out = append(out, canonicalRule(p))
	}
	return out
}

// compileWindow compiles a validated window.
func compileWindow(w Window) window {
	cw := window{loc: w.Location, paths: compilePaths(w.Paths), allow: w.Action == ActionAllow}
	if cw.loc == nil {
		cw.loc = time.UTC
	}
	cw.from, _ = clock(w.From, false)
	cw.to, _ = clock(w.To, true)
	for _, d := range w.Days {
		cw.days[d] = true
	}
	if len(w.Days) == 0 {
		cw.days = [7]bool{true, true, true, true, true, true, true}
	}
	return cw
}
