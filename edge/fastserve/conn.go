package fastserve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one client connection while this package serves it.
type conn struct {
	srv        *Server
	rwc        net.Conn
	remoteAddr string
	// state is stateNew, stateActive or stateIdle (Shutdown closes idle
	// connections).
	state atomic.Int32
	since time.Time // when the connection was accepted

	// in holds what was read from the client: in[pos:] is unread.
	in  []byte
	pos int
	// out is the response bytes not yet written; werr the first write
	// error, after which nothing more is written.
	out  []byte
	werr error
	iov  net.Buffers // out and a large body in one writev(2)

	res     response
	keys    []string // appendFields's sorting space
	exclude []string // writeHead's fields to leave out

	// watch reads the connection while a handler runs, to tell the
	// request's context the client left (see reqContext.Done).
	watch watcher
}

const (
	stateNew int32 = iota
	stateActive
	stateIdle
)

// readBuffer is the size a connection's input starts with; it grows to
// hold a longer head, up to MaxHeaderBytes.
const readBuffer = 4 << 10

// maxOut is the most of a response kept before it is written: a larger
// body goes out in the same writev(2) as what precedes it, uncopied.
const maxOut = 8 << 10

func (c *conn) serve() {
	var handedOff bool
	defer func() {
		if err := recover(); err != nil && err != http.ErrAbortHandler {
			const size = 64 << 10
			buf := make([]byte, size)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logf("http: panic serving %v: %v\n%s", c.remoteAddr, err, buf)
		}
		if !handedOff {
			c.watch.stop()
			_ = c.rwc.Close()
			c.srv.forget(c)
		}
	}()
	if ra := c.rwc.RemoteAddr(); ra != nil {
		c.remoteAddr = ra.String()
	}
	c.in = make([]byte, readBuffer)[:0]
	if d := c.srv.ReadHeaderTimeout; d > 0 {
		_ = c.rwc.SetReadDeadline(time.Now().Add(d))
	}
	for first := true; ; first = false {
		end, err := c.readHead(first)
		if err != nil {
			if errors.Is(err, errHandOff) {
				handedOff = c.handOff()
			}
			return // a read error or timeout: net/http closes too, unanswered
		}
		c.state.Store(stateActive)
		if c.srv.shuttingDown() {
			return
		}
		p, ok := parseHead(c.in[c.pos:end])
		if !ok {
			handedOff = c.handOff()
			return
		}
		c.pos = end
		if !c.serveOne(&p) {
			return
		}
		if c.srv.shuttingDown() {
			return // the response said Connection: close
		}
		c.state.Store(stateIdle)
	}
}

// errHandOff: the bytes read are not a head this package serves.
var errHandOff = errors.New("fastserve: hand off")

// readHead reads until c.in[c.pos:] holds a whole head, and returns the
// index just past its blank line. Waiting for the first byte of a request
// after the first is bounded by IdleTimeout, the rest of the head by
// ReadHeaderTimeout, as net/http bounds them.
func (c *conn) readHead(first bool) (int, error) {
	if c.pos == len(c.in) {
		if cap(c.in) > 4*readBuffer {
			c.in = make([]byte, 0, readBuffer) // one long head must not stay
		}
		c.in, c.pos = c.in[:0], 0 // nothing unread: start at the front
	}
	scanned := c.pos
	waited := first
	for {
		if i := bytes.Index(c.in[scanned:], []byte("\r\n\r\n")); i >= 0 {
			if end := scanned + i + 4; end-c.pos <= c.srv.maxHeaderBytes() {
				return end, nil
			}
			return 0, errHandOff // net/http decides: 431, or serves it
		}
		scanned = max(c.pos, len(c.in)-3)
		if len(c.in)-c.pos > c.srv.maxHeaderBytes() {
			return 0, errHandOff // net/http answers 431
		}
		if len(c.in) == cap(c.in) {
			c.makeRoom()
		}
		if !waited {
			waited = true
			if c.pos == len(c.in) {
				// Between requests: wait for the next one as long as
				// IdleTimeout allows, then give its head ReadHeaderTimeout.
				if err := c.waitIdle(); err != nil {
					return 0, err
				}
				continue
			}
			c.headerDeadline() // the start of a pipelined request is here
		}
		n, err := c.rwc.Read(c.in[len(c.in):cap(c.in)])
		c.in = c.in[:len(c.in)+n]
		if err != nil && n == 0 {
			return 0, c.readFailed(err, first)
		}
	}
}

