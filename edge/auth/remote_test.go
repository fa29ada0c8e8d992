package auth

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"edged/internal/logtest"
)

// A key set fetch follows no redirect and reads at most 1 MiB: either is
// a failed fetch, leaving the verifier without the keys.
func TestRemoteJWKSFetchBounds(t *testing.T) {
	k := newTestKeys(t)
	set := jwksJSON(t, map[string]any{"a": &k.rsa.PublicKey})
	var goodFetches atomic.Int64
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		goodFetches.Add(1)
		_, _ = w.Write(set)
	}))
	t.Cleanup(good.Close)
	redirect := httptest.NewServer(http.RedirectHandler(good.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	// Valid JSON, the key first, padded past the bound.
	huge := append(bytes.TrimSuffix(set, []byte("}")), []byte(`,"pad":"`+strings.Repeat("x", maxJWKSBytes)+`"}`)...)
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(huge) }))
	t.Cleanup(big.Close)
	tok := "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), "a")
	for _, tt := range []struct {
		name, url string
		want      bool
	}{
		{"direct", good.URL, true},
		{"redirected", redirect.URL, false},
		{"over 1 MiB", big.URL, false},
	} {
		v := mustVerifier(t, Options{JWT: &JWTOptions{JWKS: &RemoteJWKS{URL: tt.url, Refresh: time.Hour, MinRefetch: time.Hour}}})
		_, err := v.Verify(bearerRequest(t, tok), now)
		v.Close()
		if (err == nil) != tt.want {
			t.Errorf("%s: Verify error %v, want success %v", tt.name, err, tt.want)
		}
	}
	if n := goodFetches.Load(); n != 1 {
		t.Errorf("the redirect's target was fetched %d times in all, want 1 (the direct case)", n)
	}
}

// Keys of a fetched set serve only the algorithms of their type and their
// own "alg"; encryption keys serve none.
func TestRemoteKeysChosenByType(t *testing.T) {
	k := newTestKeys(t)
	body := []byte(`{"keys":[` +
		`{"kty":"RSA","kid":"enc","use":"enc","n":"` + b64u(k.rsa.N.Bytes()) + `","e":"AQAB"},` +
		`{"kty":"RSA","kid":"rs384","alg":"RS384","n":"` + b64u(k.rsa.N.Bytes()) + `","e":"AQAB"}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(srv.Close)
	v := mustVerifier(t, Options{JWT: &JWTOptions{JWKS: &RemoteJWKS{URL: srv.URL, Refresh: time.Hour, MinRefetch: time.Hour}}})
	t.Cleanup(v.Close)
	for _, tt := range []struct {
		m    jwt.SigningMethod
		kid  string
		want bool
	}{
		{jwt.SigningMethodRS384, "rs384", true},
		{jwt.SigningMethodRS256, "rs384", false}, // the key's alg is RS384
		{jwt.SigningMethodRS256, "enc", false},   // RFC 7517 §4.2
		{jwt.SigningMethodRS384, "", true},       // no kid: every signing key tried
	} {
		_, err := v.Verify(bearerRequest(t, "Bearer "+sign(t, tt.m, k.rsa, claims(nil), tt.kid)), now)
		if (err == nil) != tt.want {
			t.Errorf("%s kid %q: error %v, want success %v", tt.m.Alg(), tt.kid, err, tt.want)
		}
	}
}

func TestScopeAndRoleClaims(t *testing.T) {
	q := requirements{scopes: []string{"a", "b"}, roles: []string{"admin"}, rolesPath: []string{"realm", "roles"}}
	tests := []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"scope string", map[string]any{"scope": " a  b ", "realm": map[string]any{"roles": []any{"admin"}}}, true},
		{"scp array and scope", map[string]any{"scope": "a", "scp": []any{"b", 7}, "realm": map[string]any{"roles": "admin other"}}, true},
		{"scope as an array", map[string]any{"scope": []any{"a", "b"}, "realm": map[string]any{"roles": []any{"admin"}}}, true},
		{"missing b", map[string]any{"scope": "a", "realm": map[string]any{"roles": []any{"admin"}}}, false},
		{"roles not an object path", map[string]any{"scope": "a b", "realm": []any{"admin"}}, false},
		{"roles number", map[string]any{"scope": "a b", "realm": map[string]any{"roles": 1}}, false},
	}
	for _, tt := range tests {
		if err := q.check(tt.claims); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// A provider that is down at start costs no more than one refused token:
// with no key held, a token without kid refetches (rate-limited).
func TestRemoteJWKSRecoversFromFailedStart(t *testing.T) {
	k := newTestKeys(t)
	set := jwksJSON(t, map[string]any{"a": &k.ec256.PublicKey})
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fetches.Add(1) == 1 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(set)
	}))
	t.Cleanup(srv.Close)
	var logs logtest.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	v := mustVerifier(t, Options{JWT: &JWTOptions{JWKS: &RemoteJWKS{URL: srv.URL, Refresh: time.Hour, MinRefetch: time.Hour, Logger: log}}})
	t.Cleanup(v.Close)
	// The start's failure says what it means (it said "keeping the keys
	// held", with none held).
	const noKey = "JWK Set fetch failed; no key held yet: the route refuses tokens (401) until a fetch succeeds"
	if lines := logs.Lines(t, noKey); len(lines) != 1 {
		t.Errorf("log after a failed first fetch:\n%s\nwant one %q", logs.String(), noKey)
	}
	tok := "Bearer " + sign(t, jwt.SigningMethodES256, k.ec256, claims(nil), "")
	if _, err := v.Verify(bearerRequest(t, tok), now); err != nil {
		t.Errorf("after a failed first fetch: %v", err)
	}
	if _, err := v.Verify(bearerRequest(t, tok), now); err != nil || fetches.Load() != 2 {
		t.Errorf("second token: %v after %d fetches, want none and 2", err, fetches.Load())
	}
}
