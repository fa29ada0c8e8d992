package edge

import (
	"net/http"
	"strings"
	"testing"

	"edged/edge/access"
)

// TestHostileDenyPathReadings: a deny_paths rule holds for every spelling
// an origin may serve the denied path under (path parameters, which Tomcat,
// Jetty and Spring drop from each segment; escapes; "//"; letter case, which
// IIS and Express fold; trailing dots and spaces, which Windows drops), through the real handler over loopback. Denied
// spellings get 403 and never reach the origin; a path parameter elsewhere
// is forwarded exactly as sent.
func TestHostileDenyPathReadings(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	rules, err := access.Compile(access.Rules{DenyPaths: []string{"/admin", "/private/"}})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"h"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Access: rules},
	}})
	addr := hostAddr(e.URL)
	for _, target := range []string{
		"/admin", "/admin;x", "/;x/admin", "/admin;jsessionid=1", "/admin;jsessionid=1/users", "/ADMIN", "/Admin/x",
		"/admin%3Bx", "/admin%3bx/y", "/%61dmin", "/%2561dmin", "//admin", "/.//admin", "/admin%2Fusers", "/admin%5Cusers",
		"/admin.", "/admin%20", "/admin./x", "/x/..%20/admin", "/%20admin", "/%20%20admin/x", "/admin%2509/x",
		"/private/a", "/private;x/a", "/private/;x", "/PRIVATE/a", "/private%2Fa",
	} {
		if r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != http.StatusForbidden {
			t.Errorf("GET %s: status %d, want 403", target, r.status)
		}
	}
	if n := o.requests.Load(); n != 0 {
		t.Fatalf("the origin received %d denied requests", n)
	}
	for _, target := range []string{"/shop;jsessionid=1/cart", "/administrator", "/private", "/admin;x/../public"} {
		r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		if r.status != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", target, r.status)
			continue
		}
		want := target
		if target == "/admin;x/../public" {
			want = "/public" // dot segments are removed before keying and forwarding (RFC 3986 §5.2.4)
		}
		if !strings.HasPrefix(r.body, "GET "+want+"\n") {
			t.Errorf("GET %s: the origin got %q, want it forwarded as %s", target, firstLine(r.body), want)
		}
	}
}

// openAndClosedRoutes serves host "h" with an open route "/" and a route
// "/admin/" that refuses everyone, each with its own echoing origin; it
// returns the edge's address and the two origins.
func openAndClosedRoutes(t *testing.T) (addr string, open, admin *testOrigin) {
	t.Helper()
	c := newClock()
	open, admin = echoOrigin(t, c), echoOrigin(t, c)
	closed, err := access.Compile(access.Rules{DenyPaths: []string{"/"}})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"h"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, open.URL)},
		{PathPrefix: "/admin/", Upstream: upstreamTo(t, admin.URL), Access: closed},
	}})
	return hostAddr(e.URL), open, admin
}

// TestHostileRouteReadings: a path that an origin may read as one under
// another route than its raw spelling selects is refused with 400, so no
// spelling reaches a protected route's prefix through an open route (and
// the access rules, authentication and rate limit it would escape).
func TestHostileRouteReadings(t *testing.T) {
	addr, open, admin := openAndClosedRoutes(t)
	for _, tt := range []struct {
		target string
		status int
	}{
		{"/admin/panel", http.StatusForbidden},
		{"/admin/panel;x", http.StatusForbidden},
		{"/;x/admin/panel", http.StatusBadRequest},
		{"/admin;x/panel", http.StatusBadRequest},
		{"/ADMIN/panel", http.StatusBadRequest},
		{"//admin/panel", http.StatusBadRequest},
		{"/admin%2Fpanel", http.StatusBadRequest},
		{"/admin%5Cpanel", http.StatusBadRequest},
		{"/%20admin/panel", http.StatusBadRequest},   // Spring's trimTokens reads "/admin/panel"
		{"/admin%2509/panel", http.StatusBadRequest}, // ... and, decoding twice, this one
		{"/%20/panel", http.StatusOK},
		{"/%20/admin/panel", http.StatusBadRequest}, // Spring drops the token trimmed empty
		{"/about;jsessionid=1", http.StatusOK},
		{"/administrator", http.StatusOK},
	} {
		if r := rawExchange(t, addr, "GET "+tt.target+" HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != tt.status {
			t.Errorf("GET %s: status %d, want %d", tt.target, r.status, tt.status)
		}
	}
	if n := admin.requests.Load(); n != 0 {
		t.Errorf("the protected route's origin received %d requests", n)
	}
	if n := open.requests.Load(); n != 3 {
		t.Errorf("the open route's origin received %d requests, want 3", n)
	}
}

