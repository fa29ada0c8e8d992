package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"edged/internal/fielderr"
)

// DefaultRealm is the realm in challenges when Options.Realm is empty.
const DefaultRealm = "edged"

// DefaultAPIKeyHeader is read when APIKeyOptions.Header is empty.
const DefaultAPIKeyHeader = "X-API-Key"

// Options configure a Verifier. At least one of JWT, APIKeys and Basic must
// be set.
type Options struct {
	// JWT enables bearer JWTs; nil disables them.
	JWT *JWTOptions
	// APIKeys enables API key headers; nil disables them.
	APIKeys *APIKeyOptions
	// Basic enables HTTP Basic credentials checked against an htpasswd
	// file; nil disables them.
	Basic *BasicOptions
	// Realm names the protection space in challenges (RFC 9110 §11.5).
	// Default DefaultRealm.
	Realm string
}

// JWTOptions configure bearer JWT verification. At least one key source is
// required.
type JWTOptions struct {
	// HMACSecret verifies HS256/HS384/HS512 tokens; at least 32 bytes
	// (RFC 7518 §3.2: no shorter than the HS256 hash output).
	HMACSecret []byte
	// PublicKeysPEM are RSA or ECDSA public keys, as PKIX "PUBLIC KEY",
	// PKCS #1 "RSA PUBLIC KEY" or "CERTIFICATE" PEM blocks (several per
	// element allowed). Errors name the element's index.
	PublicKeysPEM [][]byte
	// PublicKeyFiles are files holding such PEM blocks. Errors name the file.
	PublicKeyFiles []string
	// JWKSFile is a JSON Web Key Set file (RFC 7517 §5) of RSA and EC keys;
	// a token's "kid" header selects among keys that have one.
	JWKSFile string
	// JWKS fetches a JSON Web Key Set from a URL and keeps it fresh; nil
	// fetches nothing. See [RemoteJWKS].
	JWKS *RemoteJWKS
	// Algorithms are the accepted "alg" values; empty means every algorithm
	// the configured keys can verify. Allowed: HS256 HS384 HS512 RS256 RS384
	// RS512 ES256 ES384 ES512.
	Algorithms []string
	// Audience, when set, must appear in the token's "aud" claim (RFC 7519
	// §4.1.3); Issuer, when set, must equal its "iss" (RFC 7519 §4.1.1).
	Audience, Issuer string
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway time.Duration
	// RequireExpiration refuses tokens without an "exp" claim.
	RequireExpiration bool
	// RequiredScopes must all be granted by the token's "scope" claim (a
	// space-separated string, RFC 8693 §4.2) or "scp" claim (a string or
	// an array, as some issuers send); a token lacking one is refused with
	// 403 insufficient_scope (RFC 6750 §3.1). Values are scope-tokens
	// (RFC 6749 §3.3).
	RequiredScopes []string
	// RequiredRoles must all appear in the claim RolesClaim names.
	RequiredRoles []string
	// RolesClaim is the claim holding the roles, a dotted path into nested
	// objects ("realm_access.roles"); its value is an array of strings or
	// a space-separated string. Empty means DefaultRolesClaim.
	RolesClaim string
}

// DefaultRolesClaim is read when JWTOptions.RolesClaim is empty.
const DefaultRolesClaim = "roles"

// APIKeyOptions configure API key verification.
type APIKeyOptions struct {
	// Header carries the key; empty means DefaultAPIKeyHeader.
	Header string
	// Keys are the accepted keys; at least one, none empty.
	Keys []string
}

// The methods an Identity is authenticated by.
const (
	MethodJWT    = "jwt"
	MethodAPIKey = "apikey"
	MethodBasic  = "basic"
)

// Identity is who a request was authenticated as.
type Identity struct {
	// Method is MethodJWT, MethodAPIKey or MethodBasic.
	Method string
	// Subject is the token's "sub" claim, for an API key its APIKeyID
	// (a hash of the key: the key itself is never exposed), for Basic
	// the user name.
	Subject string
	// Claims are the token's claims; nil for API keys.
	Claims map[string]any
}

// Verifier authenticates requests; see the package doc. A Verifier with
// a remote JWK Set refreshes it in the background until Close.
type Verifier struct {
	realm   string
	jwt     *jwtVerifier
	apiKeys *apiKeyVerifier
	basic   *basicVerifier
}

