package edge

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"edged/edge/accesslog"
	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// exchange is one client request on its way through the cache: the request
// and its response writer, where routing sent it, what the store holds for
// it, and the Cache-Status member (RFC 9211) the path builds as it goes. Its
// methods are the paths a request takes: the hit (hit.go), the fetch of a
// miss or a stale entry (miss.go), the pass (pass.go).
//
// ServeHTTP takes one from the Handler's pool and recycles it once the
// request is recorded, so a hit allocates none: nothing may keep an
// exchange, its writer or its key buffer after ServeHTTP returns. A fetch
// that outlives the request copies what it needs (newFetch).
type exchange struct {
	h     *Handler
	r     *http.Request
	w     trackedWriter
	start time.Time

	// Set by routeTo, once the request's site and route are known; route
	// is nil before.
	t        policy.Target // normalized target, query as the route keys it
	keyBuf   []byte        // primary cache key, in a buffer reused across requests
	keyStr   string        // keyBuf as a string, once something needed one
	routes   *routes       // the Handler's routes when routeTo ran; holds a reference
	site     *Site         // nil without a Router
	route    *Route
	identity string // who an authenticated route admitted
	upstream *origin.Client
	split    string // the route split serving this request; "" = primary
	sticky   bool   // tell the client its split with a cookie

	// found is what the store holds for the request, once looked up;
	// since is what flights.seen said before that lookup.
	found lookupResult
	since uint64
	// cs is this cache's Cache-Status member: each path sets what it
	// knows (hit, fwd, detail...) and setCacheStatus writes it.
	cs policy.CacheStatus
	// outcome is what cs stands for, for metrics and the access log.
	outcome outcome
	// interim counts the interim responses passed on (interim.go).
	interim int
	// captures are the values route.Pattern captured from the path.
	captures []string

	// requestID is the request's X-Request-Id as a header value (nil with
	// Options.NoRequestID); ids makes new ones, and is kept across
	// recycling.
	requestID []string
	ids       idSource
	// upstreamAddr and firstByte say which upstream server answered the
	// request, or the fetch it shared, and how soon its response header
	// came; upstreamAddr is "" when nothing was forwarded.
	upstreamAddr string
	firstByte    time.Duration
	// rec is the access log's record, filled in done.
	rec accesslog.Record
}

// newExchange starts the exchange of r, answered through w.
func (h *Handler) newExchange(w http.ResponseWriter, r *http.Request) *exchange {
	x, _ := h.exchanges.Get().(*exchange)
	if x == nil {
		x = new(exchange)
	}
	x.h, x.r, x.start = h, r, time.Now()
	x.w.ResponseWriter, x.w.timeout, x.w.held.b = w, h.opts.WriteTimeout, &h.bodies
	return x
}

// done records the request once it has been answered, then recycles x.
func (x *exchange) done() {
	x.found.closeBody()
	x.w.finish()
	h, w := x.h, &x.w
	if x.routes != nil {
		x.routes.release()
	}
	now := time.Now()
	elapsed := now.Sub(x.start)
	h.metrics.record(x.site, x.route, x.outcome, w.status, elapsed)
	if obs := h.opts.Observer; obs != nil {
		x.observe(obs, elapsed)
	}
	if log := h.opts.AccessLog; log != nil {
		x.logAccess(log, now, elapsed)
	}
	*x = exchange{keyBuf: reusable(x.keyBuf), w: trackedWriter{scratch: reusable(w.scratch)}, ids: x.ids}
	h.exchanges.Put(x)
}

// logAccess writes x's access log line. The record lives in x, and its
// strings are the request's: logging a hit allocates nothing.
func (x *exchange) logAccess(log AccessLogger, now time.Time, elapsed time.Duration) {
	r, rec := x.r, &x.rec
	*rec = accesslog.Record{
		Time:              now,
		Client:            x.h.client(r),
		User:              x.identity,
		Method:            r.Method,
		Host:              r.Host,
		Target:            r.RequestURI,
		Proto:             r.Proto,
		Status:            x.w.status,
		Bytes:             x.w.bytes,
		Duration:          elapsed,
		Upstream:          x.upstreamAddr,
		UpstreamFirstByte: x.firstByte,
		Cache:             x.outcome.String(),
		UserAgent:         firstValue(r.Header, "User-Agent"),
		Referer:           firstValue(r.Header, "Referer"),
	}
	if len(x.requestID) > 0 {
		rec.RequestID = x.requestID[0]
	}
	if x.route != nil {
		rec.Route = x.route.PathPrefix
		if x.site != nil {
			rec.Site = x.site.Name
		}
	}
	log.Log(rec)
}

