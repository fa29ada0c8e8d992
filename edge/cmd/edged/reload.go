package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge"
	"edged/edge/config"
	"edged/internal/promreg"
	"edged/origin"
)

// A reload (SIGHUP, or POST /reload on the admin listener) reads the
// configuration again, from the same command line, with the checks and
// errors of a start, and applies it while the node serves (to requests,
// tunnels and connections that start from then on):
//
//   - sites, routes and everything on them (access and auth rules, rate
//     limits, header rules, caching overrides, splits and their weights),
//     pools (servers, weights, algorithm, health checks, ejection, retries)
//     and the upstream clients (upstream.origin, shields, timeouts,
//     upstream.tls): a new generation of upstreams is built and the edge
//     handler is rerouted to it (edge.Handler.Reroute); requests under way,
//     and the fetches they started, finish on the old one, which is closed
//     once they have ended. A pool whose settings did not change is kept,
//     with its health state and connections;
//   - the HTTPS certificates (tls.certificates), read again;
//   - role forward: the whole forward section (forwardLiveFields). The
//     access rules (forward.rules) are built again when they changed
//     (liveRules), else their category lists read again; the
//     forward.auth.htpasswd file is read again; the proxy's settings
//     (forward.Settings) and the dialer's are swapped; when forward.via,
//     the upstream timeouts or forward.dial.allow_networks change, a new
//     upstream client is built and the handler rerouted to it, as the
//     edge role's are. Requests and tunnels under way finish with what
//     they began with: an open tunnel is never cut by a reload;
//   - log.level.
//
// Everything else (listen addresses, the admin listener, data, role, name,
// cache sizes, server limits, purge and NATS settings, compression, ...) is
// fixed when the node starts: a reload that changes any of it is refused,
// naming each such field, and nothing is applied. So is a configuration
// with any problem a start would refuse. The cache, the purge bus and open
// client connections are never touched by a reload. Reloads run one at a
// time.

// liveFields are the fields a reload applies (config.Config.RestartNeeded
// reports a change to any other). In the forward role, every field of its
// section (prepareForward) and the upstream client's timeouts and idle
// bound (a new client, as the edge role's); each is named, so that a field
// added to the section later needs a restart until a reload applies it.
func liveFields(role string) []string {
	live := []string{"log.level", "tls.certificates"}
	if role == config.RoleForward {
		return append(live, forwardLiveFields...)
	}
	return append(live, "sites", "pools",
		"upstream.origin", "upstream.shields", "upstream.shield_fallback", "upstream.connect_timeout",
		"upstream.header_timeout", "upstream.body_timeout", "upstream.max_idle_per_host", "upstream.tls")
}

// forwardLiveFields are the forward role's own live fields.
var forwardLiveFields = []string{
	"forward.clients", "forward.connect_ports", "forward.http_ports", "forward.via",
	"forward.remove_headers", "forward.set_headers", "forward.auth.htpasswd", "forward.auth.realm",
	"forward.tunnels.idle_timeout", "forward.tunnels.max_duration", "forward.tunnels.max_per_client",
	"forward.dial.timeout", "forward.dial.allow_networks", "forward.pac.proxy", "forward.pac.direct",
	"forward.rules",
	"upstream.connect_timeout", "upstream.header_timeout", "upstream.body_timeout", "upstream.max_idle_per_host",
}

// The results of a reload, as edged_config_reloads_total labels them.
const (
	reloadOK      = "success"
	reloadInvalid = "invalid"        // the configuration has problems a start would refuse
	reloadRestart = "restart_needed" // it changes fields that only a restart applies
	reloadFailed  = "failed"         // building what it describes failed
)

// reloadError is a refused or failed reload: why, and every problem.
type reloadError struct {
	result string // reloadInvalid, reloadRestart or reloadFailed
	err    error
}

func (e *reloadError) Error() string { return e.err.Error() }
func (e *reloadError) Unwrap() error { return e.err }

// errStopping refuses a reload once the node has begun to stop.
var errStopping = errors.New("the node is stopping")

