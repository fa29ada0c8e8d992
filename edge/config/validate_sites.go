package config

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"edged/edge"
	"edged/internal/httpsyntax"
)

// checkPools checks the pools section's rules of the file: names, and
// pools only with sites, or on a shield (its edges name them, see
// origin.PoolHeader). origin.PoolOptions.Validate checks each pool's
// values (libraryProblems).
func (c *Config) checkPools() []*FieldError {
	var errs []*FieldError
	if len(c.Pools) > 0 && len(c.Sites) == 0 && c.Role != RoleShield {
		errs = append(errs, c.fieldErr("pools", "set but no sites use them: without sites every host is served by upstream.origin"))
	}
	for _, name := range c.poolNames(false) {
		if !validName(name) {
			errs = append(errs, c.keyErr("pools", name, "invalid pool name %q: use letters, digits, - and _", name))
			continue
		}
		if name == DefaultPool && c.Upstream.Origin != "" && (len(c.Sites) > 0 || c.Role == RoleShield) {
			errs = append(errs, c.keyErr("pools", name, "the pool name %q is taken by upstream.origin: rename the pool or remove upstream.origin", name))
		}
	}
	return errs
}

// checkSites validates the sites section against the pools: names, and
// what edge does not know of (pools, splits, header rules, guards).
// edge.RouterOptions.Validate checks hosts, routes and their paths
// (routerProblems).
func (c *Config) checkSites() []*FieldError {
	var errs []*FieldError
	names := make(map[string]int)
	for i, s := range c.Sites {
		path := fmt.Sprintf("sites[%d]", i)
		switch j, dup := names[s.Name]; {
		case strings.TrimSpace(s.Name) == "":
			errs = append(errs, c.fieldErrNear(path+".name", "required: a name for logs and errors"))
		case dup:
			errs = append(errs, c.fieldErrNear(path+".name", "repeated site name %q (same as sites[%d])", s.Name, j))
		default:
			names[s.Name] = i
		}
		errs = append(errs, c.checkSiteSecurity(path, s)...)
		errs = append(errs, c.checkRouteIdentities(path, s)...)
		for j, r := range s.Routes {
			errs = append(errs, c.checkRoute(fmt.Sprintf("%s.routes[%d]", path, j), s, r)...)
		}
	}
	return errs
}

func (c *Config) checkRoute(path string, s Site, r Route) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	if r.Pool != "" || !c.shieldsOnly(s) {
		if msg := c.poolProblem(r.Pool); msg != "" {
			add("pool", "%s", msg)
		}
	}
	errs = append(errs, c.checkSplits(path, r)...)
	errs = append(errs, c.checkMatch(path+".match", r.Match)...)
	errs = append(errs, c.checkCORS(path+".cors", r.CORS)...)
	errs = append(errs, c.checkHeaders(path+".request_headers", r.RequestHeaders)...)
	errs = append(errs, c.checkHeaders(path+".response_headers", r.ResponseHeaders)...)
	guarded := r
	guarded.Auth = s.routeAuth(r)
	errs = append(errs, c.checkGuards(path, guarded)...)
	errs = append(errs, c.checkProtocols(path, s, r)...)
	errs = append(errs, c.checkWAF(path+".waf", r.WAF)...)
	if r.Cache.DefaultTTL < 0 {
		add("cache.default_ttl", "must not be negative, got %s", r.Cache.DefaultTTL)
	}
	if sl := r.Cache.Slice; sl != 0 {
		if sl < edge.MinSlice || sl > edge.MaxSlice {
			add("cache.slice", "must be 0 (off) or from %s to %s, got %s", ByteSize(edge.MinSlice), ByteSize(edge.MaxSlice), sl)
		} else if r.Cache.Bypass {
			add("cache.slice", "conflicts with cache.bypass: a bypassed route stores no slices")
		}
	}
	if r.Cache.IgnoreQuery && len(r.Cache.KeepQuery) > 0 {
		add("cache.keep_query", "conflicts with cache.ignore_query: keep some parameters or none")
	}
	for k, q := range r.Cache.KeepQuery {
		if q == "" {
			add(fmt.Sprintf("cache.keep_query[%d]", k), "empty parameter name")
		}
	}
	return errs
}

// poolProblem says what is wrong with a route's or split's pool name, or "".
func (c *Config) poolProblem(name string) string {
	if name == "" {
		if c.hasPool(DefaultPool) {
			return ""
		}
		return fmt.Sprintf("required: name a pool (there is no default pool: upstream.origin is empty; pools: %s)", c.poolList())
	}
	if !c.hasPool(name) {
		return fmt.Sprintf("unknown pool %q (pools: %s)", name, c.poolList())
	}
	return ""
}

