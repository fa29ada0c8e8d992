package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestShieldKeepsClientScheme: an edge serving HTTP and HTTPS through a
// shield, in front of an origin that redirects plain HTTP to HTTPS by
// X-Forwarded-Proto (Rails' force_ssl, Django's SECURE_SSL_REDIRECT behind a
// proxy). The shield keys and forwards the scheme the edge's client used,
// which the edge sends it in X-Forwarded-Proto. Before, the shield keyed by
// its own plain connection and told the origin "http" for every request:
// every HTTPS client got the redirect to the URL it had asked for (a loop),
// and whichever scheme came first filled the shield's one entry for both.
// Also checks that a client of the edge cannot choose the shield's scheme.
func TestShieldKeepsClientScheme(t *testing.T) {
	var fetches atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=300")
		if r.Header.Get("X-Forwarded-Proto") != "https" {
			w.Header().Set("Location", "https://"+r.Host+r.URL.RequestURI())
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		fmt.Fprintf(w, "page %s over https", r.URL.Path)
	}))
	t.Cleanup(o.Close)

	shieldCfg := parseNodeConfig(t, fmt.Sprintf("role: shield\nupstream: {origin: %s}\n", o.URL))
	shield := startFleetNode(t, shieldCfg)

	dir := t.TempDir()
	ca := newTestCA(t)
	cert, key := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	ca.issue(t, cert, key, "a.test")
	edgeCfg := parseNodeConfig(t, fmt.Sprintf(`
upstream: {shields: [%s]}
tls:
  listen: 127.0.0.1:0
  certificates: [{cert: %s, key: %s}]
`, shield.public, cert, key))
	edge := startFleetNode(t, edgeCfg)
	h1, h1Tr := http1Client(ca, edge.n.tlsLn.Addr().String())
	defer h1Tr.CloseIdleConnections()
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Plain HTTP first: the origin's redirect, stored by the shield.
	resp, _ := get(t, plain, edge.public+"/p", "Host", "a.test")
	if resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("plain HTTP: %d, want the origin's 301", resp.StatusCode)
	}
	// HTTPS: the page, not the redirect stored for plain HTTP.
	if resp, body := get(t, h1, "https://a.test/p"); resp.StatusCode != http.StatusOK || body != "page /p over https" {
		t.Fatalf("HTTPS after plain HTTP: %d %q (Location %q, Cache-Status %q), want the https page",
			resp.StatusCode, body, resp.Header.Get("Location"), resp.Header.Get("Cache-Status"))
	}
	// The other order, and each scheme's entry is a hit at the shield.
	resp, body := get(t, h1, "https://a.test/q")
	if resp.StatusCode != http.StatusOK || body != "page /q over https" {
		t.Fatalf("HTTPS first: %d %q, want the https page", resp.StatusCode, body)
	}
	if resp, _ := get(t, plain, edge.public+"/q", "Host", "a.test"); resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("plain HTTP after HTTPS: %d (Cache-Status %q), want the origin's 301",
			resp.StatusCode, resp.Header.Get("Cache-Status"))
	}
	if n := fetches.Load(); n != 4 {
		t.Errorf("origin fetched %d times, want 4 (one per URL and scheme)", n)
	}

	// A client of the edge cannot pick the scheme the shield keys: the
	// edge replaces X-Forwarded-Proto with its own.
	resp, _ = get(t, plain, edge.public+"/r", "Host", "a.test", "X-Forwarded-Proto", "https")
	if resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("plain HTTP claiming https: %d, want the origin's 301", resp.StatusCode)
	}
	// Nor a shield's own clients beyond one exact value.
	for _, v := range [][]string{{"X-Forwarded-Proto", "https, http"}, {"X-Forwarded-Proto", "ftp"}} {
		resp, _ := get(t, plain, shield.public+"/s", append([]string{"Host", "a.test"}, v...)...)
		if resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("shield with %q: %d, want the plain-HTTP answer (301)", v, resp.StatusCode)
		}
	}
}
