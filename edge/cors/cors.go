// Package cors applies a route's Cross-Origin Resource Sharing policy at the
// edge, as the Fetch standard's CORS protocol (https://fetch.spec.whatwg.org/
// §3.2) asks of a server: preflights are answered without the origin, and
// every response gets the CORS fields of its own request.
//
// # Contract
//
// The origin matching, preflight checks and header values come from
// github.com/rs/cors; this package adds what a shared cache needs of it:
//
//   - CORS fields are computed per request, at the moment a response is
//     sent, into a fresh header and merged into the response: they are
//     never stored, so a cached response fetched for one Origin can never
//     carry that Origin's Access-Control-Allow-Origin to another. The
//     upstream's own Access-Control-* fields are removed from what the
//     route sends (the policy is the edge's alone).
//   - Every response names Origin in Vary, whether or not the request had
//     one or was allowed (Fetch §3.2.5 "CORS protocol and HTTP caches"), and
//     every preflight answer also Access-Control-Request-Method and
//     Access-Control-Request-Headers, so no cache after this one shares them
//     across origins either.
//   - An allowed origin is reflected as the request sent it; "*" is sent
//     only when the policy allows every origin and never with credentials
//     (Options.Validate refuses that pair, Fetch §3.2.5); a request with
//     several Origin lines is treated as one without an allowed origin.
//   - A WebSocket handshake, to which browsers apply no CORS check, is
//     judged by its Origin (AllowsWebSocket): none, the site's own (its
//     host, with the request's scheme or https, never http for an https
//     request) or an allowed one (scheme included, as for CORS).
//   - A preflight from an origin, for a method or for headers the policy
//     does not allow is answered 204 with Vary and no CORS field: the Fetch
//     CORS check then fails in the browser (Fetch §4.9), and the answer
//     tells nothing more (no status the page could read in any case).
package cors

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	rscors "github.com/rs/cors"

	"edged/internal/fielderr"
	"edged/internal/httpsyntax"
)

// Options are a route's CORS policy.
type Options struct {
	// AllowedOrigins are the origins allowed to read responses: serialized
	// origins ("https://app.example.com", "http://localhost:3000"), or
	// "https://*.example.com" for any subdomain of example.com (at any
	// depth, not example.com itself), or "*" for every origin. At least
	// one; compared in any letter case.
	AllowedOrigins []string
	// AllowedMethods are the methods a preflight may ask for, and the only
	// ones whose responses carry CORS fields. Empty means GET, HEAD, POST.
	AllowedMethods []string
	// AllowedHeaders are the request header fields a preflight may ask for
	// (any case); "*" allows any. Empty means Accept, Content-Type and
	// X-Requested-With (Fetch's CORS-safelisted request headers need no
	// preflight anyway).
	AllowedHeaders []string
	// ExposedHeaders are the response fields, beyond the CORS-safelisted
	// ones, that scripts may read (Access-Control-Expose-Headers).
	ExposedHeaders []string
	// AllowCredentials sends Access-Control-Allow-Credentials: true, so
	// that requests with cookies or HTTP authentication may be read. Not
	// with an AllowedOrigins of "*".
	AllowCredentials bool
	// MaxAge is how long a browser may keep a preflight's answer
	// (Access-Control-Max-Age, whole seconds); 0 sends none (browsers then
	// keep it 5 seconds).
	MaxAge time.Duration
}

