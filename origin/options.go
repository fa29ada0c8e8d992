package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/httpsyntax"
)

// Options configure a [Client]. Zero fields take the default named on them.
type Options struct {
	// Origin is the origin's base URL, e.g. "http://127.0.0.1:9000": scheme
	// http or https, a host, and an optional path prefix prepended to every
	// request path. It is shorthand for a pool of one server without health
	// checks, ejection or retries (ejecting the only server would just turn
	// its errors into 503s). Required unless Pool or Shields is set.
	Origin string
	// Pool, when set, replaces Origin: requests go to the pool's servers,
	// with its algorithm, health checks, retries and connection settings
	// (timeouts included). Several Clients (routes) may share one Pool; a
	// Client never closes it.
	Pool *Pool
	// Shields are the base URLs of origin shields (other edged nodes in the
	// shield role). When set, each request goes to the shield that
	// rendezvous hashing picks for its key, not to Origin.
	Shields []string
	// ShieldFallback sends a request to Origin (or Pool) directly when no
	// shield can be connected to or every shield is ejected. It requires
	// Origin or Pool; without Shields it has no effect.
	ShieldFallback bool
	// ShieldEjection configures passive health checks of shields, so a dead
	// shield is skipped at once. Only the shield's own failures count
	// (connect failures and timeouts, broken responses): a 5xx or a response
	// header timeout may be the origin's. Zero fields take Ejection's
	// defaults.
	ShieldEjection Ejection
	// Via is this node's pseudonym in the Via header (RFC 9110 §7.6.3), e.g.
	// "edged". Required; it must be an HTTP token.
	Via string
	// Direct makes the Client a forward proxy's upstream: each request goes
	// to the server its Outbound names (scheme Outbound.Proto, authority
	// Outbound.Host), once, without pools, shields or retries. It excludes
	// Origin, Pool and Shields. A forward proxy hides its clients, so no
	// X-Forwarded-For, -Proto or -Host is added (the client's own are
	// passed as given; the proxy removes what it must before Do).
	Direct bool
	// OmitVia leaves Via as it is in both directions: a forward proxy may
	// hide itself from the servers it talks to (RFC 9110 §7.6.3 lets an
	// intermediary not add Via when it is a privacy measure).
	OmitVia bool
	// Dial opens every connection this Client makes (to Origin, shields and
	// Direct servers; a Pool has its own): addr is host:port as the
	// transport would dial it. Nil means a net.Dialer bounded by
	// ConnectTimeout. A forward proxy passes its SSRF-safe dialer here.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ConnectTimeout bounds the TCP connect and the TLS handshake. Zero means 5s.
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers once the request is
	// sent. Zero means 30s.
	HeaderTimeout time.Duration
	// BodyTimeout bounds each wait for response body bytes from upstream.
	// Zero means 60s.
	BodyTimeout time.Duration
	// MaxIdlePerHost is the number of keep-alive connections kept per
	// upstream server. Zero means 64.
	MaxIdlePerHost int
	// MaxConnsPerHost caps the connections per upstream server, idle or
	// busy; requests beyond it wait for one (bounded by their context).
	// Zero means no limit.
	MaxConnsPerHost int
	// TLSClientConfig configures TLS to https upstreams (private CAs, client
	// certificates). Nil means the system roots. It is cloned, not retained.
	TLSClientConfig *tls.Config
	// Logger receives operational logs (shield failover); nil discards them.
	Logger *slog.Logger
	// Registerer, when set, receives the metrics of the connections to
	// shields and to Origin (pool "shields" and "origin"):
	// edged_origin_discarded_connections_total and
	// edged_origin_discarded_bytes_total. A Pool has its own.
	Registerer prometheus.Registerer
}

const (
	defaultConnectTimeout = 5 * time.Second
	defaultHeaderTimeout  = 30 * time.Second
	defaultBodyTimeout    = 60 * time.Second
	defaultMaxIdlePerHost = 64
)

// transportDefaults fills the zero transport settings that Options and
// PoolOptions share.
func transportDefaults(connect, header, body *time.Duration, idle *int, log **slog.Logger) {
	if *connect == 0 {
		*connect = defaultConnectTimeout
	}
	if *header == 0 {
		*header = defaultHeaderTimeout
	}
	if *body == 0 {
		*body = defaultBodyTimeout
	}
	if *idle == 0 {
		*idle = defaultMaxIdlePerHost
	}
	if *log == nil {
		*log = slog.New(slog.DiscardHandler)
	}
}

// withDefaults returns opts with zero fields replaced by their defaults.
func (opts Options) withDefaults() Options {
	transportDefaults(&opts.ConnectTimeout, &opts.HeaderTimeout, &opts.BodyTimeout, &opts.MaxIdlePerHost, &opts.Logger)
	opts.ShieldEjection = opts.ShieldEjection.withDefaults()
	return opts
}

// originPool is the one-server pool that Options.Origin stands for.
func (opts Options) originPool(up *upstream, cm *connMetrics) *Pool {
	po := PoolOptions{
		Name:            "origin",
		Retries:         -1,
		Ejection:        Ejection{Failures: -1},
		ConnectTimeout:  opts.ConnectTimeout,
		HeaderTimeout:   opts.HeaderTimeout,
		BodyTimeout:     opts.BodyTimeout,
		MaxIdlePerHost:  opts.MaxIdlePerHost,
		MaxConnsPerHost: opts.MaxConnsPerHost,
		TLSClientConfig: opts.TLSClientConfig,
		Logger:          opts.Logger,
	}
	return newPool(po.withDefaults(), algRoundRobin, []*upstream{up}, cm)
}

// validate checks the fields that have no usable default. URLs are checked
// when they are parsed into upstreams.
func (opts Options) validate() error {
	var errs []error
	if opts.Direct && (opts.Origin != "" || opts.Pool != nil || len(opts.Shields) > 0) {
		errs = append(errs, errors.New("origin: option Direct: excludes Origin, Pool and Shields"))
	}
	if !opts.Direct && opts.Origin == "" && opts.Pool == nil && len(opts.Shields) == 0 {
		errs = append(errs, errors.New("origin: option Origin: required when Pool and Shields are empty"))
	}
	if opts.Origin != "" && opts.Pool != nil {
		errs = append(errs, errors.New("origin: option Pool: set Origin or Pool, not both"))
	}
	if opts.ShieldFallback && opts.Origin == "" && opts.Pool == nil {
		errs = append(errs, errors.New("origin: option ShieldFallback: requires Origin or Pool"))
	}
	// RFC 9110 §7.6.3: a pseudonym is a token.
	if opts.Via == "" {
		errs = append(errs, errors.New("origin: option Via: required"))
	} else if !httpsyntax.IsToken(opts.Via) {
		errs = append(errs, fmt.Errorf("origin: option Via: %q is not an HTTP token (RFC 9110 §5.6.2)", opts.Via))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ConnectTimeout", opts.ConnectTimeout},
		{"HeaderTimeout", opts.HeaderTimeout},
		{"BodyTimeout", opts.BodyTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("origin: option %s: negative duration %v", d.name, d.v))
		}
	}
	if opts.MaxIdlePerHost < 0 {
		errs = append(errs, fmt.Errorf("origin: option MaxIdlePerHost: negative value %d", opts.MaxIdlePerHost))
	}
	if opts.MaxConnsPerHost < 0 {
		errs = append(errs, fmt.Errorf("origin: option MaxConnsPerHost: negative value %d", opts.MaxConnsPerHost))
	}
	errs = append(errs, opts.ShieldEjection.validate("origin: option ShieldEjection")...)
	return errors.Join(errs...)
}