// noteUpstream records which server answered, or failed to, as
// origin.Client.Do reports it, and how long the response header took since
// start.
func (x *exchange) noteUpstream(resp *http.Response, err error, start time.Time) {
	x.upstreamAddr, x.firstByte = upstreamServer(resp, err), time.Since(start)
}

// upstreamServer is the server that answered resp: the host of the request
// that origin.Client.Do sent (a pool member, a shield, or the destination);
// without a response, the one whose attempt failed with err
// (origin.FailedServer: the last tried); "" when no server was tried.
func upstreamServer(resp *http.Response, err error) string {
	if resp == nil || resp.Request == nil || resp.Request.URL == nil {
		return origin.FailedServer(err)
	}
	return resp.Request.URL.Host
}

// routeTo routes the request to target t. Without a Router every host goes
// to Options.Upstream; with one, an unknown host is refused with 421 (RFC
// 9110 §15.5.20: this server does not serve that authority) rather than
// sent to some default origin, a route's prefix without its trailing slash
// gets 308 to the prefix, and a path no route covers gets 404; a path
// that an origin may read as one under another route gets 400
// (Site.ambiguous). A refused request gets a status and a reason, and x is
// left unrouted.
func (x *exchange) routeTo(t policy.Target) (int, string) {
	if x.routes == nil {
		x.routes = x.h.currentRoutes()
	}
	route := x.routes.anyHost
	var site *Site
	if router := x.routes.router; router != nil {
		var ok bool
		site, ok = router.Site(t.Host)
		if !ok {
			return http.StatusMisdirectedRequest, "no site is configured for host " + t.Host
		}
		route, ok = site.RouteFor(x.r, t.Path)
		// A path no route covers may still be a route's prefix without its
		// slash ("/api" on a site whose only route is "/api/"): redirected
		// too, as nginx does, rather than a 404 the operator cannot explain.
		if o := site.slashRoute(x.r, t.Path, route, false); o != nil {
			// As nginx answers for a location "/admin/": the route's own
			// URL, whose guards then apply (RFC 9110 §15.4.9: 308 keeps
			// the method and body).
			loc := o.PathPrefix
			if t.RawQuery != "" {
				loc += "?" + t.RawQuery
			}
			x.w.Header().Set("Location", loc)
			return http.StatusPermanentRedirect, "see " + o.PathPrefix
		}
		if !ok {
			return http.StatusNotFound, "no route of site " + site.Name + " serves " + t.Path
		}
		if site.ambiguous(x.r, t.Path, route) {
			return http.StatusBadRequest, "ambiguous path: once its ;parameters, escapes, slashes or letter case are resolved, another route of site " + site.Name + " serves it"
		}
	}
	if route.Pattern != nil {
		caps, ok := route.Pattern.match(t.Path)
		if !ok {
			return http.StatusNotFound, "path " + t.Path + " does not match " + route.Pattern.String()
		}
		x.captures = caps
	}
	t.RawQuery = route.Cache.keyQuery(t.RawQuery)
	x.t, x.site, x.route = t, site, route
	x.keyBuf, x.keyStr = t.AppendKey(x.keyBuf[:0]), ""
	if route.state.id != "" {
		// The route's conditions chose it: another route may serve the
		// same URL to other requests. Keep its answers apart, under the
		// URL's key so URL and prefix purges reach them (RouteMatch).
		x.appendKey(policy.AppendRoute, route.state.id)
	}
	if pool, ok := x.h.namedPool(x.r); ok {
		// An edge named the pool it wants: what a pool is sent under
		// this URL is that pool's alone (origin.PoolHeader).
		x.appendKey(policy.AppendPool, pool)
		if up := x.routes.pools[pool]; up != nil {
			x.upstream = up // no split nor sticky cookie: the edge chose
			return 0, ""
		}
		// A pool this shield lacks: its own route fetches it, splits
		// kept apart below as for any request.
	}
	x.upstream, x.split, x.sticky = route.pick(x.r)
	if x.split != "" {
		// A split's answers may differ from the primary's (a canary): keep
		// them apart, under the URL's key so URL and prefix purges reach them.
		x.appendKey(policy.AppendSplit, x.split)
	}
	return 0, ""
}

