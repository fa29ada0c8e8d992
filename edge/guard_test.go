package edge

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"edged/edge/access"
	"edged/edge/auth"
	"edged/edge/ratelimit"
	"edged/origin"
	"edged/storage"
)

func TestGuardAccessRateLimitAuth(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("ok " + r.URL.Path))
	})
	up := upstreamTo(t, o.URL)
	denyLoopback, err := access.Compile(access.Rules{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := ratelimit.New(ratelimit.Options{Rate: 1, Burst: 2, MaxClients: 10})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(strings.Repeat("s", 32))
	verifier, err := auth.NewVerifier(auth.Options{JWT: &auth.JWTOptions{HMACSecret: secret, Algorithms: []string{"HS256"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, HTTPSRedirect: false,
		ResponseHeaders: HeaderRules{Set: map[string]string{"X-Content-Type-Options": "nosniff"}},
		Routes: []*Route{
			{PathPrefix: "/", Upstream: up},
			{PathPrefix: "/blocked/", Upstream: up, Access: denyLoopback},
			{PathPrefix: "/limited/", Upstream: up, RateLimit: limiter},
			{PathPrefix: "/private/", Upstream: up, Auth: verifier, AuthKey: []string{"sub"}},
		}})
	host := []string{"Host", "s.example"}

	resp, _ := e.get(t, "/blocked/x", host...)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("denied network: status %d, want 403", resp.StatusCode)
	}
	for i, want := range []int{200, 200, 429} {
		resp, _ := e.get(t, "/limited/x", host...)
		if resp.StatusCode != want {
			t.Errorf("request %d to a 1/s burst 2 route: status %d, want %d", i, resp.StatusCode, want)
		}
		if want == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	c.Advance(2 * time.Second)
	if resp, _ := e.get(t, "/limited/x", host...); resp.StatusCode != 200 {
		t.Errorf("after refill: status %d", resp.StatusCode)
	}

	resp, _ = e.get(t, "/private/x", host...)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: status %d WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	token := func(sub string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": c.Now().Add(time.Hour).Unix()}).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	resp, body := e.get(t, "/private/x", append(host, "Authorization", token("alice"))...)
	if resp.StatusCode != 200 || body != "ok /private/x" {
		t.Errorf("valid token: status %d body %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("site response headers not applied")
	}
	// max-age alone does not let an authenticated response be shared
	// (RFC 9111 §3.5): the next request, even the same user's, is fetched.
	before := o.requests.Load()
	e.get(t, "/private/x", append(host, "Authorization", token("alice"))...)
	if o.requests.Load() == before {
		t.Error("an authenticated response without public/s-maxage was served from cache")
	}
}

// Responses of an authenticated route that the origin marks public are
// cached per the route's declared key claims, so one user's copy is never
// served to another.
func TestAuthKeyPartitionsCache(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		_, _ = w.Write([]byte("for " + r.Header.Get("X-Api-Key")))
	})
	verifier, err := auth.NewVerifier(auth.Options{APIKeys: &auth.APIKeyOptions{Keys: []string{"key-a", "key-b"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Auth: verifier, AuthKey: []string{"sub"}},
	}})
	for i := 0; i < 2; i++ {
		for _, key := range []string{"key-a", "key-b"} {
			resp, body := e.get(t, "/doc", "Host", "s.example", "X-Api-Key", key)
			if body != "for "+key {
				t.Errorf("%s got %q", key, body)
			}
			if i == 1 && !isHit(resp) {
				t.Errorf("%s: second request not a hit: %q", key, resp.Header.Get("Cache-Status"))
			}
		}
	}
	if resp, _ := e.get(t, "/doc", "Host", "s.example", "X-Api-Key", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: status %d", resp.StatusCode)
	}
}

// TestBlockedUserAgentInSecondField is the attack of a client that sends
// two User-Agent lines, a browser's first and its own second: the rule
// read the first alone and let it through, to an origin that may log or
// act on either. Every line is checked now.
func TestBlockedUserAgentInSecondField(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("ok"))
	rules, err := access.Compile(access.Rules{BlockUserAgents: []string{"sqlmap"}})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Access: rules},
	}})
	// Written by hand: net/http's client sends one User-Agent line only.
	get := func(uas ...string) *http.Response {
		req := "GET /x HTTP/1.1\r\nHost: s.example\r\nConnection: close\r\n"
		for _, ua := range uas {
			req += "User-Agent: " + ua + "\r\n"
		}
		return rawRequest(t, e.URL, req+"\r\n")
	}
	for _, uas := range [][]string{{"sqlmap/1.7"}, {"Mozilla/5.0", "sqlmap/1.7"}, {"Mozilla/5.0", "SQLMap"}} {
		wantStatus(t, get(uas...), http.StatusForbidden, "detail=access-denied")
	}
	wantStatus(t, get("Mozilla/5.0", "curl/8"), http.StatusOK)
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin saw %d requests, want 1 (the clean one)", n)
	}
}

