package origin

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"edged/internal/fielderr"
	"edged/internal/httpsyntax"
)

// Options configure a [Client]. [New] gives a zero field the default named
// on it ([DefaultOptions] holds them all); a field where zero is a setting
// of its own says so. Nothing is ever turned off with a negative number.
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
	// header timeout may be the origin's. New gives zero fields Ejection's
	// defaults.
	ShieldEjection Ejection
	// ShieldPool names, to the shields, the pool whose object a request
	// wants (PoolHeader): a shield keys and routes by it. "" names none.
	// It must be an HTTP token; Pool's servers are never sent it.
	ShieldPool string
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
	// SurrogateCapability, when set, is the member this node appends to
	// the Surrogate-Capability field of every request it forwards (W3C
	// Edge Architecture Specification 1.0): a device token and what the
	// node can do, `edged="Surrogate/1.0"`. It tells the origin that a
	// surrogate that obeys Surrogate-Control is on the path, under a name
	// its directives may be targeted at (";edged"). "" adds none.
	SurrogateCapability string
	// KeepSurrogateCapability keeps the Surrogate-Capability field a
	// request came with (a shield's clients are edges, which appended
	// theirs). Otherwise the field is removed before SurrogateCapability is
	// added: a client is not a surrogate, and a capability it claimed
	// (ESI/1.0, say) could make the origin answer in a form meant for a
	// surrogate, which the cache would store and serve to every client.
	KeepSurrogateCapability bool
	// OmitVia leaves Via as it is in both directions: a forward proxy may
	// hide itself from the servers it talks to (RFC 9110 §7.6.3 lets an
	// intermediary not add Via when it is a privacy measure).
	OmitVia bool
	// Dial opens every connection this Client makes (to Origin, shields and
	// Direct servers; a Pool has its own): addr is host:port as the
	// transport would dial it. Nil means a net.Dialer bounded by
	// ConnectTimeout. A forward proxy passes its SSRF-safe dialer here.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ConnectTimeout bounds the TCP connect and the TLS handshake. Default 5s.
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers once the request is
	// sent. Default 30s.
	HeaderTimeout time.Duration
	// BodyTimeout bounds each wait for response body bytes from upstream.
	// Default 60s.
	BodyTimeout time.Duration
	// MaxIdlePerHost is the number of keep-alive connections kept per
	// upstream server. Default 64.
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
	// Registerer, when set, receives the metrics of the shields and of
	// Origin (pool "shields" and "origin"): the servers' requests,
	// ejections and response times as a Pool's servers have them
	// (edged_origin_up for Origin only: shields have no active checks), and
	// edged_origin_discarded_connections_total and
	// edged_origin_discarded_bytes_total. A Pool has its own.
	Registerer prometheus.Registerer
}

// Defaults New gives the fields of Options and PoolOptions left zero.
const (
	defaultConnectTimeout = 5 * time.Second
	defaultHeaderTimeout  = 30 * time.Second
	defaultBodyTimeout    = 60 * time.Second
	defaultMaxIdlePerHost = 64
)

// DefaultOptions returns the values New gives the fields of Options left
// zero: a caller that validates before New (edge/config) starts from them,
// since [Options.Validate] takes every field as given.
func DefaultOptions() Options { return Options{}.withDefaults() }

// withDefaults returns opts with zero fields replaced by their defaults:
// the one place that knows them.
func (opts Options) withDefaults() Options {
	opts.ConnectTimeout = cmp.Or(opts.ConnectTimeout, defaultConnectTimeout)
	opts.HeaderTimeout = cmp.Or(opts.HeaderTimeout, defaultHeaderTimeout)
	opts.BodyTimeout = cmp.Or(opts.BodyTimeout, defaultBodyTimeout)
	opts.MaxIdlePerHost = cmp.Or(opts.MaxIdlePerHost, defaultMaxIdlePerHost)
	opts.Logger = cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	opts.ShieldEjection = opts.ShieldEjection.withDefaults()
	return opts
}

