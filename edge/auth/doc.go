// Package auth authenticates requests at the edge with a bearer JWT, an API
// key header or HTTP Basic credentials.
//
// # Contract
//
// [NewVerifier] loads and checks all key material once: HMAC secrets, PEM
// public keys and a JWKS file (read from disk). Errors name the option, and
// the file for files. A [RemoteJWKS] is the one key source fetched over
// the network, kept fresh in the background until [Verifier.Close] (its doc
// says when it is fetched). A [Verifier] is safe for concurrent use.
//
// [Verifier.Verify] accepts a request when either:
//
//   - it carries an API key header (default X-API-Key) equal to a configured
//     key; keys are compared in constant time, and a request that sends the
//     header is judged on it alone, except that with JWT also configured a
//     request that sends a bearer token too is refused (invalid_request):
//     the token would reach the upstream unverified; or
//   - it carries "Authorization: Bearer <JWT>" (RFC 6750 §2.1) whose
//     signature verifies with a configured key using an allowed algorithm,
//     and whose exp, nbf, aud and iss claims hold (RFC 7519 §4.1), with
//     Leeway of clock skew; or
//   - it carries "Authorization: Basic ..." (RFC 7617) naming a user of the
//     BasicOptions.HtpasswdFile with the right password (package htpasswd:
//     bcrypt, and a decoy comparison for unknown names so that timing does
//     not tell which exist). A wrong user and a wrong password are the same
//     ErrInvalidCredentials to the client; the [*BasicError] says which, for
//     the log. With API keys also configured, a request that sends both is
//     refused (invalid_request), as for a bearer token.
//
// JWT parsing and signature checks are done by github.com/golang-jwt/jwt/v5.
// This package adds the choice of key: an HS* token is checked only against
// HMAC secrets, an RS* token only against RSA keys, an ES* token only against
// ECDSA keys of the matching curve, so a public key can never serve as an
// HMAC secret (algorithm confusion), and "none" is never allowed.
//
// A valid token must then grant every RequiredScopes value (its "scope" or
// "scp" claim) and hold every RequiredRoles value (at RolesClaim); if it
// does not, Verify returns its Identity with an error wrapping
// ErrInsufficientScope, a 403 (RFC 6750 §3.1).
//
// Every refusal wraps one of the sentinel errors below; [Verifier.Challenge]
// turns it into the WWW-Authenticate value for the 401 (RFC 6750 §3, RFC 9110
// §11.6.1). Error descriptions are fixed phrases, never request data.
package auth
