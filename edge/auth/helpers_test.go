package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// now is the fake clock of every test.
var now = time.Date(2024, 1, 8, 10, 0, 0, 0, time.UTC)

var hmacSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// testKeys are generated per test binary run by newTestKeys.
type testKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	ec256, ec384  *ecdsa.PrivateKey
}

func newTestKeys(tb testing.TB) testKeys {
	tb.Helper()
	r1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	r2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	e1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	e2, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return testKeys{rsa: r1, rsaOther: r2, ec256: e1, ec384: e2}
}

func pemPublic(tb testing.TB, pub any) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func writeFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// claims returns valid claims for now, with edits applied.
func claims(edits map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "alice",
		"iss": "https://issuer.example",
		"aud": "edged-api",
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func sign(tb testing.TB, m jwt.SigningMethod, key any, c jwt.Claims, kid string) string {
	tb.Helper()
	t := jwt.NewWithClaims(m, c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

func bearerRequest(tb testing.TB, authz ...string) *http.Request {
	tb.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	for _, a := range authz {
		r.Header.Add("Authorization", a)
	}
	return r
}

func mustVerifier(tb testing.TB, o Options) *Verifier {
	tb.Helper()
	v, err := NewVerifier(o)
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwksJSON renders public keys as a JWK Set (RFC 7517 §5).
func jwksJSON(tb testing.TB, keys map[string]any) []byte {
	tb.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range keys {
		switch pk := k.(type) {
		case *rsa.PublicKey:
			e := []byte{byte(pk.E >> 16), byte(pk.E >> 8), byte(pk.E)}
			set.Keys = append(set.Keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": b64u(pk.N.Bytes()), "e": b64u(e)})
		case *ecdsa.PublicKey:
			raw, err := pk.Bytes()
			if err != nil {
				tb.Fatal(err)
			}
			size := (len(raw) - 1) / 2
			crv := map[int]string{32: "P-256", 48: "P-384", 66: "P-521"}[size]
			set.Keys = append(set.Keys, map[string]string{"kty": "EC", "kid": kid, "crv": crv, "x": b64u(raw[1 : 1+size]), "y": b64u(raw[1+size:])})
		default:
			tb.Fatalf("unsupported %T", k)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
