package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"edged/edge"
	"edged/edge/waf"
	"edged/origin"
)

// UpstreamRef names the upstream a route or split fetches through: a pool,
// maybe behind shields. Routes with equal refs can share one origin.Client.
type UpstreamRef struct {
	// Pool is the pool's name; "" when the site fetches only through
	// shields (no fallback), so no pool is needed.
	Pool string
	// Shields are the site's shield base URLs; empty goes to Pool directly.
	Shields []string
	// ShieldFallback goes to Pool when no shield answers.
	ShieldFallback bool
	// ShieldPool is the pool named to the shields (origin.PoolHeader): the
	// route's pool even when Pool is "" (every request goes to a shield);
	// "" without shields.
	ShieldPool string
}

// Key is the same string for equal refs.
func (r UpstreamRef) Key() string {
	return r.Pool + "\x00" + r.ShieldPool + "\x00" + strconv.FormatBool(r.ShieldFallback) + "\x00" + strings.Join(r.Shields, "\x00")
}

// PoolOptions returns the options of every pool that a route or split
// uses, by name, the implicit default pool (upstream.origin) included;
// on a shield, every pool, since its edges name them.
// Pools no route uses are left out (see [Config.UnusedPools]). Timeouts
// and keep-alive settings come from upstream; Logger and Registerer are
// left for the caller. Call it on a validated Config; it is empty without
// sites, except on a shield.
func (c *Config) PoolOptions() map[string]origin.PoolOptions {
	out := make(map[string]origin.PoolOptions)
	for _, name := range c.usedPools() {
		if p, ok := c.Pools[name]; ok {
			out[name] = c.poolOptions(name, p)
			continue
		}
		// upstream.origin as a pool: one server, as origin.Options.Origin
		// treats it, so no retries and no ejection (ejecting the only
		// server would only turn its errors into 503s).
		p := DefaultPoolConfig()
		p.Servers = []PoolServer{{URL: c.Upstream.Origin, Weight: 1}}
		po := c.poolOptions(name, p)
		po.NoRetries, po.Ejection.Disabled = true, true
		out[name] = po
	}
	return out
}

func (c *Config) poolOptions(name string, p Pool) origin.PoolOptions {
	u := c.Upstream
	po := origin.PoolOptions{
		Name:      name,
		Algorithm: p.Algorithm,
		Health: origin.HealthCheck{
			Path:      p.Health.Path,
			Interval:  p.Health.Interval.Std(),
			Timeout:   p.Health.Timeout.Std(),
			Expect:    p.Health.Expect,
			Rise:      p.Health.Rise,
			Fall:      p.Health.Fall,
			Host:      p.Health.Host,
			StartDown: p.Health.StartDown,
		},
		Ejection: origin.Ejection{
			Failures:   p.Ejection.Failures,
			Backoff:    p.Ejection.Backoff.Std(),
			MaxBackoff: p.Ejection.MaxBackoff.Std(),
			Disabled:   p.Ejection.Failures == 0, // the file's 0 disables
		},
		Retries:   p.Retries,
		NoRetries: p.Retries == 0, // the file's 0 disables
		// The file's 0 is origin's: no bound but retries and each try's
		// timeouts.
		RetryTimeout:    p.RetryTimeout.Std(),
		ConnectTimeout:  u.ConnectTimeout.Std(),
		HeaderTimeout:   u.HeaderTimeout.Std(),
		BodyTimeout:     u.BodyTimeout.Std(),
		MaxIdlePerHost:  u.MaxIdlePerHost,
		MaxConnsPerHost: p.MaxConnsPerHost,
	}
	for _, s := range p.Servers {
		po.Servers = append(po.Servers, origin.Server{URL: s.URL, Weight: s.Weight})
	}
	return po
}

// UnusedPools lists the pools of the file that no route or split names,
// sorted; they are not built. A pool that routes name only to their
// shields (shield_fallback off) is not built either, but its name is
// used: it tells the shields which pool a request is for.
func (c *Config) UnusedPools() []string {
	used := c.usedPools()
	for _, s := range c.Sites {
		for _, r := range s.Routes {
			for _, ref := range c.routeRefs(s, r) {
				used = append(used, ref.ShieldPool)
			}
		}
	}
	var out []string
	for _, name := range c.poolNames(false) {
		if !slices.Contains(used, name) {
			out = append(out, name)
		}
	}
	return out
}

