package config

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"edged/edge"
	"edged/edge/auth"
)

// This file holds a route's identity settings beyond the keys: the JWK Set
// fetched from a URL, the scopes and roles a token must grant
// (auth.jwt.jwks_url, jwks_refresh, jwks_min_refetch, jwks_timeout,
// required_scopes, required_roles, roles_claim), and whose budget a rate
// limit counts (rate_limit.key, rate_limit.shared).

// SetLogger sets the logger of what the configuration builds that logs on
// its own: a route's JWK Set fetches. Nil (the default) means
// slog.Default().
func (c *Config) SetLogger(l *slog.Logger) { c.logger = l }

// identitySet reports whether any identity field of j is set.
func (j JWT) identitySet() bool {
	return j.JWKSURL != "" || j.JWKSRefresh != 0 || j.JWKSMinRefetch != 0 || j.JWKSTimeout != 0 ||
		len(j.RequiredScopes) > 0 || len(j.RequiredRoles) > 0 || j.RolesClaim != ""
}

// addIdentity fills the identity options of j into o.
func (c *Config) addIdentity(j JWT, o *auth.JWTOptions) {
	if j.JWKSURL != "" {
		log := c.logger
		if log == nil {
			log = slog.Default()
		}
		o.JWKS = &auth.RemoteJWKS{
			URL: j.JWKSURL, Refresh: j.JWKSRefresh.Std(), MinRefetch: j.JWKSMinRefetch.Std(), Timeout: j.JWKSTimeout.Std(),
			Logger: log.With("component", "auth"),
		}
	}
	o.RequiredScopes = slices.Clone(j.RequiredScopes)
	o.RequiredRoles = slices.Clone(j.RequiredRoles)
	o.RolesClaim = j.RolesClaim
}

// checkIdentity reports identity fields that need another one (the
// values themselves are auth.Options.Validate's).
func (c *Config) checkIdentity(path string, a Auth) []*FieldError {
	var errs []*FieldError
	j := a.JWT
	if j.JWKSURL == "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"jwks_refresh", j.JWKSRefresh != 0}, {"jwks_min_refetch", j.JWKSMinRefetch != 0}, {"jwks_timeout", j.JWKSTimeout != 0}} {
			if f.set {
				errs = append(errs, c.fieldErrNear(path+".jwt."+f.name, "has no effect without jwt.jwks_url"))
			}
		}
	}
	if j.RolesClaim != "" && len(j.RequiredRoles) == 0 {
		errs = append(errs, c.fieldErrNear(path+".jwt.roles_claim", "has no effect without jwt.required_roles"))
	}
	return errs
}

// rateKey is the edge's reading of rate_limit.key: "ip" (or empty),
// "api_key", "jwt_sub", "basic_user" or "header:NAME".
func (rl RateLimit) rateKey() edge.RateKey {
	by, name, _ := strings.Cut(rl.Key, ":")
	if by == edge.RateByHeader {
		return edge.RateKey{By: by, Header: strings.TrimSpace(name)}
	}
	return edge.RateKey{By: rl.Key}
}

// checkRateKey checks the route's rate_limit.key: a known kind, a valid
// header name, and the credentials an identity key needs.
func (c *Config) checkRateKey(path string, r Route) []*FieldError {
	if r.RateLimit.Key == "" && !r.RateLimit.Shared {
		return nil
	}
	field := path + ".rate_limit.key"
	k := r.RateLimit.rateKey()
	var msg string
	switch {
	case !c.rateLimitOn(path+".rate_limit", r.RateLimit):
		return nil
	case k.By == edge.RateByHeader && !httpguts.ValidHeaderFieldName(k.Header):
		// RFC 9110 §5.1: a field name is a token.
		msg = fmt.Sprintf("header:NAME needs a valid header name, got %q", k.Header)
	case k.By == edge.RateByHeader && c.unseenField(k.Header) != "":
		// Every request would lack it and spend its address's budget.
		msg = c.unseenField(k.Header) + ": no request would carry the key"
	case k.By == edge.RateByAPIKey && r.Auth.APIKeys.KeysEnv == "":
		msg = "api_key needs auth.api_keys on the route: the key counted is the verified one"
	case k.By == edge.RateBySubject && !r.Auth.JWT.enabled():
		msg = "jwt_sub needs auth.jwt on the route: the subject counted is the verified one"
	case k.By == edge.RateByBasicUser && r.Auth.Basic.Htpasswd == "":
		msg = "basic_user needs auth.basic on the route: the user counted is the verified one"
	case !slices.Contains([]string{"", edge.RateByIP, edge.RateByAPIKey, edge.RateBySubject, edge.RateByBasicUser, edge.RateByHeader}, k.By):
		msg = fmt.Sprintf("unknown key %q (want ip, api_key, jwt_sub, basic_user or header:NAME)", r.RateLimit.Key)
	}
	if msg == "" {
		return nil
	}
	return []*FieldError{c.fieldErrNear(field, "%s", msg)}
}
