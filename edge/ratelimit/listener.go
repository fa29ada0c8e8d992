package ratelimit

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// LimitListener returns a listener that has at most max connections open at
// once: at the limit, Accept takes one client from the backlog and waits
// with it for a slot; further connections wait in the kernel backlog
// rather than being accepted and dropped. A slot is
// freed when the connection is closed. max must be at least 1.
func LimitListener(l net.Listener, max int) net.Listener {
	return NewConnLimit(max, nil).Listen(l)
}

// ConnLimit is one cap on the connections open at once over any number of
// listeners (a node's plain and TLS listeners share one: what the cap
// bounds is the memory connections hold, which is the process's).
type ConnLimit struct {
	sem    chan struct{} // one token per open connection
	full   atomic.Int64  // Accepts that found every slot taken
	onFull func()        // called by such an Accept before it waits
}

// NewConnLimit returns a cap of max connections (at least 1). onFull, when
// not nil, is called each time a client arrives while every slot is
// taken, before it waits for one, and again every 250 ms while it waits:
// the caller's log line and metric (so that a node at its cap never makes
// clients wait silently), or room it makes by closing a connection.
func NewConnLimit(max int, onFull func()) *ConnLimit {
	return &ConnLimit{sem: make(chan struct{}, max), onFull: onFull}
}

// Listen returns l under the cap: its Accept waits for a slot, as
// LimitListener's.
func (c *ConnLimit) Listen(l net.Listener) net.Listener {
	return &limitListener{Listener: l, lim: c, done: make(chan struct{})}
}

// Open is the number of connections holding a slot now.
func (c *ConnLimit) Open() int { return len(c.sem) }

// Max is the cap.
func (c *ConnLimit) Max() int { return cap(c.sem) }

// Full is the number of clients that arrived with every slot taken and
// waited.
func (c *ConnLimit) Full() int64 { return c.full.Load() }

type limitListener struct {
	net.Listener
	lim       *ConnLimit
	done      chan struct{} // closed by Close, to unblock a waiting Accept
	closeOnce sync.Once
}

// Accept takes the next client from the backlog, then waits for a slot
// for it: the slots count connections, not Accepts under way (several
// listeners share them), and onFull is about a client that waits.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.lim.sem <- struct{}{}:
		return l.wrap(c), nil
	default:
	}
	l.lim.full.Add(1)
	var again <-chan time.Time // onFull's next call while the client waits
	for {
		if l.lim.onFull != nil {
			l.lim.onFull()
			again = time.After(fullRetry)
		}
		select {
		case l.lim.sem <- struct{}{}:
			return l.wrap(c), nil
		case <-again:
		case <-l.done:
			// Closed while waiting: the inner Accept fails at once with the
			// listener's own "closed" error, which servers know to expect.
			_ = c.Close()
			return l.Listener.Accept()
		}
	}
}

// fullRetry is how often onFull is called again while a client waits:
// what it could not close before (a head not yet slow) it may close now.
const fullRetry = 250 * time.Millisecond

func (l *limitListener) wrap(c net.Conn) net.Conn {
	return &limitConn{Conn: c, release: func() { <-l.lim.sem }}
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
