package edge

import (
	"net/http"

	"edged/edge/policy"
	"edged/origin"
)

// exchange is one client request as the cache sees it once its site and
// route are known.
type exchange struct {
	t        policy.Target // normalized target, query as the route keys it
	key      string        // primary cache key
	site     *Site         // nil without a Router
	route    *Route
	identity string // who an authenticated route admitted
	upstream *origin.Client
	split    string // the route split serving this request; "" = primary
	sticky   bool   // tell the client its split with a cookie
}

// newExchange routes r. Without a Router every host goes to Options.Upstream;
// with one, an unknown host is refused with 421 (RFC 9110 §15.5.20: this
// server does not serve that authority) rather than sent to some default
// origin, and a path no route covers gets 404.
func (h *Handler) newExchange(r *http.Request, t policy.Target) (*exchange, int, string) {
	route := h.anyHost
	var site *Site
	if h.opts.Router != nil {
		var ok bool
		site, ok = h.opts.Router.Site(t.Host)
		if !ok {
			return nil, http.StatusMisdirectedRequest, "no site is configured for host " + t.Host
		}
		if route, ok = site.Route(t.Path); !ok {
			return nil, http.StatusNotFound, "no route of site " + site.Name + " serves " + t.Path
		}
	}
	t.RawQuery = route.Cache.keyQuery(t.RawQuery)
	x := &exchange{t: t, key: t.Key(), site: site, route: route}
	x.upstream, x.split, x.sticky = route.pick(r)
	if x.split != "" {
		// A split's answers may differ from the primary's (a canary): keep
		// them apart, under the URL's key so URL and prefix purges reach them.
		x.key += "\x00~" + x.split
	}
	return x, 0, ""
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
