package access

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// Compile validates r and returns its Policy.
func Compile(r Rules) (*Policy, error) {
	p := &Policy{}
	var err error
	if p.allow, err = newPrefixSet("Allow", r.Allow); err != nil {
		return nil, err
	}
	if p.deny, err = newPrefixSet("Deny", r.Deny); err != nil {
		return nil, err
	}
	if p.denyPaths, err = compilePaths("DenyPaths", r.DenyPaths); err != nil {
		return nil, err
	}
	if p.agents, err = compileAgents(r.BlockUserAgents); err != nil {
		return nil, err
	}
	for i, w := range r.Windows {
		cw, err := compileWindow(fmt.Sprintf("Windows[%d]", i), w)
		if err != nil {
			return nil, err
		}
		p.windows = append(p.windows, cw)
	}
	return p, nil
}

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidRules, field, fmt.Sprintf(format, args...))
}

func compilePaths(field string, paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for i, p := range paths {
		if !strings.HasPrefix(p, "/") {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "path prefix %q must start with /", p)
		}
		// Requests are matched without ;params and dot segments, so a rule
		// with them would silently mean another prefix ("/a;x" is "/a",
		// "/a/.." is "/"): the operator writes the path meant.
		if strings.ContainsAny(p, `;\`) || hasDotSegment(separators(decodeAll(p))) {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "path prefix %q has a ;parameter, a backslash or a dot segment; write the plain path it stands for", p)
		}
		out = append(out, canonicalRule(p))
	}
	return out, nil
}

func compileAgents(agents []string) ([]string, error) {
	out := make([]string, 0, len(agents))
	for i, a := range agents {
		if a == "" {
			return nil, fieldErr(fmt.Sprintf("BlockUserAgents[%d]", i), "empty substring would block every client")
		}
		out = append(out, strings.ToLower(a))
	}
	return out, nil
}

func compileWindow(field string, w Window) (window, error) {
	cw := window{loc: w.Location}
	if cw.loc == nil {
		cw.loc = time.UTC
	}
	var err error
	if cw.paths, err = compilePaths(field+".Paths", w.Paths); err != nil {
		return window{}, err
	}
	if cw.from, err = parseClock(w.From, false); err != nil {
		return window{}, fieldErr(field+".From", "%v", err)
	}
	if cw.to, err = parseClock(w.To, true); err != nil {
		return window{}, fieldErr(field+".To", "%v", err)
	}
	if cw.from == cw.to%(24*60) {
		return window{}, fieldErr(field+".To", "equals From (%q): an empty or a full day is ambiguous", w.From)
	}
	switch w.Action {
	case "", ActionDeny:
	case ActionAllow:
		cw.allow = true
	default:
		return window{}, fieldErr(field+".Action", "%q: want %q or %q", w.Action, ActionDeny, ActionAllow)
	}
	for i, d := range w.Days {
		if d < time.Sunday || d > time.Saturday {
			return window{}, fieldErr(fmt.Sprintf("%s.Days[%d]", field, i), "weekday %d out of range", d)
		}
		cw.days[d] = true
	}
	if len(w.Days) == 0 {
		cw.days = [7]bool{true, true, true, true, true, true, true}
	}
	return cw, nil
}

// parseClock parses "HH:MM" into minutes since midnight; "24:00" only when
// end is true.
func parseClock(s string, end bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) != 2 || len(mm) != 2 {
		return 0, fmt.Errorf("%q: want HH:MM", s)
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || hh[0] == '+' || mm[0] == '+' {
		return 0, fmt.Errorf("%q: want HH:MM", s)
	}
	if h == 24 && m == 0 && end {
		return 24 * 60, nil
	}
	if h > 23 {
		return 0, fmt.Errorf("%q: hour out of range", s)
	}
	return h*60 + m, nil
}
