package access

import (
	"net/netip"
	"time"
)

// Rules are the access rules of one site or route, as configured. The zero
// value allows everything.
type Rules struct {
	// Allow, when non-empty, is the only set of client networks that pass.
	Allow []netip.Prefix
	// Deny are refused client networks; Deny wins over Allow.
	Deny []netip.Prefix
	// DenyPaths are refused path prefixes, each starting with "/", matched on
	// segment boundaries (see the package doc).
	DenyPaths []string
	// BlockUserAgents are refused User-Agent substrings, case-insensitive
	// for ASCII letters; none may be empty.
	BlockUserAgents []string
	// Windows restrict paths by time of day and weekday.
	Windows []Window
}

// Window actions.
const (
	// ActionDeny refuses the window's paths while the clock is inside it.
	ActionDeny = "deny"
	// ActionAllow refuses the window's paths while the clock is outside it.
	ActionAllow = "allow"
)

// Window is a weekly recurring interval [From, To) that applies to some
// paths.
type Window struct {
	// Paths are path prefixes as in Rules.DenyPaths; empty means every path.
	Paths []string
	// Days are the weekdays on which the window opens; empty means every
	// day. A window that crosses midnight (From "22:00", To "06:00") belongs
	// to the day it opens: with Days [Friday] it covers Friday 22:00 to
	// Saturday 06:00.
	Days []time.Weekday
	// From and To are "HH:MM" wall-clock times in Location; To may be
	// "24:00". From must differ from To.
	From, To string
	// Location is the time zone of From and To; nil means UTC.
	Location *time.Location
	// Action is ActionDeny (the default when empty) or ActionAllow.
	Action string
}

// Reasons returned by Policy.Check with a refusal.
const (
	ReasonNetworkDenied     = "client network denied"
	ReasonNetworkNotAllowed = "client network not allowed"
	ReasonPathDenied        = "path denied"
	ReasonUserAgentBlocked  = "user agent blocked"
	ReasonWindowDenied      = "path closed at this time"
)
