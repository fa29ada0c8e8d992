package main

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/config"
	"edged/edge/forward"
	"edged/edge/forward/rules"
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
	up, err := n.newForwardUpstream(n.cfg, reg)
	if err != nil {
		return err
	}
	n.up = up
	return nil
}

// newForwardUpstream builds the forward role's upstream generation for
// cfg: its Direct client, dialling through n.dialer.
func (n *node) newForwardUpstream(cfg *config.Config, reg prometheus.Registerer) (*upstreams, error) {
	oo := cfg.OriginOptions()
	oo.Origin, oo.Shields, oo.ShieldFallback = "", nil, false
	oo.Direct, oo.OmitVia, oo.Dial = true, !cfg.Forward.Via, n.dialer.DialContext
	oo.Logger, oo.Registerer = n.log.With("component", "origin"), reg
	cl, err := origin.New(oo)
	if err != nil {
		return nil, fmt.Errorf("forward upstream: %w", err)
	}
	return &upstreams{cfg: cfg, any: cl, clients: []*origin.Client{cl}}, nil
}

// forwardUpstreamChanged reports whether next's upstream client would
// differ from the one built for cur: forward.via, the upstream timeouts
// and idle bound. A changed forward.dial.allow_networks counts too, so
// that the connections the old client keeps idle, to networks the new
// list may refuse, close with it.
func forwardUpstreamChanged(cur, next *config.Config) bool {
	return cur.Forward.Via != next.Forward.Via || !reflect.DeepEqual(cur.Upstream, next.Upstream) ||
		!slices.Equal(cur.Forward.Dial.AllowNetworks, next.Forward.Dial.AllowNetworks)
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
	opts.Cache, opts.Dialer, opts.Users, opts.Rules = n.handler, n.dialer, users, n.rules
	opts.Logger, opts.Registerer = n.log.With("component", "forward"), reg
	if n.accessLog != nil {
		opts.AccessLog = n.accessLog
	}
	if n.proxy, err = forward.New(opts); err != nil {
		return fmt.Errorf("forward proxy: %w", err)
	}
	n.fwdCfg = n.cfg
	return nil // forwardWarnings were logged at start
}

// forwardNext is what a reload of the forward role built, to be used
// once nothing else can fail (useForward).
type forwardNext struct {
	cfg      *config.Config
	settings *forward.Settings
	rules    *rules.Engine // nil: the rules did not change
	up       *upstreams    // nil: the upstream client did not change
}

// prepareForward builds the forward proxy's next settings from next: the
// htpasswd file (read by next's checks), the rules (built again when they
// changed, else their category lists read again), the proxy's settings
// and, when what it is built from changed, a new upstream client. Nothing
// is applied.
func (n *node) prepareForward(next *config.Config) (*forwardNext, error) {
	users, err := next.ForwardUsers()
	if err != nil {
		return nil, &reloadError{reloadInvalid, err}
	}
	fn := &forwardNext{cfg: next}
	if n.rules.changed(next.Forward.Rules) {
		// New rules: built (their list files read) now, used once nothing
		// else can fail.
		if fn.rules, err = next.ForwardRules(n.log.With("component", "forward-rules")); err != nil {
			return nil, &reloadError{reloadInvalid, err}
		}
	} else if err := n.rules.reloadLists(); err != nil {
		// The same rules: re-read changed category lists now rather than
		// at the next poll.
		return nil, &reloadError{reloadFailed, fmt.Errorf("forward.rules category lists: %w", err)}
	}
	opts := next.ForwardOptions()
	opts.Users = users
	if fn.settings, err = forward.Prepare(opts); err != nil {
		fn.close()
		return nil, &reloadError{reloadInvalid, err} // next's checks passed: not expected
	}
	if forwardUpstreamChanged(n.fwdCfg, next) {
		if fn.up, err = n.newForwardUpstream(next, n.reg); err != nil {
			fn.close()
			return nil, &reloadError{reloadFailed, err}
		}
	}
	return fn, nil
}

// close releases what prepareForward built, for a reload that stops.
func (fn *forwardNext) close() {
	if fn.rules != nil {
		_ = fn.rules.Close()
	}
	fn.up.close()
}

// useForward applies what prepareForward built: requests and tunnels that
// start from now on see it; those under way finish as they began.
func (n *node) useForward(fn *forwardNext) error {
	// The dialer's networks first: a new upstream client must never dial
	// under the old ones, or an idle connection it keeps could reach a
	// network the new allow_networks refuses, which replacing the client
	// is there to rule out.
	n.dialer.Reconfigure(fn.cfg.ForwardDialer())
	if fn.up != nil {
		fn.up.start(n.life)
		drained, err := n.handler.Reroute(nil, fn.up.any, nil)
		if err != nil {
			n.dialer.Reconfigure(n.fwdCfg.ForwardDialer()) // the reload changes nothing
			fn.close()
			return &reloadError{reloadFailed, err}
		}
		n.reloads.gensMu.Lock()
		old := n.up
		n.up = fn.up
		n.reloads.gens = append(n.reloads.gens, fn.up)
		n.reloads.gensMu.Unlock()
		n.retire(old, drained)
	}
	n.fwdCfg = fn.cfg
	if fn.rules != nil {
		n.rules.use(fn.cfg.Forward.Rules, fn.rules)
	}
	n.proxy.Reconfigure(fn.settings)
	for _, w := range forwardWarnings(fn.cfg) {
		n.log.Warn("reload: "+w.msg, w.attrs...)
	}
	return nil
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
