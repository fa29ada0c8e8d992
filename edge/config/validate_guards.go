package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

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
	errs = append(errs, c.checkRateKey(path, r)...)
	errs = append(errs, c.checkAuth(path+".auth", r.Auth)...)
	return errs
}

// checkAccess checks what is the file's own in a route's access rules
// (networks, day names and time zones are strings here), then the rules
// with access.Rules.Validate.
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
	for i, w := range a.Windows {
		for j, d := range w.Days {
			if _, ok := parseWeekday(d); !ok {
				add(fmt.Sprintf("windows[%d].days[%d]", i, j), "unknown day %q (want mon, tue, wed, thu, fri, sat, sun)", d)
			}
		}
		if _, err := time.LoadLocation(w.Timezone); err != nil {
			add(fmt.Sprintf("windows[%d].timezone", i), "unknown time zone %q (want an IANA name such as Europe/Paris)", w.Timezone)
		}
	}
	rules, err := accessRules(a)
	if err != nil {
		return errs // a time zone, reported above
	}
	return append(errs, c.optionProblems(yamlMap{under: path}, rules.Validate())...)
}

// checkRateLimit checks a route's rate limit, when the file sets one, with
// ratelimit.Options.Validate.
func (c *Config) checkRateLimit(path string, rl RateLimit) []*FieldError {
	if !c.rateLimitOn(path, rl) {
		return nil
	}
	return c.optionProblems(yamlMap{under: path, fields: map[string]string{"IPv6PrefixLen": path + ".ipv6_prefix"}}, rl.options().Validate())
}

// checkAuth checks a route's auth: the file's own rules (fields that go
// together, environment variables set), then the options with
// auth.Options.Validate, which reads no key file (Check does).
func (c *Config) checkAuth(path string, a Auth) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	if j := a.JWT; j.set() && !j.enabled() {
		add("jwt", "needs a key: hmac_secret_env, public_key_files, jwks_file or jwks_url")
	}
	errs = append(errs, c.checkIdentity(path, a)...)
	if k := a.APIKeys; k.KeysEnv == "" && k.Header != "" {
		add("api_keys.keys_env", "required with api_keys.header: the environment variable holding the keys")
	}
	if why := c.unseenField(a.APIKeys.Header); a.APIKeys.Header != "" && why != "" {
		add("api_keys.header", "%s: no request would ever carry a key", why)
	}
	if a.Basic.Realm != "" && a.Basic.Htpasswd == "" {
		add("basic.htpasswd", "required with basic.realm: the file of users and bcrypt hashes (htpasswd -B)")
	}
	if len(a.KeyClaims) > 0 && !a.enabled() {
		add("key_claims", "has no effect without jwt, api_keys or basic")
	}
	for i, claim := range a.KeyClaims {
		if claim == "" {
			add(fmt.Sprintf("key_claims[%d]", i), "empty claim name")
		}
	}
	if !a.enabled() {
		return errs
	}
	opts, envErrs := c.authOptions(path, a)
	if len(envErrs) > 0 {
		return append(errs, envErrs...) // the options would only repeat them
	}
	return append(errs, c.optionProblems(authFields(path), opts.Validate())...)
}
