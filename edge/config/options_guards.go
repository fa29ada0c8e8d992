package config

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
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
		er.RateLimit, er.RateKey = lim, r.RateLimit.rateKey()
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
	return c.verifierWith(path, a, nil)
}

// verifierWith is verifier with the JWK Set fetches' logger replaced
// when jwksLog is not nil.
func (c *Config) verifierWith(path string, a Auth, jwksLog *slog.Logger) (*auth.Verifier, error) {
	opts, errs := c.authOptions(path, a)
	if jwksLog != nil && opts.JWT != nil && opts.JWT.JWKS != nil {
		opts.JWT.JWKS.Logger = jwksLog
	}
	v, err := auth.NewVerifier(opts)
	if err != nil {
		errs = append(errs, c.optionProblems(authFields(path), err)...)
	}
	if len(errs) > 0 {
		// An unset variable is reported beside the route's other
		// problems (authOptions stood a placeholder in for it), not
		// instead of them.
		if v != nil {
			v.Close()
		}
		return nil, joinSorted(errs)
	}
	return v, nil
}

// authOptions are the auth options of the route at path, with the secrets
// its environment variables hold; a variable that is not set is a problem.
func (c *Config) authOptions(path string, a Auth) (auth.Options, []*FieldError) {
	opts := auth.Options{Realm: auth.DefaultRealm}
	var errs []*FieldError
	if j := a.JWT; j.enabled() {
		opts.JWT = &auth.JWTOptions{
			PublicKeyFiles:    slices.Clone(j.PublicKeyFiles),
			JWKSFile:          j.JWKSFile,
			Algorithms:        slices.Clone(j.Algorithms),
			Audience:          j.Audience,
			Issuer:            j.Issuer,
			Leeway:            j.Leeway.Std(),
			RequireExpiration: j.RequireExpiration,
		}
		c.addIdentity(j, opts.JWT)
		if j.HMACSecretEnv != "" {
			secret, ok := envSecret(j.HMACSecretEnv)
			if !ok {
				errs = append(errs, c.fieldErrNear(path+".jwt.hmac_secret_env", "environment variable %s is not set (it holds the HMAC secret)", j.HMACSecretEnv))
				secret = unsetSecret // so that the other options are still checked
			}
			opts.JWT.HMACSecret = []byte(secret)
		}
	}
	if k := a.APIKeys; k.KeysEnv != "" {
		v, _ := envSecret(k.KeysEnv)
		keys := splitKeys(v)
		if len(keys) == 0 {
			errs = append(errs, c.fieldErrNear(path+".api_keys.keys_env", "environment variable %s is not set (it holds the API keys, comma-separated)", k.KeysEnv))
			keys = []string{unsetSecret}
		}
		opts.APIKeys = &auth.APIKeyOptions{Header: cmp.Or(http.CanonicalHeaderKey(k.Header), auth.DefaultAPIKeyHeader), Keys: keys}
	}
	if b := a.Basic; b.Htpasswd != "" {
		// auth.NewVerifier reads the file (at start, on -check and on
		// every reload); Validate does not.
		opts.Basic = &auth.BasicOptions{HtpasswdFile: b.Htpasswd, Realm: b.Realm}
	}
	return opts, errs
}

// unsetSecret stands in for a secret whose variable is not set while the
// rest of a route's auth options are checked; such a configuration never
// runs (the unset variable is an error).
const unsetSecret = "edged: unset variable placeholder 32 bytes long"

// authFields says where each auth option of the route at path comes from.
func authFields(path string) yamlMap {
	return yamlMap{under: path, fields: map[string]string{
		"JWT.HMACSecret": path + ".jwt.hmac_secret_env", "APIKeys.Keys": path + ".api_keys.keys_env",
		"Realm": "", "JWT.PublicKeysPEM": "", "JWT.JWKS.Logger": "",
		"JWT.JWKS.URL": path + ".jwt.jwks_url", "JWT.JWKS.Refresh": path + ".jwt.jwks_refresh",
		"JWT.JWKS.MinRefetch": path + ".jwt.jwks_min_refetch", "JWT.JWKS.Timeout": path + ".jwt.jwks_timeout",
		"Basic.HtpasswdFile": path + ".basic.htpasswd", "Basic.Realm": path + ".basic.realm",
	}}
}
