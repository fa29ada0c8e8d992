package edge

import (
	"errors"
	"iter"
	"reflect"
	"sync/atomic"

	"edged/origin"
)

// routes are what a Handler routes requests by: a Router, or one route for
// every host. [Handler.Reroute] replaces them whole, without a lock: each
// request reads them once (routeTo) and keeps what it read, so a request
// started before a reroute ends on the routes it started with, and one
// started after uses the new ones.
//
// refs counts who uses them: the Handler while they are current, each
// request routed by them, and each upstream fetch such a request started
// (a fetch outlives its request). It reaches 0 only once they are no longer
// current and nothing uses them any more; drained is closed then, so the
// caller of Reroute can close the upstream clients they held. 0 is final:
// nobody takes routes whose count is 0 (tryAcquire).
type routes struct {
	router  *Router
	anyHost *Route // every host, when router is nil
	// pools are a shield's upstreams by the pool names its edges send
	// (origin.PoolHeader); nil elsewhere.
	pools   map[string]*origin.Client
	refs    atomic.Int64
	drained chan struct{}
	// retire, set by Reroute before it gives up the Handler's reference,
	// runs once as the count reaches 0, before drained is closed.
	retire func()
}

func newRoutes(rt *Router, upstream *origin.Client, pools map[string]*origin.Client) *routes {
	rs := &routes{router: rt, pools: pools, drained: make(chan struct{})}
	if rt == nil {
		rs.anyHost = &Route{PathPrefix: "/", Upstream: upstream}
	}
	rs.refs.Store(1) // the Handler's, until Reroute replaces them
	return rs
}

// tryAcquire takes a reference unless the routes have drained already.
func (rs *routes) tryAcquire() bool {
	for {
		n := rs.refs.Load()
		if n == 0 {
			return false
		}
		if rs.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release gives a reference back; the last one closes drained.
func (rs *routes) release() {
	if rs.refs.Add(-1) == 0 {
		if rs.retire != nil {
			rs.retire()
		}
		close(rs.drained)
	}
}

// currentRoutes takes a reference on the current routes. Routes that drain
// between the load and the acquire have been replaced: the next load sees
// their successor.
func (h *Handler) currentRoutes() *routes {
	for {
		if rs := h.routes.Load(); rs.tryAcquire() {
			return rs
		}
	}
}

// errNoRoutes is Reroute's error for neither a Router nor an upstream.
var errNoRoutes = errors.New("edge: Reroute needs a Router or an Upstream")

// Reroute makes the requests that start from now on use router, or, when
// router is nil, upstream for every host (as Options.Router and
// Options.Upstream do at New), and pools as Options.Pools. Requests under way, and the upstream fetches
// they started, finish on the routes they started with; the returned
// channel is closed once none is left, when the upstream clients that only
// the old routes used may be closed. The cache, and the flights that
// collapse concurrent misses, are kept. The request series (metrics) of
// the routes that are gone are deleted then too: a route the new routes
// still have (same site and prefix) keeps counting in its series.
func (h *Handler) Reroute(router *Router, upstream *origin.Client, pools map[string]*origin.Client) (retired <-chan struct{}, err error) {
	if router == nil && upstream == nil {
		return nil, errNoRoutes
	}
	old := h.routes.Swap(newRoutes(router, upstream, pools))
	// Once no request records on the old routes any more, so that none
	// brings a deleted series back; against the routes current then,
	// which a later Reroute may have replaced.
	old.retire = func() { h.metrics.forgetRoutes(old.seriesLabels(), h.routes.Load().seriesLabels()) }
	old.release()
	return old.drained, nil
}

// seriesLabels are the site and route label values of the request series
// the routes record in (metrics.newSeries).
func (rs *routes) seriesLabels() map[routeLabels]bool {
	labels := make(map[routeLabels]bool)
	if rs.router == nil {
		labels[routeLabels{route: rs.anyHost.PathPrefix}] = true
		return labels
	}
	for s := range rs.router.sites() {
		for _, r := range s.Routes {
			labels[routeLabels{site: s.Name, route: r.PathPrefix}] = true
		}
	}
	return labels
}

// holdRoutes extends release (a fetch's client slot) to let go of x's
// routes too: a fetch runs on after its request has ended, through the
// upstream client of x's route, which must stay open until it ends. x
// holds a reference, so the count is not 0.
func (x *exchange) holdRoutes(release func()) func() {
	rs := x.routes
	rs.refs.Add(1)
	return func() {
		release()
		rs.release()
	}
}

// Close releases what the sites and routes of rt hold beyond memory: each
// field of a Site or Route whose value has a Close method (a verifier that
// refreshes its keys in the background, say) is closed, once even when
// routes share it. Fields are found by reflection so that a field added to
// Route is never forgotten here. Upstream clients are left to whoever
// built them: routers may share them. Call it once no request uses rt any
// more (the channel [Handler.Reroute] returns, or after [Handler.Close]).
func (rt *Router) Close() {
	seen := make(map[any]bool)
	for s := range rt.sites() {
		closeFields(reflect.ValueOf(s).Elem(), seen)
		for _, r := range s.Routes {
			closeFields(reflect.ValueOf(r).Elem(), seen)
		}
	}
}

// sites yields each site of rt once, though it is indexed under each of
// its hosts.
func (rt *Router) sites() iter.Seq[*Site] {
	return func(yield func(*Site) bool) {
		seen := make(map[*Site]bool)
		for _, table := range []map[string]*Site{rt.exact, rt.wildcards} {
			for _, s := range table {
				if seen[s] {
					continue
				}
				seen[s] = true
				if !yield(s) {
					return
				}
			}
		}
	}
}

// closeFields closes each exported pointer or interface field of the struct
// v that has a Close method and is not in seen (nor an upstream client),
// adding it to seen.
func closeFields(v reflect.Value, seen map[any]bool) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() || (f.Kind() != reflect.Pointer && f.Kind() != reflect.Interface) || f.IsNil() {
			continue
		}
		x := f.Interface()
		if _, upstream := x.(*origin.Client); upstream || seen[x] {
			continue
		}
		seen[x] = true
		switch c := x.(type) {
		case interface{ Close() error }:
			_ = c.Close()
		case interface{ Close() }:
			c.Close()
		}
	}
}
