package edge

import (
	"net/url"
	"slices"
	"testing"

	"edged/edge/policy"
	"edged/origin"
)

// PurgeTargets maps a purged URL through the routes that may serve it: the
// query each keys it under, and, with shields, what each sends its
// shields.
func TestPurgeTargets(t *testing.T) {
	rt := purgeTargetsRouter(t)
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
		target := target(t, tt.url)
		if got := keys(rt.PurgeTargets(target, false)); !slices.Equal(got, tt.keyed) {
			t.Errorf("%s: keyed %q, want %q", tt.url, got, tt.keyed)
		}
		if got, want := keys(rt.PurgeTargets(target, true)), slices.Concat(tt.keyed, tt.upstream); !slices.Equal(got, want) {
			t.Errorf("%s: with shields %q, want %q", tt.url, got, want)
		}
	}
	var none *Router
	if ts := none.PurgeTargets(policy.Target{Scheme: "http", Host: "a", Path: "/"}, true); ts != nil {
		t.Errorf("nil Router: %v", ts)
	}
}

// PrefixPurgeTargets maps a purged prefix through the routes that may
// serve a URL it covers: a prefix with a query through the route's query
// rules, and, with shields, a prefix through what each route sends its
// shields, as narrowly as the route allows.
func TestPrefixPurgeTargets(t *testing.T) {
	rt := purgeTargetsRouter(t)
	const h = "http://www.example.com"
	for _, tt := range []struct {
		prefix           string
		urls, prefixes   []string // without shields
		upUrls, upPrefix []string // added with shields
	}{
		{h + "/b", nil, nil, nil, nil},
		// /a covers the strip_prefix route /api/ whole.
		{h + "/a", nil, nil, nil, []string{h + "/"}},
		// strip_prefix: the route's prefix is gone on the shield.
		{h + "/v1/img/", nil, nil, nil, []string{h + "/img/"}},
		{h + "/v1/", nil, nil, nil, []string{h + "/"}},
		// The whole route, or more: every path of the host on the shield.
		{h + "/v1", nil, nil, nil, []string{h + "/"}},
		// upstream_path: the template's text before its first capture.
		{h + "/v", nil, nil, nil, []string{h + "/users/", h + "/"}},
		{h + "/v2/users/4", nil, nil, nil, []string{h + "/users/"}},
		// A prefix of the whole host covers what the routes map it to.
		{h + "/", nil, nil, nil, nil},
		// A prefix with a query names one path.
		{h + "/static/app.js?v=", []string{h + "/static/app.js"}, nil, nil, nil},
		{h + "/api/items?utm=1&pa", nil, []string{h + "/api/items"}, nil, []string{h + "/items"}},
		{h + "/v1/doc?v=", nil, nil, nil, []string{h + "/doc?v="}},
		{h + "/v2/users/42?x", nil, nil, nil, []string{h + "/users/42?x"}},
		// Without shields, only the query rules.
		{"http://direct.example/api/items?page", nil, []string{"http://direct.example/api/items"}, nil, nil},
		{"http://direct.example/img/", nil, nil, nil, nil},
	} {
		p := target(t, tt.prefix)
		urls, prefixes := rt.PrefixPurgeTargets(p, false)
		if got := keys(urls); !slices.Equal(got, tt.urls) {
			t.Errorf("%s: urls %q, want %q", tt.prefix, got, tt.urls)
		}
		if got := keys(prefixes); !slices.Equal(got, tt.prefixes) {
			t.Errorf("%s: prefixes %q, want %q", tt.prefix, got, tt.prefixes)
		}
		urls, prefixes = rt.PrefixPurgeTargets(p, true)
		if got, want := keys(urls), slices.Concat(tt.urls, tt.upUrls); !slices.Equal(got, want) {
			t.Errorf("%s: with shields urls %q, want %q", tt.prefix, got, want)
		}
		if got, want := keys(prefixes), slices.Concat(tt.prefixes, tt.upPrefix); !slices.Equal(got, want) {
			t.Errorf("%s: with shields prefixes %q, want %q", tt.prefix, got, want)
		}
	}
	var none *Router
	if u, p := none.PrefixPurgeTargets(policy.Target{Scheme: "http", Host: "a", Path: "/"}, true); u != nil || p != nil {
		t.Errorf("nil Router: %v %v", u, p)
	}
}

func target(t testing.TB, raw string) policy.Target {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	target, err := policy.ParseTarget(u.Scheme, u.Host, u)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func keys(ts []policy.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Key())
	}
	return out
}

// purgeTargetsRouter has a site whose routes fetch through shields, with
// every rule that maps a URL, and one whose routes do not.
func purgeTargetsRouter(t testing.TB) *Router {
	t.Helper()
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
			{PathPrefix: "/v1/", Upstream: shielded, StripPrefix: true},
		}},
		{Name: "direct", Hosts: []string{"direct.example"}, Routes: []*Route{
			{PathPrefix: "/", Upstream: direct, StripPrefix: true},
			{PathPrefix: "/api/", Upstream: direct, StripPrefix: true, Cache: RouteCache{KeepQuery: []string{"page"}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}
