package policy

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"edged/internal/httpsyntax"
)

// Storable reports whether a shared cache may store this response to req
// (RFC 9111 §3, §3.5, §5.2), and if not a short reason token for the
// Cache-Status detail parameter. When a valid targeted field is present
// (CDN-Cache-Control, else Surrogate-Control) its directives replace
// Cache-Control and Expires (RFC 9213 §2.1). A response to a request with
// credentials passes CredentialsAllow too.
//
// Only GET responses are stored: the edge fills HEAD requests with an
// upstream GET, so a HEAD response never reaches the store.
func Storable(req *http.Request, status int, h http.Header, opt Options) (ok bool, reason string) {
	if req.Method != http.MethodGet { // RFC 9111 §3: the method must be understood and cacheable
		return false, DetailMethod
	}
	// RFC 9111 §3: a final status (not 1xx); no partial storage (§3.3), and a
	// 304 only ever updates a stored response (§4.3.4).
	if status < 200 || status > 999 || status == http.StatusPartialContent || status == http.StatusNotModified {
		return false, DetailStatus
	}
	if RequestErrorStatus(status) {
		return false, DetailStatus // a cache-poisoned denial of service, whatever the freshness
	}
	rd := requestDirectives(req.Header)
	e := responseDirectives(h, opt.Surrogate)
	if e.has(fMustUnderstand) && !understoodStatus(status) {
		return false, DetailMustUnderstand // RFC 9111 §5.2.2.3
	}
	// RFC 9111 §5.2.2.3: with must-understand and an understood status, a
	// cache that implements it ignores no-store.
	if e.has(fNoStore) && !e.has(fMustUnderstand) {
		return false, DetailNoStore // RFC 9111 §5.2.2.5
	}
	if rd.has(fNoStore) {
		return false, DetailNoStore // RFC 9111 §5.2.1.5
	}
	if e.has(fPrivate) {
		return false, DetailPrivate // RFC 9111 §5.2.2.7 (unqualified; qualified fields are dropped by StoredHeader)
	}
	if _, star := ParseVary(h); star {
		return false, DetailVaryStar // RFC 9111 §4.1: "*" never matches
	}
	if ok, reason := credentialsAllow(req.Header, h, &e); !ok {
		return false, reason
	}
	// edged stores a response with Set-Cookie only when it is explicitly
	// shareable (public or s-maxage). RFC 9111 would allow more, but a cookie
	// is almost always per user: an origin that forgets "private" would leak
	// sessions to everyone behind the CDN. StoredHeader drops Set-Cookie too,
	// so even a shareable response never hands one user's cookie to another.
	if len(h["Set-Cookie"]) > 0 && !e.shared() {
		return false, DetailSetCookie
	}
	if !hasFreshnessInfo(status, h, &e) {
		return false, DetailNoFreshness
	}
	return true, ""
}

// Credentialed reports whether a request carries credentials that may make
// its response one user's own: Cookie or Authorization.
func Credentialed(req http.Header) bool {
	return hasValue(req["Cookie"]) || hasValue(req["Authorization"])
}

func hasValue(lines []string) bool {
	for _, l := range lines {
		if strings.Trim(l, " \t") != "" {
			return true
		}
	}
	return false
}

// CredentialsAllow reports whether a shared cache may store the response
// with header h to a request with header req as far as the request's
// credentials go, and if not the Cache-Status detail ("authorization" or
// "cookie"). A request without credentials is always allowed. Storable
// applies it; a 304 that would refresh a stored response is checked with it
// alone, since what it says about freshness is said to one user.
//
// RFC 9111 §3.5 lets a response to a request with Authorization be stored
// only with public, s-maxage or must-revalidate. Cookie has no such rule in
// RFC 9111, yet a page answered to a cookie is as often one user's: web
// frameworks send no Cache-Control by default, and a stored page without
// freshness is still handed out stale to any client that sends max-stale.
// So edged stores a response to either kind of request only when the
// response says it may be shared: public or s-maxage, or an explicit
// lifetime (max-age, or Expires after Date; a targeted field's max-age
// counts, RFC 9213 §2.1) that is still running when it arrives (beyond its
// Age, RFC 9111 §5.1). Never through a heuristic lifetime (§4.2.2) or one
// the cache assigns (a route's default TTL), and never already stale
// (max-age=0, an Expires in the past): nothing says such a page is anyone
// else's to read.
func CredentialsAllow(req, h http.Header, opt Options) (ok bool, reason string) {
	e := responseDirectives(h, opt.Surrogate)
	return credentialsAllow(req, h, &e)
}

