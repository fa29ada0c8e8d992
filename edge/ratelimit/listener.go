package ratelimit

import (
	"io"
	"net"
	"sync"
)

// LimitListener returns a listener that has at most max connections open at
// once: Accept waits for a slot before accepting, so excess connections wait
// in the kernel backlog rather than being accepted and dropped. A slot is
// freed when the connection is closed. max must be at least 1.
func LimitListener(l net.Listener, max int) net.Listener {
	return &limitListener{
		Listener: l,
		sem:      make(chan struct{}, max),
		done:     make(chan struct{}),
	}
}

type limitListener struct {
	net.Listener
	sem       chan struct{} // one token per open connection
	done      chan struct{} // closed by Close, to unblock a waiting Accept
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		// Closed while waiting: the inner Accept fails at once with the
		// listener's own "closed" error, which servers know to expect.
		return l.Listener.Accept()
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn frees its slot on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Unwrap returns the connection underneath. limitConn holds no bytes of
// its own, so a caller (the forward proxy's spliced CONNECT tunnel) may
// read and write it directly; it must still Close c to free the slot.
func (c *limitConn) Unwrap() net.Conn { return c.Conn }

// ReadFrom reaches the connection underneath's, so that a body sent from a
// file keeps sendfile(2) (net/http's response.ReadFrom needs its
// connection to be an io.ReaderFrom).
func (c *limitConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
