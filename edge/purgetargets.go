package edge

import (
	"slices"
	"strings"

	"edged/edge/policy"
)

// PurgeTargets returns what a purge of the URL t must reach beside t's own
// key, by the routes of t's site whose prefix (and path pattern) covers
// t's path, whatever their match conditions, which a purge does not know:
//
//   - t with the query a route keys it under (cache.ignore_query,
//     cache.keep_query), where that is not t's own. A request for t is
//     served the object stored there, so a purge of t that left it
//     (answered 200 with a count of 0) left the object it named served.
//   - with shields, the target a route that fetches through shields sends
//     them (its strip_prefix or upstream_path, and its kept query). A
//     shield keys what it stores by the URL it is sent, and knows nothing
//     of the edge's routes: left there, the object was refilled from the
//     shield's pre-purge copy by the edge's next miss.
//
// Each target once, t's own never. A nil Router (every host to one
// upstream, no route rules) adds none.
func (rt *Router) PurgeTargets(t policy.Target, shields bool) []policy.Target {
	var out targetSet
	out.own = t.Key()
	for _, r := range rt.routesOf(t.Host) {
		captures, ok := r.coversPath(t.Path)
		if !ok {
			continue
		}
		k := t
		k.RawQuery = r.Cache.keyQuery(t.RawQuery)
		out.add(k)
		if shields && r.viaShields() {
			u := k
			u.Path = r.upstreamPath(k.Path, captures)
			out.add(u)
		}
	}
	return out.ts
}

// PrefixPurgeTargets returns what a purge of the key prefix p (every
// object of p's host whose path and query start with p's) must reach
// beside the keys p covers itself, by the routes of p's site that may
// serve a request p covers, as PurgeTargets does for a URL: urls are
// exact targets (each with its variants), prefixes more key prefixes.
//
// A prefix with a query names one path, and every query that begins with
// its own. A route that keys no query (cache.ignore_query) stores a
// request for it under the path alone: that URL. One that keys some of
// the query (cache.keep_query) stores it under the kept parameters,
// sorted, which no prefix of the query tells: the prefix of the path with
// no query, every object of the path, and of the paths that begin with
// it: broader than asked. A prefix without a query covers the keys its
// routes store its requests under already.
//
// With shields, a route that fetches through shields sends them another
// path: a prefix inside a strip_prefix route loses the route's prefix
// (/v1/img/ is /img/ on the shield), and one that holds the whole route
// (/v1 or /v, for a route /v1/) is every path of the host there (/), as
// is any prefix of a route with an upstream_path: the template's text
// before its first capture (/users/ for /users/{id}), since a capture may
// be anything. Those are broader than asked: the shield's objects of the
// same host under them are purged with the route's, as every node purges
// them, on an edge another public URL's.
//
// Each target once, none that p covers itself. A nil Router adds none.
func (rt *Router) PrefixPurgeTargets(p policy.Target, shields bool) (urls, prefixes []policy.Target) {
	// What p covers itself is left out.
	u, pre := targetSet{within: p.Key()}, targetSet{within: p.Key()}
	for _, r := range rt.routesOf(p.Host) {
		if p.RawQuery != "" {
			captures, ok := r.coversPath(p.Path)
			if !ok {
				continue
			}
			r.addQueryPrefix(&u, &pre, p, p.Path)
			if shields && r.viaShields() {
				r.addQueryPrefix(&u, &pre, p, r.upstreamPath(p.Path, captures))
			}
			continue
		}
		inside := strings.HasPrefix(p.Path, r.PathPrefix)
		if !inside && !strings.HasPrefix(r.PathPrefix, p.Path) || !shields || !r.viaShields() {
			continue
		}
		up := p
		switch {
		case r.UpstreamPath != "" && r.Pattern != nil:
			up.Path, _, _ = strings.Cut(r.UpstreamPath, "{")
		case !r.StripPrefix || r.PathPrefix == "/":
			continue // the shield is sent the same path
		case inside:
			up.Path = r.upstreamPath(p.Path, nil)
		default:
			up.Path = "/"
		}
		pre.add(up)
	}
	return u.ts, pre.ts
}

// addQueryPrefix adds what the prefix p, with a query, is stored under
// at path by r's query rules (PrefixPurgeTargets).
func (r *Route) addQueryPrefix(urls, prefixes *targetSet, p policy.Target, path string) {
	t := p
	t.Path = path
	switch {
	case r.Cache.IgnoreQuery:
		t.RawQuery = ""
		urls.add(t)
	case len(r.Cache.KeepQuery) > 0:
		t.RawQuery = ""
		prefixes.add(t)
	default:
		prefixes.add(t)
	}
}

// routesOf is the routes of host's site; none without a Router or a site.
func (rt *Router) routesOf(host string) []*Route {
	if rt == nil {
		return nil
	}
	site, ok := rt.Site(host)
	if !ok {
		return nil
	}
	return site.Routes
}

// coversPath reports whether r may serve path, with the captures of its
// pattern.
func (r *Route) coversPath(path string) (captures []string, ok bool) {
	if !strings.HasPrefix(path, r.PathPrefix) {
		return nil, false
	}
	if r.Pattern == nil {
		return nil, true
	}
	return r.Pattern.match(path)
}

// viaShields reports whether r's misses, or a split's, may go through
// shields.
func (r *Route) viaShields() bool {
	if r.Upstream != nil && r.Upstream.HasShields() {
		return true
	}
	return slices.ContainsFunc(r.Splits, func(s Split) bool {
		return s.Upstream != nil && s.Upstream.HasShields()
	})
}

// targetSet collects targets once each, in the order first added, leaving
// out the one keyed own and those whose keys begin with within (when set).
// seen makes adding linear in the routes that cover a URL (a scan of ts
// made a purge through 500 such routes take 14 s).
type targetSet struct {
	own, within string
	ts          []policy.Target
	seen        map[policy.Target]struct{}
}

func (s *targetSet) add(t policy.Target) {
	k := t.Key()
	if k == s.own || s.within != "" && strings.HasPrefix(k, s.within) {
		return
	}
	if _, ok := s.seen[t]; ok {
		return
	}
	if s.seen == nil {
		s.seen = make(map[policy.Target]struct{})
	}
	s.seen[t] = struct{}{}
	s.ts = append(s.ts, t)
}
