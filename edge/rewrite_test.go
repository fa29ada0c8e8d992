package edge

import (
	"net/http"
	"slices"
	"testing"
)

func TestPathPattern(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          []string // nil: no match
	}{
		{"/v1/users/{id}", "/v1/users/42", []string{"42"}},
		{"/v1/users/{id}", "/v1/users/", nil},
		{"/v1/users/{id}", "/v1/users/42/posts", nil},
		{"/v1/users/{id}", "/v1/users", nil},
		{"/v1/users/{id}/posts/{post}", "/v1/users/a%2Fb/posts/7", []string{"a%2Fb", "7"}},
		{"/v1/users/{id}/", "/v1/users/42/", []string{"42"}},
		{"/v1/users/{id}/", "/v1/users/42", nil},
		{"/files/{rest...}", "/files/a/b/c", []string{"a/b/c"}},
		{"/files/{rest...}", "/files/", []string{""}},
		{"/{tenant}/app", "/acme/app", []string{"acme"}},
		{"/{tenant}/app", "/acme/other", nil},
	}
	for _, tt := range tests {
		p, err := ParsePathPattern(tt.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tt.pattern, err)
		}
		got, ok := p.match(tt.path)
		if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
			t.Errorf("%s on %s = %q, %v; want %q", tt.pattern, tt.path, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"v1/{id}", "/v1/users", "/v1/{id}x", "/v1/{1d}", "/{a}/{a}", "/{rest...}/x", "/a//{b}", "/{}", "/v1/id}", "/v1/{id"} {
		if _, err := ParsePathPattern(bad); err == nil {
			t.Errorf("ParsePathPattern(%q) accepted it", bad)
		}
	}
	p, _ := ParsePathPattern("/v1/users/{id}/{rest...}")
	if p.Prefix() != "/v1/users/" {
		t.Errorf("prefix = %q", p.Prefix())
	}
	if got := p.expand("/users/{id}/x/{rest...}?{json}", []string{"42", "a/b"}); got != "/users/42/x/a/b?{json}" {
		t.Errorf("expand = %q", got)
	}
	if err := p.CheckTemplate("/users/{uid}"); err == nil {
		t.Error("CheckTemplate accepted an unknown capture")
	}
}

// A route with a pattern sends the captured values upstream in its own
// path and in header values, both ways; a path under the prefix that the
// pattern does not match gets 404 and goes nowhere.
func TestPathCapturesThroughRoute(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte(r.URL.RequestURI() + " " + r.Header.Get("X-User")))
	})
	p, err := ParsePathPattern("/v1/users/{id}")
	if err != nil {
		t.Fatal(err)
	}
	route := &Route{PathPrefix: p.Prefix(), Pattern: p, UpstreamPath: "/users/{id}", Upstream: upstreamTo(t, o.URL),
		RequestHeaders:  HeaderRules{Set: map[string]string{"X-User": "user-{id}"}},
		ResponseHeaders: HeaderRules{Set: map[string]string{"X-Served-User": "{id}", "X-Literal": "{x}"}}}
	e := routedEdge(t, c, &Site{Name: "api", Hosts: []string{"api.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)}, route}})
	for i := range 2 { // a miss, then a hit: the response fields are filled in on both
		resp, body := e.get(t, "/v1/users/42?full=1", "Host", "api.example")
		if body != "/users/42?full=1 user-42" {
			t.Errorf("upstream saw %q, want /users/42?full=1 with X-User user-42", body)
		}
		if resp.Header.Get("X-Served-User") != "42" || resp.Header.Get("X-Literal") != "{x}" {
			t.Errorf("response fields: %v", resp.Header)
		}
		if i == 1 && !isHit(resp) {
			t.Errorf("second request not a hit: %q", resp.Header.Get("Cache-Status"))
		}
	}
	before := o.requests.Load()
	resp, _ := e.get(t, "/v1/users/42/posts", "Host", "api.example")
	if resp.StatusCode != http.StatusNotFound || o.requests.Load() != before {
		t.Errorf("unmatched path: status %d, origin requests %d → %d; want 404 and none", resp.StatusCode, before, o.requests.Load())
	}
}
