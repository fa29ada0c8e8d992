package edge

import (
	"net/url"
	"slices"
	"testing"

	"edged/edge/policy"
	"edged/origin"
)

// PurgeTargets maps a purged URL through the routes that may serve it: the
// query each keys it under, and what each sends its shields.
func TestPurgeTargets(t *testing.T) {
	direct, err := origin.New(origin.Options{Origin: "http://127.0.0.1:1", Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	shielded, err := origin.New(origin.Options{Shields: []string{"http://127.0.0.1:2"}, Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close(); shielded.Close() })
	users, err := ParsePathPattern("/v2/users/{id}")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := NewRouter([]*Site{
		{Name: "shielded", Hosts: []string{"www.example.com"}, Routes: []*Route{
			{PathPrefix: "/", Upstream: shielded},
			{PathPrefix: "/static/", Upstream: shielded, Cache: RouteCache{IgnoreQuery: true}},
			{PathPrefix: "/api/", Upstream: shielded, StripPrefix: true, Cache: RouteCache{KeepQuery: []string{"page"}}},
			{PathPrefix: "/v2/users/", Pattern: users, UpstreamPath: "/users/{id}", Upstream: shielded},
		}},
		{Name: "direct", Hosts: []string{"direct.example"}, Routes: []*Route{
			{PathPrefix: "/", Upstream: direct, StripPrefix: true},
			{PathPrefix: "/api/", Upstream: direct, StripPrefix: true, Cache: RouteCache{KeepQuery: []string{"page"}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		url             string
		keyed, upstream []string
	}{
		{"http://www.example.com/a?x=1", nil, nil},
		{"http://www.example.com/static/app.js?v=2", []string{"http://www.example.com/static/app.js"}, nil},
		{"http://www.example.com/static/app.js", nil, nil},
		{"https://www.example.com/api/items?utm=1&page=2", []string{"https://www.example.com/api/items?page=2"}, []string{"https://www.example.com/items?page=2"}},
		{"http://www.example.com/v2/users/42?x=1", nil, []string{"http://www.example.com/users/42?x=1"}},
		{"http://www.example.com/v2/users/42/more", nil, nil}, // the pattern does not match: 404, nothing stored
		// Without shields the upstream path is no key of any node.
		{"http://direct.example/api/items?utm=1&page=2", []string{"http://direct.example/api/items?page=2"}, nil},
		{"http://unknown.example/static/app.js?v=2", nil, nil},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		target, err := policy.ParseTarget(u.Scheme, u.Host, u)
		if err != nil {
			t.Fatal(err)
		}
		keyed, upstream := rt.PurgeTargets(target)
		if got := keys(keyed); !slices.Equal(got, tt.keyed) {
			t.Errorf("%s: keyed %q, want %q", tt.url, got, tt.keyed)
		}
		if got := keys(upstream); !slices.Equal(got, tt.upstream) {
			t.Errorf("%s: upstream %q, want %q", tt.url, got, tt.upstream)
		}
	}
	var none *Router
	if k, u := none.PurgeTargets(policy.Target{Scheme: "http", Host: "a", Path: "/"}); k != nil || u != nil {
		t.Errorf("nil Router: %v %v", k, u)
	}
}

func keys(ts []policy.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Key())
	}
	return out
}
