package edge

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"edged/edge/access"
	"edged/edge/auth"
	"edged/edge/cors"
	"edged/edge/policy"
	"edged/edge/ratelimit"
	"edged/edge/waf"
	"edged/internal/ascii"
	"edged/internal/fielderr"
	"edged/origin"
)

// Site is a set of hostnames served with the same routes: what a CDN
// customer points at edged with a DNS CNAME.
type Site struct {
	// Name identifies the site in logs and errors.
	Name string
	// Hosts are exact hostnames ("www.example.com") or one-level wildcards
	// ("*.example.com", which matches "a.example.com" but not
	// "example.com" or "a.b.example.com"). Lower case, no port.
	Hosts []string
	// Routes are matched by the longest PathPrefix, then by their Match
	// conditions (RouteMatch states the precedence); a site without a route
	// for a request answers 404.
	Routes []*Route
	// HTTPSRedirect answers plain-HTTP requests with a 308 to HTTPS.
	HTTPSRedirect bool
	// ResponseHeaders apply to every response of the site, before the
	// route's own (security headers such as HSTS, X-Content-Type-Options).
	ResponseHeaders HeaderRules
	// Policy replaces Options.Policy for the site's requests (its cap on
	// clients' max-stale, whether it honours their no-cache, ...); the
	// configuration gives each site the node's policy with the site's own
	// settings. Policy.Shield is the node's role and is read from
	// Options.Policy; Policy.Surrogate is the site's, and judges even the
	// entries stored under an earlier token (hitFactsOf). Nil means
	// Options.Policy.
	Policy *policy.Options
}

// Route says how requests under one path prefix of a site are served.
type Route struct {
	// series are the route's request metrics, filled on first use
	// (metrics.go): a Route must not be copied once it served.
	series routeSeries

	// PathPrefix is matched against the normalized path ("/api/"); "/"
	// matches everything.
	PathPrefix string
	// Upstream fetches this route's misses (a pool, maybe through shields).
	Upstream *origin.Client
	// Splits send a share of requests to other upstreams (canary,
	// blue/green): each gets Weight out of the total weight, Upstream
	// getting the rest (PrimaryWeight).
	Splits []Split
	// PrimaryWeight is Upstream's weight when Splits are set; 0 means
	// 100 minus the splits' weights (so weights read as percentages).
	PrimaryWeight int
	// StickyCookie, when set with Splits, pins a client to the upstream it
	// was first sent to with a cookie of this name.
	StickyCookie string
	// StripPrefix removes PathPrefix from the path sent upstream.
	StripPrefix bool
	// RequestHeaders are applied to requests sent upstream.
	RequestHeaders HeaderRules
	// ResponseHeaders are applied to every response sent to clients.
	ResponseHeaders HeaderRules
	// Cache overrides the cache's behaviour on this route.
	Cache RouteCache
	// Access allows or denies clients by network, path, user agent and
	// time of day; nil admits everyone.
	Access *access.Policy
	// RateLimit bounds each client's request rate; nil is unlimited.
	RateLimit *ratelimit.Limiter
	// RateKey says what a client is for RateLimit; the zero value is its
	// address.
	RateKey RateKey
	// Auth requires a bearer JWT, an API key or Basic credentials; nil
	// requires nothing. The
	// responses of an authenticated route are stored only when the origin
	// marks them public or s-maxage (RFC 9111 §3.5), whatever the
	// credential's header.
	Auth *auth.Verifier
	// AuthKey names claims ("sub" for the subject) whose values join the
	// cache key of authenticated requests: what the route's responses vary
	// on per client.
	AuthKey []string

	// Protocols (upgrade.go, transform.go): each nil or empty when off,
	// and then costs nothing.
	//
	// WebSocket lets the route carry WebSocket connections.
	WebSocket *WebSocket
	// Pattern, when set, is the route's path with captures ("/v1/users/{id}");
	// PathPrefix must be its Prefix. A path under PathPrefix that Pattern
	// does not match is answered 404. Its captures fill UpstreamPath and
	// the values of RequestHeaders.Set and ResponseHeaders.Set.
	Pattern *PathPattern
	// UpstreamPath, with Pattern, is the path sent upstream ("/users/{id}");
	// "" sends the path as StripPrefix says.
	UpstreamPath string
	// Transform converts response bodies; nil leaves them untouched.
	Transform *Transform

	// WAF inspects requests after the guards, before the cache; nil
	// inspects nothing (inspect.go).
	WAF *waf.WAF
	// Match holds conditions on request header, cookie and query values
	// that the route also requires (routematch.go, which states the
	// precedence); nil requires none.
	Match *RouteMatch
	// state is what NewRouter prepared for Match.
	state routeState
	// CORS answers CORS preflights at the edge and sets every response's
	// CORS fields per request (edge/cors); nil leaves CORS to the origin.
	CORS *cors.Policy
}