func credentialsAllow(req, h http.Header, e *effective) (ok bool, reason string) {
	auth := hasValue(req["Authorization"])
	if !auth && !hasValue(req["Cookie"]) {
		return true, ""
	}
	reason = DetailCookie
	if auth {
		reason = DetailAuthorization
		if !e.shared() && !e.has(fMustRevalidate) {
			return false, reason // RFC 9111 §3.5
		}
	}
	if e.shared() {
		return true, ""
	}
	if life, ok := explicitLifetime(h, e); ok && life > secs(max(ageHeader(h), 0)) {
		return true, "" // for that lifetime only: see PerUser
	}
	return false, reason
}

// shared reports public or s-maxage: the response says it is for shared
// caches (RFC 9111 §5.2.2.9, §5.2.2.10).
func (e *effective) shared() bool {
	return e.has(fPublic) || e.sMaxAge != unset
}

// PerUser reports whether a response with header h to a request with
// header req, once stored, is one user's page that CredentialsAllow let be
// stored only for the lifetime it gives itself: the request carries
// credentials (Credentialed; a cache counts a route's authentication as
// Authorization) and the response says neither public nor s-maxage (in
// the effective field, RFC 9213 §2.1). That lifetime is all it is shared
// for: a cache marks it (Response.MustRevalidate) so that, once stale, it
// is never served without validation, as if it carried must-revalidate
// (RFC 9111 §5.2.2.2): otherwise a client's max-stale, or the response's
// own stale-while-revalidate or stale-if-error (RFC 5861), would hand one
// user's page to every client for as long after it expired.
func PerUser(req, h http.Header, opt Options) bool {
	if !Credentialed(req) {
		return false
	}
	e := responseDirectives(h, opt.Surrogate)
	return !e.shared()
}

// MarkMustRevalidate adds must-revalidate, in place, to each
// cache-control field of h that a downstream cache may obey (Cache-Control,
// and CDN-Cache-Control and Surrogate-Control when h still carries them, as
// a shield's answers do: RFC 9213 §2.1 lets the targeted field replace
// Cache-Control there). A cache sends it with a response it marked
// (Response.MustRevalidate, see PerUser), so that a cache below it, which
// sees only the request it sent (an edge behind a shield, whose client had
// no cookie), keeps the mark's promise too: once stale, never served
// without validation (RFC 9111 §5.2.2.2). Each value is a new field line,
// never an append into h's slices, which may be a stored entry's.
func MarkMustRevalidate(h http.Header) {
	const mr = "must-revalidate"
	for _, name := range [...]string{"Cache-Control", "Cdn-Cache-Control", "Surrogate-Control"} {
		v, ok := h[name]
		if !ok && name != "Cache-Control" {
			continue
		}
		nv := make([]string, len(v), len(v)+1)
		copy(nv, v)
		h[name] = append(nv, mr)
	}
}

// explicitLifetime is the freshness lifetime the response gives itself
// (RFC 9111 §4.2.1): max-age, else Expires minus Date. ok is false without
// either; an Expires without a Date to measure it from gives 0.
func explicitLifetime(h http.Header, e *effective) (life time.Duration, ok bool) {
	switch {
	case e.maxAge != unset:
		return deltaLifetime(e.maxAge), true
	case !e.targeted() && len(h["Expires"]) > 0: // RFC 9213 §2.1: a targeted field replaces Expires
		date, ok := parseDate(h, "Date", time.Time{})
		if !ok {
			return 0, true
		}
		return expiresLifetime(Response{Header: h}, date, h["Expires"]), true
	}
	return 0, false
}

