package edge

import (
	"net/http"

	"edged/edge/policy"
	"edged/origin"
)

// exchange is one client request as the cache sees it once its site and
// route are known. It lives in the request's trackedWriter and is recycled
// with it; whatever outlives the request takes a copy (detached).
type exchange struct {
	t        policy.Target // normalized target, query as the route keys it
	keyBuf   []byte        // primary cache key, in a buffer reused across requests
	keyStr   string        // keyBuf as a string, once something needed one
	site     *Site         // nil without a Router
	route    *Route
	identity string // who an authenticated route admitted
	upstream *origin.Client
	split    string // the route split serving this request; "" = primary
	sticky   bool   // tell the client its split with a cookie
}

// newExchange routes r into x. Without a Router every host goes to
// Options.Upstream; with one, an unknown host is refused with 421 (RFC 9110
// §15.5.20: this server does not serve that authority) rather than sent to
// some default origin, and a path no route covers gets 404; a path that an
// origin may read as one under another route gets 400 (Site.ambiguous). A
// refused request gets a status and a reason, and x is left unrouted.
func (h *Handler) newExchange(x *exchange, r *http.Request, t policy.Target) (int, string) {
	route := h.anyHost
	var site *Site
	if h.opts.Router != nil {
		var ok bool
		site, ok = h.opts.Router.Site(t.Host)
		if !ok {
			return http.StatusMisdirectedRequest, "no site is configured for host " + t.Host
		}
		if route, ok = site.Route(t.Path); !ok {
			return http.StatusNotFound, "no route of site " + site.Name + " serves " + t.Path
		}
		if site.ambiguous(t.Path, route) {
			return http.StatusBadRequest, "ambiguous path: once its ;parameters, escapes, slashes or letter case are resolved, another route of site " + site.Name + " serves it"
		}
	}
	t.RawQuery = route.Cache.keyQuery(t.RawQuery)
	x.t, x.site, x.route = t, site, route
	x.keyBuf, x.keyStr = t.AppendKey(x.keyBuf[:0]), ""
	x.upstream, x.split, x.sticky = route.pick(r)
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

// detached returns a copy of x that shares no memory with the writer x
// lives in, for a fetch that may outlive the request.
func (x *exchange) detached() *exchange {
	c := *x
	c.keyStr, c.keyBuf = x.key(), nil
	return &c
}

// upstreamURI is the path and query sent upstream: the keyed target, with
// the route's prefix stripped. Built only when a request goes upstream,
// never on a hit.
func (x *exchange) upstreamURI() string {
	uri := x.route.upstreamPath(x.t.Path)
	if x.t.RawQuery != "" {
		uri += "?" + x.t.RawQuery
	}
	return uri
}

// finishHeader applies what the route adds to every response: its header
// rules and the sticky split cookie.
func (x *exchange) finishHeader(h http.Header) {
	if x == nil {
		return
	}
	if x.site != nil {
		x.site.ResponseHeaders.apply(h)
	}
	x.route.ResponseHeaders.apply(h)
	if x.sticky {
		value := x.split
		if value == "" {
			value = "primary"
		}
		c := &http.Cookie{Name: x.route.StickyCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
		h.Add("Set-Cookie", c.String())
	}
}