// reloader is the state of reloads: one at a time, the generations of
// upstreams still in use, and the metrics.
type reloader struct {
	mu         sync.Mutex // guards reloads: held by each reload, and by each retirement (see retire)
	generation uint64     // configurations applied, the start's included; guarded by mu

	gensMu sync.Mutex   // guards gens
	gens   []*upstreams // the current generation and those still draining
	pools  poolRefs     // the generations using each pool

	stopping chan struct{}  // closed by closeAll, under mu: reloads are refused, retire closes what is still draining
	retiring sync.WaitGroup // the goroutines of retire

	metrics reloadMetrics
}

// reloadMetrics report reloads: edged_config_reloads_total by result,
// edged_config_generation, edged_config_last_reload_successful and
// edged_config_last_reload_success_timestamp_seconds.
type reloadMetrics struct {
	total       *prometheus.CounterVec
	generation  prometheus.Gauge
	successful  prometheus.Gauge
	lastSuccess prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) (reloadMetrics, error) {
	m := reloadMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_config_reloads_total",
			Help: "Configuration reloads (SIGHUP, POST /reload) by result: success, invalid (a problem a start would refuse), restart_needed (a field that only a restart applies changed), failed.",
		}, []string{"result"}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edged_config_generation",
			Help: "Configurations applied since the node started, the start's included.",
		}),
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edged_config_last_reload_successful",
			Help: "Whether the last reload was applied (1) or refused (0); 1 before any reload.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edged_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration in use was applied (the start, or the last successful reload), in Unix seconds.",
		}),
	}
	for _, r := range []string{reloadOK, reloadInvalid, reloadRestart, reloadFailed} {
		m.total.WithLabelValues(r) // every result is reported from the start, at 0
	}
	m.generation.Set(1)
	m.successful.Set(1)
	m.lastSuccess.SetToCurrentTime()
	return m, promreg.All(reg, m.total, m.generation, m.successful, m.lastSuccess)
}

// record counts a reload's result.
func (m reloadMetrics) record(result string, generation uint64) {
	m.total.WithLabelValues(result).Inc()
	if result != reloadOK {
		m.successful.Set(0)
		return
	}
	m.successful.Set(1)
	m.lastSuccess.SetToCurrentTime()
	m.generation.Set(float64(generation))
}

// reload reads the configuration again and applies it, or refuses it and
// keeps the one in use; it logs the outcome. The error is a *reloadError,
// or errStopping.
func (n *node) reload() error {
	rl := &n.reloads
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.isStopped() {
		return errStopping
	}
	start := time.Now()
	err := n.applyNext()
	result := reloadOK
	var re *reloadError
	if errors.As(err, &re) {
		result = re.result
	}
	if err == nil {
		rl.generation++
	}
	rl.metrics.record(result, rl.generation)
	if err != nil {
		n.log.Error("reload refused; the configuration in use stays", "result", result, "err", err)
		return err
	}
	n.log.Info("reload: configuration applied", "generation", rl.generation, "duration", time.Since(start).String())
	return nil
}

// nextConfig reads the configuration as a start would: the -config file
// and the flags over it, with every check. A node started without a
// command line (tests) reloads its configuration as it is, reading the
// files it names again.
func (n *node) nextConfig() (*config.Config, error) {
	if n.args == nil {
		return n.cfg, n.cfg.Check()
	}
	return parseArgs(n.args)
}

