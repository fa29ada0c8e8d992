package main

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/ratelimit"
)

// What open connections cost is memory no other budget counts: a goroutine
// and read buffer each, a TLS connection's state, a request head of up to
// server.max_header_bytes sent slowly, an HTTP/2 connection's running
// streams. Without a cap, 19,000 idle keep-alive connections took a node
// with cache.memory 64MiB to 238 MiB of anonymous memory, 5,000 slow heads
// to 311 MiB, 100 HTTP/2 connections with 100 stalled streams each to 466
// MiB (docs/security.md, "Memory"). So the public and TLS listeners share
// one cap, server.max_connections, derived from cache.memory unless set
// (config.Config.MaxConnections), and the HTTP/2 streams whose handlers
// run at once share another of the same size.

// connLimit is the node's one cap on the public and TLS listeners'
// connections, made on first use.
func (n *node) connLimit() *ratelimit.ConnLimit {
	if n.conns == nil {
		n.conns = ratelimit.NewConnLimit(n.cfg.MaxConnections(), n.connectionsFull)
		n.streams = newStreamLimit(n.cfg.MaxConnections())
	}
	return n.conns
}

// connectionsFull is called when a client arrives with every slot taken.
// It makes room as nginx does when it runs out, by closing an idle
// keep-alive connection, so that connections held open and unused (cheap
// for an attacker with many source ports) do not lock new clients out for
// server.idle_timeout; with none idle, it closes the connection that has
// been reading a request head the longest, if for slowHeadAge at least
// (slowloris), rather than keep new clients waiting up to
// server.read_header_timeout. Otherwise the client waits in the kernel's
// backlog until a connection closes. The operator is told either way (at
// most once every 10 s).
func (n *node) connectionsFull() {
	switch {
	case n.fast.CloseIdle(1) > 0, n.tracked.closeIdle():
		n.idleClosed.Add(1)
	case n.fast.CloseSlowHead(slowHeadAge), n.tracked.closeSlowHead(slowHeadAge):
		n.headClosed.Add(1)
	}
	if n.connLog.due(time.Now()) {
		n.log.Warn("connections: server.max_connections reached; an idle keep-alive connection or the slowest request head is closed to make room, or with neither new connections wait in the kernel's backlog until one closes (docs/security.md, Memory)",
			"open", n.conns.Open(), "max_connections", n.conns.Max(), "waits_total", n.conns.Full(),
			"idle_closed_total", n.idleClosed.Load(), "slow_heads_closed_total", n.headClosed.Load())
	}
}

// slowHeadAge is the least time a connection must have spent on a request
// head before connectionsFull closes it: a client's head comes within a
// round trip.
const slowHeadAge = time.Second

// trackedConns are the connections of the net/http servers that wait for
// a request (http.Server.ConnState): idle between requests (an HTTP/1.1
// keep-alive, an HTTP/2 connection without streams) or new, before their
// first request, for connectionsFull to close one.
type trackedConns struct {
	mu    sync.Mutex
	idle  map[net.Conn]struct{}
	fresh map[net.Conn]time.Time // StateNew, since when
}

// track is an http.Server's ConnState.
func (tc *trackedConns) track(c net.Conn, st http.ConnState) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.idle == nil {
		tc.idle, tc.fresh = make(map[net.Conn]struct{}), make(map[net.Conn]time.Time)
	}
	delete(tc.fresh, c)
	delete(tc.idle, c)
	switch st {
	case http.StateIdle:
		tc.idle[c] = struct{}{}
	case http.StateNew:
		tc.fresh[c] = time.Now()
	}
}

// closeIdle closes one idle connection, if there is one.
func (tc *trackedConns) closeIdle() bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for c := range tc.idle {
		delete(tc.idle, c)
		closeAside(c)
		return true
	}
	return false
}

