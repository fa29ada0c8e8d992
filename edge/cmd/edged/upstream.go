package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge"
	"edged/edge/config"
	"edged/origin"
)

// upstreams are the node's ways to the origin, built from one
// configuration (a generation: a reload builds the next one): one client
// for every host (no sites), or pools shared by the clients of the sites'
// routes, and the router.
type upstreams struct {
	cfg      *config.Config                // the configuration they were built from
	any      *origin.Client                // every host, when there are no sites
	router   *edge.Router                  // sites and routes, when there are sites
	sites    []*edge.Site                  // the router's, for shared limits and their verifiers' Close
	pools    map[string]*origin.Pool       // by name; shared by clients, maybe by generations
	poolOpts map[string]origin.PoolOptions // what each pool was built from, for the next generation
	clients  []*origin.Client              // every client built, for Close
	// poolClients are a shield's clients by pool name, for the pools its
	// edges name (origin.PoolHeader, edge.Options.Pools); nil elsewhere.
	poolClients map[string]*origin.Client
	refs        *poolRefs                        // who else uses the pools
	tls         *tls.Config                      // for https upstreams; nil means the defaults
	reg         prometheus.Registerer            // for the clients' own connections (shields, origin)
	forget      func(p *origin.Pool, url string) // drops a server's series when its pool closes; nil: none
	// forgetClient drops the series of a client's own servers (shields,
	// upstream.origin) when it closes; nil: none.
	forgetClient func(cl *origin.Client)
}

// poolRefs counts the generations that use each pool: a pool whose
// settings a reload left alone is kept by the next generation, with its
// health state and connections, and closed by the last one to let it go.
type poolRefs struct {
	mu sync.Mutex // guards n
	n  map[*origin.Pool]int
}

func (r *poolRefs) acquire(p *origin.Pool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = make(map[*origin.Pool]int)
	}
	r.n[p]++
}

// release reports whether p is no longer used, and must be closed.
func (r *poolRefs) release(p *origin.Pool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[p]--
	if r.n[p] > 0 {
		return false
	}
	delete(r.n, p)
	return true
}

// openUpstreams builds the node's first generation of upstreams (see
// newUpstreams) from n.cfg.
func (n *node) openUpstreams(reg prometheus.Registerer, tlsConf *tls.Config) error {
	// Unused pools were named at start (startWarnings).
	up, err := n.newUpstreams(n.cfg, reg, tlsConf, nil)
	if err != nil {
		return err
	}
	n.up = up
	return nil
}

// newUpstreams builds the upstream side from cfg: without sites one client
// for upstream.origin/shields; with sites every used pool once, one client
// per distinct (pool, shields, fallback), and the router. tlsConf (nil for
// the defaults) is used for every https upstream. The pools of prev (the
// generation being replaced, or nil) whose options are unchanged are kept
// rather than built again, unless upstream.tls names files, which a
// reload reads again; a pool built again takes prev's health verdicts for
// the servers it keeps. On error it releases what it built.
func (n *node) newUpstreams(cfg *config.Config, reg prometheus.Registerer, tlsConf *tls.Config, prev *upstreams) (_ *upstreams, err error) {
	u := &upstreams{cfg: cfg, pools: make(map[string]*origin.Pool), poolOpts: cfg.PoolOptions(), refs: &n.reloads.pools,
		tls: tlsConf, reg: reg, forget: n.forgetServer, forgetClient: n.forgetClient}
	defer func() {
		if err != nil {
			u.close()
		}
	}()
	logger := n.log.With("component", "origin")
	for _, name := range slices.Sorted(maps.Keys(u.poolOpts)) {
		p := prev.keptPool(name, cfg, u.poolOpts[name])
		if p == nil {
			po := u.poolOpts[name]
			po.Logger, po.Registerer, po.TLSClientConfig = logger, reg, tlsConf
			if p, err = origin.NewPool(po); err != nil {
				return nil, fmt.Errorf("pools.%s: %w", name, err)
			}
			if prev != nil && prev.pools[name] != nil {
				p.InheritHealth(prev.pools[name]) // the servers it keeps stay up, or down
			}
		}
		u.refs.acquire(p)
		u.pools[name] = p
	}
	clientFor := u.clientFor(n)
	if cfg.Role == config.RoleShield {
		if err := u.shieldPools(clientFor); err != nil {
			return nil, err
		}
	}
	if len(cfg.Sites) == 0 {
		oo := cfg.OriginOptions()
		oo.Logger, oo.TLSClientConfig, oo.Registerer = logger, tlsConf, reg
		cl, err := origin.New(oo)
		if err != nil {
			return nil, fmt.Errorf("upstream: %w", err)
		}
		u.any = cl
		u.clients = append(u.clients, cl)
		if u.poolClients != nil && cfg.Upstream.Origin != "" {
			u.poolClients[config.DefaultPool] = cl // upstream.origin is "default"
		}
		return u, nil
	}
	cfg.SetLogger(n.log) // a route's JWK Set fetches log
	sites, err := cfg.EdgeSites(clientFor)
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return nil, err // names the file, line and field already
	}
	if err != nil {
		return nil, fmt.Errorf("sites: %w", err)
	}
	u.sites = sites
	if u.router, err = edge.NewRouter(sites); err != nil {
		return nil, fmt.Errorf("sites: %w", err)
	}
	return u, nil
}