// applyNext is reload's work, under the reload lock: read and check the
// next configuration, refuse what needs a restart, build everything it
// describes, and only then, when nothing can fail any more, switch to it.
func (n *node) applyNext() error {
	next, err := n.nextConfig()
	if err != nil {
		return &reloadError{reloadInvalid, err}
	}
	// n.cfg is the start's configuration: the fields a reload may not
	// change are the same in every configuration applied since.
	if err := n.cfg.RestartNeeded(next, liveFields(n.cfg.Role)...); err != nil {
		return &reloadError{reloadRestart, err}
	}
	for _, w := range next.Warnings() {
		n.log.Warn("configuration: " + w.Error())
	}
	var certs []tls.Certificate
	if n.certs != nil {
		if certs, err = next.LoadCertificates(); err != nil {
			return &reloadError{reloadInvalid, err}
		}
	}
	var adminCerts []tls.Certificate
	if n.adminCerts != nil {
		// admin_tls itself needs a restart; its files may be replaced.
		if adminCerts, err = next.LoadAdminCertificate(); err != nil {
			return &reloadError{reloadInvalid, err}
		}
	}
	if err := n.acmeHostsKept(next, certs); err != nil {
		return &reloadError{reloadRestart, err}
	}
	if n.isForward() {
		fwd, err := n.prepareForward(next)
		if err != nil {
			return err
		}
		if err := n.useForward(fwd); err != nil {
			return err
		}
	} else if err := n.switchUpstreams(next); err != nil {
		return err
	}
	if n.certs != nil {
		n.certs.use(next.LoadCertificates, certs)
	}
	if n.adminCerts != nil {
		n.adminCerts.use(next.LoadAdminCertificate, adminCerts)
	}
	n.level.Set(logLevel(next.Log.Level))
	return nil
}

// acmeHostsKept refuses a reload that changes the hosts tls.acme asks
// certificates for (acmeHosts): its manager is built with them at start,
// so a site host a reload adds would get no certificate, in silence.
func (n *node) acmeHostsKept(next *config.Config, certs []tls.Certificate) error {
	if !n.cfg.ACMESettings().Enabled {
		return nil
	}
	set := newCertSet(certs)
	hosts := acmeHosts(next, func(h string) bool { return set.cover(h) != nil })
	if slices.Equal(hosts, n.acmeHosts) {
		return nil
	}
	return &config.FieldError{File: next.File(), Field: "tls.acme",
		Msg: fmt.Sprintf("the hosts it asks certificates for would change from %v to %v (the sites' hosts no certificate covers, without tls.acme.hosts): restart edged to apply it", n.acmeHosts, hosts)}
}

// switchUpstreams builds the upstreams of next and reroutes the handler to
// them; the generation they replace is retired once drained.
func (n *node) switchUpstreams(next *config.Config) error {
	tlsConf, err := next.UpstreamTLSConfig()
	if err != nil {
		return &reloadError{reloadInvalid, err}
	}
	old := n.upstreams()
	up, err := n.newUpstreams(next, n.reg, tlsConf, old)
	if err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) {
			return &reloadError{reloadInvalid, err} // an auth secret or key file, named with its field
		}
		return &reloadError{reloadFailed, err}
	}
	if err := n.shareRateLimits(up.sites); err != nil { // rate_limit.shared
		up.close()
		return &reloadError{reloadFailed, err}
	}
	up.start(n.life)
	drained, err := n.handler.Reroute(up.router, up.any, up.poolClients)
	if err != nil {
		up.close()
		return &reloadError{reloadFailed, err}
	}
	n.reloads.gensMu.Lock()
	n.up = up
	n.reloads.gens = append(n.reloads.gens, up)
	n.reloads.gensMu.Unlock()
	n.hsts.Store(hasHSTS(next))
	n.retire(old, drained)
	return nil
}

// router returns the current generation's routes, nil without sites.
func (n *node) router() *edge.Router { return n.upstreams().router }

// upstreams returns the current generation of upstreams.
func (n *node) upstreams() *upstreams {
	n.reloads.gensMu.Lock()
	defer n.reloads.gensMu.Unlock()
	return n.up
}

// retire closes old once drained is closed (no request or fetch uses it
// any more), or at once when the node stops. It runs under the reload
// lock, so that no reload builds a pool of a name and server, a shield
// or an origin whose series forgetServer or forgetClient is deleting.
func (n *node) retire(old *upstreams, drained <-chan struct{}) {
	rl := &n.reloads
	rl.retiring.Go(func() {
		select {
		case <-drained:
		case <-rl.stopping:
		}
		rl.mu.Lock()
		defer rl.mu.Unlock()
		rl.gensMu.Lock()
		for i, g := range rl.gens {
			if g == old {
				rl.gens = append(rl.gens[:i], rl.gens[i+1:]...)
				break
			}
		}
		rl.gensMu.Unlock()
		old.close()
	})
}

