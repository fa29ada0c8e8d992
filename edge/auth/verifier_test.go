package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyJWT(t *testing.T) {
	k := newTestKeys(t)
	jwks := writeFile(t, "jwks.json", jwksJSON(t, map[string]any{"rsa-1": &k.rsa.PublicKey, "ec-1": &k.ec256.PublicKey}))
	v := mustVerifier(t, Options{JWT: &JWTOptions{
		HMACSecret:    hmacSecret,
		PublicKeysPEM: [][]byte{pemPublic(t, &k.ec384.PublicKey)},
		JWKSFile:      jwks,
		Audience:      "edged-api",
		Issuer:        "https://issuer.example",
		Leeway:        30 * time.Second,
	}})
	// The algorithm-confusion token: HS256 with the RSA public key's PEM
	// as the HMAC secret (RFC 8725 §2.1).
	confused := sign(t, jwt.SigningMethodHS256, pemPublic(t, &k.rsa.PublicKey), claims(nil), "rsa-1")
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil), "")
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, jwt.SigningMethodHS256, hmacSecret, claims(nil), "")
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64u([]byte(`{"sub":"mallory","exp":9999999999}`)) + "." + parts[2]

	tests := []struct {
		name     string
		token    string
		wantSub  string // "" means refused
		wantDesc string
	}{
		{name: "HS256", token: good, wantSub: "alice"},
		{name: "HS384", token: sign(t, jwt.SigningMethodHS384, hmacSecret, claims(nil), ""), wantSub: "alice"},
		{name: "RS256 from JWKS by kid", token: sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), "rsa-1"), wantSub: "alice"},
		{name: "RS256 from JWKS without kid", token: sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), ""), wantSub: "alice"},
		{name: "ES256 from JWKS", token: sign(t, jwt.SigningMethodES256, k.ec256, claims(nil), "ec-1"), wantSub: "alice"},
		{name: "ES384 from PEM", token: sign(t, jwt.SigningMethodES384, k.ec384, claims(nil), ""), wantSub: "alice"},
		{name: "unknown kid", token: sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), "rsa-9"), wantDesc: "unknown signing key"},
		{name: "kid of another key type", token: sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), "ec-1"), wantDesc: "unknown signing key"},
		{name: "RS256 by an unknown key", token: sign(t, jwt.SigningMethodRS256, k.rsaOther, claims(nil), "rsa-1"), wantDesc: "signature invalid"},
		{name: "HS256 wrong secret", token: sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-32b"), claims(nil), ""), wantDesc: "signature invalid"},
		{name: "tampered payload", token: tampered, wantDesc: "signature invalid"},
		{name: "ES256 by an unknown key", token: sign(t, jwt.SigningMethodES256, otherEC, claims(nil), ""), wantDesc: "signature invalid"},
		{name: "alg none (RFC 8725 §3.1)", token: noneTok, wantDesc: "signing algorithm not allowed"},
		{name: "algorithm confusion: HS256 keyed with the RSA public key", token: confused, wantDesc: "signature invalid"},
		{name: "expired (RFC 7519 §4.1.4)", token: sign(t, jwt.SigningMethodHS256, hmacSecret, claims(map[string]any{"exp": now.Add(-time.Minute).Unix()}), ""), wantDesc: "token expired"},
		{name: "expired within leeway", token: sign(t, jwt.SigningMethodHS256, hmacSecret, claims(map[string]any{"exp": now.Add(-20 * time.Second).Unix()}), ""), wantSub: "alice"},
		{name: "not yet valid (RFC 7519 §4.1.5)", token: sign(t, jwt.SigningMethodHS256, hmacSecret, claims(map[string]any{"nbf": now.Add(time.Minute).Unix()}), ""), wantDesc: "token not yet valid"},
		{name: "issued in the future (RFC 7519 §4.1.6)", token: sign(t, jwt.SigningMethodHS256, hmacSecret, claims(map[string]any{"iat": now.Add(time.Hour).Unix(), "nbf": nil}), ""), wantDesc: "token issued in the future"},
		{name: "wrong audience (RFC 7519 §4.1.3)", token: sign(t, jwt.SigningMethodHS256, hmacSecret, claims(map[string]any{"aud": "other"}), ""), wantDesc: "audience not accepted"},
		{name: "audience list containing ours", token: sign(t, jwt.SigningMethodHS256, hmacSecret, claims(map[string]any{"aud": []string{"x", "edged-api"}}), ""), wantSub: "alice"},
		{name: "missing audience", token: sign(t, jwt.SigningMethodHS256, hmacSecret, claims(map[string]any{"aud": nil}), ""), wantDesc: "required claim missing"},
		{name: "wrong issuer (RFC 7519 §4.1.1)", token: sign(t, jwt.SigningMethodHS256, hmacSecret, claims(map[string]any{"iss": "https://evil.example"}), ""), wantDesc: "issuer not accepted"},
		{name: "malformed", token: "not.a.jwt", wantDesc: "token malformed"},
		{name: "two segments", token: "abc.def", wantDesc: "token malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(bearerRequest(t, "Bearer "+tt.token), now)
			if tt.wantSub != "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.Subject != tt.wantSub || id.Method != "jwt" || id.Claims["iss"] != "https://issuer.example" {
					t.Errorf("Identity = %+v, want subject %q", id, tt.wantSub)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify err = %v, want ErrInvalidToken", err)
			}
			want := `Bearer realm="edged", error="invalid_token", error_description="` + tt.wantDesc + `"`
			if got := v.Challenge(err); got != want {
				t.Errorf("Challenge = %s\nwant        %s\n(err %v)", got, want, err)
			}
		})
	}
}