// hasFreshnessInfo is the last condition of RFC 9111 §3: explicit freshness
// (max-age, s-maxage, Expires), public, a heuristically cacheable status; or,
// in edged, no-cache or must-revalidate with a validator (the response is
// always revalidated, which saves the transfer).
func hasFreshnessInfo(status int, h http.Header, e *effective) bool {
	switch {
	case e.maxAge != unset, e.sMaxAge != unset, e.has(fPublic):
		return true
	case !e.targeted() && len(h["Expires"]) > 0: // even invalid: an invalid Expires means already expired (§5.3)
		return true
	case HeuristicStatus(status):
		return true
	case (e.has(fNoCache) || e.has(fMustRevalidate)) && (h.Get("Etag") != "" || h.Get("Last-Modified") != ""):
		return true
	}
	return false
}

// RequestErrorStatus reports the statuses edged never stores, even with
// explicit freshness (RFC 9111 §3 would allow it): 400 (Bad Request), 413
// (Content Too Large) and 431 (Request Header Fields Too Large) speak of
// the request's own shape or size, which the cache key does not hold. An
// origin with a smaller header limit than the edge's (nginx refuses a field
// over 8 KiB, edged takes 64 KiB) or stricter syntax answers one client's
// oversized or odd field with such an error; stored, it was served to
// every client of the URL: the cache-poisoned denial of service of Nguyen
// et al. 2019 (CPDoS "HTTP Header Oversize", "HTTP Meta Character"). None
// is heuristically cacheable (RFC 9110 §15.1), so only explicit freshness
// or a route's default lifetime could store one; production CDNs stopped
// caching them after that paper. 414 (URI Too Long) stays cacheable: the
// URI that caused it is the key (the key and the forwarded target are one),
// so it answers only that URI. 405 and 501, the answers of the "HTTP
// Method Override" attack, stay cacheable too: the method-override fields
// are stripped before keying and forwarding (server.strip_request_headers).
func RequestErrorStatus(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusRequestHeaderFieldsTooLarge:
		return true
	}
	return false
}

// HeuristicStatus reports the heuristically cacheable statuses (RFC 9110
// §15.1): those a response may be given a heuristic lifetime (RFC 9111
// §4.2.2), and those a route's default lifetime may be given to. 206 is
// one, but edged never stores partial content.
func HeuristicStatus(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

func understoodStatus(status int) bool {
	if status == http.StatusPartialContent || status == http.StatusNotModified {
		return false
	}
	return status >= 200 && http.StatusText(status) != ""
}

// hopByHop are the fields a cache must not store (RFC 9111 §3.1, RFC 9110
// §7.6.1) plus Set-Cookie, which edged never stores (see Storable).
// Set-Cookie2 is an ordinary field: RFC 6265 obsoleted it and no client
// acts on it, so storing it shares nothing, and the cache-tests suite
// (headers.mjs) requires it stored like any other field.
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Transfer-Encoding", "Upgrade", "Trailer",
	"Proxy-Authenticate", "Proxy-Authentication-Info", "Proxy-Authorization",
	"Set-Cookie",
}

// StoredHeader returns a copy of h without what a cache must not store or
// reuse (RFC 9111 §3.1): Connection and the fields it names, hop-by-hop
// fields, the proxy authentication fields, Set-Cookie (see Storable), and the fields named by qualified private="..." (§5.2.2.7) and
// no-cache="..." (§5.2.2.4) in Cache-Control or a targeted field (the union:
// dropping a field a targeted field did not name only makes edged stricter).
// It never mutates h.
func StoredHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		return http.Header{}
	}
	for _, line := range h["Connection"] { // RFC 9110 §7.6.1
		splitNames(line, out.Del)
	}
	for _, k := range hopByHop {
		delete(out, k)
	}
	for _, line := range h["Cache-Control"] {
		qualifiedNames(line, out.Del)
	}
	for _, line := range h["Surrogate-Control"] {
		qualifiedNames(line, out.Del)
	}
	targetedFieldNames(h["Cdn-Cache-Control"], out.Del)
	return out
}