// readFailed is the error that ends a read: a head cut short by the
// client's end of stream goes to net/http, which answers it 400 as it
// would have; a timeout or reset ends the connection unanswered, as in
// net/http.
//
// Between requests net/http first waits for 4 bytes: fewer before the end
// of stream end the connection unanswered there too.
func (c *conn) readFailed(err error, first bool) error {
	if unread := len(c.in) - c.pos; errors.Is(err, io.EOF) && unread > 0 && (first || unread >= 4) {
		return errHandOff
	}
	return err
}

// waitIdle reads the first bytes of the next request under IdleTimeout,
// then sets ReadHeaderTimeout for the rest of its head (when the whole
// head came in that read, no deadline is set: none is needed).
func (c *conn) waitIdle() error {
	s := c.srv
	if d := s.idleTimeout(); d > 0 {
		_ = c.rwc.SetReadDeadline(time.Now().Add(d))
	} else {
		_ = c.rwc.SetReadDeadline(time.Time{})
	}
	n, err := c.rwc.Read(c.in[len(c.in):cap(c.in)])
	c.in = c.in[:len(c.in)+n]
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return c.readFailed(err, false)
	}
	c.state.Store(stateActive)
	if !bytes.Contains(c.in[c.pos:], []byte("\r\n\r\n")) {
		c.headerDeadline()
	}
	return nil
}

func (c *conn) headerDeadline() {
	if d := c.srv.ReadHeaderTimeout; d > 0 {
		_ = c.rwc.SetReadDeadline(time.Now().Add(d))
	} else {
		_ = c.rwc.SetReadDeadline(time.Time{})
	}
}

// makeRoom makes space after c.in's unread bytes: moved to the front, or
// a larger buffer.
func (c *conn) makeRoom() {
	unread := len(c.in) - c.pos
	if c.pos > 0 && unread < cap(c.in)/2 {
		c.in = c.in[:copy(c.in[:cap(c.in)], c.in[c.pos:])]
		c.pos = 0
		return
	}
	grown := make([]byte, unread, 2*cap(c.in))
	copy(grown, c.in[c.pos:])
	c.in, c.pos = grown, 0
}

// serveOne runs the handler for p and writes its response. It reports
// whether the connection may carry another request.
func (c *conn) serveOne(p *plainRequest) bool {
	isHead := p.method == http.MethodHead
	ctx := &reqContext{c: c, pipelined: c.pos < len(c.in)}
	req := (&http.Request{
		Method: p.method, URL: p.url, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: p.header, Body: http.NoBody, Host: p.host, RemoteAddr: c.remoteAddr,
		RequestURI: p.target, Close: p.close,
	}).WithContext(ctx)
	w := &c.res
	w.reset(c, isHead, p.close)
	// An idle connection holds no output buffer: they are shared.
	buf := c.srv.getOut()
	c.out = *buf
	defer func() { *buf = c.out; c.srv.putOut(buf); c.out = nil }()
	c.srv.served.Add(1)
	c.srv.Handler.ServeHTTP(w, req)
	gone := ctx.end()
	reuse := w.finish()
	if w.setDeadline {
		_ = c.rwc.SetWriteDeadline(time.Time{})
	}
	return reuse && !gone
}