// claimKeyEdge serves an HS256 JWT route whose cache is partitioned by
// keyClaim (key_claims), in front of an application that reads the token
// itself (with the parser options opts) and answers, publicly cacheable,
// "page of " and the claim's JSON. It returns the edge and a signer of
// raw JSON payloads (written out, so that numbers keep the issuer's
// digits).
func claimKeyEdge(t *testing.T, keyClaim string, opts ...jwt.ParserOption) (*testEdge, func(payload string) string) {
	t.Helper()
	e, _, sign := claimKeyEdgeVia(t, keyClaim, false, opts...)
	return e, sign
}

// claimKeyEdgeVia is claimKeyEdge; with viaShield the edge fetches
// through a shield node (a second edged in the shield role, with no
// route of its own) that alone talks to the application, and returns it
// too (nil without).
func claimKeyEdgeVia(t *testing.T, keyClaim string, viaShield bool, opts ...jwt.ParserOption) (e, shield *testEdge, sign func(payload string) string) {
	t.Helper()
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		claims := jwt.MapClaims{}
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		_, _, _ = jwt.NewParser(opts...).ParseUnverified(tok, claims)
		v, _ := json.Marshal(claims[keyClaim])
		w.Header().Set("Cache-Control", "public, max-age=60")
		_, _ = w.Write(append([]byte("page of "), v...))
	})
	secret := []byte(strings.Repeat("s", 32))
	verifier, err := auth.NewVerifier(auth.Options{JWT: &auth.JWTOptions{HMACSecret: secret, Algorithms: []string{"HS256"}}})
	if err != nil {
		t.Fatal(err)
	}
	up := upstreamTo(t, o.URL)
	if viaShield {
		shield = newEdge(t, c, edgeConfig{name: "edged-shield", upstream: o.URL, shield: true})
		var err error
		if up, err = origin.New(origin.Options{Shields: []string{shield.URL}, Via: "edged"}); err != nil {
			t.Fatal(err)
		}
	}
	e = routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: up, Auth: verifier, AuthKey: []string{keyClaim}},
	}})
	exp := c.Now().Add(time.Hour).Unix()
	sign = func(payload string) string {
		head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
		body := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d,%s}`, exp, payload))
		sig, err := jwt.SigningMethodHS256.Sign(head+"."+body, secret)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + head + "." + body + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	return e, shield, sign
}

// TestAuthKeyNonStringSubject is the attack of a token whose "sub" is not
// a string (a number, as some issuers send a user id): the key partition
// read the subject as "", so every such user shared one cache partition
// and the second was served the first's page. RFC 7519 §4.1.2: "sub" is a
// StringOrURI; such a token is invalid, and refused.
func TestAuthKeyNonStringSubject(t *testing.T) {
	e, sign := claimKeyEdge(t, "sub")
	for _, sub := range []string{`1001`, `1002`, `true`, `{"id":7}`} {
		resp, body := e.get(t, "/account", "Host", "s.example", "Authorization", sign(`"sub":`+sub))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("sub %s: status %d, body %q; want 401 (sub must be a string)", sub, resp.StatusCode, body)
		}
	}
	// A string subject still gets its own page.
	if _, body := e.get(t, "/account", "Host", "s.example", "Authorization", sign(`"sub":"1002"`)); body != `page of "1002"` {
		t.Errorf("string sub: %q", body)
	}
}

// TestAuthKeyPartitionThroughShield is the attack of a user behind an
// edge whose route partitions its cache by subject (key_claims) and
// fetches through a shield: the shield has no such route, so it stored
// the first user's page (public, as the route's partition allowed) under
// the URL alone, and the second user's miss at the edge was answered
// from it: Bob was served Alice's page. The edge now asks upstream not to
// store what it partitions (a request no-store, RFC 9111 §5.2.1.5) and
// keeps its own per-user copy, and not to answer with what it stored
// before (no-cache): here Carol's page, stored at the shield by a request
// that reached it directly, as an older edge's would have been.
func TestAuthKeyPartitionThroughShield(t *testing.T) {
	e, shield, sign := claimKeyEdgeVia(t, "sub", true)
	if _, body := shield.get(t, "/account", "Host", "s.example", "Authorization", sign(`"sub":"carol"`)); body != `page of "carol"` {
		t.Fatalf("stored at the shield: %q", body)
	}
	for i := 0; i < 2; i++ {
		for _, user := range []string{"alice", "bob"} {
			resp, body := e.get(t, "/account", "Host", "s.example", "Authorization", sign(`"sub":"`+user+`"`))
			if want := `page of "` + user + `"`; body != want {
				t.Errorf("round %d, %s got %q (Cache-Status %q); want %q", i, user, body, resp.Header.Get("Cache-Status"), want)
			}
			if i == 1 && !isHit(resp) {
				t.Errorf("%s: the edge's own partition not hit: %q", user, resp.Header.Get("Cache-Status"))
			}
		}
	}
}

// TestAuthKeyLargeNumericClaim is the attack of two users whose numeric
// user ids (snowflake ids, past 2^53) differ in the last digits: decoded
// as float64 the two claims were one value, so the key partition was one
// and the second user was served the first's page. The claims keep their
// numbers' text (json.Number).
func TestAuthKeyLargeNumericClaim(t *testing.T) {
	e, sign := claimKeyEdge(t, "uid", jwt.WithJSONNumber())
	for _, uid := range []string{"1234567890123456789", "1234567890123456790"} {
		if _, body := e.get(t, "/account", "Host", "s.example", "Authorization", sign(`"sub":"u","uid":`+uid)); body != "page of "+uid {
			t.Errorf("user %s got %q", uid, body)
		}
	}
}

// TestAuthKeyListClaim is the attack of two users whose list claims print
// alike: ["Domain Admins"] and ["Domain", "Admins"] both rendered as
// "[Domain Admins]", one cache partition under key_claims: [groups]. Each
// value is written as JSON, which tells them apart.
func TestAuthKeyListClaim(t *testing.T) {
	e, sign := claimKeyEdge(t, "groups")
	for _, groups := range []string{`["Domain Admins"]`, `["Domain","Admins"]`, `["Domain Admins"]`} {
		if _, body := e.get(t, "/report", "Host", "s.example", "Authorization", sign(`"sub":"u","groups":`+groups)); body != "page of "+groups {
			t.Errorf("groups %s got %q", groups, body)
		}
	}
}

// TestAuthKeyAPIKeyRotation is the attack of a key list that changes: an
// API key's identity was its index in the list, so once the first key was
// revoked the second became "apikey#0" and its holder was served, from
// the cache the node kept, the pages stored for the revoked key's holder.
// The identity is now derived from the key itself.
func TestAuthKeyAPIKeyRotation(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		_, _ = w.Write([]byte("invoices of " + r.Header.Get("X-Api-Key")))
	})
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	// serve starts a node over the one store with the accepted keys, as a
	// restart or reload with a new keys_env does.
	serve := func(keys ...string) *testEdge {
		verifier, err := auth.NewVerifier(auth.Options{APIKeys: &auth.APIKeyOptions{Keys: keys}})
		if err != nil {
			t.Fatal(err)
		}
		rt, err := NewRouter([]*Site{{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
			{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Auth: verifier, AuthKey: []string{"sub"}},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(Options{Name: "edged", Store: store, Router: rt, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		e := &testEdge{Server: newPublicServer(t, h), handler: h, store: store}
		t.Cleanup(func() { e.Server.Close(); closeHandler(t, h) })
		return e
	}
	before := serve("key-revoked", "key-kept")
	if _, body := before.get(t, "/invoices", "Host", "s.example", "X-Api-Key", "key-revoked"); body != "invoices of key-revoked" {
		t.Fatalf("before the rotation: %q", body)
	}
	after := serve("key-kept")
	if _, body := after.get(t, "/invoices", "Host", "s.example", "X-Api-Key", "key-kept"); body != "invoices of key-kept" {
		t.Errorf("after the first key was revoked, the second key's holder got %q", body)
	}
}

func TestHTTPSRedirect(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x"))
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, HTTPSRedirect: true,
		Routes: []*Route{{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)}}})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/a?b=1", nil)
	req.Host = "s.example:8080"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://s.example/a?b=1" {
		t.Errorf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if o.requests.Load() != 0 {
		t.Error("a redirected request reached the origin")
	}
}

// TestAuthAPIKeyWithForgedBearer is the attack of a route that accepts a
// bearer JWT or an API key: the holder of any API key sent it with a
// forged token (signed with a key of its own, claiming another subject
// and an admin role). The request was judged on the key alone and the
// token reached the origin unverified, which an origin behind a
// JWT-verifying gateway reads as the caller's claims. A request with
// both is now refused, and nothing reaches the origin; each alone still
// passes.
func TestAuthAPIKeyWithForgedBearer(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok"))
	})
	secret := []byte(strings.Repeat("s", 32))
	verifier, err := auth.NewVerifier(auth.Options{
		JWT:     &auth.JWTOptions{HMACSecret: secret, Algorithms: []string{"HS256"}},
		APIKeys: &auth.APIKeyOptions{Keys: []string{"low-privilege-key"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Auth: verifier},
	}})
	claims := jwt.MapClaims{"sub": "admin", "roles": []string{"admin"}, "exp": c.Now().Add(time.Hour).Unix()}
	forged := signed(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), "", claims)
	genuine := signed(t, jwt.SigningMethodHS256, secret, "", claims)

	for _, bearer := range []string{forged, genuine, "Bearer not-even-a-token"} {
		resp, body := e.get(t, "/admin/users", "Host", "s.example", "X-API-Key", "low-privilege-key", "Authorization", bearer)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("API key with bearer %.20q...: status %d, body %q; want 401", bearer, resp.StatusCode, body)
		}
		if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_request"`) {
			t.Errorf("API key with a bearer token: WWW-Authenticate %q, want invalid_request", got)
		}
	}
	if n := o.requests.Load(); n != 0 {
		t.Fatalf("%d requests carrying an API key and a bearer token reached the origin", n)
	}
	// Each credential alone, and an API key beside another scheme (the
	// origin's own Basic authentication, not the route's to judge).
	for _, fields := range [][]string{
		{"X-API-Key", "low-privilege-key"},
		{"Authorization", genuine},
		{"X-API-Key", "low-privilege-key", "Authorization", "Basic dXNlcjpwYXNz"},
	} {
		if resp, body := e.get(t, "/x", append([]string{"Host", "s.example"}, fields...)...); resp.StatusCode != http.StatusOK {
			t.Errorf("%q: status %d, body %q; want 200", fields, resp.StatusCode, body)
		}
	}
}

