package clientip

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"edged/internal/prefixset"
)

// ErrProxyHeaderFromUntrusted reports a PROXY header sent by a peer that is
// not a trusted proxy; the connection is closed.
var ErrProxyHeaderFromUntrusted = errors.New("clientip: PROXY header from an untrusted peer")

// DefaultProxyHeaderTimeout bounds the wait for a PROXY header when Listen is
// given no timeout.
const DefaultProxyHeaderTimeout = 5 * time.Second

// Listen wraps l for the PROXY protocol. Connections from peers in trusted
// must begin with a PROXY header (v1 or v2), read within timeout (zero means
// DefaultProxyHeaderTimeout); its source address becomes the connection's
// RemoteAddr (LOCAL and UNKNOWN headers keep the socket peer). Connections
// from other peers are served unchanged, except that one beginning with a
// PROXY signature is closed; the timeout also bounds the wait for their first
// bytes.
//
// The header is read lazily, by the connection's first Read or RemoteAddr
// call, so a slow client never stalls Accept. A bad header makes
// Read return an error wrapping ErrProxyHeader (or
// ErrProxyHeaderFromUntrusted) and closes the connection.
func Listen(l net.Listener, trusted []netip.Prefix, timeout time.Duration) net.Listener {
	if timeout <= 0 {
		timeout = DefaultProxyHeaderTimeout
	}
	return &proxyListener{Listener: l, trusted: newPrefixSet(trusted), timeout: timeout}
}

type proxyListener struct {
	net.Listener
	trusted prefixset.Set
	timeout time.Duration
}

func (l *proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	peer, _ := parseHostPort(c.RemoteAddr().String())
	return &proxyConn{
		Conn:    c,
		br:      bufio.NewReader(c),
		trusted: l.trusted.Contains(peer),
		timeout: l.timeout,
	}, nil
}

// proxyConn reads the PROXY header once, before anything else is read.
type proxyConn struct {
	net.Conn
	br      *bufio.Reader
	trusted bool
	timeout time.Duration

	once   sync.Once
	err    error    // set by once: the header was bad
	remote net.Addr // set by once: the client per the header, or nil

	mu           sync.Mutex // guards readDeadline
	readDeadline time.Time  // the caller's, restored after the header
}

func (c *proxyConn) Read(p []byte) (int, error) {
	c.once.Do(c.start)
	if c.err != nil {
		return 0, c.err
	}
	return c.br.Read(p)
}

// ReadFrom reaches the connection underneath's, so that a body sent from a
// file keeps sendfile(2) behind a PROXY-protocol balancer (net/http's and
// edge/fastserve's ReadFrom need their connection to be an io.ReaderFrom).
// Only the read side is buffered (the header), so writes may bypass c.
func (c *proxyConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

func (c *proxyConn) RemoteAddr() net.Addr {
	c.once.Do(c.start)
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

func (c *proxyConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *proxyConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// start reads (trusted) or screens for (untrusted) the PROXY header under
// the header timeout, then restores the caller's read deadline.
func (c *proxyConn) start() {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	if c.trusted {
		c.err = c.readHeader()
	} else {
		c.err = c.screen()
	}
	if c.err != nil {
		_ = c.Conn.Close()
		return
	}
	c.mu.Lock()
	d := c.readDeadline
	c.mu.Unlock()
	_ = c.Conn.SetReadDeadline(d)
}

func (c *proxyConn) readHeader() error {
	h, err := readProxyHeader(c.br)
	if err != nil {
		return fmt.Errorf("from %s: %w", c.Conn.RemoteAddr(), err)
	}
	if !h.local {
		c.remote = net.TCPAddrFromAddrPort(h.src)
	}
	return nil
}

// screen refuses a connection from an untrusted peer that starts with a
// PROXY signature; it reads no further than the bytes needed to decide.
func (c *proxyConn) screen() error {
	for n := 1; n <= len(sigV2); n++ {
		b, err := c.br.Peek(n)
		if err != nil {
			// Let the application see the EOF or timeout itself, with the
			// bytes that did arrive.
			return nil
		}
		maybe, complete := startsLikeProxyHeader(b)
		if !maybe {
			return nil
		}
		if complete {
			return fmt.Errorf("from %s: %w", c.Conn.RemoteAddr(), ErrProxyHeaderFromUntrusted)
		}
	}
	return nil
}