// key is the primary cache key as a string. A hit never needs it (the store
// is asked with keyBuf), so it is made only for the paths that keep it.
func (x *exchange) key() string {
	if x.keyStr == "" {
		x.keyStr = string(x.keyBuf)
	}
	return x.keyStr
}

// appendKey extends the primary cache key with a derivation (policy.Key).
func (x *exchange) appendKey(derive func(b []byte, value string) []byte, value string) {
	x.keyBuf = derive(x.keyBuf, value)
	x.keyStr = ""
}

// now is the time for x's caching decisions: Options.Now, or with the
// real clock the time x arrived (microseconds ago), which saves a hit a
// clock read.
func (x *exchange) now() time.Time {
	if x.h.realClock {
		return x.start
	}
	return x.h.opts.Now()
}

// rules are the caching rules of x's site: its own Policy, or the node's.
func (x *exchange) rules() *policy.Options {
	if x.site != nil && x.site.Policy != nil {
		return x.site.Policy
	}
	return &x.h.opts.Policy
}

// ttl is the remaining freshness of e for x's Cache-Status (negative: stale).
func (x *exchange) ttl(e *storage.Entry) time.Duration {
	return policy.Decide(x.r.Header, responseOf(e), x.h.opts.Now(), *x.rules()).TTL
}

// upstreamURI is the path and query sent upstream: the keyed target, with
// the route's prefix stripped. Built only when a request goes upstream,
// never on a hit.
func (x *exchange) upstreamURI() string {
	uri := x.route.upstreamPath(x.t.Path, x.captures)
	if x.t.RawQuery != "" {
		uri += "?" + x.t.RawQuery
	}
	return uri
}

