package config

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"edged/internal/httpsyntax"
)

// Algorithms accepted in pools.<name>.algorithm (origin's names).
var algorithms = []string{"round_robin", "weighted_round_robin", "least_conn", "consistent_hash"}

// checkPools validates the pools section.
func (c *Config) checkPools() []*FieldError {
	var errs []*FieldError
	if len(c.Pools) > 0 && len(c.Sites) == 0 {
		errs = append(errs, c.fieldErr("pools", "set but no sites use them: without sites every host is served by upstream.origin"))
	}
	for _, name := range c.poolNames(false) {
		path := "pools." + name
		if !validName(name) {
			errs = append(errs, c.keyErr("pools", name, "invalid pool name %q: use letters, digits, - and _", name))
			continue
		}
		if name == DefaultPool && c.Upstream.Origin != "" && len(c.Sites) > 0 {
			errs = append(errs, c.keyErr("pools", name, "the pool name %q is taken by upstream.origin: rename the pool or remove upstream.origin", name))
		}
		errs = append(errs, c.checkPool(path, c.Pools[name])...)
	}
	return errs
}

func (c *Config) checkPool(path string, p Pool) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	if len(p.Servers) == 0 {
		add("servers", "empty: a pool needs at least one server")
	}
	seen := make(map[string]int)
	for i, s := range p.Servers {
		sp := fmt.Sprintf("servers[%d]", i)
		if err := checkURL(s.URL); err != nil {
			add(sp+".url", "%v", err)
		} else if j, dup := seen[serverIdentity(s.URL)]; dup {
			add(sp+".url", "repeated server %q (same as %s.servers[%d])", s.URL, path, j)
		} else {
			seen[serverIdentity(s.URL)] = i
		}
		if s.Weight < 1 {
			add(sp+".weight", "must be at least 1, got %d (remove the server to take it out)", s.Weight)
		}
	}
	if !slices.Contains(algorithms, p.Algorithm) {
		add("algorithm", "unknown algorithm %q (want %s)", p.Algorithm, strings.Join(algorithms, ", "))
	}
	h := p.Health
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		add("health.path", "must start with /, got %q", h.Path)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{{"health.interval", h.Interval}, {"health.timeout", h.Timeout}, {"ejection.backoff", p.Ejection.Backoff}, {"ejection.max_backoff", p.Ejection.MaxBackoff}} {
		if d.v <= 0 {
			add(d.field, "must be positive, got %s", d.v)
		}
	}
	// RFC 9110 §15: status codes are three digits, 100 to 599.
	if h.Expect < 100 || h.Expect > 599 {
		add("health.expect", "must be an HTTP status (100 to 599), got %d", h.Expect)
	}
	for _, n := range []struct {
		field string
		v     int
	}{{"health.rise", h.Rise}, {"health.fall", h.Fall}} {
		if n.v < 1 {
			add(n.field, "must be at least 1, got %d", n.v)
		}
	}
	if h.Host != "" && strings.ContainsAny(h.Host, " \t\r\n/?#@") {
		add("health.host", "invalid host %q", h.Host)
	}
	if p.Ejection.Failures < 0 {
		add("ejection.failures", "must not be negative (0 disables ejection), got %d", p.Ejection.Failures)
	}
	if p.Ejection.Backoff > 0 && p.Ejection.MaxBackoff > 0 && p.Ejection.MaxBackoff < p.Ejection.Backoff {
		add("ejection.max_backoff", "must not be less than ejection.backoff (%s), got %s", p.Ejection.Backoff, p.Ejection.MaxBackoff)
	}
	if p.Retries < 0 {
		add("retries", "must not be negative (0 disables retries), got %d", p.Retries)
	}
	if p.RetryTimeout < 0 {
		add("retry_timeout", "must not be negative, got %s", p.RetryTimeout)
	}
	if p.MaxConnsPerHost < 0 {
		add("max_conns_per_host", "must not be negative (0 means no limit), got %d", p.MaxConnsPerHost)
	}
	return errs
}