// Validate reports every problem of o, each a [*fielderr.Error] naming the
// field ("AllowedOrigins[1]").
func (o Options) Validate() error {
	var l fielderr.List
	l.Check(len(o.AllowedOrigins) > 0, "AllowedOrigins", "required: at least one origin (or \"*\")")
	for i, origin := range o.AllowedOrigins {
		path := fmt.Sprintf("AllowedOrigins[%d]", i)
		if origin == "*" {
			// Fetch §3.2.5: "*" is not a wildcard for credentialed requests.
			l.Check(!o.AllowCredentials, path, `"*" cannot be combined with allow_credentials: name the origins (browsers refuse credentials with "*")`)
			continue
		}
		if msg := originProblem(origin); msg != "" {
			l.Addf(path, "%s", msg)
		}
	}
	for i, m := range o.AllowedMethods {
		l.Check(httpsyntax.IsToken(m) && m == strings.ToUpper(m), fmt.Sprintf("AllowedMethods[%d]", i), "want an upper-case method name (GET, PUT...), got %q", m)
	}
	for _, list := range []struct {
		field string
		names []string
		star  bool
	}{{"AllowedHeaders", o.AllowedHeaders, true}, {"ExposedHeaders", o.ExposedHeaders, false}} {
		for i, name := range list.names {
			ok := httpsyntax.IsToken(name) || list.star && name == "*"
			l.Check(ok, fmt.Sprintf("%s[%d]", list.field, i), "invalid header name %q", name)
		}
	}
	l.Check(o.MaxAge >= 0 && o.MaxAge%time.Second == 0, "MaxAge", "want whole seconds, not negative, got %v", o.MaxAge)
	return l.Err()
}

// originProblem checks an allowed origin: scheme "://" host [":" port],
// nothing else (a serialized origin, RFC 6454 §6.2), the host maybe led by
// "*." for its subdomains; "" if it is good.
func originProblem(origin string) string {
	if origin == "null" {
		// Sandboxed frames, data: URLs and redirects all send "null":
		// allowing it allows any of them.
		return `"null" is the origin of sandboxed and data: documents, which anyone can make: not allowed`
	}
	scheme, hostport, ok := strings.Cut(origin, "://")
	if !ok || scheme != "http" && scheme != "https" {
		return fmt.Sprintf("want an origin such as https://app.example.com, got %q", origin)
	}
	host, wild := strings.CutPrefix(hostport, "*.")
	u, err := url.Parse(scheme + "://" + host)
	if err != nil || u.Host != host || u.Hostname() == "" || strings.Contains(host, "*") || u.User != nil {
		return fmt.Sprintf("want an origin such as https://app.example.com (scheme, host, optional port; no path), got %q", origin)
	}
	if wild && strings.Contains(u.Hostname(), ":") {
		return fmt.Sprintf("a wildcard needs a domain name, got %q", origin)
	}
	return ""
}

// Policy is a route's compiled CORS policy; it is safe for concurrent use.
type Policy struct {
	c *rscors.Cors
}

// New validates opts and compiles them.
func New(opts Options) (*Policy, error) {
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix("cors: option ", err)
	}
	maxAge := int(opts.MaxAge / time.Second)
	c := rscors.New(rscors.Options{
		AllowedOrigins:   slices.Clone(opts.AllowedOrigins),
		AllowedMethods:   slices.Clone(opts.AllowedMethods),
		AllowedHeaders:   slices.Clone(opts.AllowedHeaders),
		ExposedHeaders:   slices.Clone(opts.ExposedHeaders),
		AllowCredentials: opts.AllowCredentials,
		MaxAge:           maxAge,
	})
	return &Policy{c: c}, nil
}

