package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	errUnknownKey = errors.New("no key for this token")
	errAlgorithm  = errors.New("algorithm not allowed")
	errCritical   = errors.New("critical header extension not understood")
)

// supportedAlgs are the algorithms Algorithms may list; "none" is not one.
var supportedAlgs = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

type jwtVerifier struct {
	secret   []byte
	keys     []publicKey
	algs     []string // accepted "alg" values
	audience string
	issuer   string
	leeway   time.Duration
	needExp  bool
	remote   *remoteKeys // nil without RemoteJWKS
	need     requirements
}

// newJWTVerifier loads the keys of validated options and checks that they
// verify the algorithms asked for.
func newJWTVerifier(o JWTOptions) (*jwtVerifier, error) {
	keys, err := loadKeys(o)
	if err != nil {
		return nil, err
	}
	v := &jwtVerifier{
		secret: o.HMACSecret, keys: keys, audience: o.Audience, issuer: o.Issuer,
		leeway: o.Leeway, needExp: o.RequireExpiration,
		need: o.requirements(),
	}
	if v.algs, err = v.chooseAlgs(o); err != nil {
		return nil, err
	}
	if o.JWKS != nil {
		// Last: the key set's refresh goroutine runs until close.
		if v.remote, err = newRemoteKeys(*o.JWKS); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// requirements are the scopes and roles o requires.
func (o JWTOptions) requirements() requirements {
	q := requirements{scopes: o.RequiredScopes, roles: o.RequiredRoles}
	if len(q.roles) > 0 {
		q.rolesPath = strings.Split(cmp.Or(o.RolesClaim, DefaultRolesClaim), ".")
	}
	return q
}

// chooseAlgs returns the accepted algorithms: o.Algorithms, each checked
// against the keys, or every algorithm the keys verify.
func (v *jwtVerifier) chooseAlgs(o JWTOptions) ([]string, error) {
	usable := v.usableAlgs(o.JWKS != nil)
	if len(usable) == 0 {
		return nil, optionErr("JWT", "no configured key verifies any supported algorithm")
	}
	if len(o.Algorithms) == 0 {
		return usable, nil
	}
	for i, a := range o.Algorithms {
		if !contains(usable, a) {
			return nil, optionErr(fmt.Sprintf("JWT.Algorithms[%d]", i), "no configured key can verify %s", a)
		}
	}
	return o.Algorithms, nil
}

// usableAlgs lists the supported algorithms some configured key verifies;
// with a remote key set, whose keys are not known yet, every RS* and ES*
// one.
func (v *jwtVerifier) usableAlgs(remote bool) []string {
	var out []string
	for _, a := range supportedAlgs {
		hmac := strings.HasPrefix(a, "HS")
		if hmac && v.secret != nil || !hmac && remote || len(v.keysFor(a, "")) > 0 {
			out = append(out, a)
		}
	}
	return out
}

// keysFor returns the public keys that may verify a token signed with alg
// and carrying kid. Keys are chosen by type, never by the token's say-so
// alone: an RSA key is never offered to an HS* or ES* check (algorithm
// confusion, RFC 8725 §2.1 and §3.1).
func (v *jwtVerifier) keysFor(alg, kid string) []jwt.VerificationKey {
	var out []jwt.VerificationKey
	for _, k := range v.keys {
		if !contains(k.algorithms(), alg) || (k.alg != "" && k.alg != alg) {
			continue
		}
		if kid != "" && k.kid != "" && k.kid != kid {
			continue
		}
		out = append(out, k.key)
	}
	return out
}

// keyFunc hands jwt/v5 the key(s) for a token; the library has already
// refused algorithms outside v.algs (jwt.WithValidMethods). Local keys
// come first: a kid they hold never causes a remote refetch.
func (v *jwtVerifier) keyFunc(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !contains(v.algs, alg) {
		return nil, errAlgorithm
	}
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: a JWS whose "crit" lists an extension the
		// recipient does not understand is invalid, and edged understands
		// none (RFC 7797's "b64": false would change what the signature
		// covers). jwt/v5 ignores "crit", so a token its issuer meant to
		// be refused elsewhere was accepted here.
		return nil, errCritical
	}
	if strings.HasPrefix(alg, "HS") {
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok || v.secret == nil {
			return nil, errUnknownKey
		}
		return v.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	keys := v.keysFor(alg, kid)
	if len(keys) == 0 && v.remote != nil {
		keys = v.remote.keys(ctx, alg, kid)
	}
	if len(keys) == 0 {
		return nil, errUnknownKey
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// verify checks tok at now, then the scopes and roles it must grant: a
// valid token lacking one is returned with its Identity and a *scopeError.
func (v *jwtVerifier) verify(ctx context.Context, tok string, now time.Time) (Identity, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs), // RFC 8725 §3.1: only algorithms we chose
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(v.leeway),
		jwt.WithIssuedAt(), // a token from the future is as suspect as an expired one
		// Numbers keep their text: as float64, two user ids past 2^53
		// that differ in their last digits would be one value (one cache
		// partition under key_claims).
		jwt.WithJSONNumber(),
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience)) // RFC 7519 §4.1.3
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer)) // RFC 7519 §4.1.1
	}
	if v.needExp {
		opts = append(opts, jwt.WithExpirationRequired()) // RFC 7519 §4.1.4
	}
	claims := jwt.MapClaims{}
	keyFunc := func(t *jwt.Token) (any, error) { return v.keyFunc(ctx, t) }
	t, err := jwt.NewParser(opts...).ParseWithClaims(tok, claims, keyFunc)
	if err != nil {
		if t != nil && t.Method != nil && errors.Is(err, jwt.ErrTokenSignatureInvalid) && !contains(v.algs, t.Method.Alg()) {
			err = fmt.Errorf("%w: %w", errAlgorithm, err)
		}
		return Identity{}, describe(err)
	}
	if !t.Valid {
		return Identity{}, describe(errors.New("not valid"))
	}
	// RFC 7519 §4.1.2: "sub" is a string (StringOrURI). A number or an
	// object read as no subject would make every such token one client:
	// one cache partition (key_claims), one rate-limit budget.
	sub, err := claims.GetSubject()
	if err != nil {
		return Identity{}, describe(err)
	}
	id := Identity{Method: MethodJWT, Subject: sub, Claims: claims}
	return id, v.need.check(claims)
}

func (v *jwtVerifier) close() {
	if v.remote != nil {
		v.remote.close()
	}
}
