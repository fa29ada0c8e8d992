package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"edged/edge/auth"
	"edged/edge/ratelimit"
)

// jwksServer is an identity provider's key endpoint on loopback that
// counts its fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex // guards body and fetches
	body    []byte
	fetches int
}

func newJWKSServer(t testing.TB, keys map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{body: jwkSet(t, keys)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.fetches++
		body := s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve replaces the key set and returns the fetch count at that moment:
// every later fetch serves the new set.
func (s *jwksServer) serve(t testing.TB, keys map[string]any) int {
	body := jwkSet(t, keys)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
	return s.fetches
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// jwkSet renders public keys as a JWK Set (RFC 7517 §5), with jwkset's
// encoder rather than ours.
func jwkSet(t testing.TB, keys map[string]any) []byte {
	t.Helper()
	ctx := context.Background()
	store := jwkset.NewMemoryStorage()
	for kid, k := range keys {
		j, err := jwkset.NewJWKFromKey(k, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: jwkset.UseSig}})
		if err == nil {
			err = store.KeyWrite(ctx, j)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := store.JSONPublic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signed(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + s
}

func remoteVerifier(t testing.TB, o auth.JWTOptions) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.Options{JWT: &o})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// A key rotated in at the identity provider is accepted without a
// restart: a token with the new kid makes the edge fetch the set again.
// Unknown kids refetch at most once per MinRefetch, however many arrive,
// and a refetch revokes the keys the set no longer holds.
func TestJWKSRotationUnknownKidRefetch(t *testing.T) {
	c := newClock()
	keyA, keyB := rsaKey(t), ecKey(t)
	idp := newJWKSServer(t, map[string]any{"a": &keyA.PublicKey})
	v := remoteVerifier(t, auth.JWTOptions{
		JWKS:       &auth.RemoteJWKS{URL: idp.URL, Refresh: time.Hour, MinRefetch: time.Hour},
		Algorithms: []string{"RS256", "ES256"},
	})
	o := newOrigin(t, c, static("ok"))
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Auth: v},
	}})
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "alice", "exp": c.Now().Add(time.Hour).Unix()}
	}
	get := func(authz string) *http.Response {
		resp, _ := e.get(t, "/x", "Host", "s.example", "Authorization", authz)
		return resp
	}
	tokenA := signed(t, jwt.SigningMethodRS256, keyA, "a", claims())
	tokenB := signed(t, jwt.SigningMethodES256, keyB, "b", claims())

	wantStatus(t, get(tokenA), http.StatusOK)
	if n := idp.count(); n != 1 {
		t.Fatalf("fetches after start and a known kid: %d, want 1", n)
	}
	idp.serve(t, map[string]any{"b": &keyB.PublicKey})
	wantStatus(t, get(tokenB), http.StatusOK)
	if n := idp.count(); n != 2 {
		t.Fatalf("fetches after the rotated kid: %d, want 2", n)
	}
	// The refetch replaced the set: key A is revoked.
	if resp := get(tokenA); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token of the removed key: status %d, want 401", resp.StatusCode)
	}
	for i := range 40 {
		forged := signed(t, jwt.SigningMethodES256, keyB, fmt.Sprintf("made-up-%d", i), claims())
		if resp := get(forged); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unknown kid %d: status %d, want 401", i, resp.StatusCode)
		}
	}
	if n := idp.count(); n != 2 {
		t.Errorf("a flood of unknown kids fetched the key set %d times in all, want 2 (refetch rate-limited)", n)
	}
	wantStatus(t, get(tokenB), http.StatusOK)
}

