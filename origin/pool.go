package origin

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/fielderr"
)

// Server is one origin server of a pool.
type Server struct {
	// URL is the server's base URL: scheme http or https, a host, and an
	// optional path prefix prepended to every request path.
	URL string
	// Weight is the server's relative share under weighted_round_robin,
	// least_conn (in-flight per weight), consistent_hash and client_ip_hash.
	// Default 1.
	Weight int
}

// PoolOptions configure a [Pool]. [NewPool] gives a zero field the default
// named on it ([DefaultPoolOptions] holds them all); a field where zero is a
// setting of its own says so. Nothing is ever turned off with a negative
// number: NoRetries and Ejection.Disabled say it.
type PoolOptions struct {
	// Name names the pool in errors, logs and metrics. Required.
	Name string
	// Servers are the origin servers. At least one; no duplicates.
	Servers []Server
	// Algorithm picks a server for each request: "round_robin" (default),
	// "weighted_round_robin" (smooth, as nginx), "least_conn" (fewest
	// in-flight exchanges per weight, ties in turn), "consistent_hash"
	// (weighted rendezvous hashing of the cache key) or "client_ip_hash"
	// (weighted rendezvous hashing of the client's address,
	// Outbound.RealClientIP: a client keeps its server, and adding a server
	// moves only the clients it takes over).
	Algorithm string
	// Health configures active health checks; see [HealthCheck].
	Health HealthCheck
	// Ejection configures passive health checks; see [Ejection].
	Ejection Ejection
	// Retries is how many other servers a failed request may be retried on.
	// Default 2.
	Retries int
	// NoRetries turns retries off, whatever Retries says.
	NoRetries bool
	// RetryTimeout bounds the time since the first attempt after which no
	// retry starts. Zero means no bound of its own (nginx's
	// proxy_next_upstream_timeout 0): Retries bounds the tries, and
	// ConnectTimeout and HeaderTimeout each try, so a request that meets
	// only failures ends within (Retries + 1) × (ConnectTimeout +
	// HeaderTimeout).
	RetryTimeout time.Duration

	// ConnectTimeout bounds the TCP connect and the TLS handshake. Default 5s.
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers once the request is
	// sent. Default 30s.
	HeaderTimeout time.Duration
	// BodyTimeout bounds each wait for response body bytes. Default 60s.
	BodyTimeout time.Duration
	// MaxIdlePerHost is the number of keep-alive connections kept per
	// server. Default 64.
	MaxIdlePerHost int
	// MaxConnsPerHost caps the connections per server, idle or busy;
	// requests beyond it wait for a connection (bounded by their context).
	// Zero means no limit.
	MaxConnsPerHost int
	// TLSClientConfig configures TLS to https servers. Nil means the system
	// roots. It is cloned, not retained.
	TLSClientConfig *tls.Config
	// Logger receives state changes (down, up, ejected) and retries; nil
	// discards them.
	Logger *slog.Logger
	// Registerer, when set, receives the pool's metrics: edged_origin_up,
	// edged_origin_ejections_total, edged_origin_requests_total and
	// edged_origin_response_seconds, labelled by pool and server. Pools may
	// share a Registerer.
	Registerer prometheus.Registerer
}

// Algorithm names accepted in PoolOptions.Algorithm.
const (
	RoundRobin         = "round_robin"
	WeightedRoundRobin = "weighted_round_robin"
	LeastConn          = "least_conn"
	ConsistentHash     = "consistent_hash"
	ClientIPHash       = "client_ip_hash"
)

// algorithm is a parsed PoolOptions.Algorithm.
type algorithm int

const (
	algRoundRobin algorithm = iota
	algWeightedRoundRobin
	algLeastConn
	algConsistentHash
	algClientIPHash
)

func parseAlgorithm(s string) (algorithm, bool) {
	switch s {
	case "", RoundRobin:
		return algRoundRobin, true
	case WeightedRoundRobin:
		return algWeightedRoundRobin, true
	case LeastConn:
		return algLeastConn, true
	case ConsistentHash:
		return algConsistentHash, true
	case ClientIPHash:
		return algClientIPHash, true
	}
	return 0, false
}

// ServerStatus is a snapshot of one server of a pool.
type ServerStatus struct {
	URL      string
	Up       bool // the active health checks' verdict (true without checks)
	Ejected  bool // ejected by passive health checks right now
	InFlight int  // exchanges started and not finished
	Weight   int
}

// Pool is a named set of origin servers with a load-balancing algorithm,
// active and passive health checks, retries and a keep-alive connection
// pool per server. Every [Client] (route) that names the same Pool shares its
// health state, in-flight counts and connections. A Pool is safe for
// concurrent use; create it with [NewPool], start its checks with
// [Pool.Start] and release it with [Pool.Close].
type Pool struct {
	name    string
	opts    PoolOptions // with defaults
	algo    algorithm
	servers []*upstream
	uniform bool // all weights are equal
	retries int  // retries allowed, >= 0 (0 with NoRetries)
	log     *slog.Logger
	now     func() time.Time // the clock of passive ejection; fake in tests
	// metricVecs are the vectors of the servers' series (metrics.go).
	metricVecs []*prometheus.MetricVec

	tr      *transports // requests
	checkTr *transports // active health checks, apart so they never queue behind requests

	next atomic.Uint64 // round-robin position (round_robin, least_conn ties)

	wrrMu      sync.Mutex // guards wrrCurrent
	wrrCurrent []int      // smooth weighted round robin's current weights, by server index

	mu      sync.Mutex // guards started, closed, cancel
	started bool
	closed  bool
	cancel  context.CancelFunc
	checks  sync.WaitGroup
}