// shieldPools gives a shield a client for every pool, by name: its edges
// name the pool each request is for (origin.PoolHeader), since two of
// their routes may send it the same URL for different pools. A shield
// with shields of its own (a middle tier) sends them the name on.
func (u *upstreams) shieldPools(clientFor func(config.UpstreamRef) (*origin.Client, error)) error {
	up := u.cfg.Upstream
	u.poolClients = make(map[string]*origin.Client, len(u.pools))
	for _, name := range slices.Sorted(maps.Keys(u.pools)) {
		ref := config.UpstreamRef{Pool: name}
		if len(up.Shields) > 0 {
			ref.Shields, ref.ShieldFallback, ref.ShieldPool = up.Shields, up.ShieldFallback, name
		}
		cl, err := clientFor(ref)
		if err != nil {
			return fmt.Errorf("pools.%s: %w", name, err)
		}
		u.poolClients[name] = cl
	}
	return nil
}

// keptPool returns u's pool name when the next configuration, next, builds
// it with the same options po, so the next generation can keep it; nil when
// it must be built.
func (u *upstreams) keptPool(name string, next *config.Config, po origin.PoolOptions) *origin.Pool {
	if u == nil || u.pools[name] == nil {
		return nil
	}
	t := next.Upstream.TLS
	if t != u.cfg.Upstream.TLS || t.CAFile != "" || t.CertFile != "" {
		return nil
	}
	if !reflect.DeepEqual(u.poolOpts[name], po) {
		return nil
	}
	return u.pools[name]
}

// clientFor returns the function that gives each route its client, building
// one per distinct UpstreamRef.
func (u *upstreams) clientFor(n *node) func(ref config.UpstreamRef) (*origin.Client, error) {
	byKey := make(map[string]*origin.Client)
	return func(ref config.UpstreamRef) (*origin.Client, error) {
		if cl, ok := byKey[ref.Key()]; ok {
			return cl, nil
		}
		oo := u.cfg.ClientOptions(ref)
		oo.Logger, oo.TLSClientConfig, oo.Registerer = n.log.With("component", "origin"), u.tls, u.reg
		if ref.Pool != "" {
			oo.Pool = u.pools[ref.Pool]
		}
		cl, err := origin.New(oo)
		if err != nil {
			return nil, err
		}
		byKey[ref.Key()] = cl
		u.clients = append(u.clients, cl)
		return cl, nil
	}
}

// start starts the pools' active health checks; they stop when ctx ends
// or the pool closes. A pool kept from the previous generation runs its
// checks already (Start does nothing then).
func (u *upstreams) start(ctx context.Context) {
	for _, p := range u.pools {
		p.Start(ctx)
	}
}

// close releases what the router's routes hold (background key refreshes
// and the like: edge.Router.Close), the clients, then the pools no other
// generation uses; the series of the servers it let go are dropped
// (forgetClient, forget). It is safe to call on a nil
// *upstreams.
func (u *upstreams) close() {
	if u == nil {
		return
	}
	if u.router != nil {
		u.router.Close() // the verifiers of its sites among the rest
	} else {
		closeVerifiers(u.sites) // sites whose router was not built
	}
	for _, cl := range u.clients {
		cl.Close()
		if u.forgetClient != nil {
			u.forgetClient(cl)
		}
	}
	for _, p := range u.pools {
		if u.refs != nil && !u.refs.release(p) {
			continue // a newer generation kept it
		}
		p.Close()
		if u.forget != nil {
			for _, s := range p.Status() {
				u.forget(p, s.URL)
			}
		}
	}
}