// Split is one weighted alternative upstream of a route.
type Split struct {
	Name     string // the cookie value that pins a client to it
	Upstream *origin.Client
	Weight   int
}

// HeaderRules set and remove header fields.
type HeaderRules struct {
	Set    map[string]string
	Remove []string

	// set is Set prepared by NewRouter for response rules, which run on
	// every response: canonical names with one-element values that every
	// response shares (net/http only reads them; the capacity of 1 makes an
	// append copy). nil until prepared.
	set []headerValue
}

type headerValue struct {
	name  string
	value []string
}

// prepare fills hr.set from hr.Set, in name order.
func (hr *HeaderRules) prepare() {
	hr.set = make([]headerValue, 0, len(hr.Set))
	for _, name := range slices.Sorted(maps.Keys(hr.Set)) {
		hr.set = append(hr.set, headerValue{textproto.CanonicalMIMEHeaderKey(name), []string{hr.Set[name]}[:1:1]})
	}
}

func (hr HeaderRules) apply(h http.Header) {
	for _, name := range hr.Remove {
		h.Del(name)
	}
	if hr.set != nil {
		for _, f := range hr.set {
			h[f.name] = f.value
		}
		return
	}
	for name, value := range hr.Set {
		h.Set(name, value)
	}
}

// RouteCache overrides caching on a route.
type RouteCache struct {
	// Bypass forwards every request and stores nothing.
	Bypass bool
	// DefaultTTL is the freshness lifetime of a storable response that
	// carries no freshness information of its own (no Cache-Control,
	// Expires or targeted field); 0 keeps RFC 9111's heuristics.
	DefaultTTL time.Duration
	// IgnoreQuery drops the query from the cache key and from the URL
	// forwarded upstream (they are always the same URL).
	IgnoreQuery bool
	// KeepQuery, when set, keeps only these query parameters (sorted) in
	// the key and the forwarded URL.
	KeepQuery []string
	// Slice, when above 0, keeps the route's objects in slices of this
	// many bytes, each fetched with a Range request and stored on its own
	// (slice.go); 0 fetches and stores objects whole.
	Slice int64
}

// Router picks a site by Host and a route by path.
type Router struct {
	exact     map[string]*Site
	wildcards map[string]*Site // "example.com" for "*.example.com"
}

// RouterOptions is what a [Router] is built from.
type RouterOptions struct {
	// Sites are the sites served, each host by exactly one of them.
	Sites []*Site
}