// TestHostileRouteWithoutSlash: the prefix of a route without its trailing
// slash ("/admin" for a route "/admin/"), which Express serves with the
// route's own handler, went to the "/" route and its origin, past the
// protected route's access rules (200 from the open origin on the old
// code). Now the exact spelling is redirected (308) to the route's URL,
// and every other spelling that reads as it (case, a trailing dot,
// ";params") is refused as ambiguous.
func TestHostileRouteWithoutSlash(t *testing.T) {
	addr, open, admin := openAndClosedRoutes(t)
	checkSlashRoutes(t, addr, []slashCase{
		{"/admin", http.StatusPermanentRedirect, "/admin/"},
		{"/admin?x=1", http.StatusPermanentRedirect, "/admin/?x=1"},
		{"/ADMIN", http.StatusBadRequest, ""},
		{"/admin.", http.StatusBadRequest, ""},
		{"/admin;x", http.StatusBadRequest, ""},
		{"/%61dmin", http.StatusPermanentRedirect, "/admin/"}, // the key normalizes unreserved escapes
		{"/admi", http.StatusOK, ""},
		{"/admins", http.StatusOK, ""},
	})
	if n := admin.requests.Load(); n != 0 {
		t.Errorf("the protected route's origin received %d requests", n)
	}
	if n := open.requests.Load(); n != 2 {
		t.Errorf("the open route's origin received %d requests, want 2", n)
	}
}

// TestRouteWithoutSlashNoOtherRoute: on a site whose only route is
// "/api/", "/api" was answered 404 (detail no-route), while docs/config.md
// (sites[].routes[].path) says a route's prefix without its trailing slash
// is answered 308 to the prefix, as nginx does. Now it is redirected
// whether or not another route covers the path; other paths no route
// covers still get 404.
func TestRouteWithoutSlashNoOtherRoute(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"h"}, Routes: []*Route{
		{PathPrefix: "/api/", Upstream: upstreamTo(t, o.URL)},
	}})
	addr := hostAddr(e.URL)
	checkSlashRoutes(t, addr, []slashCase{
		{"/api", http.StatusPermanentRedirect, "/api/"},
		{"/api?v=2", http.StatusPermanentRedirect, "/api/?v=2"},
		{"/ap", http.StatusNotFound, ""},
		{"/apis", http.StatusNotFound, ""},
		{"/", http.StatusNotFound, ""},
		{"/api/x", http.StatusOK, ""},
	})
	if n := o.requests.Load(); n != 1 {
		t.Errorf("the origin received %d requests, want 1", n)
	}
}

// slashCase is a request target for host "h" and the status and Location
// it must get.
type slashCase struct {
	target   string
	status   int
	location string
}