// serverIdentity is what makes two server URLs the same server: the host
// compares case-insensitively (RFC 3986 §6.2.2.1), a trailing slash does
// not count.
func serverIdentity(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + strings.ToLower(u.Host) + strings.TrimSuffix(u.EscapedPath(), "/")
}

// checkSites validates the sites section against the pools.
func (c *Config) checkSites() []*FieldError {
	var errs []*FieldError
	names := make(map[string]int)
	hosts := make(map[string]string) // lower-case host → "sites[i].hosts[j]"
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
		errs = append(errs, c.checkHosts(path, s, hosts)...)
		errs = append(errs, c.checkSiteShields(path, s)...)
		errs = append(errs, c.checkSiteSecurity(path, s)...)
		if s.MaxStale != nil && *s.MaxStale < 0 {
			errs = append(errs, c.fieldErrNear(path+".max_stale", "must not be negative (0 honours no max-stale), got %s", *s.MaxStale))
		}
		if len(s.Routes) == 0 {
			errs = append(errs, c.fieldErrNear(path+".routes", "required: at least one route (path: / serves every path)"))
		}
		paths := make(map[string]int)
		for j, r := range s.Routes {
			rp := fmt.Sprintf("%s.routes[%d]", path, j)
			if k, dup := paths[r.Path]; dup {
				errs = append(errs, c.fieldErrNear(rp+".path", "repeated path %q (same as %s.routes[%d])", r.Path, path, k))
			}
			paths[r.Path] = j
			errs = append(errs, c.checkRoute(rp, s, r)...)
		}
	}
	return errs
}

func (c *Config) checkHosts(path string, s Site, seen map[string]string) []*FieldError {
	var errs []*FieldError
	if len(s.Hosts) == 0 {
		errs = append(errs, c.fieldErrNear(path+".hosts", "required: at least one hostname"))
	}
	for j, h := range s.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", path, j)
		if !validHostPattern(h) {
			errs = append(errs, c.fieldErrNear(hp, "invalid host %q (want www.example.com or *.example.com, no port)", h))
			continue
		}
		key := strings.ToLower(h)
		if other, dup := seen[key]; dup {
			errs = append(errs, c.fieldErrNear(hp, "host %q is already served by %s", h, other))
			continue
		}
		seen[key] = hp
	}
	return errs
}

// validHostPattern accepts a hostname or a one-level wildcard "*.name":
// letters, digits, hyphens and dots, no empty label, no port.
func validHostPattern(h string) bool {
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

func (c *Config) checkSiteShields(path string, s Site) []*FieldError {
	var errs []*FieldError
	seen := make(map[string]bool)
	for j, raw := range s.Shields {
		sp := fmt.Sprintf("%s.shields[%d]", path, j)
		if err := checkURL(raw); err != nil {
			errs = append(errs, c.fieldErrNear(sp, "%v", err))
		} else if seen[raw] {
			errs = append(errs, c.fieldErrNear(sp, "repeated shield %q", raw))
		}
		seen[raw] = true
	}
	return errs
}

func (c *Config) checkRoute(path string, s Site, r Route) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	if !strings.HasPrefix(r.Path, "/") {
		add("path", "must start with /, got %q", r.Path)
	}
	if r.Pool != "" || !c.shieldsOnly(s) {
		if msg := c.poolProblem(r.Pool); msg != "" {
			add("pool", "%s", msg)
		}
	}
	errs = append(errs, c.checkSplits(path, r)...)
	errs = append(errs, c.checkHeaders(path+".request_headers", r.RequestHeaders)...)
	errs = append(errs, c.checkHeaders(path+".response_headers", r.ResponseHeaders)...)
	errs = append(errs, c.checkGuards(path, r)...)
	if r.Cache.DefaultTTL < 0 {
		add("cache.default_ttl", "must not be negative, got %s", r.Cache.DefaultTTL)
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

// checkHeaders validates header rules: names are tokens (RFC 9110 §5.1),
// values carry no CR, LF or NUL (RFC 9110 §5.5).
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