// TestJWKSUnknownKidNotQueued is the flood of made-up kids on a route
// whose jwks_min_refetch is shorter than jwks_timeout: jwkset's limiter
// made each such token wait for the next refetch slot (up to the
// timeout) and then fetch the set, so a flood held requests for seconds
// and each one fetched. A token with an unknown kid is now refused at
// once while no refetch is allowed.
func TestJWKSUnknownKidNotQueued(t *testing.T) {
	c := newClock()
	key := ecKey(t)
	idp := newJWKSServer(t, map[string]any{"a": &key.PublicKey})
	const minRefetch = 3 * time.Second // under the default 10 s timeout
	v := remoteVerifier(t, auth.JWTOptions{JWKS: &auth.RemoteJWKS{URL: idp.URL, Refresh: time.Hour, MinRefetch: minRefetch}})
	o := newOrigin(t, c, static("ok"))
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Auth: v},
	}})
	get := func(kid string) *http.Response {
		resp, _ := e.get(t, "/x", "Host", "s.example", "Authorization", signed(t, jwt.SigningMethodES256, key, kid, jwt.MapClaims{"sub": "alice"}))
		return resp
	}
	wantStatus(t, get("a"), http.StatusOK)
	wantStatus(t, get("made-up-1"), http.StatusUnauthorized) // the one refetch allowed now
	fetched := idp.count()
	start := time.Now()
	wantStatus(t, get("made-up-2"), http.StatusUnauthorized)
	if n, took := idp.count(), time.Since(start); n != fetched || took >= minRefetch {
		t.Errorf("a second unknown kid within jwks_min_refetch: %d fetches (want %d), answered in %v (want at once, not after a wait for the refetch)", n, fetched, took)
	}
}

// The background refresh replaces the set without any token asking: a
// key the provider removed stops verifying.
func TestJWKSBackgroundRefresh(t *testing.T) {
	c := newClock()
	keyA, keyB := ecKey(t), ecKey(t)
	idp := newJWKSServer(t, map[string]any{"a": &keyA.PublicKey})
	v := remoteVerifier(t, auth.JWTOptions{JWKS: &auth.RemoteJWKS{URL: idp.URL, Refresh: 20 * time.Millisecond, MinRefetch: time.Hour}})
	o := newOrigin(t, c, static("ok"))
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Auth: v},
	}})
	tokenA := signed(t, jwt.SigningMethodES256, keyA, "", jwt.MapClaims{"sub": "alice"})
	resp, _ := e.get(t, "/x", "Host", "s.example", "Authorization", tokenA)
	wantStatus(t, resp, http.StatusOK)

	n := idp.serve(t, map[string]any{"b": &keyB.PublicKey})
	// Fetches are sequential: once fetch n+2 has begun, fetch n+1, which
	// served the new set, has been stored.
	for idp.count() < n+2 {
		time.Sleep(5 * time.Millisecond)
	}
	resp, _ = e.get(t, "/x", "Host", "s.example", "Authorization", tokenA)
	wantStatus(t, resp, http.StatusUnauthorized)
}

// Algorithm confusion (RFC 8725 §2.1): an HS256 token whose HMAC key is
// the RSA public key's bytes, which anyone can fetch from the key set,
// must never verify; nor must an unsigned "none" token.
func TestJWTAlgorithmConfusionAttack(t *testing.T) {
	c := newClock()
	key := rsaKey(t)
	idp := newJWKSServer(t, map[string]any{"a": &key.PublicKey})
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	secret := []byte(strings.Repeat("k", 32))
	o := newOrigin(t, c, static("ok"))
	up := upstreamTo(t, o.URL)
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/rsa-only/", Upstream: up, Auth: remoteVerifier(t, auth.JWTOptions{
			JWKS: &auth.RemoteJWKS{URL: idp.URL, Refresh: time.Hour, MinRefetch: time.Hour}})},
		// Both kinds of keys allowed: an HS* token is still checked only
		// against the HMAC secret.
		{PathPrefix: "/mixed/", Upstream: up, Auth: remoteVerifier(t, auth.JWTOptions{
			HMACSecret: secret, Algorithms: []string{"HS256", "RS256"},
			JWKS: &auth.RemoteJWKS{URL: idp.URL, Refresh: time.Hour, MinRefetch: time.Hour}})},
	}})
	claims := jwt.MapClaims{"sub": "admin", "exp": c.Now().Add(time.Hour).Unix()}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	attacks := map[string]string{
		"HS256 keyed with the PEM public key": signed(t, jwt.SigningMethodHS256, pemBytes, "a", claims),
		"HS256 keyed with the DER public key": signed(t, jwt.SigningMethodHS256, der, "a", claims),
		"HS256 keyed with the modulus":        signed(t, jwt.SigningMethodHS256, key.N.Bytes(), "a", claims),
		"alg none":                            "Bearer " + none,
	}
	for _, route := range []string{"/rsa-only/", "/mixed/"} {
		legit := signed(t, jwt.SigningMethodRS256, key, "a", claims)
		resp, _ := e.get(t, route+"x", "Host", "s.example", "Authorization", legit)
		wantStatus(t, resp, http.StatusOK)
		for name, tok := range attacks {
			resp, _ := e.get(t, route+"x", "Host", "s.example", "Authorization", tok)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s on %s: status %d, want 401", name, route, resp.StatusCode)
			}
		}
	}
	if n := idp.count(); n > 2+1 {
		t.Errorf("attacks fetched the key set: %d fetches", n)
	}
}

