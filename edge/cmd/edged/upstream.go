package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge"
	"edged/edge/config"
	"edged/origin"
)

// upstreams are the node's ways to the origin: one client for every host
// (no sites), or pools shared by the clients of the sites' routes.
type upstreams struct {
	any     *origin.Client          // every host, when there are no sites
	router  *edge.Router            // sites and routes, when there are sites
	sites   []*edge.Site            // the router's, for their verifiers' Close and shared limits
	pools   map[string]*origin.Pool // by name; built once, shared by clients
	clients []*origin.Client        // every client built, for Close
	tls     *tls.Config             // for https upstreams; nil means the defaults
	reg     prometheus.Registerer   // for the clients' own connections (shields, origin)
}

// openUpstreams builds the upstream side from the configuration: without
// sites one client for upstream.origin/shields; with sites every used pool
// once, one client per distinct (pool, shields, fallback), and the router.
// tlsConf (nil for the defaults) is used for every https upstream.
func (n *node) openUpstreams(reg prometheus.Registerer, tlsConf *tls.Config) error {
	n.up = &upstreams{pools: make(map[string]*origin.Pool), tls: tlsConf, reg: reg}
	logger := n.log.With("component", "origin")
	if len(n.cfg.Sites) == 0 {
		oo := n.cfg.OriginOptions()
		oo.Logger, oo.TLSClientConfig, oo.Registerer = logger, tlsConf, reg
		cl, err := origin.New(oo)
		if err != nil {
			return fmt.Errorf("upstream: %w", err)
		}
		n.up.any, n.up.clients = cl, []*origin.Client{cl}
		return nil
	}
	for _, name := range n.cfg.UnusedPools() {
		n.log.Warn("pool not used by any route; not started", "pool", name)
	}
	poolOpts := n.cfg.PoolOptions()
	for _, name := range slices.Sorted(maps.Keys(poolOpts)) {
		po := poolOpts[name]
		po.Logger, po.Registerer, po.TLSClientConfig = logger, reg, tlsConf
		p, err := origin.NewPool(po)
		if err != nil {
			return fmt.Errorf("pools.%s: %w", name, err)
		}
		n.up.pools[name] = p
	}
	n.cfg.SetLogger(n.log) // a route's JWK Set fetches log
	sites, err := n.cfg.EdgeSites(n.up.clientFor(n))
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return err // names the file, line and field already
	}
	if err != nil {
		return fmt.Errorf("sites: %w", err)
	}
	n.up.sites = sites
	if n.up.router, err = edge.NewRouter(sites); err != nil {
		return fmt.Errorf("sites: %w", err)
	}
	return nil
}

// clientFor returns the function that gives each route its client, building
// one per distinct UpstreamRef.
func (u *upstreams) clientFor(n *node) func(ref config.UpstreamRef) (*origin.Client, error) {
	byKey := make(map[string]*origin.Client)
	return func(ref config.UpstreamRef) (*origin.Client, error) {
		if cl, ok := byKey[ref.Key()]; ok {
			return cl, nil
		}
		oo := n.cfg.ClientOptions(ref)
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

// start starts the pools' active health checks; they stop when ctx ends.
func (u *upstreams) start(ctx context.Context) {
	for _, p := range u.pools {
		p.Start(ctx)
	}
}

// close releases the clients, then the pools they use.
func (u *upstreams) close() {
	if u == nil {
		return
	}
	for _, cl := range u.clients {
		cl.Close()
	}
	for _, p := range u.pools {
		p.Close()
	}
	closeVerifiers(u.sites)
}
