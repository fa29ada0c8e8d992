package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"testing"

	"edged/internal/fielderr/fieldtest"
)

func TestNewVerifierErrors(t *testing.T) {
	k := newTestKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.rsa)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	badJWKS := writeFile(t, "bad-jwks.json", []byte(`{"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}`))
	emptyJWKS := writeFile(t, "empty-jwks.json", []byte(`{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}`))
	notJSON := writeFile(t, "jwks.txt", []byte(`keys:`))
	badPEMFile := writeFile(t, "key.pem", []byte("not pem"))
	tests := []struct {
		name string
		opts Options
		want []string // substrings of the error
	}{
		{"nothing configured", Options{}, []string{"neither JWT, APIKeys nor Basic"}},
		{"JWT without keys", Options{JWT: &JWTOptions{}}, []string{"JWT: no HMACSecret"}},
		{"short HMAC secret (RFC 7518 §3.2)", Options{JWT: &JWTOptions{HMACSecret: []byte("short")}}, []string{"JWT.HMACSecret"}},
		{"unsupported alg", Options{JWT: &JWTOptions{HMACSecret: hmacSecret, Algorithms: []string{"none"}}}, []string{"JWT.Algorithms[0]", `"none"`}},
		{"alg without key", Options{JWT: &JWTOptions{HMACSecret: hmacSecret, Algorithms: []string{"HS256", "RS256"}}}, []string{"JWT.Algorithms[1]", "RS256"}},
		{"garbage PEM", Options{JWT: &JWTOptions{PublicKeysPEM: [][]byte{[]byte("x")}}}, []string{"JWT.PublicKeysPEM[0]", "no PEM public key"}},
		{"private key PEM", Options{JWT: &JWTOptions{PublicKeysPEM: [][]byte{privPEM}}}, []string{"JWT.PublicKeysPEM[0]", `"PRIVATE KEY"`}},
		{"small RSA key", Options{JWT: &JWTOptions{PublicKeysPEM: [][]byte{pemPublic(t, &small.PublicKey)}}}, []string{"1024 bits"}},
		{"bad PEM file names the file", Options{JWT: &JWTOptions{PublicKeyFiles: []string{badPEMFile}}}, []string{badPEMFile}},
		{"missing PEM file", Options{JWT: &JWTOptions{PublicKeyFiles: []string{filepath.Join(t.TempDir(), "nope.pem")}}}, []string{"JWT.PublicKeyFiles[0]", "nope.pem"}},
		{"bad JWKS names the file", Options{JWT: &JWTOptions{JWKSFile: badJWKS}}, []string{badJWKS, "keys[0]", `member "n"`}},
		{"JWKS without usable keys", Options{JWT: &JWTOptions{JWKSFile: emptyJWKS}}, []string{emptyJWKS, "no usable"}},
		{"JWKS not JSON", Options{JWT: &JWTOptions{JWKSFile: notJSON}}, []string{notJSON, "not a JWK Set"}},
		{"missing JWKS", Options{JWT: &JWTOptions{JWKSFile: filepath.Join(t.TempDir(), "none.json")}}, []string{"JWT.JWKSFile", "none.json"}},
		{"no API keys", Options{APIKeys: &APIKeyOptions{}}, []string{"APIKeys.Keys"}},
		{"empty API key", Options{APIKeys: &APIKeyOptions{Keys: []string{"a", ""}}}, []string{"APIKeys.Keys[1]"}},
		{"bad realm", Options{APIKeys: &APIKeyOptions{Keys: []string{"a"}}, Realm: `a"b`}, []string{"Realm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.opts)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("NewVerifier err = %v, want ErrInvalidOptions", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	k := newTestKeys(t)
	ecRaw, err := k.ec256.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	x, y := b64u(ecRaw[1:33]), b64u(ecRaw[33:])
	n := b64u(k.rsa.PublicKey.N.Bytes())
	offCurve := append([]byte{}, ecRaw[33:]...)
	offCurve[31] ^= 1
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		json     string
		wantKeys int
		wantErr  string
	}{
		{"RSA and EC", `{"keys":[{"kty":"RSA","kid":"r","n":"` + n + `","e":"AQAB"},{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"}]}`, 2, ""},
		{"unknown kty ignored (RFC 7517 §5)", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc"},{"kty":"RSA","n":"` + n + `","e":"AQAB"}]}`, 1, ""},
		{"encryption key ignored (RFC 7517 §4.2)", `{"keys":[{"kty":"RSA","use":"enc","n":"` + n + `","e":"AQAB"},{"kty":"RSA","use":"sig","n":"` + n + `","e":"AQAB"}]}`, 1, ""},
		{"padded base64 tolerated", `{"keys":[{"kty":"RSA","n":"` + n + `==","e":"AQAB"}]}`, 1, ""},
		{"P-521", string(jwksJSON(t, map[string]any{"p": &p521.PublicKey})), 1, ""},
		{"even exponent", `{"keys":[{"kty":"RSA","n":"` + n + `","e":"Ag"}]}`, 0, "exponent"},
		{"huge exponent", `{"keys":[{"kty":"RSA","n":"` + n + `","e":"AQABAQAB"}]}`, 0, "exponent"},
		{"alg does not fit the key", `{"keys":[{"kty":"RSA","alg":"HS256","n":"` + n + `","e":"AQAB"}]}`, 0, `alg "HS256"`},
		{"EC point off the curve", `{"keys":[{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + b64u(offCurve) + `"}]}`, 0, "EC point"},
		{"EC short coordinate (RFC 7518 §6.2.1.2)", `{"keys":[{"kty":"EC","crv":"P-256","x":"` + b64u(ecRaw[2:33]) + `","y":"` + y + `"}]}`, 0, "32 bytes"},
		{"unknown curve", `{"keys":[{"kty":"EC","crv":"secp256k1","x":"` + x + `","y":"` + y + `"}]}`, 0, "curve"},
		{"missing member", `{"keys":[{"kty":"RSA","e":"AQAB"}]}`, 0, `member "n"`},
		{"empty set", `{"keys":[]}`, 0, "no usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := parseJWKS([]byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseJWKS err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(keys) != tt.wantKeys {
				t.Fatalf("parseJWKS = %d keys, %v; want %d keys", len(keys), err, tt.wantKeys)
			}
		})
	}
}

// TestPublicKeyFormats: keys load from files, PKCS #1 and
// certificate PEM blocks included.
func TestPublicKeyFormats(t *testing.T) {
	k := newTestKeys(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now, NotAfter: now.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.ec384.PublicKey, k.ec384)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	all := append(append(pemPublic(t, &k.ec256.PublicKey), pkcs1...), cert...)
	f := writeFile(t, "keys.pem", all)
	v := mustVerifier(t, Options{JWT: &JWTOptions{PublicKeyFiles: []string{f}}})
	if got, want := strings.Join(v.jwt.algs, " "), "RS256 RS384 RS512 ES256 ES384"; got != want {
		t.Errorf("algorithms = %s, want %s", got, want)
	}
}

func TestOptionsValidate(t *testing.T) {
	valid := func() Options {
		return Options{
			JWT:     &JWTOptions{HMACSecret: hmacSecret, PublicKeyFiles: []string{"k.pem"}, Algorithms: []string{"HS256", "RS256"}},
			APIKeys: &APIKeyOptions{Header: DefaultAPIKeyHeader, Keys: []string{"a", "b"}},
			Realm:   DefaultRealm,
		}
	}
	fieldtest.Run(t, valid, []fieldtest.Case[Options]{
		{Path: "Realm", Bad: func(o *Options) { o.Realm = `a"b` }},
		{Path: "JWT", Bad: func(o *Options) { o.JWT = &JWTOptions{} }},
		{Path: "JWT.HMACSecret", Bad: func(o *Options) { o.JWT.HMACSecret = []byte("short") }},
		{Path: "JWT.Leeway", Bad: func(o *Options) { o.JWT.Leeway = -1 }},
		{Path: "JWT.PublicKeyFiles[0]", Bad: func(o *Options) { o.JWT.PublicKeyFiles[0] = "" }},
		{Path: "JWT.Algorithms[1]", Bad: func(o *Options) { o.JWT.Algorithms[1] = "none" }},
		{Path: "JWT.Algorithms[0]", Bad: func(o *Options) { o.JWT.HMACSecret, o.JWT.Algorithms = nil, []string{"HS256"} }},
		{Path: "JWT.Algorithms[0]", Bad: func(o *Options) { o.JWT.PublicKeyFiles, o.JWT.Algorithms = nil, []string{"ES256"} }},
		{Path: "APIKeys.Header", Bad: func(o *Options) { o.APIKeys.Header = "X Key" }},
		{Path: "APIKeys.Keys", Bad: func(o *Options) { o.APIKeys.Keys = nil }},
		{Path: "APIKeys.Keys[1]", Bad: func(o *Options) { o.APIKeys.Keys[1] = "" }},
	})
	if !errors.Is(Options{}.Validate(), ErrInvalidOptions) {
		t.Error("a problem does not wrap ErrInvalidOptions")
	}
}
