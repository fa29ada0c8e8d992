package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/fielderr"
	"edged/internal/httpsyntax"
)

// Client forwards requests to origin servers or to origin shields. It is
// safe for concurrent use; create it with [New] and release it with
// [Client.Close].
type Client struct {
	opts       Options
	transport  *transports // connections to shields
	pool       *Pool       // origin servers; nil when only shields are configured
	ownPool    bool        // pool stands for Options.Origin and closes with the client
	shields    []*upstream
	shieldVecs []*prometheus.MetricVec // the vectors of the shields' series, for DeleteShieldMetrics
	viaRequest string                  // "1.1 <Via>", the Via entry added to requests
	now        func() time.Time        // the clock of shield ejection
}

// Outbound describes the request to send upstream. The edge builds it from
// the client's request.
type Outbound struct {
	// Method is the request method; "" means GET.
	Method string
	// Host is the Host to send: the site's host as the client sent it,
	// normalized. "" means the upstream's own host.
	Host string
	// RequestURI is "/path?query" exactly as it must be sent; it is not
	// re-encoded. The upstream's path prefix is prepended.
	RequestURI string
	// Header holds the client's header fields. Do copies and filters them and
	// never modifies this map.
	Header http.Header
	// Body is the request body; nil means none. Do never closes it. A request
	// with a body is sent to one upstream only (no failover or retry) unless
	// GetBody is set.
	Body io.Reader
	// GetBody, when set, returns a fresh copy of Body, which makes the
	// request replayable: a failed attempt may be retried elsewhere.
	GetBody func() (io.Reader, error)
	// ContentLength is the body length; -1 means unknown (chunked).
	ContentLength int64
	// ClientIP is the client's address, "ip" or "ip:port", appended to
	// X-Forwarded-For. "" adds nothing.
	ClientIP string
	// Proto is the scheme the client used, "http" or "https", sent as
	// X-Forwarded-Proto.
	Proto string
	// Key is the cache key; it picks the shield, the same one for every
	// request with this key on every node, and the server of a
	// consistent_hash pool.
	Key string
	// RealClientIP is the client's address as the caller resolved it
	// (forwarding headers believed only from trusted proxies), "ip" without
	// port: a client_ip_hash pool hashes it, so one client keeps one
	// server. "" means the address of ClientIP.
	RealClientIP string
	// Upgrade, when set, asks the upstream to switch to this protocol
	// ("websocket", RFC 9110 §7.8). A 101 (Switching Protocols) answer's
	// Body is then an io.ReadWriteCloser, the connection itself, which the
	// caller owns and closes; no Options.BodyTimeout applies to it.
	Upgrade string
	// DialAddr, when valid, is where a Direct http request connects (its
	// connections pooled by it), Host still naming the server: the
	// address a forward proxy's access rules judged, so that a name
	// looked up again cannot lead elsewhere (DNS rebinding). Ignored
	// otherwise.
	DialAddr netip.AddrPort
}

// New validates opts and returns a Client. Errors name the offending option.
func New(opts Options) (*Client, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix("origin: option ", err)
	}
	c := &Client{opts: opts, viaRequest: "1.1 " + opts.Via, now: time.Now}
	var origin *upstream
	if opts.Origin != "" {
		up, err := parseUpstream(opts.Origin)
		if err != nil {
			return nil, fmt.Errorf("origin: option Origin: %w", err)
		}
		origin = up
	}
	for i, raw := range opts.Shields {
		up, err := parseUpstream(raw)
		if err != nil {
			return nil, fmt.Errorf("origin: option Shields[%d]: %w", i, err)
		}
		c.shields = append(c.shields, up)
	}
	shieldMetrics, err := newConnMetrics(opts.Registerer, shieldsPoolName)
	if err != nil {
		return nil, fmt.Errorf("origin: option Registerer: %w", err)
	}
	tc := opts.transport()
	tc.metrics = shieldMetrics
	c.transport = newTransport(tc)
	for i, up := range c.shields {
		up.index, up.tr, up.bodyIdle = i, c.transport, opts.BodyTimeout
	}
	if c.shieldVecs, err = attachMetrics(opts.Registerer, shieldsPoolName, c.shields, false); err != nil {
		return nil, fmt.Errorf("origin: option Registerer: %w", err)
	}
	c.pool = opts.Pool
	if origin != nil {
		originMetrics, err := newConnMetrics(opts.Registerer, originPoolName)
		if err != nil {
			return nil, fmt.Errorf("origin: option Registerer: %w", err)
		}
		vecs, err := attachMetrics(opts.Registerer, originPoolName, []*upstream{origin}, true)
		if err != nil {
			return nil, fmt.Errorf("origin: option Registerer: %w", err)
		}
		c.pool, c.ownPool = opts.originPool(origin, originMetrics), true
		c.pool.metricVecs = vecs // for DeleteOriginMetrics
	}
	return c, nil
}