// A valid token without a required scope or role is a 403 with
// error="insufficient_scope" naming the scopes (RFC 6750 §3.1); a bad
// token stays a 401.
func TestJWTScopesAndRoles(t *testing.T) {
	c := newClock()
	secret := []byte(strings.Repeat("s", 32))
	v := remoteVerifier(t, auth.JWTOptions{HMACSecret: secret,
		RequiredScopes: []string{"docs:read"}, RequiredRoles: []string{"editor"}, RolesClaim: "realm_access.roles"})
	o := newOrigin(t, c, static("ok"))
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Auth: v},
	}})
	roles := map[string]any{"roles": []any{"viewer", "editor"}}
	tests := []struct {
		name      string
		claims    jwt.MapClaims
		key       []byte
		want      int
		challenge string
	}{
		{"scope string", jwt.MapClaims{"scope": "openid docs:read", "realm_access": roles}, secret, 200, ""},
		{"scp array", jwt.MapClaims{"scp": []any{"docs:read"}, "realm_access": roles}, secret, 200, ""},
		{"missing scope", jwt.MapClaims{"scope": "openid docs:write", "realm_access": roles}, secret, 403,
			`Bearer realm="edged", error="insufficient_scope", scope="docs:read"`},
		{"scope as a substring only", jwt.MapClaims{"scope": "docs:readonly", "realm_access": roles}, secret, 403, `error="insufficient_scope"`},
		{"missing role", jwt.MapClaims{"scope": "docs:read", "realm_access": map[string]any{"roles": []any{"viewer"}}}, secret, 403, `error="insufficient_scope"`},
		{"roles at the top level only", jwt.MapClaims{"scope": "docs:read", "roles": []any{"editor"}}, secret, 403, `error="insufficient_scope"`},
		{"bad signature", jwt.MapClaims{"scope": "docs:read", "realm_access": roles}, []byte(strings.Repeat("x", 32)), 401, `error="invalid_token"`},
	}
	for _, tt := range tests {
		tt.claims["exp"] = c.Now().Add(time.Hour).Unix()
		resp, _ := e.get(t, "/x", "Host", "s.example", "Authorization", signed(t, jwt.SigningMethodHS256, tt.key, "", tt.claims))
		if resp.StatusCode != tt.want || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tt.challenge) {
			t.Errorf("%s: status %d WWW-Authenticate %q, want %d with %q", tt.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tt.want, tt.challenge)
		}
	}
}