// closeAside closes c without waiting for it: a *tls.Conn's Close first
// sends close_notify, which waits up to 5 s for room in the send buffer
// of a client that reads nothing, and the caller holds tc.mu (which every
// ConnState of the node's net/http servers takes) in the Accept loop. The
// slot frees when the Close is done; the waiting client asks again.
func closeAside(c net.Conn) { go func() { _ = c.Close() }() }

// closeSlowHead closes the connection that has waited longest for its
// first request, if for minAge at least.
func (tc *trackedConns) closeSlowHead(minAge time.Duration) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	var oldest net.Conn
	var since time.Time
	for c, t := range tc.fresh {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest == nil || time.Since(since) < minAge {
		return false
	}
	delete(tc.fresh, oldest)
	closeAside(oldest)
	return true
}

// registerConnMetrics exports the caps' state.
func (n *node) registerConnMetrics(reg prometheus.Registerer) {
	lim, streams := n.connLimit(), n.streams
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edged_connections_open",
			Help: "Client connections open on the public and TLS listeners (TLS handshakes included).",
		}, func() float64 { return float64(lim.Open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edged_connections_max",
			Help: "The cap on open client connections (server.max_connections, or derived from cache.memory).",
		}, func() float64 { return float64(lim.Max()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edged_connections_waits_total",
			Help: "New connections that arrived with every slot taken (each makes an idle one close, or waits for a slot).",
		}, func() float64 { return float64(lim.Full()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edged_connections_idle_closed_total",
			Help: "Idle keep-alive connections closed to make room for a new one at the cap on connections.",
		}, func() float64 { return float64(n.idleClosed.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edged_connections_slow_heads_closed_total",
			Help: "Connections closed at the cap on connections, none being idle, because they had been reading a request head the longest (1 s at least).",
		}, func() float64 { return float64(n.headClosed.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edged_http2_streams_refused_total",
			Help: "HTTP/2 requests answered 503 because as many HTTP/2 streams as server.max_connections were running.",
		}, func() float64 { return float64(streams.refused.Load()) }),
	)
}

// streamLimit caps the HTTP/2 streams whose handlers run at once, over
// every connection: each holds what an HTTP/1.1 request does (a goroutine,
// its buffers, a response under way), and one connection may open
// http2MaxConcurrentStreams of them, so the connection cap alone bounds
// nothing. A stream past the cap is answered 503 at once.
type streamLimit struct {
	sem     chan struct{}
	refused atomic.Int64
}

func newStreamLimit(max int) *streamLimit {
	return &streamLimit{sem: make(chan struct{}, max)}
}

// limitStreams answers an HTTP/2 request 503 (Retry-After: 1) when the
// node runs as many HTTP/2 streams as it may; HTTP/1 requests pass (a
// connection runs one at a time, and the connection cap counts it).
func (n *node) limitStreams(next http.Handler) http.Handler {
	l := n.streams
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case l.sem <- struct{}{}:
		default:
			l.refused.Add(1)
			if n.streamLog.due(time.Now()) {
				n.log.Warn("connections: as many HTTP/2 streams run as server.max_connections allows; new ones are answered 503 (docs/security.md, Memory)",
					"max", cap(l.sem), "refused_total", l.refused.Load())
			}
			// No body: a HEADERS frame is not flow-controlled (RFC 9113
			// §6.9), so the answer goes out and the stream ends at once even
			// to a client that grants no window, and holds nothing; with a
			// body, a client that reads nothing kept every refused stream's
			// state (1.2 MiB per connection of 100 streams).
			h := w.Header()
			h.Set("Retry-After", "1")
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Length", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		defer func() { <-l.sem }()
		next.ServeHTTP(w, r)
	})
}

// logEvery lets a repeated warning through at most once per 10 s.
type logEvery struct{ next atomic.Int64 }

func (l *logEvery) due(now time.Time) bool {
	next := l.next.Load()
	if now.UnixNano() < next {
		return false
	}
	return l.next.CompareAndSwap(next, now.Add(10*time.Second).UnixNano())
}