// NewPool validates opts and returns a Pool. Errors name the pool and the
// offending option.
func NewPool(opts PoolOptions) (*Pool, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix(fmt.Sprintf("origin: pool %q: option ", opts.Name), err)
	}
	algo, _ := parseAlgorithm(opts.Algorithm)
	servers, err := parseServers(opts.Servers)
	if err != nil {
		return nil, fmt.Errorf("origin: pool %q: %w", opts.Name, err)
	}
	cm, err := newConnMetrics(opts.Registerer, opts.Name)
	if err != nil {
		return nil, fmt.Errorf("origin: pool %q: option Registerer: %w", opts.Name, err)
	}
	p := newPool(opts, algo, servers, cm)
	if p.metricVecs, err = attachMetrics(opts.Registerer, p.name, p.servers, true); err != nil {
		p.Close()
		return nil, fmt.Errorf("origin: pool %q: option Registerer: %w", opts.Name, err)
	}
	return p, nil
}

// newPool builds a pool of servers already parsed; opts has its defaults.
func newPool(opts PoolOptions, algo algorithm, servers []*upstream, cm *connMetrics) *Pool {
	p := &Pool{
		name:       opts.Name,
		opts:       opts,
		algo:       algo,
		servers:    servers,
		uniform:    true,
		retries:    opts.Retries,
		log:        opts.Logger,
		now:        time.Now,
		wrrCurrent: make([]int, len(servers)),
	}
	tc := opts.transport()
	tc.metrics = cm
	p.tr = newTransport(tc)
	p.checkTr = newTransport(transportConfig{
		connect: opts.Health.Timeout, header: opts.Health.Timeout, maxIdle: 1, tls: opts.TLSClientConfig,
		log: opts.Logger, metrics: cm,
	})
	for i, up := range servers {
		up.index, up.tr, up.bodyIdle = i, p.tr, opts.BodyTimeout
		up.up.Store(!(opts.Health.Path != "" && opts.Health.StartDown))
		if up.weight != servers[0].weight {
			p.uniform = false
		}
	}
	return p
}

// parseServers parses the servers of a pool, validated by
// PoolOptions.Validate.
func parseServers(list []Server) ([]*upstream, error) {
	servers := make([]*upstream, 0, len(list))
	for i, s := range list {
		up, err := parseUpstream(s.URL)
		if err != nil {
			return nil, fmt.Errorf("option Servers[%d].URL: %w", i, err)
		}
		up.weight = s.Weight
		servers = append(servers, up)
	}
	return servers, nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Start starts the active health checks, one goroutine per server, if
// Health.Path is set. They stop when ctx ends or the pool is closed. Calls
// after the first, or after Close, do nothing.
func (p *Pool) Start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed || p.opts.Health.Path == "" {
		return
	}
	p.started = true
	ctx, p.cancel = context.WithCancel(ctx)
	for _, up := range p.servers {
		p.checks.Go(func() { p.runChecks(ctx, up) })
	}
}

// Close stops the health checks, waits for them, and closes idle
// connections. Exchanges in flight finish. Close is idempotent; the pool
// must not be used by Clients afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	p.checks.Wait()
	p.tr.closeIdle()
	p.checkTr.closeIdle()
}

// Status returns a snapshot of every server, in configuration order.
func (p *Pool) Status() []ServerStatus {
	now := p.now().UnixNano()
	st := make([]ServerStatus, len(p.servers))
	for i, up := range p.servers {
		st[i] = ServerStatus{
			URL:      up.base,
			Up:       up.up.Load(),
			Ejected:  up.eject.ejected(now),
			InFlight: int(up.inFlight.Load()),
			Weight:   up.weight,
		}
	}
	return st
}

// observe feeds the outcome of one exchange with up to passive health
// checking: transport failures and 5xx responses count against the server.
// Failures caused by the caller's own context are not the server's.
func (p *Pool) observe(ctx context.Context, up *upstream, resp *http.Response, f *failure) {
	up.metrics.request()
	now := p.now()
	if f == nil && resp.StatusCode < 500 {
		up.eject.success(now)
		return
	}
	if f != nil && f.callers(ctx) {
		return // nothing the server did
	}
	if backoff := up.eject.failure(now, p.opts.Ejection); backoff > 0 {
		up.metrics.ejected()
		var reason string
		if f != nil {
			reason = f.err.Error()
		} else {
			reason = resp.Status
		}
		p.log.Warn("origin server ejected", "pool", p.name, "server", up.base, "backoff", backoff, "last", reason)
	}
}
