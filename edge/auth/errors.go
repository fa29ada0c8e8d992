package auth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Sentinel errors. Every error from Verify wraps exactly one of them; all
// mean 401 Unauthorized but ErrInsufficientScope, which means 403.
var (
	// ErrNoCredentials: the request carries neither a bearer token nor an
	// API key (RFC 6750 §3.1: the challenge then carries no error code).
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrInvalidRequest: the credentials are ambiguous, such as several
	// Authorization or API key header fields (RFC 6750 §3.1 invalid_request).
	ErrInvalidRequest = errors.New("auth: invalid request")
	// ErrInvalidToken: a bearer token that is malformed, badly signed,
	// expired, not yet valid, or for another audience or issuer (RFC 6750
	// §3.1 invalid_token).
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrInvalidAPIKey: the API key header holds no configured key.
	ErrInvalidAPIKey = errors.New("auth: invalid API key")
	// ErrInvalidCredentials: Basic credentials of no user of the file,
	// or with a wrong password; a [*BasicError] says which, for the log.
	ErrInvalidCredentials = errors.New("auth: invalid user or password")
	// ErrInsufficientScope: a valid token that lacks a required scope or
	// role; 403 Forbidden (RFC 6750 §3.1 insufficient_scope).
	ErrInsufficientScope = errors.New("auth: insufficient scope")
)

// ErrInvalidOptions is wrapped by NewVerifier errors, which name the option
// and, for files, the file.
var ErrInvalidOptions = errors.New("auth: invalid options")

// tokenError is an ErrInvalidToken with a fixed description for the
// challenge.
type tokenError struct {
	desc string // fixed text, safe for error_description (RFC 6750 §3)
	err  error  // the cause, for logs
}

func (e *tokenError) Error() string {
	return fmt.Sprintf("%v: %s: %v", ErrInvalidToken, e.desc, e.err)
}

func (e *tokenError) Unwrap() []error { return []error{ErrInvalidToken, e.err} }

// describe maps a jwt/v5 error to a fixed description. Order matters: the
// library joins claim errors, and the first match wins.
func describe(err error) *tokenError {
	for _, d := range []struct {
		target error
		desc   string
	}{
		{jwt.ErrTokenMalformed, "token malformed"},
		{errUnknownKey, "unknown signing key"},
		{errAlgorithm, "signing algorithm not allowed"},
		{errCritical, "critical header extension not understood"},
		{jwt.ErrTokenSignatureInvalid, "signature invalid"},
		{jwt.ErrTokenUnverifiable, "token unverifiable"},
		{jwt.ErrTokenExpired, "token expired"},
		{jwt.ErrTokenNotValidYet, "token not yet valid"},
		{jwt.ErrTokenUsedBeforeIssued, "token issued in the future"},
		{jwt.ErrTokenInvalidAudience, "audience not accepted"},
		{jwt.ErrTokenInvalidIssuer, "issuer not accepted"},
		{jwt.ErrTokenRequiredClaimMissing, "required claim missing"},
	} {
		if errors.Is(err, d.target) {
			return &tokenError{desc: d.desc, err: err}
		}
	}
	return &tokenError{desc: "token invalid", err: err}
}

// Challenge returns the WWW-Authenticate field value for a 401 caused by err
// (RFC 9110 §11.6.1: a 401 carries at least one challenge). With JWT
// configured it is a Bearer challenge (RFC 6750 §3); with API keys it is an
// "APIKey" challenge naming the header (no registered scheme exists, so this
// one is descriptive); with Basic, a Basic challenge with charset="UTF-8"
// (RFC 7617 §2.1). With several, all are listed, comma separated (RFC 9110
// §11.6.1).
func (v *Verifier) Challenge(err error) string {
	var parts []string
	if v.jwt != nil {
		parts = append(parts, v.bearerChallenge(err))
	}
	if v.apiKeys != nil {
		parts = append(parts, fmt.Sprintf(`APIKey realm=%q, header=%q`, v.realm, v.apiKeys.name))
	}
	if v.basic != nil {
		parts = append(parts, v.basic.challenge())
	}
	return strings.Join(parts, ", ")
}

func (v *Verifier) bearerChallenge(err error) string {
	c := fmt.Sprintf(`Bearer realm=%q`, v.realm)
	var (
		te *tokenError
		se *scopeError
	)
	switch {
	case errors.As(err, &se):
		// RFC 6750 §3.1: insufficient_scope, with the scope attribute
		// listing the scopes the resource needs (RFC 6750 §3); values
		// are scope-tokens, checked by Validate.
		c += `, error="insufficient_scope"`
		if len(se.required) > 0 {
			c += fmt.Sprintf(`, scope=%q`, strings.Join(se.required, " "))
		}
	case errors.As(err, &te):
		// RFC 6750 §3: error_description is for developers; ours is fixed
		// text within the allowed %x20-21 / %x23-5B / %x5D-7E.
		c += fmt.Sprintf(`, error="invalid_token", error_description=%q`, te.desc)
	case errors.Is(err, ErrInvalidToken):
		c += `, error="invalid_token"` // RFC 6750 §3.1
	case errors.Is(err, ErrInvalidRequest):
		c += `, error="invalid_request"` // RFC 6750 §3.1
	}
	// ErrNoCredentials and API key errors: RFC 6750 §3.1 says a request
	// without authentication information gets no error code.
	return c
}
