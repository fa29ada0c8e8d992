package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// Client forwards requests to the origin or to origin shields. It is safe for
// concurrent use; create it with [New] and release it with [Client.Close].
type Client struct {
	opts       Options
	transport  *http.Transport
	origin     *upstream   // nil when only shields are configured
	originOnly []*upstream // the candidate list when there are no shields
	shields    []*upstream
	viaRequest string // "1.1 <Via>", the Via entry added to requests
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
	// with a body is sent to one upstream only (no failover).
	Body io.Reader
	// ContentLength is the body length; -1 means unknown (chunked).
	ContentLength int64
	// ClientIP is the client's address, "ip" or "ip:port", appended to
	// X-Forwarded-For. "" adds nothing.
	ClientIP string
	// Proto is the scheme the client used, "http" or "https", sent as
	// X-Forwarded-Proto.
	Proto string
	// Key is the cache key; it picks the shield, the same one for every
	// request with this key on every node.
	Key string
}

// New validates opts and returns a Client. Errors name the offending option.
func New(opts Options) (*Client, error) {
	errs := []error{opts.validate()}
	opts = opts.withDefaults()
	c := &Client{opts: opts, viaRequest: "1.1 " + opts.Via}
	if opts.Origin != "" {
		up, err := parseUpstream("Origin", opts.Origin)
		errs = append(errs, err)
		c.origin, c.originOnly = up, []*upstream{up}
	}
	seen := make(map[string]bool, len(opts.Shields))
	for i, raw := range opts.Shields {
		option := fmt.Sprintf("Shields[%d]", i)
		if seen[raw] {
			errs = append(errs, fmt.Errorf("origin: option %s: duplicate shield %q", option, raw))
			continue
		}
		seen[raw] = true
		up, err := parseUpstream(option, raw)
		errs = append(errs, err)
		c.shields = append(c.shields, up)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.transport = newTransport(opts)
	return c, nil
}

// newTransport builds the one connection pool shared by all upstreams.
func newTransport(opts Options) *http.Transport {
	dialer := &net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	var tlsConf *tls.Config
	if opts.TLSClientConfig != nil {
		tlsConf = opts.TLSClientConfig.Clone()
	}
	return &http.Transport{
		Proxy:               nil, // upstreams are reached directly, never via $HTTP_PROXY
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: opts.ConnectTimeout,
		// HTTP/1.1 upstream: keep-alive pools sized per server, like nginx.
		ForceAttemptHTTP2: false,
		// Never ask for gzip on the client's behalf: the client's own
		// Accept-Encoding decides what the origin sends and what is cached.
		DisableCompression:     true,
		MaxIdleConnsPerHost:    opts.MaxIdlePerHost,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  opts.HeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		ReadBufferSize:         32 << 10,
		WriteBufferSize:        32 << 10,
	}
}

// Close closes idle upstream connections. In-flight exchanges finish.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

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

// candidates is the selection step: the upstreams to try for key, in order.
func (c *Client) candidates(key string) []*upstream {
	if len(c.shields) == 0 {
		return c.originOnly
	}
	order := rendezvous(key, c.shields)
	if c.opts.ShieldFallback {
		order = append(order, c.origin)
	}
	return order
}

// Do sends out upstream and returns the response, whose Header has been
// cleaned (hop-by-hop fields removed) and carries this node's Via. The caller
// must close the body.
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
	if !isToken(method) {
		return nil, fmt.Errorf("origin: invalid method %q", method)
	}
	header := c.forwardHeader(out)
	// Only a request without a body can be replayed elsewhere.
	replayable := out.Body == nil || out.Body == http.NoBody
	candidates := c.candidates(out.Key)
	for i, up := range candidates {
		resp, f := c.try(ctx, up, method, out, header)
		if f == nil {
			return resp, nil
		}
		last := i == len(candidates)-1
		if last || !f.connPhase || !replayable || ctx.Err() != nil {
			return nil, f.err
		}
		c.opts.Logger.Warn("upstream unreachable, trying next",
			"upstream", up.base, "next", candidates[i+1].base, "err", f.err)
	}
	panic("origin: no upstream candidates") // New guarantees at least one
}

// try performs one exchange with up. On success the response body owns the
// exchange's context and releases it on Close.
func (c *Client) try(ctx context.Context, up *upstream, method string, out *Outbound, header http.Header) (*http.Response, *failure) {
	target, err := up.targetURL(out.RequestURI)
	if err != nil {
		return nil, &failure{err: err}
	}
	a := new(attempt)
	reqCtx, cancel := context.WithCancel(httptrace.WithClientTrace(ctx, a.trace()))
	req := (&http.Request{
		Method:        method,
		URL:           target,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Host:          out.Host,
		ContentLength: out.ContentLength,
	}).WithContext(reqCtx)
	if out.Body != nil && out.Body != http.NoBody {
		// NopCloser: the transport closes request bodies, and this one
		// belongs to the caller.
		req.Body = io.NopCloser(out.Body)
	}
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		cancel()
		f := classify(ctx, up.base, a, err)
		return nil, &f
	}
	c.cleanResponseHeader(resp)
	resp.Body = newIdleBody(ctx, up.base, resp.Body, c.opts.BodyTimeout, cancel)
	return resp, nil
}

// attempt records how far one exchange got. The transport may dial in
// another goroutine, hence the atomics.
type attempt struct {
	getConn atomic.Bool // the request passed validation and asked for a connection
	gotConn atomic.Bool // a connection was obtained (dial and TLS done)
	tlsErr  atomic.Bool // a TLS handshake failed
}

func (a *attempt) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { a.getConn.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { a.gotConn.Store(true) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				a.tlsErr.Store(true)
			}
		},
	}
}
