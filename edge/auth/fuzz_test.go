package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify: an arbitrary Authorization header never panics, and is never
// accepted unless the signed part of the token is one this test signed: the
// fuzzer cannot forge a signature, so anything else accepted is a bypass.
func FuzzVerify(f *testing.F) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	v := mustVerifier(f, Options{JWT: &JWTOptions{
		HMACSecret:    hmacSecret,
		PublicKeysPEM: [][]byte{pemPublic(f, &ec.PublicKey)},
		Audience:      "edged-api",
	}})
	signed := map[string]bool{}
	add := func(tok string) {
		i := strings.LastIndexByte(tok, '.')
		signed[tok[:i]] = true
		f.Add("Bearer " + tok)
	}
	add(sign(f, jwt.SigningMethodHS256, hmacSecret, claims(nil), ""))
	add(sign(f, jwt.SigningMethodES256, ec, claims(nil), ""))
	add(sign(f, jwt.SigningMethodHS512, hmacSecret, claims(map[string]any{"aud": []string{"a", "edged-api"}}), "kid"))
	f.Add("Bearer " + sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil), ""))
	f.Add("Bearer " + sign(f, jwt.SigningMethodHS256, pemPublic(f, &ec.PublicKey), claims(nil), ""))
	f.Add("Bearer a.b.c")
	f.Add("Basic Zm9vOmJhcg==")
	f.Add("")
	f.Fuzz(func(t *testing.T, authz string) {
		r := bearerRequest(t, authz)
		id, err := v.Verify(r, now)
		_ = v.Challenge(err)
		if err != nil {
			return
		}
		tok := strings.TrimSpace(authz)
		if _, rest, ok := strings.Cut(tok, " "); ok {
			tok = strings.TrimSpace(rest)
		}
		i := strings.LastIndexByte(tok, '.')
		if i < 0 || !signed[tok[:i]] {
			t.Fatalf("accepted %q as %+v without a signature we made", authz, id)
		}
	})
}