// Rate limits keyed by the verified JWT subject, by a header, and per
// route: each key and each route has its own budget, and a forged token
// spends its address's budget, never the subject's it names.
func TestRateLimitKeys(t *testing.T) {
	c := newClock()
	secret := []byte(strings.Repeat("s", 32))
	v := remoteVerifier(t, auth.JWTOptions{HMACSecret: secret})
	keys, err := auth.NewVerifier(auth.Options{APIKeys: &auth.APIKeyOptions{Keys: []string{"k1", "k2"}}})
	if err != nil {
		t.Fatal(err)
	}
	limiter := func() *ratelimit.Limiter {
		l, err := ratelimit.New(ratelimit.Options{Rate: 0.5, Burst: 2, MaxClients: 100})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	o := newOrigin(t, c, static("ok"))
	up := upstreamTo(t, o.URL)
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/sub/", Upstream: up, Auth: v, RateLimit: limiter(), RateKey: RateKey{By: RateBySubject}},
		{PathPrefix: "/tenant/", Upstream: up, RateLimit: limiter(), RateKey: RateKey{By: RateByHeader, Header: "X-Tenant"}},
		{PathPrefix: "/other/", Upstream: up, RateLimit: limiter(), RateKey: RateKey{By: RateByHeader, Header: "X-Tenant"}},
		{PathPrefix: "/key/", Upstream: up, Auth: keys, RateLimit: limiter(), RateKey: RateKey{By: RateByAPIKey}},
	}})
	token := func(sub string, key []byte) string {
		return signed(t, jwt.SigningMethodHS256, key, "", jwt.MapClaims{"sub": sub, "exp": c.Now().Add(time.Hour).Unix()})
	}
	forged := token("alice", []byte(strings.Repeat("f", 32)))
	steps := []struct {
		path, name, value string
		want              int
	}{
		// Forged tokens naming alice: 401 until the address's budget is
		// spent, then 429; alice's own budget is untouched.
		{"/sub/", "Authorization", forged, 401},
		{"/sub/", "Authorization", forged, 401},
		{"/sub/", "Authorization", forged, 429},
		{"/sub/", "Authorization", token("alice", secret), 200},
		{"/sub/", "Authorization", token("alice", secret), 200},
		{"/sub/", "Authorization", token("alice", secret), 429},
		{"/sub/", "Authorization", token("bob", secret), 200},
		{"/tenant/", "X-Tenant", "a", 200},
		{"/tenant/", "X-Tenant", "a", 200},
		{"/tenant/", "X-Tenant", "a", 429},
		{"/tenant/", "X-Tenant", "b", 200},
		{"/other/", "X-Tenant", "a", 200}, // a budget per route
		{"/tenant/", "X-Other", "", 200},  // no header: the address's budget
		{"/tenant/", "X-Other", "", 200},
		{"/tenant/", "X-Other", "", 429},
		{"/key/", "X-Api-Key", "k1", 200},
		{"/key/", "X-Api-Key", "k1", 200},
		{"/key/", "X-Api-Key", "k1", 429},
		{"/key/", "X-Api-Key", "wrong", 401},
		{"/key/", "X-Api-Key", "k2", 200},
	}
	for i, s := range steps {
		resp, _ := e.get(t, s.path+"x", "Host", "s.example", s.name, s.value)
		if resp.StatusCode != s.want {
			t.Errorf("step %d (%s %s=%.20q): status %d, want %d", i, s.path, s.name, s.value, resp.StatusCode, s.want)
		}
		// One token every 2s: Retry-After says 2 (RFC 6585 §4).
		if s.want == 429 && resp.Header.Get("Retry-After") != "2" {
			t.Errorf("step %d: Retry-After %q, want 2", i, resp.Header.Get("Retry-After"))
		}
	}
	c.Advance(2 * time.Second)
	resp, _ := e.get(t, "/sub/x", "Host", "s.example", "Authorization", token("alice", secret))
	wantStatus(t, resp, http.StatusOK)
}

// A token whose protected header lists critical extensions ("crit", RFC
// 7515 §4.1.11) is refused: edged understands none of them, so the JWS is
// invalid whatever its signature. It was accepted before (jwt/v5 ignores
// "crit").
func TestJWTCriticalHeaderRefused(t *testing.T) {
	c := newClock()
	secret := []byte(strings.Repeat("k", 32))
	o := newOrigin(t, c, static("ok"))
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Auth: remoteVerifier(t, auth.JWTOptions{HMACSecret: secret})},
	}})
	claims := jwt.MapClaims{"sub": "alice", "exp": c.Now().Add(time.Hour).Unix()}
	resp, _ := e.get(t, "/x", "Host", "s.example", "Authorization", signed(t, jwt.SigningMethodHS256, secret, "", claims))
	wantStatus(t, resp, http.StatusOK)
	for name, hdr := range map[string]map[string]any{
		"unknown extension": {"crit": []string{"exp-x"}, "exp-x": 1},
		"b64 false":         {"crit": []string{"b64"}, "b64": false},
		"empty list":        {"crit": []string{}},
	} {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		for k, v := range hdr {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := e.get(t, "/x", "Host", "s.example", "Authorization", "Bearer "+s)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "critical header") {
			t.Errorf("%s: status %d %q, want 401 naming the critical header", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin saw %d requests, want 1 (the valid token's)", n)
	}
}
