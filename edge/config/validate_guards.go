package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"edged/edge/access"
	"edged/internal/httpsyntax"
)

// jwtAlgorithms are the "alg" values edge/auth verifies.
var jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

// minHMACSecret is the shortest HS* secret: RFC 7518 §3.2 asks for a key
// no shorter than the hash output (32 bytes for HS256).
const minHMACSecret = 32

// checkSiteSecurity validates a site's HTTPS and header settings.
func (c *Config) checkSiteSecurity(path string, s Site) []*FieldError {
	var errs []*FieldError
	// Without an HTTPS listener every request arrives over plain HTTP (a
	// TLS-terminating proxy in front included), so a redirect would loop.
	if s.HTTPSRedirect && c.TLS.Listen == "" {
		errs = append(errs, c.fieldErr(path+".https_redirect", "needs tls.listen: without an HTTPS listener every request would be redirected forever"))
	}
	if s.HSTS != "" {
		if c.TLS.Listen == "" {
			errs = append(errs, c.fieldErr(path+".hsts", "needs tls.listen: HSTS is sent only over HTTPS (RFC 6797 §7.2)"))
		}
		if msg := hstsProblem(s.HSTS); msg != "" {
			errs = append(errs, c.fieldErr(path+".hsts", "%s", msg))
		}
	}
	errs = append(errs, c.checkHeaders(path+".response_headers", s.ResponseHeaders)...)
	return errs
}

// hstsProblem checks a Strict-Transport-Security value (RFC 6797 §6.1):
// directives separated by ";", max-age required with a number of seconds.
func hstsProblem(v string) string {
	if strings.ContainsAny(v, "\r\n\x00") {
		return "must not contain CR, LF or NUL"
	}
	seen := make(map[string]bool)
	for _, d := range strings.Split(v, ";") {
		name, value, hasValue := strings.Cut(strings.TrimSpace(d), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		// RFC 6797 §6.1: each directive appears at most once.
		if seen[name] {
			return fmt.Sprintf("directive %q repeated", name)
		}
		seen[name] = true
		if name == "max-age" {
			// RFC 6797 §6.1.1: max-age = delta-seconds.
			value = strings.Trim(strings.TrimSpace(value), `"`)
			if _, err := strconv.ParseUint(value, 10, 63); !hasValue || err != nil {
				return fmt.Sprintf("max-age must be a number of seconds, got %q", value)
			}
		}
	}
	if !seen["max-age"] {
		return `max-age is required (RFC 6797 §6.1.1), e.g. "max-age=31536000; includeSubDomains"`
	}
	return ""
}

// checkGuards validates a route's access rules, rate limit and auth.
func (c *Config) checkGuards(path string, r Route) []*FieldError {
	var errs []*FieldError
	errs = append(errs, c.checkAccess(path+".access", r.Access)...)
	errs = append(errs, c.checkRateLimit(path+".rate_limit", r.RateLimit)...)
	errs = append(errs, c.checkAuth(path+".auth", r.Auth)...)
	return errs
}

func (c *Config) checkAccess(path string, a Access) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	for _, list := range []struct {
		field    string
		networks []string
	}{{"allow", a.Allow}, {"deny", a.Deny}} {
		for i, n := range list.networks {
			if _, err := ParseNetwork(n); err != nil {
				add(fmt.Sprintf("%s[%d]", list.field, i), "%v", err)
			}
		}
	}
	for i, p := range a.DenyPaths {
		if !strings.HasPrefix(p, "/") {
			add(fmt.Sprintf("deny_paths[%d]", i), "must start with /, got %q", p)
		}
	}
	for i, ua := range a.BlockUserAgents {
		if strings.TrimSpace(ua) == "" {
			add(fmt.Sprintf("block_user_agents[%d]", i), "empty: it would block every client")
		}
	}
	for i, w := range a.Windows {
		errs = append(errs, c.checkWindow(fmt.Sprintf("%s.windows[%d]", path, i), w)...)
	}
	if len(errs) == 0 && !a.empty() {
		// Whatever edge/access refuses beyond the checks above.
		rules, err := accessRules(a)
		if err == nil {
			_, err = access.Compile(rules)
		}
		if err != nil {
			errs = append(errs, c.fieldErrNear(path, "%v", err))
		}
	}
	return errs
}