// finishHeader applies what the route adds to every response: its header
// rules, the Vary of its match conditions, its CORS fields (computed for
// this request, never stored) and the sticky split cookie. An unrouted
// request gets none.
func (x *exchange) finishHeader(h http.Header) {
	if x.route == nil {
		return
	}
	if x.site != nil {
		x.site.ResponseHeaders.apply(h)
	}
	x.route.ResponseHeaders.apply(h)
	x.expandHeaders(h, x.route.ResponseHeaders.Set)
	x.route.addVary(h)
	if x.route.CORS != nil {
		x.route.CORS.Apply(h, x.r)
	}
	if x.sticky {
		value := x.split
		if value == "" {
			value = "primary"
		}
		c := &http.Cookie{Name: x.route.StickyCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
		h.Add("Set-Cookie", c.String())
	}
}

// dialAddrKey is the context key of WithDialAddr.
type dialAddrKey struct{}

// WithDialAddr returns ctx carrying addr: a request served with it is
// fetched from that address (origin.Outbound.DialAddr), its host not
// looked up again. The forward proxy passes the address its access rules
// judged; a fill shared by several requests connects where the first
// one's says.
func WithDialAddr(ctx context.Context, addr netip.AddrPort) context.Context {
	return context.WithValue(ctx, dialAddrKey{}, addr)
}

// outbound is the upstream request for x, before any fill-specific change.
func (x *exchange) outbound() *origin.Outbound {
	r := x.r
	header := r.Header.Clone()
	x.route.RequestHeaders.apply(header)
	x.expandHeaders(header, x.route.RequestHeaders.Set)
	dialAddr, _ := r.Context().Value(dialAddrKey{}).(netip.AddrPort)
	return &origin.Outbound{
		Method:     r.Method,
		Host:       x.t.Host,
		RequestURI: x.upstreamURI(),
		Header:     header,
		ClientIP:   clientIP(r),
		// The client trusted proxies vouch for: what a client_ip_hash
		// pool keeps on one server.
		RealClientIP: x.realClient(),
		Proto:        x.t.Scheme,
		Key:          x.key(),
		DialAddr:     dialAddr,
	}
}

// partitionUpstream adds to h, the header of an upstream request for a
// route whose cache key holds the auth partition (key_claims), what keeps
// the caches upstream (a shield, a cache at the origin) from storing or
// reusing its response: they know no partition, so one would store the
// page it was sent for one user under the URL alone and answer the next
// user's miss with it. RFC 9111 §5.2.1.5: no-store, nothing of the
// exchange is stored; §5.2.1.4: no-cache, a response stored before (by
// another path, or by an older edged) is not used without validation.
func (x *exchange) partitionUpstream(h http.Header) {
	if len(x.route.AuthKey) > 0 {
		h.Add("Cache-Control", "no-cache, no-store")
	}
}

// realClient is the client's address as Options.ClientIP resolves it, ""
// if it has none.
func (x *exchange) realClient() string {
	if a := x.h.client(x.r); a.IsValid() {
		return a.String()
	}
	return ""
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// setCacheStatus adds this cache's member, x.cs, to the Cache-Status list
// after those of the caches closer to the origin (RFC 9211 §2), then the
// route's response rules: every response passes here last before its
// status line.
func (x *exchange) setCacheStatus(upstream http.Header) {
	x.cs.Name = x.h.opts.Name
	x.outcome = outcomeOf(x.cs)
	hdr := x.w.Header()
	// Indexed, not Values: the name is canonical already.
	hdr["Cache-Status"] = x.h.cacheStatusValue(upstream["Cache-Status"], x.cs)
	if x.requestID != nil {
		// Not an upstream's or a stored response's: this request's.
		hdr[requestIDField] = x.requestID
	}
	x.finishHeader(hdr)
}

// cacheStatusValue is the Cache-Status field value: prior members, then cs.
func (h *Handler) cacheStatusValue(prior []string, cs policy.CacheStatus) []string {
	plainHit := cs == policy.CacheStatus{Name: cs.Name, Hit: true, TTL: cs.TTL, HasTTL: true}
	if plainHit && (len(prior) == 0 || len(prior) == 1 && prior[0] != "") {
		// The value differs only by the TTL's seconds and the one line of
		// members the stored response carries from the caches upstream.
		ttl, upstream := int64(cs.TTL/time.Second), ""
		if len(prior) == 1 {
			upstream = prior[0]
		}
		if v := h.hitStatus.get(ttl, upstream); v != nil {
			return v
		}
		return h.hitStatus.put(ttl, upstream, joinStatus(prior, cs))
	}
	return []string{joinStatus(prior, cs)}
}

// joinStatus is the Cache-Status list: prior members, then cs.
func joinStatus(prior []string, cs policy.CacheStatus) string {
	if len(prior) == 0 {
		return cs.String()
	}
	return strings.Join(prior, ", ") + ", " + cs.String()
}

// outcomeOf is the outcome a Cache-Status member stands for.
func outcomeOf(cs policy.CacheStatus) outcome {
	switch {
	case cs.Hit && cs.HasTTL && cs.TTL < 0:
		return outcomeStale
	case cs.Hit:
		return outcomeHit
	case cs.Fwd == policy.FwdStale && cs.Detail == policy.DetailStaleIfError:
		return outcomeStaleIfError
	case cs.Fwd == policy.FwdStale:
		return outcomeRevalidated
	case cs.Fwd == policy.FwdRequest && cs.FwdStatus == http.StatusNotModified:
		// The client forced a revalidation (RFC 9111 §5.2.1.4 no-cache,
		// max-age, min-fresh) and the stored response was validated
		// (RFC 9111 §4.3.4): it is served, as after fwd=stale, so a
		// reload is not a miss.
		return outcomeRevalidated
	case cs.Fwd == "":
		return outcomeError
	case cs.Fwd == policy.FwdBypass || cs.Fwd == policy.FwdMethod:
		return outcomePass
	default:
		return outcomeMiss
	}
}