// TestAlgorithmsRestrict: with Algorithms set, a token in another algorithm
// is refused even when a key for it exists.
func TestAlgorithmsRestrict(t *testing.T) {
	k := newTestKeys(t)
	v := mustVerifier(t, Options{JWT: &JWTOptions{
		HMACSecret:    hmacSecret,
		PublicKeysPEM: [][]byte{pemPublic(t, &k.rsa.PublicKey)},
		Algorithms:    []string{"RS256"},
	}})
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"RS256 allowed", sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), ""), true},
		{"RS384 not listed", sign(t, jwt.SigningMethodRS384, k.rsa, claims(nil), ""), false},
		{"HS256 not listed", sign(t, jwt.SigningMethodHS256, hmacSecret, claims(nil), ""), false},
		{"HS256 keyed with the public key", sign(t, jwt.SigningMethodHS256, pemPublic(t, &k.rsa.PublicKey), claims(nil), ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(bearerRequest(t, "Bearer "+tt.token), now)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify err = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && !strings.Contains(v.Challenge(err), `error_description="signing algorithm not allowed"`) {
				t.Errorf("Challenge = %s, want algorithm not allowed", v.Challenge(err))
			}
		})
	}
}

// TestConfusionWithPublicKeyOnly: a verifier that has only an RSA key must
// refuse an HS256 token whose secret is that key's PEM, and must not hand
// the key to the HMAC check at all.
func TestConfusionWithPublicKeyOnly(t *testing.T) {
	k := newTestKeys(t)
	pub := pemPublic(t, &k.rsa.PublicKey)
	v := mustVerifier(t, Options{JWT: &JWTOptions{PublicKeysPEM: [][]byte{pub}}})
	_, err := v.Verify(bearerRequest(t, "Bearer "+sign(t, jwt.SigningMethodHS256, pub, claims(nil), "")), now)
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify err = %v, want ErrInvalidToken", err)
	}
}

