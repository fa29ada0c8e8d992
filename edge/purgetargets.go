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
//   - keyed: t with the query a route keys it under (cache.ignore_query,
//     cache.keep_query), where that is not t's own. A request for t is
//     served the object stored there, so a purge of t that left it
//     (answered 200 with a count of 0) left the object it named served.
//   - upstream: the target a route that fetches through shields sends
//     them (its strip_prefix or upstream_path, and its kept query), where
//     that is neither t nor a keyed target. A shield keys what it stores
//     by the URL it is sent, and knows nothing of the edge's routes: left
//     there, the object was refilled from the shield's pre-purge copy by
//     the edge's next miss.
//
// A nil Router (every host to one upstream, no route rules) adds none.
func (rt *Router) PurgeTargets(t policy.Target) (keyed, upstream []policy.Target) {
	if rt == nil {
		return nil, nil
	}
	site, ok := rt.Site(t.Host)
	if !ok {
		return nil, nil
	}
	own := t.Key()
	for _, r := range site.Routes {
		if !strings.HasPrefix(t.Path, r.PathPrefix) {
			continue
		}
		var captures []string
		if r.Pattern != nil {
			if captures, ok = r.Pattern.match(t.Path); !ok {
				continue
			}
		}
		k := t
		k.RawQuery = r.Cache.keyQuery(t.RawQuery)
		if k.Key() != own && !containsTarget(keyed, k) {
			keyed = append(keyed, k)
		}
		if !r.viaShields() {
			continue
		}
		u := k
		u.Path = r.upstreamPath(k.Path, captures)
		if u.Key() != own && !containsTarget(keyed, u) && !containsTarget(upstream, u) {
			upstream = append(upstream, u)
		}
	}
	return keyed, upstream
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

func containsTarget(ts []policy.Target, t policy.Target) bool {
	return slices.Contains(ts, t)
}
