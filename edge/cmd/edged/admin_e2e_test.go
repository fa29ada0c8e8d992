package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// adminRoute is one request to the admin listener and the statuses it must
// get without credentials, with a wrong token, and with its token.
type adminRoute struct {
	method, path, body string
	token              string // the token that opens it; "" for open routes
	none, wrong, right int
}

// adminRoutes are every route of the admin listener (docs/security.md,
// "Admin listener: who may use each route"). A route added to the admin
// mux must be added here.
func adminRoutes(pprof bool) []adminRoute {
	const debugToken = "dbg-secret"
	inspect := "/inspect?url=" + url.QueryEscape("http://www.example.com/a")
	routes := []adminRoute{
		// Open: a scraper and a load balancer's health check need no token.
		{"GET", "/metrics", "", "", 200, 200, 200},
		{"GET", "/healthz", "", "", 200, 200, 200},
		// The proof edgectl asks for before it sends the token.
		{"GET", "/purge?challenge=c", "", "", 200, 200, 200},
		// The purge token.
		{"POST", "/purge", `{"urls":["http://www.example.com/a"]}`, purgeToken, 401, 401, 200},
		{"GET", inspect, "", purgeToken, 401, 401, 200},
		{"GET", "/dashboard", "", purgeToken, 401, 401, 302},
		{"GET", "/dashboard/", "", purgeToken, 401, 401, 200},
		{"GET", "/dashboard/app.js", "", purgeToken, 401, 401, 200},
		{"GET", "/dashboard/state", "", purgeToken, 401, 401, 200},
		{"GET", "/analytics", "", purgeToken, 401, 401, 200},
		{"POST", "/reload", "", purgeToken, 401, 401, 200},
		// Nothing else is served.
		{"GET", "/", "", purgeToken, 404, 404, 404},
		{"GET", "/debug/vars", "", purgeToken, 404, 404, 404},
	}
	if pprof {
		// The debug token, and only it: the purge token does not open it.
		routes = append(routes,
			adminRoute{"GET", "/debug/pprof/", "", debugToken, 401, 401, 200},
			adminRoute{"GET", "/debug/pprof/goroutine?debug=1", "", debugToken, 401, 401, 200},
			adminRoute{"GET", "/debug/pprof/cmdline", "", purgeToken, 401, 401, 401})
	} else {
		routes = append(routes,
			adminRoute{"GET", "/debug/pprof/", "", "dbg-secret", 404, 404, 404},
			adminRoute{"GET", "/debug/pprof/goroutine?debug=1", "", "dbg-secret", 404, 404, 404})
	}
	return routes
}

// TestAdminAccessPolicy walks every route of the admin listener without
// credentials, with a wrong bearer token and with the route's token, on a
// node with and without debug.pprof, and checks the status of each: the
// policy docs/security.md states, held by one table.
func TestAdminAccessPolicy(t *testing.T) {
	o, _ := countingOrigin(t)
	for _, pprof := range []bool{false, true} {
		t.Run(fmt.Sprintf("pprof=%v", pprof), func(t *testing.T) {
			yaml := originYAML(o.URL)
			if pprof {
				yaml += "debug: {pprof: true, token: dbg-secret}\n"
			}
			f := startFleetNode(t, parseNodeConfig(t, yaml))
			f.get(t, "/a") // something to inspect and to purge
			checkCoversMux(t, f.n.adminMux, adminRoutes(pprof))
			for _, r := range adminRoutes(pprof) {
				for _, c := range []struct {
					auth string
					want int
				}{
					{"", r.none},
					{"Bearer wrong-" + r.token, r.wrong},
					{"Bearer " + r.token, r.right},
				} {
					if r.token == "" && c.auth != "" {
						c.auth = "Bearer " + purgeToken // open routes ignore credentials
					}
					if got, body := adminRequest(t, f, r.method, r.path, r.body, c.auth); got != c.want {
						t.Errorf("%s %s with %q: %d %.100q, want %d", r.method, r.path, c.auth, got, body, c.want)
					}
				}
			}
		})
	}
}