func TestVerifyAuthorizationHeader(t *testing.T) {
	v := mustVerifier(t, Options{JWT: &JWTOptions{HMACSecret: hmacSecret}, Realm: "cdn"})
	good := sign(t, jwt.SigningMethodHS256, hmacSecret, claims(nil), "")
	tests := []struct {
		name          string
		authz         []string
		wantErr       error
		wantChallenge string
	}{
		{"missing (RFC 6750 §3.1: no error code)", nil, ErrNoCredentials, `Bearer realm="cdn"`},
		{"other scheme", []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, ErrNoCredentials, `Bearer realm="cdn"`},
		{"scheme is case-insensitive (RFC 9110 §11.1)", []string{"bearer " + good}, nil, ""},
		{"empty token", []string{"Bearer "}, ErrInvalidToken, `Bearer realm="cdn", error="invalid_token", error_description="token missing"`},
		{"two fields (RFC 6750 §3.1 invalid_request)", []string{"Bearer " + good, "Bearer " + good}, ErrInvalidRequest, `Bearer realm="cdn", error="invalid_request"`},
		{"garbage", []string{"Bearer \x00\xff"}, ErrInvalidToken, `Bearer realm="cdn", error="invalid_token", error_description="token malformed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(bearerRequest(t, tt.authz...), now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Verify err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if got := v.Challenge(err); got != tt.wantChallenge {
					t.Errorf("Challenge = %s, want %s", got, tt.wantChallenge)
				}
				// The message (the 401's body) says each thing once.
				if msg := err.Error(); strings.Count(msg, ErrInvalidToken.Error()) > 1 {
					t.Errorf("message %q repeats %q", msg, ErrInvalidToken)
				}
			}
		})
	}
}

func TestVerifyAPIKey(t *testing.T) {
	v := mustVerifier(t, Options{
		APIKeys: &APIKeyOptions{Keys: []string{"key-zero", "key-one"}},
		JWT:     &JWTOptions{HMACSecret: hmacSecret},
	})
	good := sign(t, jwt.SigningMethodHS256, hmacSecret, claims(nil), "")
	tests := []struct {
		name    string
		keys    []string
		authz   string
		wantSub string
		wantErr error
	}{
		{name: "right key", keys: []string{"key-one"}, wantSub: APIKeyID("key-one")},
		{name: "first key", keys: []string{"key-zero"}, wantSub: APIKeyID("key-zero")},
		{name: "wrong key", keys: []string{"key-two"}, wantErr: ErrInvalidAPIKey},
		{name: "prefix of a key", keys: []string{"key-"}, wantErr: ErrInvalidAPIKey},
		{name: "empty value", keys: []string{""}, wantErr: ErrInvalidAPIKey},
		{name: "two fields", keys: []string{"key-one", "key-one"}, wantErr: ErrInvalidRequest},
		{name: "missing", wantErr: ErrNoCredentials},
		{name: "missing key, valid JWT", authz: "Bearer " + good, wantSub: "alice"},
		// Both: the token would reach the upstream unverified.
		{name: "wrong key is not rescued by a JWT", keys: []string{"nope"}, authz: "Bearer " + good, wantErr: ErrInvalidRequest},
		{name: "right key beside a JWT", keys: []string{"key-one"}, authz: "Bearer " + good, wantErr: ErrInvalidRequest},
		{name: "right key beside a forged JWT", keys: []string{"key-one"}, authz: "Bearer x.y.z", wantErr: ErrInvalidRequest},
		{name: "right key beside another scheme", keys: []string{"key-one"}, authz: "Basic dTpw", wantSub: APIKeyID("key-one")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bearerRequest(t)
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			for _, k := range tt.keys {
				r.Header.Add("x-api-key", k)
			}
			id, err := v.Verify(r, now)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify err = %v, want %v", err, tt.wantErr)
				}
				want := `Bearer realm="edged"`
				if errors.Is(err, ErrInvalidRequest) {
					want += `, error="invalid_request"`
				}
				want += `, APIKey realm="edged", header="X-API-Key"`
				if got := v.Challenge(err); got != want {
					t.Errorf("Challenge = %s, want %s", got, want)
				}
				return
			}
			if err != nil || id.Subject != tt.wantSub {
				t.Errorf("Verify = (%+v, %v), want subject %q", id, err, tt.wantSub)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	k := newTestKeys(b)
	v := mustVerifier(b, Options{
		JWT:     &JWTOptions{HMACSecret: hmacSecret, PublicKeysPEM: [][]byte{pemPublic(b, &k.rsa.PublicKey), pemPublic(b, &k.ec256.PublicKey)}},
		APIKeys: &APIKeyOptions{Keys: []string{"k1", "k2", "k3"}},
	})
	for _, bc := range []struct{ name, authz, key string }{
		{"HS256", "Bearer " + sign(b, jwt.SigningMethodHS256, hmacSecret, claims(nil), ""), ""},
		{"RS256", "Bearer " + sign(b, jwt.SigningMethodRS256, k.rsa, claims(nil), ""), ""},
		{"ES256", "Bearer " + sign(b, jwt.SigningMethodES256, k.ec256, claims(nil), ""), ""},
		{"APIKey", "", "k3"},
	} {
		r := bearerRequest(b)
		if bc.authz != "" {
			r.Header.Set("Authorization", bc.authz)
		}
		if bc.key != "" {
			r.Header.Set("X-API-Key", bc.key)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(r, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