// send queues p after c.out, writing both at once when p is large.
func (c *conn) send(p []byte) {
	if len(c.out)+len(p) <= maxOut {
		c.out = append(c.out, p...)
		return
	}
	if c.werr != nil {
		return
	}
	c.iov = append(c.iov[:0], c.out, p)
	_, c.werr = c.iov.WriteTo(c.rwc)
	c.out = c.out[:0]
}

// flushOut writes c.out.
func (c *conn) flushOut() error {
	if len(c.out) > 0 && c.werr == nil {
		_, c.werr = c.rwc.Write(c.out)
	}
	c.out = c.out[:0]
	return c.werr
}

// handOff gives the connection, from its first unserved byte, to the
// Handoffs listener. It reports false if that listener is closed (the
// connection is then closed by the caller).
func (c *conn) handOff() bool {
	pending := bytes.Clone(c.in[c.pos:])
	// net/http sets the deadlines it wants; one of this loop's must not
	// cut it short.
	_ = c.rwc.SetDeadline(time.Time{})
	c.srv.forget(c)
	c.srv.handedOff.Add(1)
	return c.srv.handoffs.deliver(&handoffConn{Conn: c.rwc, pending: pending})
}

// reqContext is a request's context. Done starts a read of the connection
// that tells a client's disconnect (net/http starts one per request; a
// cache hit never waits on its context, so here it costs nothing).
type reqContext struct {
	c         *conn
	pipelined bool // the next request is read already: the client is there
	mu        sync.Mutex
	done      chan struct{}
	err       error
	ended     bool
}

func (x *reqContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func (x *reqContext) Value(key any) any {
	if key == http.LocalAddrContextKey {
		return x.c.rwc.LocalAddr()
	}
	return nil
}

func (x *reqContext) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done == nil {
		x.done = make(chan struct{})
		switch {
		case x.err != nil:
			close(x.done)
		case !x.pipelined:
			x.c.watch.start(x)
		}
	}
	return x.done
}

func (x *reqContext) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

func (x *reqContext) cancel() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err == nil {
		x.err = context.Canceled
		if x.done != nil {
			close(x.done)
		}
	}
}

// end cancels the context once the handler returned, stops the watch, and
// reports whether the client closed the connection meanwhile.
func (x *reqContext) end() (gone bool) {
	x.mu.Lock()
	x.ended = true
	x.mu.Unlock()
	gone = x.c.watch.stop()
	x.cancel()
	return gone
}

// watcher is the read of a connection under way while a handler runs.
type watcher struct {
	c       *conn
	mu      sync.Mutex
	running bool
	done    chan struct{}
	aborted bool
	got     [1]byte
	gotByte bool
	gone    bool
}

// start reads one byte from the connection in the background: an error
// means the client left, and cancels x; a byte is the start of a
// pipelined request, kept for the loop. x.mu is held.
func (w *watcher) start(x *reqContext) {
	c := w.c
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || x.ended {
		return
	}
	w.running, w.aborted, w.gotByte, w.gone = true, false, false, false
	w.done = make(chan struct{})
	_ = c.rwc.SetReadDeadline(time.Time{})
	go func() {
		n, err := c.rwc.Read(w.got[:])
		w.mu.Lock()
		w.gotByte = n == 1
		var ne net.Error
		aborted := w.aborted && errors.As(err, &ne) && ne.Timeout()
		if err != nil && !aborted {
			w.gone = true
		}
		gone := w.gone
		w.mu.Unlock()
		if gone {
			x.cancel()
		}
		close(w.done)
	}()
}

// stop ends a read under way, puts a byte it read back in front of the
// connection's input, and reports whether the client left.
func (w *watcher) stop() (gone bool) {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return false
	}
	c := w.c
	w.aborted = true
	_ = c.rwc.SetReadDeadline(aLongTimeAgo)
	done := w.done
	w.mu.Unlock()
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = false
	_ = c.rwc.SetReadDeadline(time.Time{})
	if w.gotByte {
		c.in = append(c.in, w.got[0])
	}
	return w.gone
}

// aLongTimeAgo is a deadline in the past: it ends a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)