// Validate checks the sites: each has hosts and routes, every host is a
// valid pattern served by no other site, and every route has a path
// starting with / and an upstream. Problems are [*fielderr.Error] values
// naming the field by its Go path ("Sites[0].Hosts[1]",
// "Sites[0].Routes[2].PathPrefix"), so edge/config reports them at the
// file's line.
func (o RouterOptions) Validate() error {
	var l fielderr.List
	// Lower-case host → the site serving it. "*.example.com" and
	// "example.com" are different keys: a wildcard does not match its
	// parent (Router.Site).
	seen := make(map[string]*Site)
	for i, s := range o.Sites {
		path := fmt.Sprintf("Sites[%d]", i)
		l.Check(len(s.Hosts) > 0, path+".Hosts", "required: at least one hostname")
		for j, h := range s.Hosts {
			hp := fmt.Sprintf("%s.Hosts[%d]", path, j)
			if !ValidHostPattern(h) {
				l.Addf(hp, "invalid host %q (want www.example.com or *.example.com, no port)", h)
				continue
			}
			key := strings.ToLower(h)
			if other, dup := seen[key]; dup {
				l.Addf(hp, "host %q is already served by site %q", h, other.Name)
				continue
			}
			seen[key] = s
		}
		l.Check(len(s.Routes) > 0, path+".Routes", "required: at least one route (a path prefix of / serves every path)")
		for j, r := range s.Routes {
			rp := fmt.Sprintf("%s.Routes[%d]", path, j)
			if r.PathPrefix == "" {
				// Left out of a route, rather than written wrong.
				l.Addf(rp+".PathPrefix", "required: a path prefix such as / (every path) or /api/")
			} else {
				l.Check(strings.HasPrefix(r.PathPrefix, "/"), rp+".PathPrefix", "must start with /, got %q", r.PathPrefix)
			}
			l.Check(r.Upstream != nil, rp+".Upstream", "required: the client that fetches the route's misses")
			l.Check(r.Cache.Slice == 0 || r.Cache.Slice >= MinSlice && r.Cache.Slice <= MaxSlice, rp+".Cache.Slice",
				"must be 0 (off) or from %d to %d bytes, got %d", MinSlice, MaxSlice, r.Cache.Slice)
		}
	}
	return l.Err()
}

// ValidHostPattern accepts a hostname or a one-level wildcard "*.name":
// letters, digits, hyphens, underscores and dots, no empty label, labels
// of at most 63 and names of at most 253 characters (RFC 1035 §2.3.4), no
// port.
func ValidHostPattern(h string) bool {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
				return false
			}
		}
	}
	return true
}

// NewRouter indexes sites by host, after [RouterOptions.Validate] accepts
// them. The sites and their routes must not be changed afterwards.
func NewRouter(sites []*Site) (*Router, error) {
	if err := (RouterOptions{Sites: sites}).Validate(); err != nil {
		return nil, fielderr.Prefix("edge: router option ", err)
	}
	rt := &Router{exact: map[string]*Site{}, wildcards: map[string]*Site{}}
	for _, s := range sites {
		// Longest prefix first, then most conditions, so the first match
		// is the most specific.
		s.prepareMatches()
		s.ResponseHeaders.prepare()
		for _, r := range s.Routes {
			r.ResponseHeaders.prepare()
		}
		for _, host := range s.Hosts {
			table, name := rt.exact, strings.ToLower(host)
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				table, name = rt.wildcards, rest
			}
			table[name] = s
		}
	}
	return rt, nil
}

// Site returns the site serving host (lower case, port allowed).
func (rt *Router) Site(host string) (*Site, bool) {
	if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
		host = h
	}
	if s, ok := rt.exact[host]; ok {
		return s, true
	}
	if _, parent, ok := strings.Cut(host, "."); ok {
		s, ok := rt.wildcards[parent]
		return s, ok
	}
	return nil, false
}

// Route returns the site's route for path, the longest matching prefix, for
// a request that meets no route's Match conditions: RouteFor(nil, path).
func (s *Site) Route(path string) (*Route, bool) { return s.RouteFor(nil, path) }

// ambiguous reports whether an origin could serve path, the route r was
// chosen for, as a path another route of the site covers: a reading of it
// (access.Readings: ";params" removed, percent-decoded, "//" merged...) or
// another letter case of it falls under a different route's prefix. Such a
// request is refused: routed by its raw spelling it would escape the other
// route's access rules, authentication and rate limit ("/;x/admin/" under
// "/" while Tomcat serves "/admin/"), and routed by a reading it would be
// forwarded with a prefix the other route's strip_prefix cannot remove.
//
// Only the routes whose Match conditions req meets count: the others could
// not have served it under any spelling.
func (s *Site) ambiguous(req *http.Request, path string, r *Route) bool {
	if len(s.Routes) < 2 {
		return false
	}
	if s.otherRoute(req, path, r) {
		return true
	}
	for _, reading := range access.Readings(path) {
		if s.otherRoute(req, reading, r) {
			return true
		}
	}
	return false
}

