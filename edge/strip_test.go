package edge

import (
	"net/http"
	"strings"
	"testing"
)

// TestReflectedUnkeyedFieldNotCached is the poisoning probe of issue 11:
// an origin reflects every request field into a cacheable page; an
// attacker asks with one of the known override or client-address fields,
// and a victim then asks for the same URL without it. The victim must not
// see the attacker's value: the field never reached the origin. Before
// X-Real-IP, True-Client-IP, X-Forwarded-Protocol, X-Original-URI and
// Base-Url were stripped, the victim got the attacker's page from the cache.
func TestReflectedUnkeyedFieldNotCached(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	for _, name := range []string{"X-Real-IP", "True-Client-IP", "X-Forwarded-Protocol", "X-Original-URI", "Base-Url",
		"X-Forwarded-Anything", "X-Client-IP", "X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Prefix",
		"X-HTTP-Method-Override", "X-Forwarded-Scheme", "X-Host", "Forwarded", "x-real-ip",
		// the issue 11 re-probe's list: other CDNs' client addresses and
		// fields frameworks act on
		"CF-Connecting-IP", "Fastly-Client-IP", "Client-IP", "X-Remote-IP", "X-Remote-Addr", "X-Originating-IP",
		"X-ProxyUser-Ip", "X-Azure-ClientIP", "X-Original-Forwarded-For", "X-Custom-IP-Authorization",
		"X-Middleware-Subrequest", "X-Now-Route-Matches", "X-Invoke-Path", "X-Envoy-Original-Path",
		"X-Override-URL", "X-Backend-Host", "X-Amz-Website-Redirect-Location", "X-Wap-Profile",
		"Forwarded-For"} {
		path := "/page/" + strings.ToLower(name)
		resp, body := e.get(t, path, name, "evil-"+name)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("attacker with %s: status %d", name, resp.StatusCode)
		}
		if strings.Contains(body, "evil") {
			t.Errorf("origin received %s from a client:\n%s", name, body)
		}
		resp, body = e.get(t, path)
		if !strings.Contains(cacheStatus(resp), "hit") {
			t.Errorf("victim of %s: %q, want a hit (the attacker's response was cacheable)", name, cacheStatus(resp))
		}
		if strings.Contains(body, "evil") {
			t.Errorf("victim received the value an attacker sent in %s:\n%s", name, body)
		}
	}
	// X-Forwarded-For is appended to, never matched by X-Forwarded-*.
	e.get(t, "/xff", "X-Forwarded-For", "192.0.2.7")
	if got := o.last(t).Header.Get("X-Forwarded-For"); got != "192.0.2.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the client's chain with the peer appended", got)
	}
}

// TestStripRequestHeadersConfigured replaces the default list: the listed
// names and patterns are removed, the defaults no longer are.
func TestStripRequestHeadersConfigured(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	var err error
	if e.handler.strip, err = newFieldSet([]string{"x-tenant-*", "X-Debug"}); err != nil {
		t.Fatal(err)
	}
	e.get(t, "/c", "X-Tenant-Id", "1", "X-Debug", "1", "X-Real-Ip", "192.0.2.9", "X-Tenant", "kept")
	got := o.last(t).Header
	for name, want := range map[string]string{"X-Tenant-Id": "", "X-Debug": "", "X-Real-Ip": "192.0.2.9", "X-Tenant": "kept"} {
		if v := got.Get(name); v != want {
			t.Errorf("origin received %s = %q, want %q", name, v, want)
		}
	}
}

func TestNewFieldSetRefusesBadNames(t *testing.T) {
	for _, bad := range []string{"", "*", "Bad Name", "X:Y*", "X:Y"} {
		if _, err := newFieldSet([]string{"X-Ok", bad}); err == nil || !strings.Contains(err.Error(), "StripRequestHeaders[1]") {
			t.Errorf("newFieldSet(%q) = %v, want an error naming entry 1", bad, err)
		}
	}
}
