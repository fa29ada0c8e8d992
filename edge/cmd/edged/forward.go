package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/config"
	"edged/edge/forward"
	"edged/origin"
)

// openForwardUpstream is openUpstreams for the forward role: one Direct
// client that reaches whatever host a request names, through the proxy's
// SSRF-safe dialer, telling the destination nothing of the client.
func (n *node) openForwardUpstream(reg prometheus.Registerer) error {
	n.dialer = forward.NewDialer(n.cfg.ForwardDialer())
	for _, ln := range []net.Listener{n.publicLn, n.adminLn} {
		if ln != nil {
			n.dialer.RefuseListener(ln.Addr()) // a request to the proxy itself would loop
		}
	}
	oo := n.cfg.OriginOptions()
	oo.Origin, oo.Shields, oo.ShieldFallback = "", nil, false
	oo.Direct, oo.OmitVia, oo.Dial = true, !n.cfg.Forward.Via, n.dialer.DialContext
	oo.Logger, oo.Registerer = n.log.With("component", "origin"), reg
	cl, err := origin.New(oo)
	if err != nil {
		return fmt.Errorf("forward upstream: %w", err)
	}
	n.up = &upstreams{cfg: n.cfg, any: cl, clients: []*origin.Client{cl}}
	return nil
}

// openForward builds the forward proxy in front of the cache handler.
func (n *node) openForward(reg prometheus.Registerer) error {
	users, err := n.cfg.ForwardUsers()
	if err != nil {
		return err // a *config.FieldError naming forward.auth.htpasswd
	}
	engine, err := n.cfg.ForwardRules(n.log.With("component", "forward-rules"))
	if err != nil {
		return err // *config.FieldErrors naming forward.rules fields
	}
	n.rules = newLiveRules(n.cfg.Forward.Rules, engine)
	opts := n.cfg.ForwardOptions()
	n.users = users
	opts.Cache, opts.Dialer, opts.Users, opts.Rules = n.handler, n.dialer, users, n.rules
	opts.Logger, opts.Registerer = n.log.With("component", "forward"), reg
	if n.accessLog != nil {
		opts.AccessLog = n.accessLog
	}
	if n.proxy, err = forward.New(opts); err != nil {
		return fmt.Errorf("forward proxy: %w", err)
	}
	return nil // forwardWarnings were logged at start
}

// isForward reports whether the node is a forward proxy.
func (n *node) isForward() bool { return n.cfg.Role == config.RoleForward }

// forwardClients says who the forward proxy admits, for the startup line.
func forwardClients(cfg *config.Config) string {
	if cfg.ForwardClientsDefault() {
		return "loopback only"
	}
	return strings.Join(cfg.Forward.Clients, ",")
}
