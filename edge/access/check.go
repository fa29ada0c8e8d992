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
	for i := range p.windows {
		w := &p.windows[i]
		if len(w.paths) > 0 && !matchForms(w.paths, path, readings) {
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