func (c *Config) checkWindow(path string, w Window) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	for i, p := range w.Paths {
		if !strings.HasPrefix(p, "/") {
			add(fmt.Sprintf("paths[%d]", i), "must start with /, got %q", p)
		}
	}
	for i, d := range w.Days {
		if _, ok := parseWeekday(d); !ok {
			add(fmt.Sprintf("days[%d]", i), "unknown day %q (want mon, tue, wed, thu, fri, sat, sun)", d)
		}
	}
	from, fromErr := clockMinutes(w.From, false)
	if fromErr != "" {
		add("from", "%s", fromErr)
	}
	to, toErr := clockMinutes(w.To, true)
	if toErr != "" {
		add("to", "%s", toErr)
	}
	if fromErr == "" && toErr == "" && from == to%(24*60) {
		add("to", "equals from (%q): an empty or a whole-day window is ambiguous (leave the window out, or use deny_paths)", w.From)
	}
	if w.Timezone != "" {
		if _, err := time.LoadLocation(w.Timezone); err != nil {
			add("timezone", "unknown time zone %q (want an IANA name such as Europe/Paris)", w.Timezone)
		}
	}
	switch w.Action {
	case "", access.ActionDeny, access.ActionAllow:
	default:
		add("action", "must be deny or allow, got %q", w.Action)
	}
	return errs
}

// clockMinutes reads "HH:MM" as minutes since midnight; "24:00" only when
// end is true. The message is "" when s is valid.
func clockMinutes(s string, end bool) (int, string) {
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

func (c *Config) checkRateLimit(path string, rl RateLimit) []*FieldError {
	if !c.rateLimitOn(path, rl) {
		return nil
	}
	var errs []*FieldError
	if !(rl.Rate > 0) || math.IsInf(rl.Rate, 0) {
		errs = append(errs, c.fieldErrNear(path+".rate", "must be a positive number of requests per second, got %v", rl.Rate))
	}
	if rl.Burst < 0 {
		errs = append(errs, c.fieldErrNear(path+".burst", "must not be negative (0 means the rate rounded up), got %d", rl.Burst))
	}
	if rl.MaxClients < 0 {
		errs = append(errs, c.fieldErrNear(path+".max_clients", "must not be negative (0 means 100000), got %d", rl.MaxClients))
	}
	return errs
}

func (c *Config) checkAuth(path string, a Auth) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	j := a.JWT
	if j.set() && !j.enabled() {
		add("jwt", "needs a key: hmac_secret_env, public_key_files or jwks_file")
	}
	if j.HMACSecretEnv != "" {
		if secret, ok := envSecret(j.HMACSecretEnv); !ok {
			add("jwt.hmac_secret_env", "environment variable %s is not set (it holds the HMAC secret)", j.HMACSecretEnv)
		} else if len(secret) < minHMACSecret {
			// RFC 7518 §3.2: an HS256 key is at least as long as the hash.
			add("jwt.hmac_secret_env", "the secret in %s is %d bytes, want at least %d (RFC 7518 §3.2)", j.HMACSecretEnv, len(secret), minHMACSecret)
		}
	}
	for i, f := range j.PublicKeyFiles {
		if f == "" {
			add(fmt.Sprintf("jwt.public_key_files[%d]", i), "empty file name")
		}
	}
	for i, alg := range j.Algorithms {
		switch {
		case !slices.Contains(jwtAlgorithms, alg):
			add(fmt.Sprintf("jwt.algorithms[%d]", i), "unsupported algorithm %q (want %s)", alg, strings.Join(jwtAlgorithms, ", "))
		case strings.HasPrefix(alg, "HS") && j.HMACSecretEnv == "":
			add(fmt.Sprintf("jwt.algorithms[%d]", i), "%s needs jwt.hmac_secret_env", alg)
		case !strings.HasPrefix(alg, "HS") && len(j.PublicKeyFiles) == 0 && j.JWKSFile == "":
			add(fmt.Sprintf("jwt.algorithms[%d]", i), "%s needs jwt.public_key_files or jwt.jwks_file", alg)
		}
	}
	if j.Leeway < 0 {
		add("jwt.leeway", "must not be negative, got %s", j.Leeway)
	}
	k := a.APIKeys
	if k.Header != "" && !httpsyntax.IsToken(k.Header) {
		add("api_keys.header", "invalid header name %q", k.Header)
	}
	switch {
	case k.KeysEnv == "" && k.Header != "":
		add("api_keys.keys_env", "required with api_keys.header: the environment variable holding the keys")
	case k.KeysEnv != "":
		if v, ok := envSecret(k.KeysEnv); !ok || len(splitKeys(v)) == 0 {
			add("api_keys.keys_env", "environment variable %s is not set (it holds the API keys, comma-separated)", k.KeysEnv)
		}
	}
	if len(a.KeyClaims) > 0 && !a.enabled() {
		add("key_claims", "has no effect without jwt or api_keys")
	}
	for i, claim := range a.KeyClaims {
		if claim == "" {
			add(fmt.Sprintf("key_claims[%d]", i), "empty claim name")
		}
	}
	return errs
}