// TestAuthKeyClaimsAPIKeysApart is the attack of a route that partitions
// its cache by a claim other than "sub" (key_claims: [tenant]) and also
// accepts API keys: an API key has no claims, so every key read as
// tenant=null, one partition, and the second key's holder was served the
// page the origin made for the first key's tenant (public, as the
// partition allows it to say). Each API key is now a partition of its
// own.
func TestAuthKeyClaimsAPIKeysApart(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		_, _ = w.Write([]byte("invoices of the tenant of " + r.Header.Get("X-Api-Key")))
	})
	verifier, err := auth.NewVerifier(auth.Options{
		JWT:     &auth.JWTOptions{HMACSecret: []byte(strings.Repeat("s", 32)), Algorithms: []string{"HS256"}},
		APIKeys: &auth.APIKeyOptions{Keys: []string{"key-of-acme", "key-of-globex"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Auth: verifier, AuthKey: []string{"tenant"}},
	}})
	for round := range 2 {
		for _, key := range []string{"key-of-acme", "key-of-globex"} {
			resp, body := e.get(t, "/invoices", "Host", "s.example", "X-API-Key", key)
			if want := "invoices of the tenant of " + key; body != want {
				t.Errorf("round %d, %s got %q (Cache-Status %q); want %q", round, key, body, resp.Header.Get("Cache-Status"), want)
			}
			if round == 1 && !isHit(resp) {
				t.Errorf("%s: its own partition not hit: %q", key, resp.Header.Get("Cache-Status"))
			}
		}
	}
}