// otherRoute reports whether the route req would take at path, letter case
// folded, is one other than r whose prefix differs from r's by more than
// case.
func (s *Site) otherRoute(req *http.Request, path string, r *Route) bool {
	if s.slashRoute(req, path, r, true) != nil {
		return true
	}
	o := s.foldedRoute(req, path)
	return o != nil && o != r && !ascii.EqualFold(o.PathPrefix, r.PathPrefix)
}

// slashRoute returns the route other than r (nil when no route covers
// path) whose prefix is path with a slash appended ("/admin" for a route
// "/admin/"), letter case folded when fold is set; nil if none. Such a path is not under that route's prefix,
// yet origins serve it as the route's own: Express (non-strict routing)
// answers "/admin" with its "/admin/" handler. Routed to r by its spelling,
// it would escape that route's access rules, authentication and rate
// limit.
func (s *Site) slashRoute(req *http.Request, path string, r *Route, fold bool) *Route {
	for _, o := range s.Routes {
		p := o.PathPrefix
		if o == r || len(p) != len(path)+1 || p[len(p)-1] != '/' || !o.Match.holds(req) {
			continue
		}
		if p[:len(path)] == path || fold && ascii.EqualFold(p[:len(path)], path) {
			if r == nil || !ascii.EqualFold(p, r.PathPrefix) {
				return o
			}
		}
	}
	return nil
}

// pick chooses the upstream for one request: a sticky cookie wins, then a
// weighted draw. It returns the split's name ("" for the primary) and
// whether the client must be told with a cookie.
func (r *Route) pick(req *http.Request) (*origin.Client, string, bool) {
	if len(r.Splits) == 0 {
		return r.Upstream, "", false
	}
	if r.StickyCookie != "" {
		if c, err := req.Cookie(r.StickyCookie); err == nil {
			if c.Value == "primary" {
				return r.Upstream, "", false
			}
			for _, s := range r.Splits {
				if s.Name == c.Value {
					return s.Upstream, s.Name, false
				}
			}
		}
	}
	total := r.primaryWeight()
	for _, s := range r.Splits {
		total += s.Weight
	}
	n := rand.IntN(total)
	for _, s := range r.Splits {
		if n < s.Weight {
			return s.Upstream, s.Name, r.StickyCookie != ""
		}
		n -= s.Weight
	}
	return r.Upstream, "", r.StickyCookie != ""
}

func (r *Route) primaryWeight() int {
	if r.PrimaryWeight > 0 {
		return r.PrimaryWeight
	}
	w := 100
	for _, s := range r.Splits {
		w -= s.Weight
	}
	return max(w, 0)
}

// upstreamPath is the path sent upstream for a normalized request path
// and the values captured from it by r.Pattern.
func (r *Route) upstreamPath(path string, captures []string) string {
	if r.UpstreamPath != "" && r.Pattern != nil {
		return r.Pattern.expand(r.UpstreamPath, captures)
	}
	if !r.StripPrefix || r.PathPrefix == "/" {
		return path
	}
	rest := strings.TrimPrefix(path, strings.TrimSuffix(r.PathPrefix, "/"))
	if !strings.HasPrefix(rest, "/") {
		rest = "/" + rest
	}
	return rest
}

// keyQuery applies the route's query rules to a raw query.
func (rc RouteCache) keyQuery(raw string) string {
	switch {
	case rc.IgnoreQuery:
		return ""
	case len(rc.KeepQuery) == 0 || raw == "":
		return raw
	}
	var kept []string
	for _, pair := range strings.Split(raw, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil && slices.Contains(rc.KeepQuery, n) {
			kept = append(kept, pair)
		}
	}
	sort.Strings(kept)
	return strings.Join(kept, "&")
}