// OwnHeader returns the fields of h that StoredHeader drops yet the client
// whose request fetched h must still be sent, or nil when there are none:
// Set-Cookie (see Storable), and the fields named by qualified private="..."
// and no-cache="..." (in Cache-Control or a targeted field). RFC 9111
// §5.2.2.7 limits the listed fields to the single user the response answers,
// and §5.2.2.4 bars them only from responses to subsequent requests: neither
// takes them from the response being forwarded. Hop-by-hop fields stay out
// (RFC 9110 §7.6.1). The values are h's own slices.
func OwnHeader(h http.Header) http.Header { return ownHeader(h, nil) }

// NotModifiedOwnHeader is OwnHeader for a 304 (Not Modified), with header
// fields notModified, that refreshed a stored response with fields stored
// (RFC 9111 §4.3.4): the 304's Set-Cookie, and its fields named by
// private="..." or no-cache="..." in its own directives or in the stored
// response's (which the updated response keeps when the 304 sends none).
// Freshen stores none of them; the response to the client whose request
// caused the revalidation is the updated stored response plus these. The
// fields a 304 does not update (Content-Length and the others Freshen keeps
// from the stored response) stay out. nil when there are none.
func NotModifiedOwnHeader(stored, notModified http.Header) http.Header {
	out := ownHeader(notModified, stored)
	for _, k := range notUpdated {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// ownHeader is OwnHeader of h, with the fields named by the qualified
// directives of names as well, when names is not nil.
func ownHeader(h, names http.Header) http.Header {
	var out http.Header
	keep := func(name string) {
		if v, ok := h[name]; ok && !slices.Contains(hopByHop[:], name) {
			if out == nil {
				out = http.Header{}
			}
			out[name] = v
		}
	}
	for _, n := range [...]http.Header{h, names} {
		for _, line := range n["Cache-Control"] {
			qualifiedNames(line, keep)
		}
		for _, line := range n["Surrogate-Control"] {
			qualifiedNames(line, keep)
		}
		targetedFieldNames(n["Cdn-Cache-Control"], keep)
	}
	for _, line := range h["Connection"] { // RFC 9110 §7.6.1
		splitNames(line, func(name string) { delete(out, name) })
	}
	if v, ok := h["Set-Cookie"]; ok {
		if out == nil {
			out = http.Header{}
		}
		out["Set-Cookie"] = v
	}
	return out
}

// qualifiedNames calls del for each field named by no-cache="..." or
// private="..." in a Cache-Control-syntax line.
func qualifiedNames(line string, del func(string)) {
	scanList(line, func(name, value string, hasValue bool) {
		if hasValue && (name == "no-cache" || name == "private") {
			splitNames(value, del)
		}
	})
}

// splitNames calls fn with each canonical field name in a comma list.
func splitNames(list string, fn func(string)) {
	for _, n := range strings.Split(list, ",") {
		if n = strings.Trim(n, " \t\""); httpsyntax.IsToken(n) {
			fn(textproto.CanonicalMIMEHeaderKey(n))
		}
	}
}

// ClientHeader removes from h, in place, the fields meant only for caches
// (targeted cache-control fields and purge tags):
// CDN-Cache-Control and Surrogate-Control are consumed by this cache unless
// it is a shield, whose clients are CDN caches the fields also target (RFC
// 9213 §2.1 lets a targeted field pass on to further caches of its class).
func ClientHeader(h http.Header, opt Options) {
	if opt.Shield {
		return
	}
	delete(h, "Cdn-Cache-Control")
	delete(h, "Surrogate-Control")
	// Tags are for purging this CDN's caches, not for clients; a shield
	// passes them on because the edges behind it purge by them too.
	delete(h, "Surrogate-Key")
	delete(h, "Cache-Tag")
}