// IsPreflight reports whether r is a CORS-preflight request (Fetch §3.2.2):
// OPTIONS with Origin and Access-Control-Request-Method.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// AllowsWebSocket reports whether r, a WebSocket opening handshake for
// scheme ("http" or "https", as the cache key holds it) and host (as the
// key holds it: a port only when not the scheme's default), may go on
// under the policy. Browsers apply no CORS check to WebSocket: any page
// may open one, with the user's cookies, and read every message
// (cross-site WebSocket hijacking), so the server must judge the Origin it
// is sent (RFC 6455 §10.2). It passes a request without Origin (not a
// browser's), one whose single, serialized Origin the policy allows (the
// scheme counts, as it does for the CORS fields: allowing
// https://app.example allows no http page), and one from the site itself:
// Origin's host and port are host, and its scheme is the request's or
// https.
//
// An http Origin of the site's own host on an https request is another
// origin (RFC 6454 §5) and is refused: a page served over plain HTTP is
// one anyone on the network path can write, and its WebSocket to the https
// site would carry the user's cookies, Secure ones included. An https
// Origin on a plain-HTTP request is the site's own page reaching the node
// through a proxy that terminates TLS (browsers open no ws:// from an
// https page), and passes.
func (p *Policy) AllowsWebSocket(r *http.Request, scheme, host string) bool {
	origins := r.Header.Values("Origin")
	switch {
	case len(origins) == 0:
		return true
	case len(origins) > 1 || !isSerializedOrigin(origins[0]):
		return false
	}
	oscheme, own, _ := strings.Cut(origins[0], "://")
	self := strings.EqualFold(own, host) && (oscheme == scheme || oscheme == "https")
	return self || p.c.OriginAllowed(r)
}

// responseFields are the fields the CORS protocol puts on responses (Fetch
// §3.2.3): the edge's policy replaces whatever the upstream sent.
var responseFields = []string{
	"Access-Control-Allow-Origin",
	"Access-Control-Allow-Credentials",
	"Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers",
	"Access-Control-Max-Age",
	"Access-Control-Expose-Headers",
	"Access-Control-Allow-Private-Network",
}

// Apply sets on h, a response header about to be sent for r, the CORS
// fields of r: the upstream's are removed, Vary gains Origin (and the
// preflight fields for a preflight), and an allowed request gets its
// Access-Control-* fields. Vary names already listed are not repeated, and
// h's Vary lines are replaced, never appended to in place: a stored
// response may share them.
func (p *Policy) Apply(h http.Header, r *http.Request) {
	for _, name := range responseFields {
		delete(h, name)
	}
	fields := make(http.Header, 4)
	if origins := r.Header.Values("Origin"); len(origins) > 1 || len(origins) == 1 && !isSerializedOrigin(origins[0]) {
		// A browser sends one Origin, a serialized origin; several would
		// be reflected as several values, which no browser accepts, and
		// rs/cors matches a "*." wildcard by prefix and suffix alone, so
		// "https://evil.example/.app.example" or
		// "https://evil.example@x.app.example" were reflected as allowed.
		// Answer as to a request without an allowed origin.
		r = r.Clone(r.Context())
		r.Header.Del("Origin")
	}
	p.c.HandlerFunc(headerWriter(fields), r)
	for name, values := range fields {
		if name != "Vary" {
			h[name] = values
			continue
		}
		for _, line := range values {
			for elem := range strings.SplitSeq(line, ",") {
				h["Vary"] = httpsyntax.AppendList(h["Vary"], strings.TrimSpace(elem))
			}
		}
	}
}

// isSerializedOrigin reports whether o is an http or https origin as a
// browser serializes it (RFC 6454 §6.2, Fetch's "byte-serializing an
// origin"): scheme "://" host, then ":" port when not the default; the host
// a DNS name (letters, digits, '-', '_', non-empty labels), an IPv4 address
// or a bracketed IPv6 address. Letter case is left to the matcher.
func isSerializedOrigin(o string) bool {
	rest, ok := strings.CutPrefix(o, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(o, "http://"); !ok {
			return false
		}
	}
	host := rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host = rest[:i]
		port := rest[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	if inner, ok := strings.CutPrefix(host, "["); ok {
		ip, err := netip.ParseAddr(strings.TrimSuffix(inner, "]"))
		return err == nil && strings.HasSuffix(inner, "]") && ip.Is6() && ip.Zone() == ""
	}
	if host == "" {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// headerWriter collects the fields rs/cors sets; the status it writes for a
// preflight is the caller's to send.
type headerWriter http.Header

func (w headerWriter) Header() http.Header         { return http.Header(w) }
func (w headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w headerWriter) WriteHeader(int)             {}