// NewVerifier fills the defaults of opts, validates them (every problem,
// each naming its option and wrapping ErrInvalidOptions) and loads the
// keys they name.
func NewVerifier(opts Options) (*Verifier, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix("auth: option ", err)
	}
	v := &Verifier{realm: opts.Realm}
	if opts.JWT != nil {
		var err error
		if v.jwt, err = newJWTVerifier(*opts.JWT); err != nil {
			return nil, fielderr.Prefix("auth: option ", err)
		}
	}
	if opts.APIKeys != nil {
		v.apiKeys = newAPIKeyVerifier(*opts.APIKeys)
	}
	if opts.Basic != nil {
		var err error
		if v.basic, err = newBasicVerifier(*opts.Basic); err != nil {
			v.Close()
			return nil, fielderr.Prefix("auth: option ", err)
		}
	}
	return v, nil
}

// Verify authenticates r at now. The error wraps one of the sentinel errors;
// pass it to Challenge for the WWW-Authenticate value of the 401, or of the
// 403 for ErrInsufficientScope, which comes with the token's Identity. A
// remote key set's refetch is bounded by r's context.
func (v *Verifier) Verify(r *http.Request, now time.Time) (Identity, error) {
	var tok, basic string
	if vals := r.Header["Authorization"]; v.basic != nil && len(vals) > 0 && isBasic(vals[0]) {
		if len(vals) > 1 {
			return Identity{}, fmt.Errorf("%w: %d Authorization fields", ErrInvalidRequest, len(vals))
		}
		basic = vals[0]
	} else if v.jwt != nil {
		if len(vals) > 0 {
			var err error
			if tok, err = bearerToken(vals); err != nil {
				return Identity{}, err
			}
		}
	}
	if v.apiKeys != nil {
		if vals := r.Header[v.apiKeys.header]; len(vals) > 0 {
			if tok != "" || basic != "" {
				// Judged on the key alone, the bearer token would reach
				// the upstream unverified on a route that verifies tokens:
				// an origin that reads the claims of the tokens its edge
				// let through (the gateway verified them) would take a
				// forged token's claims from any API key's holder. RFC
				// 6750 §3.1: more than one method is invalid_request.
				return Identity{}, fmt.Errorf("%w: both an API key and Authorization (send one)", ErrInvalidRequest)
			}
			return v.apiKeys.verify(vals)
		}
	}
	if tok != "" {
		return v.jwt.verify(r.Context(), tok, now)
	}
	if basic != "" {
		return v.basic.verify(r.Context(), basic, now)
	}
	return Identity{}, ErrNoCredentials
}

// Close stops the background refresh of a remote key set; other
// verifiers need no Close. The Verifier keeps working on the keys held.
func (v *Verifier) Close() {
	if v.jwt != nil {
		v.jwt.close()
	}
}

// errEmptyBearer is the cause of "token missing": the message said
// "auth: invalid token" twice, and nothing of what was wrong.
var errEmptyBearer = errors.New(`nothing after "Bearer"`)

// bearerToken extracts the token of "Authorization: Bearer <token>" (RFC 6750
// §2.1). Another scheme yields "" (not ours to judge); several fields are
// ambiguous (RFC 9110 §11.6.2 allows one credentials value).
func bearerToken(vals []string) (string, error) {
	if len(vals) > 1 {
		return "", fmt.Errorf("%w: %d Authorization fields", ErrInvalidRequest, len(vals))
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	// RFC 9110 §11.1: the auth scheme is case-insensitive.
	if !strings.EqualFold(scheme, "Bearer") {
		return "", nil
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" {
		return "", &tokenError{desc: "token missing", err: errEmptyBearer}
	}
	return tok, nil
}

// ValidRealm reports whether realm can name a protection space in a
// challenge (Options.Realm, BasicOptions.Realm): not empty, and within a
// quoted string without escaping.
func ValidRealm(realm string) bool { return realm != "" && isQuotedStringSafe(realm) }

// isQuotedStringSafe reports whether s can sit in a challenge's quoted
// string without escaping (RFC 6750 §3 value characters).
func isQuotedStringSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func canonicalHeader(h string) string { return textproto.CanonicalMIMEHeaderKey(h) }