// transportConfig are the settings of one connection pool.
type transportConfig struct {
	connect, header   time.Duration
	body              time.Duration // each wait for response body bytes (upstream.bodyIdle)
	maxIdle, maxConns int
	// maxIdleTotal bounds the idle connections kept across servers; 0:
	// none but maxIdle per server (the servers are configured).
	maxIdleTotal int
	tls          *tls.Config // cloned
	log          *slog.Logger
	metrics      *connMetrics // nil records nothing
	// dial opens the TCP connections; nil means a net.Dialer.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// transports are the connection pools of a set of upstream servers: keep,
// with keep-alive, and once, a new connection for every request, closed
// after it (DisableKeepAlives: "Connection: close", RFC 9112 §9.6), for
// requests that must be their connection's last (reuse.go), so that they
// never take a connection that carried another request either. The two
// share their dialer and reuse guard.
type transports struct {
	keep, once *http.Transport
	guard      *reuseGuard
	// kept carries keep's plain-HTTP GET and HEAD requests on the
	// caller's goroutine (keepalive.go); nil sends them through keep.
	kept *keepAlive
}

// closeIdle closes the idle connections of the pools.
func (t *transports) closeIdle() {
	t.keep.CloseIdleConnections()
	t.once.CloseIdleConnections()
	t.kept.closeIdle()
}

// newTransport builds the connection pools of tc. Their connections are
// upConns: requests sent through them must announce themselves with
// expectResponse from their GotConn trace (Client.try, Pool.checkOnce).
func newTransport(tc transportConfig) *transports {
	d := &dialer{
		net:     net.Dialer{Timeout: tc.connect, KeepAlive: 30 * time.Second},
		connect: tc.connect,
		log:     tc.log,
		guard:   newReuseGuard(tc.metrics),
		custom:  tc.dial,
	}
	if tc.tls != nil {
		d.tls = tc.tls.Clone()
	}
	tr := &http.Transport{
		Proxy:       nil, // upstreams are reached directly, never via $HTTP_PROXY
		DialContext: d.dial,
		// TLS is set up by the dialer (TLSClientConfig, the handshake
		// timeout) so that the upConn sits above tls.Conn and sees
		// plaintext.
		DialTLSContext: d.dialTLS,
		// HTTP/1.1 upstream: keep-alive pools sized per server, like nginx.
		ForceAttemptHTTP2: false,
		// Never ask for gzip on the client's behalf: the client's own
		// Accept-Encoding decides what the origin sends and what is cached.
		DisableCompression:     true,
		MaxIdleConnsPerHost:    tc.maxIdle,
		MaxIdleConns:           tc.maxIdleTotal,
		MaxConnsPerHost:        tc.maxConns,
		IdleConnTimeout:        keepIdleFor,
		ResponseHeaderTimeout:  tc.header,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHead,
		ReadBufferSize:         32 << 10,
		WriteBufferSize:        32 << 10,
	}
	once := tr.Clone()
	once.DisableKeepAlives = true
	t := &transports{keep: tr, once: once, guard: d.guard}
	if tc.maxConns == 0 && rawSockets {
		// A cap on connections makes requests wait for one, which
		// net/http's transport does; and without a raw socket, bytes
		// sent to an idle connection are found only by a read loop.
		t.kept = newKeepAlive(d, tc.header, tc.maxIdle, tc.maxIdleTotal)
	}
	return t
}

// Close closes idle connections to shields, and the pool Options.Origin
// stands for. A shared Options.Pool is left to its owner. In-flight
// exchanges finish.
func (c *Client) Close() {
	c.transport.closeIdle()
	if c.ownPool {
		c.pool.Close()
	}
}

// ShieldOrder returns the shield URLs in the order requests for key try them
// (rendezvous hashing); nil when no shields are configured.
func (c *Client) ShieldOrder(key string) []string {
	if len(c.shields) == 0 {
		return nil
	}
	order := rendezvous(key, c.shields)
	urls := make([]string, len(order))
	for i, up := range order {
		urls[i] = up.base
	}
	return urls
}

// Origin returns the URL of the server of Options.Origin, as its series
// name it (the server label, pool "origin"); "" when the client has none
// (it was given Options.Pool, or shields only).
func (c *Client) Origin() string {
	if !c.ownPool {
		return ""
	}
	return c.pool.servers[0].base
}

// HasShields reports whether the client fetches through shields.
func (c *Client) HasShields() bool { return len(c.shields) > 0 }

// Shields returns a snapshot of every shield, in configuration order, for
// a status page: shields have no active checks, so Up is always true and
// Ejected says whether passive checks skip the shield right now.
func (c *Client) Shields() []ServerStatus {
	now := c.now().UnixNano()
	st := make([]ServerStatus, len(c.shields))
	for i, up := range c.shields {
		st[i] = ServerStatus{URL: up.base, Up: true, Ejected: up.eject.ejected(now), InFlight: int(up.inFlight.Load()), Weight: up.weight}
	}
	return st
}

// Do sends out upstream and returns the response, whose Header has been
// cleaned (hop-by-hop fields removed) and carries this node's Via. The caller
// must close the body. The response's Request is the request sent to the
// server that answered: its URL.Host names that pool member, shield or
// destination (for access logs).
//
// ctx bounds the whole exchange, body included. Each wait for body bytes is
// bounded by Options.BodyTimeout; a body that stalls fails with an error
// wrapping ErrTimeout. Errors wrap ErrConnect, ErrTimeout, ErrProtocol or
// context.Canceled; any other error means out itself was invalid.
func (c *Client) Do(ctx context.Context, out *Outbound) (*http.Response, error) {
	method := out.Method
	if method == "" {
		method = http.MethodGet
	}
	if !httpsyntax.IsToken(method) {
		return nil, fmt.Errorf("origin: invalid method %q", method)
	}
	if out.Upgrade != "" && !httpsyntax.IsToken(out.Upgrade) {
		return nil, fmt.Errorf("origin: invalid upgrade protocol %q", out.Upgrade)
	}
	rq := &request{method: method, out: out, header: c.forwardHeader(out), replayable: replayable(out)}
	if c.opts.Direct {
		return c.direct(ctx, rq)
	}
	if len(c.shields) > 0 {
		resp, fallback, err := c.viaShields(ctx, rq)
		if !fallback {
			return resp, err
		}
	}
	return c.viaPool(ctx, c.pool, rq)
}

// viaShields tries the shields in the key's rendezvous order, skipping
// ejected ones. It reports fallback when the request should go to the pool.
func (c *Client) viaShields(ctx context.Context, rq *request) (resp *http.Response, fallback bool, err error) {
	if c.opts.ShieldPool != "" {
		rq.header[PoolHeader] = []string{c.opts.ShieldPool}
		defer func() {
			if fallback {
				delete(rq.header, PoolHeader) // the pool's servers are not told
			}
		}()
	}
	now := c.now().UnixNano()
	var prev *upstream
	for _, up := range rendezvous(rq.out.Key, c.shields) {
		if up.eject.ejected(now) {
			continue
		}
		if prev != nil {
			c.opts.Logger.Warn("upstream unreachable, trying next", "upstream", prev.base, "next", up.base, "err", err)
		}
		resp, f := c.try(ctx, up, rq)
		c.observeShield(ctx, up, f)
		if f == nil {
			return resp, false, nil
		}
		if !rq.canRetry(f, false) || ctx.Err() != nil {
			return nil, false, f.err
		}
		prev, err = up, f.err
	}
	if c.opts.ShieldFallback && c.pool != nil {
		c.opts.Logger.Warn("no shield reachable, going to the origin", "err", err)
		return nil, true, nil
	}
	if err == nil {
		err = &noHealthyError{what: "every shield is ejected", after: soonestBack(c.shields, c.now(), 0)}
	}
	return nil, false, err
}

// observeShield feeds passive health checking of shields. Only failures of
// the shield itself count: a 5xx or a slow response may be the origin's.
func (c *Client) observeShield(ctx context.Context, up *upstream, f *failure) {
	up.metrics.request()
	now := c.now()
	switch {
	case f == nil:
		up.eject.success(now)
	case f.callers(ctx): // not the shield's doing
	case errors.Is(f.err, ErrTimeout) && !f.connPhase: // waiting on the origin
	default:
		if backoff := up.eject.failure(now, c.opts.ShieldEjection); backoff > 0 {
			up.metrics.ejected()
			c.opts.Logger.Warn("shield ejected", "shield", up.base, "backoff", backoff, "err", f.err)
		}
	}
}

// viaPool sends rq to a server p picks, retrying on other servers within the
// pool's count and time budget when the failure allows it.
func (c *Client) viaPool(ctx context.Context, p *Pool, rq *request) (*http.Response, error) {
	var buf [4]*upstream
	tried := buf[:0]
	start := time.Now()
	var lastErr error
	for {
		up := p.pick(p.balanceKey(rq.out), tried)
		if up == nil {
			if lastErr != nil {
				return nil, lastErr
			}
			var interval time.Duration
			if p.opts.Health.Path != "" {
				interval = p.opts.Health.Interval
			}
			return nil, &noHealthyError{what: fmt.Sprintf("pool %q", p.name), after: soonestBack(p.servers, p.now(), interval)}
		}
		if lastErr != nil {
			p.log.Warn("retrying on another server", "pool", p.name, "server", up.base, "err", lastErr)
		}
		tried = append(tried, up)
		resp, f := c.try(ctx, up, rq)
		p.observe(ctx, up, resp, f)
		if f == nil {
			return resp, nil
		}
		lastErr = f.err
		if len(tried) > p.retries || !rq.canRetry(f, true) || ctx.Err() != nil || p.opts.RetryTimeout > 0 && time.Since(start) >= p.opts.RetryTimeout {
			return nil, f.err
		}
	}
}

// try performs one exchange with up. On success the response body owns the
// exchange (its context, or its keep-alive connection) and ends it on Close.
func (c *Client) try(ctx context.Context, up *upstream, rq *request) (*http.Response, *failure) {
	out := rq.out
	target, err := up.targetURL(out.RequestURI)
	if err != nil {
		return nil, &failure{err: err}
	}
	body, err := rq.nextBody()
	if err != nil {
		return nil, &failure{err: fmt.Errorf("origin: replay request body: %w", err)}
	}
	// A request that may make the upstream answer out of turn, or to a
	// server that did, is its connection's last (reuse.go).
	last := singleUse(rq.method, body != nil) || up.tr.guard.quarantined(up.addr)
	a := &attempt{method: rq.method, last: last}
	kept := !last && up.tr.kept.carries(up.scheme, rq.method, body != nil, out.Upgrade)
	req := &http.Request{
		Method:        rq.method,
		URL:           target,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rq.header,
		Host:          out.Host,
		ContentLength: out.ContentLength,
		// "Connection: close" (RFC 9112 §9.6), and no reuse; an upgrade
		// keeps its Connection: Upgrade (the once transport adds no close
		// to it), and a 101 takes the connection out of the pool anyway.
		Close: last && out.Upgrade == "",
	}
	var rb *requestBody
	if body != nil {
		// NopCloser: the transport closes request bodies, and this one
		// belongs to the caller.
		rb = &requestBody{body: body, want: out.ContentLength}
		req.Body = io.NopCloser(rb)
	}
	up.inFlight.Add(1)
	start := time.Now()
	var resp *http.Response
	var cancel context.CancelFunc // ends the exchange
	if kept {
		// The keep-alive pool ends an exchange on its connection itself
		// (keptBody.cancel), and records its steps in a: no context or
		// trace of its own, which cost 6 allocations a miss (#17).
		resp, err = up.tr.kept.roundTrip(ctx, req, up.addr, a)
		if err == nil {
			cancel = resp.Body.(*keptBody).cancel
		}
	} else {
		// The transport reports its steps through a trace (composing
		// traces is made with reflection, a few microseconds a request).
		var reqCtx context.Context
		reqCtx, cancel = context.WithCancel(httptrace.WithClientTrace(ctx, a.trace()))
		req = req.WithContext(reqCtx)
		if last {
			resp, err = up.tr.once.RoundTrip(req)
		} else {
			resp, err = up.tr.keep.RoundTrip(req)
		}
	}
	if err != nil {
		up.inFlight.Add(-1)
		if cancel != nil {
			cancel()
		}
		if ctx.Err() == nil {
			if bodyErr := rb.failed(); bodyErr != nil {
				return nil, bodyFailure(up, bodyErr)
			}
		}
		f := classify(ctx, up, a, err)
		return nil, &f
	}
	up.metrics.responded(start)
	// Counted as the upstream sent them, before the hop-by-hop fields
	// and the invalid names are removed (MaxResponseFields).
	if n := httpsyntax.FieldLines(resp.Header); n > MaxResponseFields {
		resp.Body.Close()
		cancel()
		up.inFlight.Add(-1)
		return nil, &failure{err: wrapAt(up, ErrProtocol, fmt.Errorf("response has %d header field lines, more than %d", n, MaxResponseFields))}
	}
	if resp.Close {
		// net/http deleted the Connection field for its "close"; the
		// other fields it named are hop-by-hop all the same.
		for _, name := range a.connectionNames() {
			resp.Header.Del(name)
		}
	}
	c.cleanResponseHeader(resp)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if out.Upgrade == "" {
			// RFC 9110 §15.2.2: a server switches only to a protocol the
			// request asked for. The connection speaks something else now;
			// net/http would hand it over as the body, to be read until
			// the upstream closes it.
			resp.Body.Close()
			cancel()
			up.inFlight.Add(-1)
			return nil, &failure{err: wrapAt(up, ErrProtocol, errors.New("101 (Switching Protocols) to a request that asked for no upgrade"))}
		}
		if err := upgraded(resp, up.base, func() { cancel(); up.inFlight.Add(-1) }); err != nil {
			return nil, &failure{err: err}
		}
		return resp, nil
	}
	resp.Body = newIdleBody(ctx, up.base, resp.Body, up.bodyIdle, cancel, &up.inFlight)
	return resp, nil
}

// attempt records how far one exchange got. The transport may dial in
// another goroutine, hence the atomics.
type attempt struct {
	method  string
	last    bool        // the connection must carry nothing after this request
	getConn atomic.Bool // the request passed validation and asked for a connection
	gotConn atomic.Bool // a connection was obtained (dial and TLS done)
	tlsErr  atomic.Bool // a TLS handshake failed
	conn    atomic.Pointer[upConn]
}

// connectionNames returns what the response's Connection fields listed,
// as the connection's framer read them; nil when it is not an upConn.
func (a *attempt) connectionNames() []string {
	if uc := a.conn.Load(); uc != nil {
		return uc.connectionNames()
	}
	return nil
}

func (a *attempt) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { a.getConn.Store(true) },
		GotConn: func(info httptrace.GotConnInfo) {
			a.gotConn.Store(true)
			if uc, ok := info.Conn.(*upConn); ok {
				a.conn.Store(uc)
			}
			expectResponse(info.Conn, a.method, a.last)
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				a.tlsErr.Store(true)
			}
		},
	}
}