// checkSlashRoutes sends each case's GET to addr; a 308 must also say
// detail=route-slash in Cache-Status.
func checkSlashRoutes(t *testing.T, addr string, cases []slashCase) {
	t.Helper()
	for _, tt := range cases {
		r := rawExchange(t, addr, "GET "+tt.target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		if r.status != tt.status || r.header.Get("Location") != tt.location {
			t.Errorf("GET %s: status %d Location %q, want %d %q", tt.target, r.status, r.header.Get("Location"), tt.status, tt.location)
		}
		if tt.status == http.StatusPermanentRedirect && !strings.Contains(r.header.Get("Cache-Status"), "detail=route-slash") {
			t.Errorf("GET %s: Cache-Status %q, want detail=route-slash", tt.target, r.header.Get("Cache-Status"))
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestHostileEncodedControlInPath: a path with a percent-encoded control
// character is refused with 400 before any route or rule reads it. Origins
// read such a path their own way (nginx refuses %00, code in C cuts a
// file name at it, Spring's trimTokens drops %09 from a segment's ends), so
// "/admin%09/panel" and "/admin%00/panel" took the open "/" route on the
// old code (200 from its origin) while such an origin serves the "/admin/"
// route's page, past that route's rules; and "/admin%09" passed a
// deny_paths rule "/admin".
func TestHostileEncodedControlInPath(t *testing.T) {
	addr, open, admin := openAndClosedRoutes(t)
	targets := []string{"/admin%09/panel", "/admin%00/panel", "/%09admin/panel", "/admin%0a/panel", "/admin%0D/panel", "/admin%7f/panel", "/admin%1F"}
	for _, target := range targets {
		if r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", target, r.status)
		}
	}
	if n := admin.requests.Load() + open.requests.Load(); n != 0 {
		t.Errorf("the origins received %d requests", n)
	}
	// The same through a deny_paths rule, and a request with a body (which
	// a node hands from edge/fastserve to net/http) is read the same way.
	c := newClock()
	o := echoOrigin(t, c)
	rules, err := access.Compile(access.Rules{DenyPaths: []string{"/admin"}})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"h"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Access: rules},
	}})
	for _, target := range targets {
		if r := rawExchange(t, hostAddr(e.URL), "POST "+target+" HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"); r.status != http.StatusBadRequest {
			t.Errorf("POST %s: status %d, want 400", target, r.status)
		}
	}
	if r := rawExchange(t, hostAddr(e.URL), "GET /a?q=%09 HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != http.StatusOK {
		t.Errorf("GET /a?q=%%09: status %d, want 200 (a query may hold encoded controls)", r.status)
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("the origin received %d requests, want 1", n)
	}
}

// TestHostilePercentEncodedHost: a Host with percent-encoded letters names
// the host they spell (RFC 3986 §6.2.2.2) and is routed, keyed and
// forwarded as it. On the old code "%73ite.example" was no exact site's
// host, so the wildcard site "*.example" served it, past the exact site's
// access rules, and its origin was sent the encoded name. Any other escape
// in a host is refused with 400.
func TestHostilePercentEncodedHost(t *testing.T) {
	c := newClock()
	guarded, wild := echoOrigin(t, c), echoOrigin(t, c)
	closed, err := access.Compile(access.Rules{DenyPaths: []string{"/admin"}})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c,
		&Site{Name: "exact", Hosts: []string{"site.example"}, Routes: []*Route{
			{PathPrefix: "/", Upstream: upstreamTo(t, guarded.URL), Access: closed},
		}},
		&Site{Name: "wild", Hosts: []string{"*.example"}, Routes: []*Route{
			{PathPrefix: "/", Upstream: upstreamTo(t, wild.URL)},
		}})
	addr := hostAddr(e.URL)
	for _, tt := range []struct {
		host   string
		status int
	}{
		{"%73ite.example", http.StatusForbidden},
		{"site%2Eexample", http.StatusForbidden},
		{"SITE.exampl%65.", http.StatusForbidden},
		{"site%2fx.example", http.StatusBadRequest},
		{"site%00.example", http.StatusBadRequest},
	} {
		if r := rawExchange(t, addr, "GET /admin HTTP/1.1\r\nHost: "+tt.host+"\r\n\r\n"); r.status != tt.status {
			t.Errorf("Host %s: status %d, want %d", tt.host, r.status, tt.status)
		}
	}
	if n := wild.requests.Load() + guarded.requests.Load(); n != 0 {
		t.Errorf("the origins received %d requests", n)
	}
	r := rawExchange(t, addr, "GET /page HTTP/1.1\r\nHost: %73ite.example\r\n\r\n")
	if r.status != http.StatusOK || !strings.Contains(r.body, "\nhost=site.example\n") {
		t.Errorf("GET /page, Host %%73ite.example: status %d, origin saw %q; want 200 from the exact site's origin, host site.example", r.status, r.body)
	}
	if n := guarded.requests.Load(); n != 1 {
		t.Errorf("the exact site's origin received %d requests, want 1", n)
	}
}