// stopReloads refuses reloads from now on and closes the generations still
// draining; closeAll calls it once the handler has finished its work. Later
// calls only wait.
func (n *node) stopReloads() {
	rl := &n.reloads
	rl.mu.Lock()
	if !rl.isStopped() {
		close(rl.stopping)
	}
	rl.mu.Unlock()
	rl.retiring.Wait()
}

// isStopped reports whether stopReloads has run; call it under mu.
func (rl *reloader) isStopped() bool {
	select {
	case <-rl.stopping:
		return true
	default:
		return false
	}
}

// forgetServer deletes the metric series of a closed pool's server, unless
// a pool of the same name in a generation still in use has that server
// (pools of one name share their series).
func (n *node) forgetServer(p *origin.Pool, url string) {
	n.reloads.gensMu.Lock()
	defer n.reloads.gensMu.Unlock()
	for _, g := range n.reloads.gens {
		if q := g.pools[p.Name()]; q != nil && q != p {
			for _, s := range q.Status() {
				if s.URL == url {
					return
				}
			}
		}
	}
	p.DeleteServerMetrics(url)
}

// forgetClient deletes the metric series of a closed client's own
// servers, its shields and its upstream.origin (a node without sites),
// except those a client of a generation still in use has too: clients
// share these series (pool="shields", pool="origin").
func (n *node) forgetClient(cl *origin.Client) {
	n.reloads.gensMu.Lock()
	defer n.reloads.gensMu.Unlock()
	shields, origins := map[string]bool{}, map[string]bool{} // in use, by URL
	for _, g := range n.reloads.gens {
		for _, c := range g.clients {
			if c == cl {
				continue
			}
			for _, s := range c.Shields() {
				shields[s.URL] = true
			}
			origins[c.Origin()] = true
		}
	}
	for _, s := range cl.Shields() {
		if !shields[s.URL] {
			cl.DeleteShieldMetrics(s.URL)
		}
	}
	if !origins[cl.Origin()] {
		cl.DeleteOriginMetrics()
	}
}

// reloadHandler is POST /reload behind the dashboard's guard (the purge
// token, as a bearer token or the Basic password). A browser sends Basic
// credentials it holds to any page's form, so cross-origin browser
// requests are refused (403), as http.CrossOriginProtection tells them by
// Sec-Fetch-Site or Origin: another site cannot make an operator's browser
// apply a file being edited.
func (n *node) reloadHandler() http.Handler {
	return adminGuard(purgeTokenOf(n.cfg))(new(http.CrossOriginProtection).Handler(http.HandlerFunc(n.serveReload)))
}

// reloadReply is the JSON answer of POST /reload.
type reloadReply struct {
	OK     bool     `json:"ok"`
	Result string   `json:"result"`
	Errors []string `json:"errors"` // one problem a line, as edged -t prints them
}

// serveReload is POST /reload: 200 when the configuration was applied, 400
// when it has problems, 409 when it changes what only a restart applies,
// 500 when building it failed, 503 while the node stops. The reply lists
// every problem.
func (n *node) serveReload(w http.ResponseWriter, _ *http.Request) {
	err := n.reload()
	reply, status := reloadReply{OK: err == nil, Result: reloadOK, Errors: []string{}}, http.StatusOK
	var re *reloadError
	switch {
	case errors.As(err, &re):
		reply.Result, status = re.result, http.StatusInternalServerError // reloadFailed
		switch re.result {
		case reloadInvalid:
			status = http.StatusBadRequest
		case reloadRestart:
			status = http.StatusConflict
		}
	case err != nil:
		reply.Result, status = "stopping", http.StatusServiceUnavailable
	}
	if err != nil {
		reply.Errors = strings.Split(err.Error(), "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(reply)
}
