package origin

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/promreg"
)

// When an upstream connection may carry another request. HTTP/1.1 pairs
// responses with requests by order alone, so a response the upstream sends
// that no request asked for is read as the answer to the next request
// written on the connection. upConn catches every such byte that arrives
// before that request is written; what arrives after it cannot be told
// from its answer. Reuse is therefore refused where an upstream is known
// or can be made to answer out of turn:
//
//   - after a request with a body, or with a method that is not safe (RFC
//     9110 §9.2.1: GET, HEAD, OPTIONS, TRACE): an origin endpoint that ignores the body reads it as a request
//     of its own (a CL.0 desync) and answers it too, late when it is slow;
//     a client controls that body;
//   - for a while after a server sent bytes no request asked for (on any
//     of its connections): it has shown it answers out of turn.
//
// Such a request gets a new connection of its own, sent with "Connection:
// close" (RFC 9112 §9.6), which carries nothing after it (transports.once).

// quarantineFor is how long a server that sent bytes no request asked for
// gets a new connection for every request. Every new offence starts it
// again.
const quarantineFor = 5 * time.Minute

// singleUse reports whether a request may not be followed by another on
// its connection: it has a body, or a method that is not safe (RFC 9110
// §9.2.1). Unsafe methods have effects, which is where origins misframe
// requests and answer out of turn; safe ones without a body are handled
// like GET (a CORS preflight OPTIONS keeps its connection).
func singleUse(method string, hasBody bool) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return hasBody
	}
	return true
}

// reuseGuard is what the connections of one transport share: the servers
// in quarantine, and the counters of connections discarded for
// unsolicited bytes. A nil *reuseGuard quarantines nothing.
type reuseGuard struct {
	now     func() time.Time
	metrics *connMetrics // nil records nothing

	mu     sync.Mutex           // guards until
	until  map[string]time.Time // by dial address (host:port): end of quarantine
	counts atomic.Int64         // len(until), read without mu on every request
}

func newReuseGuard(m *connMetrics) *reuseGuard {
	return &reuseGuard{now: time.Now, metrics: m, until: make(map[string]time.Time)}
}

// quarantine stops reuse of connections to addr for quarantineFor. Its
// idle connections are not closed here (net/http may have put one back
// just before handing its response over, and would fail that exchange):
// they refuse their next request (upConn.startRequest), which the
// transport retries on a new connection.
func (g *reuseGuard) quarantine(addr string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	now := g.now()
	if _, ok := g.until[addr]; !ok && len(g.until) >= maxQuarantined {
		g.shrink(now)
	}
	g.until[addr] = now.Add(quarantineFor)
	g.counts.Store(int64(len(g.until)))
	g.mu.Unlock()
}

// maxQuarantined bounds the servers in quarantine at once. A forward
// proxy's servers are whatever its clients name: a client whose server
// sends a byte too many on every port of forward.http_ports (or on every
// address of an IPv6 network) added an entry for each, kept until a
// request to that address after its end, so for good. A var for tests.
var maxQuarantined = 1 << 14

// shrink makes room in a full g.until: the quarantines that ended go, and
// if that is not an eighth of them, others, whichever the map yields
// first. A server let out early gets keep-alive again until its next
// offence, which quarantines it anew; the reverse roles' servers are
// configured, far fewer than the bound. g.mu is held.
func (g *reuseGuard) shrink(now time.Time) {
	for addr, end := range g.until {
		if !now.Before(end) {
			delete(g.until, addr)
		}
	}
	for addr := range g.until {
		if len(g.until) < maxQuarantined-maxQuarantined/8 {
			break
		}
		delete(g.until, addr)
	}
}

// quarantined reports whether connections to addr must not be reused.
func (g *reuseGuard) quarantined(addr string) bool {
	if g == nil || g.counts.Load() == 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	end, ok := g.until[addr]
	if ok && !g.now().Before(end) {
		delete(g.until, addr)
		g.counts.Store(int64(len(g.until)))
		return false
	}
	return ok
}

// Why an upstream connection was discarded for bytes it received: the
// reason label of edged_origin_discarded_connections_total.
const (
	// discardOverrun: bytes followed a response in the read that ended it,
	// not starting a response (a body longer than its Content-Length, a
	// body after a HEAD, 204 or 304 answer). The response was served as
	// framed (RFC 9112 §6.3).
	discardOverrun = "overrun"
	// discardSecondResponse: a response followed another in one read; the
	// first was refused, since the two may be out of turn.
	discardSecondResponse = "second_response"
	// discardUnsolicited: bytes arrived while no request was outstanding.
	discardUnsolicited = "unsolicited"
)

// connMetrics count upstream connections discarded for bytes no request
// asked for. A nil *connMetrics records nothing.
type connMetrics struct {
	discarded *prometheus.CounterVec // by pool, reason
	bytes     prometheus.Counter     // bytes seen past a response's end
}

// newConnMetrics registers the counters for pool on reg; nil reg means none.
func newConnMetrics(reg prometheus.Registerer, pool string) (*connMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	discarded, err := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_origin_discarded_connections_total",
		Help: "Upstream connections discarded because they received bytes no request asked for, by reason: overrun (after a response, which was served), second_response (a response after a response, which was refused), unsolicited (while no request was outstanding).",
	}, []string{"pool", "reason"}))
	if err != nil {
		return nil, err
	}
	bytes, err := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_origin_discarded_bytes_total",
		Help: "Bytes received on upstream connections past the end of a response, discarded with the connection (those read before it was closed).",
	}, []string{"pool"}))
	if err != nil {
		return nil, err
	}
	return &connMetrics{discarded: discarded.MustCurryWith(prometheus.Labels{"pool": pool}), bytes: bytes.WithLabelValues(pool)}, nil
}

func (m *connMetrics) discard(reason string, n int) {
	if m == nil {
		return
	}
	m.discarded.WithLabelValues(reason).Inc()
	m.bytes.Add(float64(n))
}

// dialAddr is the address net/http dials for a URL's host: host:port with
// the scheme's default port (net/http's canonicalAddr, for ASCII hosts).
func dialAddr(scheme, host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(trimBrackets(host), port)
}

// trimBrackets removes the brackets of an IPv6 literal host.
func trimBrackets(host string) string {
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1]
	}
	return host
}