// transport returns the connection settings of opts; metrics are the
// caller's.
func (opts Options) transport() transportConfig {
	tc := transportConfig{
		connect: opts.ConnectTimeout, header: opts.HeaderTimeout, body: opts.BodyTimeout,
		maxIdle: opts.MaxIdlePerHost, maxConns: opts.MaxConnsPerHost, tls: opts.TLSClientConfig,
		log: opts.Logger, dial: opts.Dial,
	}
	if opts.Direct {
		// A forward proxy's servers are whatever its clients ask for:
		// MaxIdlePerHost alone bounds nothing.
		tc.maxIdleTotal = DirectMaxIdle
	}
	return tc
}

// DirectMaxIdle bounds the idle connections a Direct client keeps across
// all its servers, the least recently used closed first: a client of a
// forward proxy asking for servers on thousands of addresses (one host
// listening on every port of forward.http_ports) kept one open per
// address for 90 seconds, each a descriptor and its buffers, until the
// node had no descriptor left to accept a client with.
const DirectMaxIdle = 1024

// originPool is the one-server pool that Options.Origin stands for: no
// retries, no ejection (ejecting the only server would only turn its errors
// into 503s).
func (opts Options) originPool(up *upstream, cm *connMetrics) *Pool {
	po := PoolOptions{
		Name:            originPoolName,
		NoRetries:       true,
		Ejection:        Ejection{Disabled: true},
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

// Validate reports every field of opts that is out of range, each a
// [*fielderr.Error] naming the field ("Shields[1]"), joined. It takes the
// fields as given, zero included: start from [DefaultOptions] (New fills
// zero fields first, then validates).
func (opts Options) Validate() error {
	var l fielderr.List
	if opts.Direct && (opts.Origin != "" || opts.Pool != nil || len(opts.Shields) > 0) {
		l.Addf("Direct", "excludes Origin, Pool and Shields")
	}
	if !opts.Direct && opts.Origin == "" && opts.Pool == nil && len(opts.Shields) == 0 {
		l.Addf("Origin", "required when Pool and Shields are empty")
	}
	if opts.Origin != "" {
		if opts.Pool != nil {
			l.Addf("Pool", "set Origin or Pool, not both")
		}
		if err := CheckURL(opts.Origin); err != nil {
			l.Addf("Origin", "%v", err)
		}
	}
	if opts.ShieldFallback && opts.Origin == "" && opts.Pool == nil {
		l.Addf("ShieldFallback", "requires Origin or Pool")
	}
	seen := make(map[string]bool, len(opts.Shields))
	for i, raw := range opts.Shields {
		path := fmt.Sprintf("Shields[%d]", i)
		if err := CheckURL(raw); err != nil {
			l.Addf(path, "%v", err)
		} else if seen[raw] {
			l.Addf(path, "repeated shield %q", raw)
		}
		seen[raw] = true
	}
	if opts.ShieldPool != "" && !httpsyntax.IsToken(opts.ShieldPool) {
		l.Addf("ShieldPool", "must be an HTTP token (RFC 9110 §5.6.2), got %q", opts.ShieldPool)
	}
	// RFC 9110 §7.6.3: a pseudonym is a token.
	if opts.Via == "" {
		l.Addf("Via", "required")
	} else if !httpsyntax.IsToken(opts.Via) {
		l.Addf("Via", "must be an HTTP token (RFC 9110 §5.6.2), got %q", opts.Via)
	}
	if !httpguts.ValidHeaderFieldValue(opts.SurrogateCapability) {
		l.Addf("SurrogateCapability", "must be a valid field value, got %q", opts.SurrogateCapability)
	}
	opts.transport().validate(&l)
	l.Nest("ShieldEjection", opts.ShieldEjection.Validate())
	return l.Err()
}

// validate checks the connection settings that Options and PoolOptions
// share, under their field names.
func (tc transportConfig) validate(l *fielderr.List) {
	l.Check(tc.connect > 0, "ConnectTimeout", "must be positive, got %v", tc.connect)
	l.Check(tc.header > 0, "HeaderTimeout", "must be positive, got %v", tc.header)
	l.Check(tc.body > 0, "BodyTimeout", "must be positive, got %v", tc.body)
	l.Check(tc.maxIdle > 0, "MaxIdlePerHost", "must be positive, got %d", tc.maxIdle)
	l.Check(tc.maxConns >= 0, "MaxConnsPerHost", "must not be negative (0 means no limit), got %d", tc.maxConns)
}
