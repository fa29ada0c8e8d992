// Package halfclose keeps net/http from taking a client's half-close for a
// departure.
//
// While a handler runs, net/http reads one byte of its connection in the
// background, and cancels the request's context when that read fails, an
// end of stream included. A client that half-closes its side after its
// request (printf ... | nc -N; some load balancers' health checks) then
// gets no answer, though RFC 9112 §9.6 makes a half-close no sign the
// client lost interest (httpwg/http-core#22). A connection that answers
// that read's end of stream with Hold.Wait instead holds it until net/http
// ends it (a read deadline in the past, set when the handler returns; the
// timeout error is then ignored) or the connection closes. The next read
// finds the end of stream again and ends the connection. A reset, or any
// other error, still reaches net/http at once, and a failed write still
// cancels the request.
//
// The price: a client that closes both its sides without a reset (a
// killed curl) is seen only when its answer cannot be written.
package halfclose

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// BackgroundEOF reports whether a read of p that returned err (and no
// bytes) is net/http's background read finding the client's end of
// stream: net/http reads one byte only there (connReader.backgroundRead).
// A caller that frames requests should also check that no request is
// under way (a head or body half read).
func BackgroundEOF(p []byte, n int, err error) bool {
	return n == 0 && len(p) == 1 && errors.Is(err, io.EOF)
}

// Hold holds reads at an end of stream until the read deadline passes or
// the connection closes. Its zero value is ready; the connection must
// report its read deadlines (SetReadDeadline, SetDeadline) and its Close.
type Hold struct {
	mu       sync.Mutex    // guards the fields below
	deadline time.Time     // the read deadline last set
	wake     chan struct{} // closed when deadline changes or the conn closes; nil if no read waits
	closed   bool
}

// SetDeadline records the connection's read deadline.
func (h *Hold) SetDeadline(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deadline = t
	h.wakeLocked()
}

// Close records that the connection closed.
func (h *Hold) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.wakeLocked()
}

func (h *Hold) wakeLocked() {
	if h.wake != nil {
		close(h.wake)
		h.wake = nil
	}
}

// Wait returns when the read deadline has passed (os.ErrDeadlineExceeded,
// a net.Error whose Timeout is true) or the connection closed
// (net.ErrClosed).
func (h *Hold) Wait() error {
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return net.ErrClosed
		}
		deadline := h.deadline
		wake := make(chan struct{})
		h.wake = wake
		h.mu.Unlock()
		if deadline.IsZero() {
			<-wake
			continue
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(wait)
		select {
		case <-wake:
			t.Stop()
		case <-t.C:
			return os.ErrDeadlineExceeded
		}
	}
}

// Conn is a connection whose end of stream, found by net/http's
// background read, is held (see the package doc). A wrapper above it that
// reads for net/http in its own buffers (edge/strictconn) calls HoldEOF
// itself when it finds the end of stream for net/http's background read.
type Conn struct {
	net.Conn
	hold Hold
}

// Wrap returns c with its end of stream held from net/http's background
// read.
func Wrap(c net.Conn) *Conn { return &Conn{Conn: c} }

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if BackgroundEOF(p, n, err) {
		return 0, c.hold.Wait()
	}
	return n, err
}

// HoldEOF holds a read that found the end of stream, as Read does for
// net/http's background read, until the read deadline passes or c closes.
func (c *Conn) HoldEOF() error { return c.hold.Wait() }

func (c *Conn) SetReadDeadline(t time.Time) error {
	c.hold.SetDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *Conn) SetDeadline(t time.Time) error {
	c.hold.SetDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *Conn) Close() error {
	c.hold.Close()
	return c.Conn.Close()
}

// Listener wraps every connection ln accepts with Wrap.
type Listener struct{ net.Listener }

func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

// CloseWrite passes net/http's half-close after an error response to the
// connection underneath, as on a bare *net.TCPConn.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom passes a body sent from a file to the connection underneath, so
// that net/http's sendfile(2) path still applies.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