// TestHostileDenyPathsAfterStripPrefix: on a route that sends the origin
// another path (strip_prefix, upstream_path), an access rule holds for the
// path the origin is sent as well as the client's. On the old code a rule
// "/internal" on a route "/api/" with strip_prefix was matched against
// "/api/internal" alone, refused nothing, and the origin was sent
// "/internal" (200) for every spelling below.
func TestHostileDenyPathsAfterStripPrefix(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	rules := func(paths ...string) *access.Policy {
		p, err := access.Compile(access.Rules{DenyPaths: paths})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pattern, err := ParsePathPattern("/v1/users/{id}")
	if err != nil {
		t.Fatal(err)
	}
	// A time window's paths are read as deny_paths are: this one refuses
	// /night, the path the origin is sent, at every hour.
	api, err := access.Compile(access.Rules{DenyPaths: []string{"/internal", "/api/old"},
		Windows: []access.Window{{Paths: []string{"/night"}, From: "00:00", To: "24:00"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"h"}, Routes: []*Route{
		{PathPrefix: "/api/", StripPrefix: true, Upstream: upstreamTo(t, o.URL), Access: api},
		{PathPrefix: pattern.Prefix(), Pattern: pattern, UpstreamPath: "/users/{id}", Upstream: upstreamTo(t, o.URL), Access: rules("/users/root")},
	}})
	addr := hostAddr(e.URL)
	for _, target := range []string{
		"/api/internal", "/api/internal/x", "/api/%69nternal", "/api/INTERNAL", "/api//internal", "/api/internal;x",
		"/api/old/x", // a rule on the client's path still holds
		"/api/night", "/api/%6Eight/x",
		"/v1/users/root", "/v1/users/ROOT",
	} {
		if r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != http.StatusForbidden {
			t.Errorf("GET %s: status %d, want 403 (origin saw %q)", target, r.status, firstLine(r.body))
		}
	}
	if n := o.requests.Load(); n != 0 {
		t.Fatalf("the origin received %d denied requests", n)
	}
	for target, want := range map[string]string{"/api/nights": "/nights", "/api/internals": "/internals", "/api/x/internal": "/x/internal", "/v1/users/42": "/users/42"} {
		r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		if r.status != http.StatusOK || firstLine(r.body) != "GET "+want {
			t.Errorf("GET %s: status %d, origin saw %q; want 200, GET %s", target, r.status, firstLine(r.body), want)
		}
	}
}

// TestEncodedControlInPathWithoutSites: a cache without sites has no route
// or access rule for an encoded control character in a path to slip past:
// it forwards such a path (an S3 key's "%0A") as written, keyed by it,
// where the code before refused it with 400. Once a reload gives the node
// sites, the same path is refused again, before any route reads it.
func TestEncodedControlInPathWithoutSites(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	addr := strictEdge(t, e)
	for _, target := range []string{"/bucket/line%0Abreak", "/bucket/nul%00", "/bucket/del%7F?q=%0A"} {
		r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		if r.status != http.StatusOK || !strings.HasPrefix(r.body, "GET "+target+"\n") {
			t.Errorf("GET %s: %d %q, want 200 from the origin, sent as written", target, r.status, firstLine(r.body))
		}
	}
	if r := rawExchange(t, addr, "GET /bucket/raw\x01 HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != http.StatusBadRequest {
		t.Errorf("a raw control character: %d, want 400", r.status)
	}
	rt, err := NewRouter([]*Site{{Name: "s", Hosts: []string{"h"}, Routes: []*Route{{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.handler.Reroute(rt, nil, nil); err != nil {
		t.Fatal(err)
	}
	if r := rawExchange(t, addr, "GET /bucket/line%0Abreak HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != http.StatusBadRequest {
		t.Errorf("with sites: %d, want 400", r.status)
	}
	if n := o.requests.Load(); n != 3 {
		t.Errorf("the origin got %d requests, want 3", n)
	}
}