func (c *Config) checkSplits(path string, r Route) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	if len(r.Splits) == 0 {
		if r.StickyCookie != "" {
			add("sticky_cookie", "has no effect without splits")
		}
		if r.PrimaryWeight != 0 {
			add("primary_weight", "has no effect without splits")
		}
		return errs
	}
	names := make(map[string]int)
	for k, sp := range r.Splits {
		p := fmt.Sprintf("splits[%d]", k)
		switch j, dup := names[sp.Name]; {
		case sp.Name == "" || sp.Name == "primary" || !isCookieValue(sp.Name):
			add(p+".name", "want a name of letters, digits and -._ (not \"primary\"), got %q", sp.Name)
		case dup:
			add(p+".name", "repeated split name %q (same as splits[%d])", sp.Name, j)
		default:
			names[sp.Name] = k
		}
		if sp.Pool == "" {
			add(p+".pool", "required: the pool this split sends requests to (pools: %s)", c.poolList())
		} else if msg := c.poolProblem(sp.Pool); msg != "" {
			add(p+".pool", "%s", msg)
		}
		if sp.Weight < 0 {
			add(p+".weight", "must not be negative, got %d", sp.Weight)
		}
	}
	// With no negative weight the total is never zero: a primary_weight of
	// 0 means 100 minus the splits' sum (edge.Route), so either the primary
	// or the splits hold at least 100.
	if r.PrimaryWeight < 0 {
		add("primary_weight", "must not be negative, got %d", r.PrimaryWeight)
	}
	if r.StickyCookie != "" && !httpsyntax.IsToken(r.StickyCookie) {
		add("sticky_cookie", "must be a cookie name (an HTTP token), got %q", r.StickyCookie)
	}
	return errs
}

// nodeFields are the fields a header rule cannot set, and why: the node
// and its HTTP stack write them for each message (a rule Host: backend
// was silently dropped, and the upstream was sent the request's host).
var nodeFields = map[string]string{
	"Host":              "the Host sent upstream is the request's (the cache key's) host",
	"Content-Length":    "message framing is the connection's (RFC 9112 §6)",
	"Transfer-Encoding": "message framing is the connection's (RFC 9112 §6)",
	"Trailer":           "message framing is the connection's (RFC 9112 §6)",
	"Connection":        "a hop-by-hop field, the connection's own (RFC 9110 §7.6.1)",
	"Keep-Alive":        "a hop-by-hop field, the connection's own (RFC 9110 §7.6.1)",
	"Proxy-Connection":  "a hop-by-hop field, the connection's own (RFC 9110 §7.6.1)",
	"Te":                "a hop-by-hop field, the connection's own (RFC 9110 §7.6.1)",
	"Upgrade":           "a hop-by-hop field, the connection's own (RFC 9110 §7.6.1)",
}

// checkHeaders validates header rules: names are tokens (RFC 9110 §5.1),
// values carry no CR, LF or NUL (RFC 9110 §5.5), and none sets a field
// the node writes itself (nodeFields).
func (c *Config) checkHeaders(path string, h Headers) []*FieldError {
	var errs []*FieldError
	names := make([]string, 0, len(h.Set))
	for name := range h.Set {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !httpsyntax.IsToken(name) {
			errs = append(errs, c.fieldErrNear(path+".set."+name, "invalid header name %q", name))
		} else if strings.ContainsAny(h.Set[name], "\r\n\x00") {
			errs = append(errs, c.fieldErrNear(path+".set."+name, "header value must not contain CR, LF or NUL"))
		} else if why, ok := nodeFields[http.CanonicalHeaderKey(name)]; ok {
			errs = append(errs, c.fieldErrNear(path+".set."+name, "%s: not a header rule's to set", why))
		}
	}
	for k, name := range h.Remove {
		if !httpsyntax.IsToken(name) {
			errs = append(errs, c.fieldErrNear(fmt.Sprintf("%s.remove[%d]", path, k), "invalid header name %q", name))
		}
	}
	return errs
}

// hasPool reports whether name is a pool, the implicit default included.
func (c *Config) hasPool(name string) bool {
	if _, ok := c.Pools[name]; ok {
		return true
	}
	return name == DefaultPool && c.Upstream.Origin != ""
}

// poolNames lists the pool names, sorted; withDefault adds the implicit
// default pool when upstream.origin defines it.
func (c *Config) poolNames(withDefault bool) []string {
	names := make([]string, 0, len(c.Pools)+1)
	for name := range c.Pools {
		names = append(names, name)
	}
	if withDefault && c.Upstream.Origin != "" {
		if _, ok := c.Pools[DefaultPool]; !ok {
			names = append(names, DefaultPool)
		}
	}
	sort.Strings(names)
	return names
}

func (c *Config) poolList() string {
	if names := c.poolNames(true); len(names) > 0 {
		return strings.Join(names, ", ")
	}
	return "none"
}

// shieldsOnly reports whether site s fetches only through shields, never
// from a pool: shields and no fallback.
func (c *Config) shieldsOnly(s Site) bool {
	shields, fallback := c.SiteShields(s)
	return len(shields) > 0 && !fallback
}

// SiteShields returns the shields and the fallback setting of site s: its
// own, or upstream's where it leaves them out.
func (c *Config) SiteShields(s Site) ([]string, bool) {
	shields, fallback := s.Shields, c.Upstream.ShieldFallback
	if shields == nil {
		shields = c.Upstream.Shields
	}
	if s.ShieldFallback != nil {
		fallback = *s.ShieldFallback
	}
	return shields, fallback && len(shields) > 0
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// isCookieValue accepts the split names that can travel in a cookie value
// unquoted (RFC 6265 §4.1.1 cookie-octet, restricted further).
func isCookieValue(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_') {
			return false
		}
	}
	return true
}
