package access

import (
	"net/netip"
	"time"

	"edged/internal/ascii"
)

// Check reports whether a request from ip for path with userAgent may
// proceed at now; when it may not, reason is one of the Reason constants.
func (p *Policy) Check(ip netip.Addr, path, userAgent string, now time.Time) (ok bool, reason string) {
	ip = ip.Unmap().WithZone("")
	if p.deny.Contains(ip) {
		return false, ReasonNetworkDenied
	}
	if len(p.allow) > 0 && !p.allow.Contains(ip) {
		return false, ReasonNetworkNotAllowed
	}
	readings := Readings(path)
	if matchForms(p.denyPaths, path, readings) {
		return false, ReasonPathDenied
	}
	for _, a := range p.agents {
		if ascii.ContainsFold(userAgent, a) {
			return false, ReasonUserAgentBlocked
		}
	}
	return p.checkWindows(path, readings, now, false)
}

// CheckPath is Check's verdict on another path of a request Check let
// through: its path rules only (DenyPaths, and the windows that name
// paths), since the client, user agent and pathless windows were judged
// already. A route that sends the origin another path than the client's
// asks it of that path, without judging the rest twice.
func (p *Policy) CheckPath(path string, now time.Time) (ok bool, reason string) {
	readings := Readings(path)
	if matchForms(p.denyPaths, path, readings) {
		return false, ReasonPathDenied
	}
	return p.checkWindows(path, readings, now, true)
}

// checkWindows applies the windows that cover path (with pathsOnly, only
// those that name paths) at now.
func (p *Policy) checkWindows(path string, readings []string, now time.Time, pathsOnly bool) (ok bool, reason string) {
	for i := range p.windows {
		w := &p.windows[i]
		if len(w.paths) == 0 && pathsOnly || len(w.paths) > 0 && !matchForms(w.paths, path, readings) {
			continue
		}
		if w.inside(now) != w.allow {
			return false, ReasonWindowDenied
		}
	}
	return true, ""
}

// matchForms matches the path as given and every reading of it (Readings):
// a rule that refuses applies when any of them matches, the safe choice,
// for no one reading is every origin's.
func matchForms(prefixes []string, path string, readings []string) bool {
	if matchAny(prefixes, path) {
		return true
	}
	for _, r := range readings {
		if matchAny(prefixes, r) {
			return true
		}
	}
	return false
}

// inside reports whether now falls in the window.
func (w *window) inside(now time.Time) bool {
	return InWeeklyWindow(now, w.loc, &w.days, w.from, w.to)
}
