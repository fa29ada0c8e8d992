package config

import (
	"cmp"
	"math"
	"os"
	"strings"
	"time"

	"edged/edge/auth"
	"edged/edge/ratelimit"
)

// Access is a route's access rules (edge/access): networks, paths, user
// agents and time windows. The zero value admits everyone.
type Access struct {
	// Allow, when non-empty, is the only set of client networks admitted.
	Allow []string `yaml:"allow"`
	// Deny are refused client networks; deny wins over allow.
	Deny []string `yaml:"deny"`
	// DenyPaths are refused path prefixes, matched on segment boundaries.
	DenyPaths []string `yaml:"deny_paths"`
	// BlockUserAgents are refused User-Agent substrings (case-insensitive).
	BlockUserAgents []string `yaml:"block_user_agents"`
	// Windows restrict paths by weekday and time of day.
	Windows []Window `yaml:"windows"`
}

// Window is a weekly recurring time window of access rules.
type Window struct {
	// Paths are path prefixes; empty means every path.
	Paths []string `yaml:"paths"`
	// Days are weekdays (mon, tue, ... or monday, ...); empty means every day.
	Days []string `yaml:"days"`
	// From and To are "HH:MM" times in Timezone; To may be "24:00".
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Timezone is an IANA zone name ("Europe/Paris"); empty means UTC.
	Timezone string `yaml:"timezone"`
	// Action is deny (refuse inside the window, the default) or allow
	// (refuse outside it).
	Action string `yaml:"action"`
}

// RateLimit is a route's per-client token bucket (edge/ratelimit).
type RateLimit struct {
	// Rate is the sustained requests per second per client; positive.
	Rate float64 `yaml:"rate"`
	// Burst is how many requests a client may make at once; 0 means the
	// rate rounded up (at least 1).
	Burst int `yaml:"burst"`
	// MaxClients bounds the clients tracked (least recently seen evicted);
	// 0 means ratelimit.DefaultMaxClients (100000).
	MaxClients int `yaml:"max_clients"`
	// IPv6Prefix is the IPv6 network length counted as one client; 0
	// means ratelimit.DefaultIPv6PrefixLen (64). A site that gets a /48
	// or a /56 (RFC 6177) holds 2^16 or 2^8 /64s, each a budget of its
	// own at 64.
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// Key and Shared: see sites_identity.go.
	Key    string `yaml:"key"`
	Shared bool   `yaml:"shared"`
}

// Auth is a route's authentication (edge/auth): a bearer JWT, an API key
// header, HTTP Basic against an htpasswd file, or any of them. Secrets come
// from environment variables or files, never from this file.
type Auth struct {
	JWT     JWT       `yaml:"jwt"`
	APIKeys APIKeys   `yaml:"api_keys"`
	Basic   BasicAuth `yaml:"basic"`
	// KeyClaims are claims ("sub" for the subject) whose values join the
	// cache key of authenticated requests.
	KeyClaims []string `yaml:"key_claims"`
}

// JWT configures bearer JWT verification; on when a key source is set.
type JWT struct {
	// HMACSecretEnv names the environment variable holding the HS*
	// secret (at least 32 bytes).
	HMACSecretEnv string `yaml:"hmac_secret_env"`
	// PublicKeyFiles are PEM files of RSA or ECDSA public keys (or
	// certificates).
	PublicKeyFiles []string `yaml:"public_key_files"`
	// JWKSFile is a JSON Web Key Set file (read at start, never fetched).
	JWKSFile string `yaml:"jwks_file"`
	// Algorithms are the accepted "alg" values; empty means every one the
	// keys can verify.
	Algorithms []string `yaml:"algorithms"`
	// Audience must appear in "aud" and Issuer must equal "iss" when set.
	Audience string `yaml:"audience"`
	Issuer   string `yaml:"issuer"`
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway Duration `yaml:"leeway"`
	// RequireExpiration refuses tokens without "exp".
	RequireExpiration bool `yaml:"require_expiration"`
	// The key set from a URL and the required scopes and roles: see
	// sites_identity.go.
	JWKSURL        string   `yaml:"jwks_url"`
	JWKSRefresh    Duration `yaml:"jwks_refresh"`
	JWKSMinRefetch Duration `yaml:"jwks_min_refetch"`
	JWKSTimeout    Duration `yaml:"jwks_timeout"`
	RequiredScopes []string `yaml:"required_scopes"`
	RequiredRoles  []string `yaml:"required_roles"`
	RolesClaim     string   `yaml:"roles_claim"`
}

