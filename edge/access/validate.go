package access

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"edged/internal/fielderr"
)

// Validate reports every field of r that Compile refuses, each a
// [*fielderr.Error] naming the field ("Windows[1].From") and wrapping
// ErrInvalidRules, joined.
func (r Rules) Validate() error {
	var l fielderr.List
	validatePrefixes(&l, "Allow", r.Allow)
	validatePrefixes(&l, "Deny", r.Deny)
	validatePaths(&l, "DenyPaths", r.DenyPaths)
	for i, a := range r.BlockUserAgents {
		if strings.TrimSpace(a) == "" {
			l.Wrapf(fmt.Sprintf("BlockUserAgents[%d]", i), ErrInvalidRules, "empty: it would block every client")
		}
	}
	for i, w := range r.Windows {
		w.validate(&l, fmt.Sprintf("Windows[%d]", i))
	}
	return l.Err()
}

func validatePrefixes(l *fielderr.List, field string, ps []netip.Prefix) {
	for i, p := range ps {
		if !p.IsValid() {
			l.Wrapf(fmt.Sprintf("%s[%d]", field, i), ErrInvalidRules, "invalid network %q", p)
		}
	}
}

func validatePaths(l *fielderr.List, field string, paths []string) {
	for i, p := range paths {
		path := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !strings.HasPrefix(p, "/"):
			l.Wrapf(path, ErrInvalidRules, "must start with /, got %q", p)
		// Requests are matched without ;params and dot segments, so a rule
		// with them would silently mean another prefix ("/a;x" is "/a",
		// "/a/.." is "/"): the operator writes the path meant.
		case strings.ContainsAny(p, `;\`) || hasDotSegment(separators(decodeAll(p))):
			l.Wrapf(path, ErrInvalidRules, "path prefix %q has a ;parameter, a backslash or a dot segment; write the plain path it stands for", p)
		}
	}
}

func (w Window) validate(l *fielderr.List, field string) {
	validatePaths(l, field+".Paths", w.Paths)
	for i, d := range w.Days {
		if d < time.Sunday || d > time.Saturday {
			l.Wrapf(fmt.Sprintf("%s.Days[%d]", field, i), ErrInvalidRules, "weekday %d out of range", d)
		}
	}
	from, fromErr := clock(w.From, false)
	if fromErr != "" {
		l.Wrapf(field+".From", ErrInvalidRules, "%s", fromErr)
	}
	to, toErr := clock(w.To, true)
	if toErr != "" {
		l.Wrapf(field+".To", ErrInvalidRules, "%s", toErr)
	}
	// "09:00" to "09:00" could mean no time or the whole day; "00:00" to
	// "24:00" says the whole day (of the listed days) and is taken.
	if fromErr == "" && toErr == "" && from == to {
		l.Wrapf(field+".To", ErrInvalidRules, "equals from (%q): an empty or a whole-day window is ambiguous (write \"00:00\" to \"24:00\" for whole days, leave the window out, or deny the paths at all times)", w.From)
	}
	switch w.Action {
	case "", ActionDeny, ActionAllow:
	default:
		l.Wrapf(field+".Action", ErrInvalidRules, "must be deny or allow, got %q", w.Action)
	}
}

// clock reads "HH:MM" as minutes since midnight; "24:00" only when end is
// true. The message is "" when s is valid.
func clock(s string, end bool) (int, string) {
	if s == "" {
		return 0, `required: a time "HH:MM"`
	}
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	switch {
	case !ok || len(hh) != 2 || len(mm) != 2 || err1 != nil || err2 != nil || hh[0] == '+' || mm[0] == '+':
		return 0, fmt.Sprintf("invalid time %q: want HH:MM (24-hour clock)", s)
	case h == 24 && m == 0 && end:
		return 24 * 60, ""
	case h < 0 || h > 23 || m < 0 || m > 59:
		return 0, fmt.Sprintf("invalid time %q: hours 00-23, minutes 00-59 (24:00 only in to)", s)
	}
	return h*60 + m, ""
}
