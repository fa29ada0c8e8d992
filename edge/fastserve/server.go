package fastserve

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"edged/internal/rawio"
)

// Server serves connections as the package doc says. Set its fields
// before the first call to Serve or Handoffs; they are not changed after.
type Server struct {
	// Handler answers the requests served here. The http.Server serving
	// Handoffs should have the same one.
	Handler http.Handler
	// ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes are
	// http.Server's, and should match the http.Server serving Handoffs.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// ErrorLog receives what net/http would log (a handler's panic, a
	// superfluous WriteHeader); nil: the log package's standard logger.
	ErrorLog *log.Logger

	once      sync.Once
	outs      sync.Pool // of *[]byte: response buffers
	handoffs  *handoffListener
	dates     dateCache
	inShut    atomic.Bool
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	// drained is signalled when the last connection ends.
	drained chan struct{}
	// handedOff counts the connections given to net/http (HandedOff).
	handedOff atomic.Int64
	// watchDelay, when set (tests), replaces the package's watchDelay.
	watchDelay time.Duration
}

// HandedOff returns how many connections this Server handed to net/http.
func (s *Server) HandedOff() int64 { return s.handedOff.Load() }

func (s *Server) init() {
	s.once.Do(func() {
		s.handoffs = newHandoffListener()
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
		s.drained = make(chan struct{}, 1)
	})
}

// Handoffs returns the listener of the connections this Server hands to
// net/http: serve it with an http.Server (wrapped as the public listener
// would be). Its Addr is that of the first listener Serve was given.
func (s *Server) Handoffs() net.Listener {
	s.init()
	return s.handoffs
}

// Serve accepts connections on ln and serves each in its own goroutine
// until ln fails or Shutdown or Close is called; then it returns
// http.ErrServerClosed, or ln's error.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.inShut.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.handoffs.setAddr(ln.Addr())
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.inShut.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of descriptors and the like: net/http's back-off.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logf("http: Accept error: %v; retrying in %v", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := &conn{srv: s, rwc: rwc, raw: rawio.New(rwc), since: time.Now()}
		c.watch.c = c
		if !s.track(c) {
			_ = rwc.Close()
			return http.ErrServerClosed
		}
		go c.serve()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShut.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// forget drops c from the connections Shutdown waits for.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if len(s.conns) == 0 {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}

// Shutdown stops accepting, closes idle connections, and waits for those
// serving a request to finish it, or for ctx to end (then it returns
// ctx's error and leaves them). It does not close Handoffs: the
// http.Server serving it does, in its own Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.inShut.Store(true)
	s.closeListeners()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.drained:
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection this Server serves.
func (s *Server) Close() error {
	s.init()
	s.inShut.Store(true)
	s.closeListeners()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.rwc.Close()
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
}

// closeIdle closes the connections waiting for a request (a new one only
// once it has waited 5 s, as net/http does) and reports whether none is
// left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		switch st := c.state.Load(); {
		case st == stateIdle, st == stateNew && time.Since(c.since) > 5*time.Second:
			_ = c.rwc.Close()
		}
	}
	return len(s.conns) == 0
}

// CloseIdle closes up to n of the connections waiting for their next
// request (keep-alives between requests; a connection that has not sent
// its first request is left alone) and returns how many it closed. It is
// for a node at its cap on connections, which makes room for a new client
// as nginx does by reusing idle keep-alive connections: a client may close
// an idle connection at any time (RFC 9112 §9.3.1), and its HTTP client
// opens another. Which idle connections go is left to the map's order.
func (s *Server) CloseIdle(n int) int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	closed := 0
	for c := range s.conns {
		if closed == n {
			break
		}
		// Taken out of stateIdle first, so that a connection closed here
		// and not yet forgotten by its goroutine is not counted again.
		if c.state.CompareAndSwap(stateIdle, stateActive) {
			_ = c.rwc.Close()
			closed++
		}
	}
	return closed
}

// CloseSlowHead closes the connection that has been reading a request
// head the longest (its first since it was accepted, or a later one since
// its first bytes), if that is at least minAge, and reports whether it
// closed one. It is for a node at its cap on connections with no idle
// connection to close: heads sent slowly (slowloris) would otherwise keep
// new clients waiting for read_header_timeout, while a client's head
// normally arrives within a round trip.
func (s *Server) CloseSlowHead(minAge time.Duration) bool {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest *conn
	var oldestAt int64
	for c := range s.conns {
		var at int64
		switch c.state.Load() {
		case stateNew:
			at = c.since.UnixNano()
		case stateHead:
			at = c.headSince.Load()
		default:
			continue
		}
		if oldest == nil || at < oldestAt {
			oldest, oldestAt = c, at
		}
	}
	if oldest == nil || time.Since(time.Unix(0, oldestAt)) < minAge {
		return false
	}
	st := oldest.state.Load()
	if (st != stateNew && st != stateHead) || !oldest.state.CompareAndSwap(st, stateActive) {
		return false // its head came meanwhile
	}
	_ = oldest.rwc.Close()
	return true
}

// getOut and putOut lend the buffers responses are written through.
func (s *Server) getOut() *[]byte {
	if b, ok := s.outs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, maxOut)
	return &b
}

func (s *Server) putOut(b *[]byte) {
	if cap(*b) > 2*maxOut {
		return // one huge head must not stay
	}
	*b = (*b)[:0]
	s.outs.Put(b)
}

func (s *Server) shuttingDown() bool { return s.inShut.Load() }

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return http.DefaultMaxHeaderBytes
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// dateCache formats the Date field once a second; connections read the
// current text without a lock.
type dateCache struct {
	cur atomic.Pointer[dateText]
}

type dateText struct {
	unix int64
	text []byte
}

func (d *dateCache) append(b []byte) []byte {
	now := time.Now()
	t := d.cur.Load()
	if t == nil || t.unix != now.Unix() {
		t = &dateText{unix: now.Unix(), text: now.UTC().AppendFormat(nil, http.TimeFormat)}
		d.cur.Store(t) // a racing connection may store the same second: harmless
	}
	return append(b, t.text...)
}

// handoffListener yields the connections handed to net/http.
type handoffListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
	addr      atomic.Pointer[net.Addr]
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr {
	if a := l.addr.Load(); a != nil {
		return *a
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
}

func (l *handoffListener) setAddr(a net.Addr) { l.addr.CompareAndSwap(nil, &a) }

// deliver hands c on; it reports false (and c is not taken) once the
// listener is closed.
func (l *handoffListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

// handoffConn is a connection handed to net/http: the bytes this package
// read but did not serve come first.
type handoffConn struct {
	net.Conn
	pending []byte
}

func (c *handoffConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// ReadFrom keeps sendfile(2) for net/http's responses: writes are not
// affected by what was read.
func (c *handoffConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// CloseWrite half-closes, as net/http does before closing a connection
// after an error.
func (c *handoffConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Unwrap returns the connection underneath once every byte read ahead is
// consumed (a tunnel then moves bytes from the socket itself); before,
// nil, so nothing skips them.
func (c *handoffConn) Unwrap() net.Conn {
	if len(c.pending) > 0 {
		return nil
	}
	return c.Conn
}