// adminDo sends method path with body and the given Authorization ("" sends
// none) to the admin listener, following no redirect, and returns the
// status and body.
func adminRequest(t testing.TB, f *fleetNode, method, path, body, authorization string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkCoversMux fails for every route of mux that no row of routes
// reaches: a route added to the admin listener needs its row.
func checkCoversMux(t *testing.T, mux *adminMux, routes []adminRoute) {
	t.Helper()
	reached := make(map[string]bool)
	for _, r := range routes {
		req, err := http.NewRequest(r.method, "http://admin"+r.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, pattern := mux.Handler(req)
		reached[pattern] = true
	}
	for _, p := range mux.patterns {
		if !reached[p] {
			t.Errorf("admin route %q has no row in adminRoutes: say who may use it (and in docs/security.md)", p)
		}
	}
}

// TestAdminOverTLS: with admin_tls the admin listener speaks HTTPS only,
// so the purge token travels encrypted: a real TLS client (trusting the
// certificate's CA) purges with it and reads /healthz; a plain-HTTP
// request is refused by the TLS server (400) and purges nothing. A
// missing key file stops the start with an error naming admin_tls.key and
// the file; replaced files are taken up by a reload. Before, the admin
// listener had no TLS at all.
func TestAdminOverTLS(t *testing.T) {
	o, _ := countingOrigin(t)
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	ca.issue(t, certFile, keyFile, "admin.test")
	f := startFleetNode(t, parseNodeConfig(t, originYAML(o.URL)+"admin_tls: {cert: "+certFile+", key: "+keyFile+"}\n"))
	addr := f.n.adminLn.Addr().String()
	f.get(t, "/a")
	if !f.hit(t, "/a") {
		t.Fatal("/a is not cached")
	}

	plain := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/purge", strings.NewReader(`{"urls":["http://www.example.com/a"]}`))
	req.Header.Set("Authorization", "Bearer "+purgeToken)
	if resp, err := plain.Do(req); err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the admin listener: %d, want 400 from the TLS server", resp.StatusCode)
		}
	}
	if !f.hit(t, "/a") {
		t.Fatal("a plain-HTTP purge was applied")
	}

	client, tr := tlsClient(ca, addr)
	tr.ForceAttemptHTTP2 = false
	t.Cleanup(tr.CloseIdleConnections)
	req, _ = http.NewRequest(http.MethodPost, "https://admin.test/purge", strings.NewReader(`{"urls":["http://www.example.com/a"]}`))
	req.Header.Set("Authorization", "Bearer "+purgeToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("purge over TLS: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("purge over TLS: %d, TLS %+v", resp.StatusCode, resp.TLS)
	}
	waitUntil(t, func() bool { return !f.hit(t, "/a") })
	if resp, body := get(t, client, "https://admin.test/healthz"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "ok") {
		t.Errorf("healthz over TLS: %d %q", resp.StatusCode, body)
	}

	// Files replaced, then a reload: new connections get the new certificate.
	serial := ca.issue(t, certFile, keyFile, "admin.test")
	if err := f.n.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	tr.CloseIdleConnections()
	if resp, _ := get(t, client, "https://admin.test/healthz"); resp.TLS == nil || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(serial) != 0 {
		t.Errorf("after the reload the admin listener still shows the old certificate")
	}

	cfg := parseNodeConfig(t, originYAML(o.URL)+"admin_tls: {cert: "+certFile+", key: "+filepath.Join(dir, "none.key")+"}\n")
	cfg.Purge.Token = purgeToken
	if n, err := start(cfg, io.Discard, io.Discard); err == nil {
		_ = n.closeAll(context.Background())
		t.Fatal("a node started with a missing admin_tls.key")
	} else if !strings.Contains(err.Error(), "admin_tls.key") || !strings.Contains(err.Error(), "none.key") {
		t.Errorf("start error %q names neither admin_tls.key nor the file", err)
	}
}