// APIKeys configures API key verification; on when KeysEnv is set.
type APIKeys struct {
	// Header carries the key; empty means X-API-Key.
	Header string `yaml:"header"`
	// KeysEnv names the environment variable holding the accepted keys,
	// comma-separated.
	KeysEnv string `yaml:"keys_env"`
}

// BasicAuth configures HTTP Basic authentication (RFC 7617), nginx's
// auth_basic; on when Htpasswd is set.
type BasicAuth struct {
	// Htpasswd is a file of "user:bcrypt-hash" lines (htpasswd -B), read
	// at start and on every reload.
	Htpasswd string `yaml:"htpasswd"`
	// Realm is named in the challenge (browsers show it in the prompt);
	// empty means the site's first host, or "edged" (Site.routeAuth).
	Realm string `yaml:"realm"`
}

// routeAuth is r's auth with the defaults that come from the site: a
// Basic realm left empty is the site's first host (what a browser's
// prompt should name), when it can sit in a challenge; else auth's
// default.
func (s Site) routeAuth(r Route) Auth {
	a := r.Auth
	if a.Basic.Htpasswd != "" && a.Basic.Realm == "" && len(s.Hosts) > 0 && auth.ValidRealm(s.Hosts[0]) {
		a.Basic.Realm = s.Hosts[0]
	}
	return a
}

func (a Access) empty() bool {
	return len(a.Allow) == 0 && len(a.Deny) == 0 && len(a.DenyPaths) == 0 &&
		len(a.BlockUserAgents) == 0 && len(a.Windows) == 0
}

func (j JWT) enabled() bool {
	return j.HMACSecretEnv != "" || len(j.PublicKeyFiles) > 0 || j.JWKSFile != "" || j.JWKSURL != ""
}

// set reports whether any JWT field is set, key source or not.
func (j JWT) set() bool {
	return j.enabled() || len(j.Algorithms) > 0 || j.Audience != "" || j.Issuer != "" || j.Leeway != 0 || j.RequireExpiration ||
		j.identitySet()
}

func (a Auth) enabled() bool {
	return a.JWT.enabled() || a.APIKeys.KeysEnv != "" || a.Basic.Htpasswd != ""
}

// rateLimitOn reports whether a route's rate limit is on: rl differs from
// its zero value or the file sets the field at path to something other than
// null (so "rate_limit: {rate: 0}" is an error rather than silently off).
func (c *Config) rateLimitOn(path string, rl RateLimit) bool {
	if rl != (RateLimit{}) {
		return true
	}
	n := resolveAlias(lookup(c.root, path))
	return n != nil && n.ShortTag() != "!!null"
}

// options are the limiter's options: the file's burst 0 is the rate
// rounded up (at least 1), its max_clients and ipv6_prefix 0 the
// limiter's defaults.
func (rl RateLimit) options() ratelimit.Options {
	o := ratelimit.DefaultOptions()
	o.Rate, o.Burst, o.MaxClients = rl.Rate, rl.Burst, cmp.Or(rl.MaxClients, o.MaxClients)
	o.IPv6PrefixLen = cmp.Or(rl.IPv6Prefix, o.IPv6PrefixLen)
	o.Shared = rl.Shared
	if rl.Burst == 0 {
		o.Burst = max(int(math.Ceil(rl.Rate)), 1)
	}
	return o
}

// parseWeekday reads a day name: "mon" or "monday", any case.
func parseWeekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(s)
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := strings.ToLower(d.String())
		if s == full || s == full[:3] {
			return d, true
		}
	}
	return 0, false
}

// envSecret returns the value of the environment variable name, and whether
// it is set and not empty.
func envSecret(name string) (string, bool) {
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}

// splitKeys splits a comma-separated list of API keys, trimming spaces and
// dropping empty entries.
func splitKeys(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}