// usedPools lists the pools that routes and splits fetch from, sorted.
func (c *Config) usedPools() []string {
	if c.Role == RoleShield {
		// A shield's edges name the pool each request is for
		// (origin.PoolHeader): any of them may be asked for. Without
		// sites, upstream.origin is the node's own client, not a pool.
		return c.poolNames(len(c.Sites) > 0)
	}
	set := make(map[string]bool)
	for _, s := range c.Sites {
		for _, r := range s.Routes {
			for _, ref := range c.routeRefs(s, r) {
				if ref.Pool != "" {
					set[ref.Pool] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// routeRefs returns the upstream of route r of site s, then its splits'.
func (c *Config) routeRefs(s Site, r Route) []UpstreamRef {
	shields, fallback := c.SiteShields(s)
	ref := func(pool string) UpstreamRef {
		if len(shields) == 0 {
			return UpstreamRef{Pool: pool}
		}
		// The shields are told the pool: two routes to different pools
		// may send them the same URL (origin.PoolHeader).
		named := pool
		if named == "" {
			named = DefaultPool // a route without a pool means it
		}
		if !fallback {
			pool = "" // every request goes to a shield: no pool is needed
		}
		return UpstreamRef{Pool: pool, Shields: slices.Clone(shields), ShieldFallback: fallback, ShieldPool: named}
	}
	primary := r.Pool
	if primary == "" && c.hasPool(DefaultPool) {
		primary = DefaultPool
	}
	refs := []UpstreamRef{ref(primary)}
	for _, sp := range r.Splits {
		refs = append(refs, ref(sp.Pool))
	}
	return refs
}

// ClientOptions returns the options of the origin.Client for ref, without
// Pool (the caller sets the pool it built for ref.Pool) and Logger. Via is
// the cache name; timeouts come from upstream.
func (c *Config) ClientOptions(ref UpstreamRef) origin.Options {
	u := c.Upstream
	return origin.Options{
		Shields:        slices.Clone(ref.Shields),
		ShieldFallback: ref.ShieldFallback && ref.Pool != "",
		ShieldEjection: origin.DefaultOptions().ShieldEjection,
		ShieldPool:     ref.ShieldPool,
		Via:            c.CacheName(),
		ConnectTimeout: u.ConnectTimeout.Std(),
		HeaderTimeout:  u.HeaderTimeout.Std(),
		BodyTimeout:    u.BodyTimeout.Std(),
		MaxIdlePerHost: u.MaxIdlePerHost,
		// A shield's clients are edges: their Surrogate-Capability stays,
		// and this node's is appended to it.
		KeepSurrogateCapability: c.Role == RoleShield,
		SurrogateCapability:     c.surrogateCapability(),
	}
}

// surrogateCapability is this node's member of Surrogate-Capability (W3C
// Edge Architecture Specification 1.0): its cache name as the device token
// (an HTTP token, as Via requires), and Surrogate/1.0, since it obeys
// Surrogate-Control but processes no ESI. A forward proxy is no origin's
// surrogate: none.
func (c *Config) surrogateCapability() string {
	if name := c.surrogateName(); name != "" {
		return name + `="Surrogate/1.0"`
	}
	return ""
}

// surrogateName is the device token of surrogateCapability, "" when the
// node sends none: the Surrogate-Control directives targeted at it apply
// to this node (policy.Options.Surrogate), and those targeted at another
// are ignored. An origin can only target a name it was told.
func (c *Config) surrogateName() string {
	if !c.Upstream.SurrogateCapability || c.Role == RoleForward {
		return ""
	}
	return c.CacheName()
}

// EdgeSites converts the sites into edge.Sites for edge.NewRouter. upstream
// returns the client of each route's and split's UpstreamRef; the caller
// builds the clients and shares one between equal refs. Call it on a
// validated Config. It also builds each route's access policy, rate limiter,
// verifier and WAF (one compile per distinct waf settings), reading auth secrets from the environment and key files
// from disk; those errors are [*FieldError] values naming field, line and
// file.
func (c *Config) EdgeSites(upstream func(UpstreamRef) (*origin.Client, error)) ([]*edge.Site, error) {
	ro, err := c.routerOptions(upstream)
	if err != nil {
		return nil, err
	}
	for i, s := range c.Sites {
		for j, r := range s.Routes {
			r.Auth = s.routeAuth(r)
			if err := c.addGuards(fmt.Sprintf("sites[%d].routes[%d]", i, j), r, ro.Sites[i].Routes[j]); err != nil {
				return nil, err
			}
		}
	}
	if err := c.addWAFs(ro.Sites, new(waf.Set)); err != nil {
		return nil, err
	}
	return ro.Sites, nil
}

// routerOptions converts the sites, without their routes' guards: what
// Validate checks with edge.RouterOptions.Validate and EdgeSites completes.
func (c *Config) routerOptions(upstream func(UpstreamRef) (*origin.Client, error)) (edge.RouterOptions, error) {
	sites := make([]*edge.Site, 0, len(c.Sites))
	var errs []error
	for i, s := range c.Sites {
		es := &edge.Site{Name: s.Name, Hosts: slices.Clone(s.Hosts), HTTPSRedirect: s.HTTPSRedirect, ResponseHeaders: siteHeaders(s),
			Policy: c.sitePolicy(s)}
		for j, r := range s.Routes {
			er, err := c.edgeRoute(s, r, upstream)
			if err != nil {
				errs = append(errs, fmt.Errorf("sites[%d].routes[%d]: %w", i, j, err))
			}
			if er == nil {
				return edge.RouterOptions{}, errors.Join(errs...)
			}
			es.Routes = append(es.Routes, er)
		}
		sites = append(sites, es)
	}
	// With errors the options are whole all the same (a route whose CORS
	// policy is bad has none), for routerProblems; EdgeSites refuses them.
	return edge.RouterOptions{Sites: sites}, errors.Join(errs...)
}

// routerProblems checks the sites with edge.RouterOptions.Validate, the
// one check of hosts and route paths, and reports each problem at its
// YAML field ("Sites[1].Hosts[0]" → "sites[1].hosts[0]").
func (c *Config) routerProblems() []*FieldError {
	// Clients are the binary's to build: routes get none here, and
	// a missing one is not the file's problem (checkRoute names a
	// route without a pool).
	// With an upstream that never fails, routerOptions returns every
	// route even when it errs (a bad CORS policy, which checkCORS names).
	ro, _ := c.routerOptions(func(UpstreamRef) (*origin.Client, error) { return nil, nil })
	m := yamlMap{fields: map[string]string{}}
	for i, s := range c.Sites {
		for j := range s.Routes {
			p := fmt.Sprintf("Sites[%d].Routes[%d]", i, j)
			m.fields[p+".PathPrefix"] = fmt.Sprintf("sites[%d].routes[%d].path", i, j)
			m.fields[p+".Upstream"] = ""
		}
	}
	return c.optionProblems(m, ro.Validate())
}

func (c *Config) edgeRoute(s Site, r Route, upstream func(UpstreamRef) (*origin.Client, error)) (*edge.Route, error) {
	refs := c.routeRefs(s, r)
	primary, err := upstream(refs[0])
	if err != nil {
		return nil, err
	}
	er := &edge.Route{
		PathPrefix:      r.Path,
		Upstream:        primary,
		PrimaryWeight:   r.PrimaryWeight,
		StickyCookie:    r.StickyCookie,
		StripPrefix:     r.StripPrefix,
		RequestHeaders:  headerRules(r.RequestHeaders),
		ResponseHeaders: headerRules(r.ResponseHeaders),
		Cache: edge.RouteCache{
			Bypass:      r.Cache.Bypass,
			DefaultTTL:  r.Cache.DefaultTTL.Std(),
			IgnoreQuery: r.Cache.IgnoreQuery,
			KeepQuery:   slices.Clone(r.Cache.KeepQuery),
			Slice:       int64(r.Cache.Slice),
		},
		Match: r.Match.edgeMatch(),
	}
	// A bad policy (checkCORS names its field) still returns the route
	// without one, so that routerProblems checks its path and host too.
	var corsErr error
	if er.CORS, err = r.CORS.policy(); err != nil {
		er.CORS, corsErr = nil, fmt.Errorf("cors: %w", err)
	}
	addProtocols(r, er)
	for k, sp := range r.Splits {
		cl, err := upstream(refs[k+1])
		if err != nil {
			return nil, fmt.Errorf("splits[%d]: %w", k, err)
		}
		er.Splits = append(er.Splits, edge.Split{Name: sp.Name, Upstream: cl, Weight: sp.Weight})
	}
	return er, corsErr
}

func headerRules(h Headers) edge.HeaderRules {
	return edge.HeaderRules{Set: maps.Clone(h.Set), Remove: slices.Clone(h.Remove)}
}
