package auth

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"edged/internal/fielderr"
)

// withDefaults returns o with the empty Realm and API key header replaced
// by their defaults: the one place that knows them.
func (o Options) withDefaults() Options {
	o.Realm = cmp.Or(o.Realm, DefaultRealm)
	if o.APIKeys != nil {
		k := *o.APIKeys
		k.Header = cmp.Or(k.Header, DefaultAPIKeyHeader)
		o.APIKeys = &k
	}
	if o.JWT != nil {
		j := *o.JWT
		j.RolesClaim = cmp.Or(j.RolesClaim, DefaultRolesClaim)
		if j.JWKS != nil {
			r := j.JWKS.withDefaults()
			j.JWKS = &r
		}
		o.JWT = &j
	}
	if o.Basic != nil {
		b := *o.Basic
		b.Realm = cmp.Or(b.Realm, o.Realm)
		o.Basic = &b
	}
	return o
}

// Validate reports every option of o that is wrong without reading a key
// file, each a [*fielderr.Error] naming the option ("JWT.Algorithms[1]")
// and wrapping ErrInvalidOptions, joined. It takes the fields as given:
// NewVerifier fills the defaults first, then validates, then loads the
// keys (whose problems name the option and the file).
func (o Options) Validate() error {
	var l fielderr.List
	l.Check(o.JWT != nil || o.APIKeys != nil || o.Basic != nil, "JWT", "neither JWT, APIKeys nor Basic set")
	// RFC 9110 §11.5: the realm is a quoted-string in challenges.
	l.Check(o.Realm != "" && isQuotedStringSafe(o.Realm), "Realm", "%q has characters a challenge cannot carry", o.Realm)
	if o.JWT != nil {
		l.Nest("JWT", o.JWT.validate())
	}
	if o.APIKeys != nil {
		l.Nest("APIKeys", o.APIKeys.validate())
		// An API key carries no scope or role: with requirements, every
		// API key request would be refused.
		l.Check(o.JWT == nil || o.JWT.requirements().empty(), "APIKeys",
			"an API key carries no scopes or roles, so with JWT.RequiredScopes or JWT.RequiredRoles every API key request would be refused")
	}
	if o.Basic != nil {
		l.Nest("Basic", o.Basic.validate())
		// Neither does a Basic user.
		l.Check(o.JWT == nil || o.JWT.requirements().empty(), "Basic",
			"a Basic user carries no scopes or roles, so with JWT.RequiredScopes or JWT.RequiredRoles every Basic request would be refused")
	}
	return wrapAll(l.Err())
}

func (o JWTOptions) validate() error {
	var l fielderr.List
	if o.HMACSecret != nil && len(o.HMACSecret) < minHMACSecret {
		// RFC 7518 §3.2: an HS256 key is at least as long as the hash.
		l.Addf("HMACSecret", "must be at least %d bytes, got %d (RFC 7518 §3.2)", minHMACSecret, len(o.HMACSecret))
	}
	l.Check(o.Leeway >= 0, "Leeway", "must not be negative, got %v", o.Leeway)
	public := len(o.PublicKeysPEM) > 0 || len(o.PublicKeyFiles) > 0 || o.JWKSFile != "" || o.JWKS != nil
	if o.HMACSecret == nil && !public {
		l.Addf("", "no HMACSecret, PublicKeysPEM, PublicKeyFiles, JWKSFile or JWKS")
	}
	if o.JWKS != nil {
		l.Nest("JWKS", o.JWKS.validate())
	}
	for i, s := range o.RequiredScopes {
		l.Check(validScopeToken(s), fmt.Sprintf("RequiredScopes[%d]", i), "%q is not a scope-token (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)", s)
	}
	for i, r := range o.RequiredRoles {
		l.Check(r != "", fmt.Sprintf("RequiredRoles[%d]", i), "empty role")
	}
	l.Check(o.RolesClaim == "" || !slices.Contains(strings.Split(o.RolesClaim, "."), ""), "RolesClaim", "%q has an empty name (want a claim name or a dotted path such as realm_access.roles)", o.RolesClaim)
	for i, f := range o.PublicKeyFiles {
		if f == "" {
			l.Addf(fmt.Sprintf("PublicKeyFiles[%d]", i), "empty file name")
		}
	}
	for i, a := range o.Algorithms {
		path := fmt.Sprintf("Algorithms[%d]", i)
		switch {
		case !slices.Contains(supportedAlgs, a):
			l.Addf(path, "unsupported algorithm %q (want %s)", a, strings.Join(supportedAlgs, ", "))
		case strings.HasPrefix(a, "HS") && o.HMACSecret == nil:
			l.Addf(path, "%s needs an HMAC secret", a)
		case !strings.HasPrefix(a, "HS") && !public:
			l.Addf(path, "%s needs a public key (a PEM key or a JWK Set)", a)
		}
	}
	return l.Err()
}

func (o APIKeyOptions) validate() error {
	var l fielderr.List
	// RFC 9110 §5.1: a field name is a token.
	if !httpguts.ValidHeaderFieldName(o.Header) {
		l.Addf("Header", "invalid header name %q", o.Header)
	}
	if len(o.Keys) == 0 {
		l.Addf("Keys", "no keys")
	}
	for i, k := range o.Keys {
		if k == "" {
			l.Addf(fmt.Sprintf("Keys[%d]", i), "empty key")
		}
	}
	return l.Err()
}

// wrapAll makes every problem of err wrap ErrInvalidOptions, so errors.Is
// finds it on each.
func wrapAll(err error) error {
	var l fielderr.List
	for _, fe := range fielderr.All(err) {
		l.Wrapf(fe.Path, cmp.Or(fe.Err, ErrInvalidOptions), "%s", fe.Msg)
	}
	return l.Err()
}

// optionErr is a problem with the option at path found while loading it.
func optionErr(path, format string, args ...any) error {
	var l fielderr.List
	l.Wrapf(path, ErrInvalidOptions, format, args...)
	return l.Err()
}
