package main

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/acme"
	"edged/edge/strictconn"
)

// tlsListener is the HTTPS listener: it does the TLS handshake itself, so
// that an HTTP/1 connection can be handed to net/http through
// strictconn.Wrap (refusing ambiguous framing, docs/security.md) while an
// HTTP/2 one is handed over as the *tls.Conn that net/http needs to serve
// it. net/http would otherwise do the handshake on a connection it only
// gets from Accept, too late to wrap it.
//
// Each handshake runs in its own goroutine, bounded by a timeout, so a
// client that connects and sends nothing holds up no one else; Accept
// returns connections in the order their handshakes finish. The listener
// under it keeps its job: the PROXY protocol header is read by the first
// read of the handshake, and max_connections counts connections from
// accept to close, handshake included.
type tlsListener struct {
	inner          net.Listener
	cfg            *tls.Config
	timeout        time.Duration // bounds a handshake, PROXY header included
	maxHeaderBytes int
	log            *slog.Logger
	failures       prometheus.Counter

	ready chan acceptResult // to Accept: handshaken connections and the inner listener's errors
	done  chan struct{}     // closed by Close

	mu      sync.Mutex
	started bool                  // the accept loop runs
	closed  bool                  // Close was called
	pending map[net.Conn]struct{} // connections in their handshake; Close closes them
	wg      sync.WaitGroup        // the accept loop and the handshakes
}

type acceptResult struct {
	conn net.Conn
	err  error
}

// defaultHandshakeTimeout bounds handshakes when the server has no
// ReadHeaderTimeout (the configuration requires one; this is a backstop).
const defaultHandshakeTimeout = 10 * time.Second

// newTLSListener serves TLS with cfg on inner. timeout bounds each
// handshake; maxHeaderBytes is the server's MaxHeaderBytes, for
// strictconn.Wrap. failures counts failed handshakes (nil: not counted).
func newTLSListener(inner net.Listener, cfg *tls.Config, timeout time.Duration, maxHeaderBytes int, log *slog.Logger, failures prometheus.Counter) *tlsListener {
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	return &tlsListener{
		inner: inner, cfg: cfg, timeout: timeout, maxHeaderBytes: maxHeaderBytes, log: log, failures: failures,
		ready: make(chan acceptResult), done: make(chan struct{}), pending: make(map[net.Conn]struct{}),
	}
}

// Accept returns the next connection whose handshake succeeded: a
// *tls.Conn when ALPN chose h2, otherwise the *tls.Conn wrapped by
// strictconn.Wrap (which keeps its ConnectionState, so that net/http still
// sets Request.TLS).
func (l *tlsListener) Accept() (net.Conn, error) {
	// Started on the first Accept rather than at construction: by then
	// http.Server.Serve has configured HTTP/2, and nothing is accepted
	// for a server that never serves.
	l.start()
	select {
	case r := <-l.ready:
		if r.conn != nil && l.isClosed() {
			// Close won the race: the caller must not start serving it.
			_ = r.conn.Close()
			return nil, net.ErrClosed
		}
		return r.conn, r.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting, closes the connections still in their handshake
// and waits for the listener's goroutines to end. Connections already
// returned by Accept belong to the caller (http.Server.Shutdown drains them).
func (l *tlsListener) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
		for c := range l.pending {
			_ = c.Close() // the handshake fails at once
		}
	}
	l.mu.Unlock()
	err := l.inner.Close()
	l.wg.Wait()
	return err
}

func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }

func (l *tlsListener) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *tlsListener) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.closed {
		return
	}
	l.started = true
	l.wg.Add(1)
	go l.acceptLoop()
}

// acceptLoop accepts until Close. An error of the inner listener goes to
// Accept's caller, which decides: http.Server.Serve retries a temporary
// one after a pause (the loop waits for its next Accept meanwhile), and on
// any other it returns and closes the listener, which ends the loop.
func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if l.isClosed() {
				return
			}
			select {
			case l.ready <- acceptResult{err: err}:
				continue
			case <-l.done:
				return
			}
		}
		if !l.track(c) {
			_ = c.Close()
			return
		}
		go l.handshake(c)
	}
}

// track records c as in its handshake, unless the listener is closed.
// The WaitGroup is added to under the lock, so never after Close's Wait.
func (l *tlsListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.pending[c] = struct{}{}
	l.wg.Add(1)
	return true
}

// untrack ends c's handshake; it reports whether the listener is still open.
func (l *tlsListener) untrack(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, c)
	return !l.closed
}

// handshake runs the TLS handshake on c and hands the connection to Accept.
func (l *tlsListener) handshake(c net.Conn) {
	defer l.wg.Done()
	// The deadline, not a context: it bounds the PROXY header read too, and
	// needs no goroutine of its own. net/http sets its own deadlines once
	// it has the connection.
	_ = c.SetDeadline(time.Now().Add(l.timeout))
	tc := tls.Server(c, l.cfg)
	err := tc.Handshake()
	if !l.untrack(c) {
		_ = c.Close() // closed by Close: not a client's failure
		return
	}
	if err != nil {
		l.handshakeFailed(c, err)
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == acme.ALPNProto {
		// A CA's tls-alpn-01 validation: RFC 8737 §3 says the handshake
		// is all; no HTTP follows.
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	var conn net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		// HTTP/1.1, by ALPN or by default (no ALPN).
		conn = strictconn.Wrap(tc, l.maxHeaderBytes)
	}
	select {
	case l.ready <- acceptResult{conn: conn}:
	case <-l.done:
		_ = c.Close()
	}
}

// handshakeFailed closes c after a failed handshake. Failures are the
// clients' doing (scanners, timeouts, old TLS versions, unknown ALPN), so
// they are counted and logged at debug level only. Like net/http, a client
// that spoke plain HTTP to the HTTPS port is told so.
func (l *tlsListener) handshakeFailed(c net.Conn, err error) {
	defer c.Close()
	if l.failures != nil {
		l.failures.Inc()
	}
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) && rhe.Conn != nil && looksLikeHTTP(rhe.RecordHeader) {
		_, _ = io.WriteString(rhe.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
	}
	l.log.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
}

// looksLikeHTTP reports whether the first five bytes of a connection look
// like an HTTP/1 request (net/http's test for the same answer).
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}
