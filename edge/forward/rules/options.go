package rules

import "time"

// Actions of a rule and of Options.Default.
const (
	ActionAllow = "allow"
	ActionDeny  = "deny"
)

// Limit keys.
const (
	// KeyClient limits each client address (an IPv6 client per /64).
	KeyClient = "client"
	// KeyUser limits each authenticated user, and a client that sent no
	// credentials by its address.
	KeyUser = "user"
)

// Names a Decision carries when no configured rule decided; no rule may
// take them.
const (
	// DefaultRule: no rule matched and Options.Default decided.
	DefaultRule = "default"
	// LimitRule: the rules allowed the request, the request rate limit
	// refused it.
	LimitRule = "limits"
)

// reservedNames are the names of decisions no configured rule makes: ours,
// and those of the proxy's own refusals (client gate, authentication,
// CONNECT and HTTP ports, the SSRF gate, the tunnel cap), which share the 403
// page's header, the logs and the metric labels.
var reservedNames = []string{DefaultRule, LimitRule, "clients", "auth", "connect_ports", "http_ports", "destination", "tunnels"}

// Defaults for zero fields.
const (
	DefaultReloadInterval = 30 * time.Second
	DefaultMaxClients     = 10_000
	DefaultIdle           = 10 * time.Minute
)

// Options are the forward proxy's access rules and limits as configured.
// The YAML tags are the field names of the forward: section of edged's
// config; the zero value allows every request and limits nothing.
type Options struct {
	// List is the rules, evaluated in order; the first whose conditions
	// all hold decides (see the package doc).
	List []Rule `yaml:"list"`
	// Default is the action when no rule matches: "allow" (the default when
	// empty) or "deny". Which clients may use the proxy at all is the
	// forward package's client-network gate, checked before these rules.
	Default string `yaml:"default"`
	// Categories name sets of destination domains that rules refer to.
	Categories map[string]Category `yaml:"categories"`
	// Groups map a group name to its users, for rules' groups; the proxy
	// may also pass groups of its own in Request.Groups.
	Groups map[string][]string `yaml:"groups"`
	// ReloadInterval is how often the Engine looks at the list files' modification
	// times and sizes: a Go duration ("30s"); empty means 30s.
	ReloadInterval string `yaml:"reload_interval"`
	// Limits are per-client request rate and bandwidth limits.
	Limits Limits `yaml:"limits"`
}

// Rule allows or denies the requests that match every condition it sets.
// Conditions left empty match everything; a list condition holds when any
// of its values matches.
type Rule struct {
	// Name is required and unique: it is sent in the 403 page's header, and
	// used in logs and metrics. Letters, digits, "-", "_" and "." only.
	Name string `yaml:"name"`
	// Action is "allow" or "deny"; required.
	Action string `yaml:"action"`
	// Domains are destination host names: "example.com" (that name only),
	// "*.example.com" (names below it, not itself) or ".example.com" (the
	// name and every name below it).
	Domains []string `yaml:"domains"`
	// Categories are names of Options.Categories.
	Categories []string `yaml:"categories"`
	// DestNetworks are destination networks in CIDR form ("10.0.0.0/8") or
	// single addresses; they match the address actually dialled.
	DestNetworks []string `yaml:"dest_networks"`
	// Ports are destination ports ("443") or ranges ("8000-8999").
	Ports []string `yaml:"ports"`
	// ClientNetworks are client networks in CIDR form or single addresses.
	ClientNetworks []string `yaml:"client_networks"`
	// Users are authenticated user names (case-sensitive, as in htpasswd).
	Users []string `yaml:"users"`
	// Groups are group names of Options.Groups or of Request.Groups.
	Groups []string `yaml:"groups"`
	// Methods are request methods ("CONNECT", "GET"), compared exactly
	// (RFC 9110 §9.1: method names are case-sensitive).
	Methods []string `yaml:"methods"`
	// Time, when set, limits the rule to a weekly window.
	Time *Window `yaml:"time"`
}

// Window is a weekly recurring interval [From, To) of wall-clock time in a
// time zone.
type Window struct {
	// Days are the days the window opens: "mon" … "sun" (or full names),
	// "weekdays", "weekend"; empty means every day. A window that crosses
	// midnight ("22:00" to "06:00") belongs to the day it opens.
	Days []string `yaml:"days"`
	// From and To are "HH:MM"; To may be "24:00"; they must differ.
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Zone is an IANA time zone name ("Europe/Berlin"); empty means UTC.
	// Times are wall-clock times there, so the window follows daylight
	// saving time.
	Zone string `yaml:"zone"`
}

// Category is a named set of destination domains.
type Category struct {
	// Domains are written as in Rule.Domains.
	Domains []string `yaml:"domains"`
	// Files are plain lists: one domain per line, each matching the name and
	// every name below it (the form published category lists use), "*." and
	// "." prefixes allowed, "#" starting a comment, blank lines ignored.
	// They are read by Check and New, and re-read when they change.
	Files []string `yaml:"files"`
}

// Limits are per-client limits, applied to requests that the rules allow.
// A zero Rate or Bandwidth means no such limit.
type Limits struct {
	// Key is "client" (the default when empty) or "user".
	Key string `yaml:"key"`
	// Rate is the sustained requests (and CONNECT tunnels) per second per
	// client.
	Rate float64 `yaml:"rate"`
	// Burst is how many requests a client may make at once; empty means
	// max(1, Rate).
	Burst int `yaml:"burst"`
	// Bandwidth is the bytes per second per client, over all its bodies and
	// both directions of its tunnels together: "1MiB", "500KB", "65536".
	Bandwidth string `yaml:"bandwidth"`
	// MaxClients bounds the number of clients tracked; empty means 10000.
	// Past it the least recently seen client is forgotten (it comes back
	// with full buckets: the limit loosens, never tightens).
	MaxClients int `yaml:"max_clients"`
	// Idle is how long a client with nothing in flight is remembered: a Go
	// duration; empty means 10m.
	Idle string `yaml:"idle"`
}
