package config

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"edged/edge"
	"edged/edge/access"
	"edged/edge/auth"
	"edged/edge/ratelimit"
)

// siteHeaders returns the header rules a site applies to every response:
// its response_headers, hide_backend and hsts.
func siteHeaders(s Site) edge.HeaderRules {
	hr := headerRules(s.ResponseHeaders)
	if s.HideBackend {
		hr.Remove = append(hr.Remove, "Server", "X-Powered-By")
	}
	if s.HSTS != "" {
		if hr.Set == nil {
			hr.Set = make(map[string]string)
		}
		// RFC 6797 §7.2 forbids sending it over plain HTTP; the binary
		// strips it from responses of its plain-HTTP listener (see
		// docs/config.md, sites[].hsts).
		hr.Set[HSTSHeader] = s.HSTS
	}
	return hr
}

// HSTSHeader is the field that sites[].hsts sets (RFC 6797 §6.1).
const HSTSHeader = "Strict-Transport-Security"

// addGuards fills the access policy, rate limiter and verifier of route r,
// at path ("sites[0].routes[1]"), into er. Errors are FieldErrors.
func (c *Config) addGuards(path string, r Route, er *edge.Route) error {
	if !r.Access.empty() {
		rules, err := accessRules(r.Access)
		if err == nil {
			er.Access, err = access.Compile(rules)
		}
		if err != nil {
			return c.fieldErrNear(path+".access", "%v", err)
		}
	}
	if c.rateLimitOn(path+".rate_limit", r.RateLimit) {
		lim, err := ratelimit.New(r.RateLimit.options())
		if err != nil {
			return c.fieldErrNear(path+".rate_limit", "%v", err)
		}
		er.RateLimit = lim
	}
	if r.Auth.enabled() {
		v, err := c.verifier(path+".auth", r.Auth)
		if err != nil {
			return err
		}
		er.Auth, er.AuthKey = v, slices.Clone(r.Auth.KeyClaims)
	}
	return nil
}

// accessRules converts validated access rules; errors name the field.
func accessRules(a Access) (access.Rules, error) {
	r := access.Rules{
		Allow:           parseNetworks(a.Allow),
		Deny:            parseNetworks(a.Deny),
		DenyPaths:       slices.Clone(a.DenyPaths),
		BlockUserAgents: slices.Clone(a.BlockUserAgents),
	}
	for i, w := range a.Windows {
		aw := access.Window{Paths: slices.Clone(w.Paths), From: w.From, To: w.To, Action: w.Action}
		for _, d := range w.Days {
			if wd, ok := parseWeekday(d); ok {
				aw.Days = append(aw.Days, wd)
			}
		}
		if w.Timezone != "" {
			loc, err := time.LoadLocation(w.Timezone)
			if err != nil {
				return access.Rules{}, fmt.Errorf("windows[%d].timezone: %w", i, err)
			}
			aw.Location = loc
		}
		r.Windows = append(r.Windows, aw)
	}
	return r, nil
}

// verifier builds a route's auth.Verifier: it reads the secrets from the
// environment and the key files from disk.
func (c *Config) verifier(path string, a Auth) (*auth.Verifier, error) {
	var opts auth.Options
	if j := a.JWT; j.enabled() {
		jo := &auth.JWTOptions{
			PublicKeyFiles:    slices.Clone(j.PublicKeyFiles),
			JWKSFile:          j.JWKSFile,
			Algorithms:        slices.Clone(j.Algorithms),
			Audience:          j.Audience,
			Issuer:            j.Issuer,
			Leeway:            j.Leeway.Std(),
			RequireExpiration: j.RequireExpiration,
		}
		if j.HMACSecretEnv != "" {
			secret, ok := envSecret(j.HMACSecretEnv)
			if !ok {
				return nil, c.fieldErrNear(path+".jwt.hmac_secret_env", "environment variable %s is not set (it holds the HMAC secret)", j.HMACSecretEnv)
			}
			jo.HMACSecret = []byte(secret)
		}
		opts.JWT = jo
	}
	if k := a.APIKeys; k.KeysEnv != "" {
		v, _ := envSecret(k.KeysEnv)
		keys := splitKeys(v)
		if len(keys) == 0 {
			return nil, c.fieldErrNear(path+".api_keys.keys_env", "environment variable %s is not set (it holds the API keys, comma-separated)", k.KeysEnv)
		}
		opts.APIKeys = &auth.APIKeyOptions{Header: http.CanonicalHeaderKey(k.Header), Keys: keys}
	}
	v, err := auth.NewVerifier(opts)
	if err != nil {
		field := path
		if f := authField(err); f != "" {
			field += "." + f
		}
		return nil, c.fieldErrNear(field, "%v", err)
	}
	return v, nil
}

var authOptionRE = regexp.MustCompile(`JWT\.(JWKSFile|PublicKeyFiles\[\d+\]|Algorithms\[\d+\]|HMACSecret|Leeway)|APIKeys\.(Header|Keys)`)

// authField maps the option an edge/auth error names to the config field.
func authField(err error) string {
	m := authOptionRE.FindString(err.Error())
	fields := map[string]string{
		"JWT.JWKSFile": "jwt.jwks_file", "JWT.HMACSecret": "jwt.hmac_secret_env", "JWT.Leeway": "jwt.leeway",
		"APIKeys.Header": "api_keys.header", "APIKeys.Keys": "api_keys.keys_env",
	}
	if f, ok := fields[m]; ok {
		return f
	}
	for prefix, field := range map[string]string{"JWT.PublicKeyFiles": "jwt.public_key_files", "JWT.Algorithms": "jwt.algorithms"} {
		if rest, ok := strings.CutPrefix(m, prefix); ok {
			return field + rest
		}
	}
	return ""
}
