package fastserve

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"edged/internal/rawio"
)

// conn is one client connection while this package serves it.
type conn struct {
	srv *Server
	rwc net.Conn
	// raw reads and writes rwc without telling the scheduler (rawio: a
	// request's reads and writes would wake the runtime's monitor
	// thread); nil when rwc is not a TCP connection.
	raw        *rawio.Conn
	remoteAddr string
	// state is stateNew, stateActive, stateIdle or stateHead (Shutdown
	// closes idle connections; CloseSlowHead the slowest head).
	state atomic.Int32
	since time.Time // when the connection was accepted
	// headSince is when the head being read in stateHead began (Unix ns).
	headSince atomic.Int64

	// in holds what was read from the client: in[pos:] is unread.
	in  []byte
	pos int
	// out is the response bytes not yet written; werr the first write
	// error, after which nothing more is written.
	out  []byte
	werr error
	iov  net.Buffers // out and a large body in one writev(2)
	// sentAt is where in out send put its last bytes (-1: written at
	// once), emptied counts the times out was written and emptied.
	sentAt  int
	emptied int

	res     response
	keys    []string // appendFields's sorting space
	exclude []string // writeHead's fields to leave out

	// watch reads the connection while a handler runs, to tell the
	// request's context the client left (see reqContext.Done).
	watch watcher
	// ctx is the context of the request being served.
	ctx *reqContext
	// lost: the client reset the connection (an end of stream is no
	// departure), or a write to it failed. net/http then cancels the connection's context, the
	// parent of its requests': the requests read already are still
	// answered, with their contexts cancelled from the start.
	lost atomic.Bool
}

const (
	stateNew int32 = iota
	stateActive
	stateIdle
	// stateHead: a request after the first has begun and its head is not
	// all here (set only when a read ends mid-head, never on a hit whose
	// head comes whole).
	stateHead
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
			if c.ctx != nil {
				c.ctx.cancel() // a panic: the handler is done all the same
			}
			_ = c.rwc.Close()
			c.srv.forget(c)
		}
	}()
	if ra := c.rwc.RemoteAddr(); ra != nil {
		c.remoteAddr = ra.String()
	}
	c.in = make([]byte, readBuffer)[:0]
	if c.srv.ReadHeaderTimeout > 0 {
		c.headerDeadline()
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
	// scanned counts the unread bytes searched already, from c.pos:
	// makeRoom moves them, so an index into c.in would go stale.
	scanned := 0
	checked := 0 // the unread bytes whose lines servablePrefix passed
	waited := first
	for {
		if i := bytes.Index(c.in[c.pos+scanned:], []byte("\r\n\r\n")); i >= 0 {
			if end := c.pos + scanned + i + 4; end-c.pos <= c.srv.maxHeaderBytes() {
				return end, nil
			}
			return 0, errHandOff // net/http decides: 431, or serves it
		}
		scanned = max(0, len(c.in)-c.pos-3) // "\r\n\r\n" may straddle the next read
		if len(c.in)-c.pos > c.srv.maxHeaderBytes() {
			return 0, errHandOff // net/http answers 431
		}
		if (first || len(c.in)-c.pos >= 4) && !servablePrefix(c.in[c.pos:], &checked) {
			// net/http answers it without waiting for more (after its
			// first request, once it has 4 bytes of the next: readFailed).
			return 0, errHandOff
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
			// The start of a pipelined request is here, not all of it: a
			// head being read, not an idle connection (CloseIdle,
			// CloseSlowHead).
			c.headSince.Store(time.Now().UnixNano())
			c.state.Store(stateHead)
			c.headerDeadline()
		}
		n, err := c.read(c.in[len(c.in):cap(c.in)])
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
	c.readWithin(c.srv.IdleTimeout)
	n, err := c.read(c.in[len(c.in):cap(c.in)])
	c.in = c.in[:len(c.in)+n]
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return c.readFailed(err, false)
	}
	if !bytes.Contains(c.in[c.pos:], []byte("\r\n\r\n")) {
		c.headSince.Store(time.Now().UnixNano())
		c.state.Store(stateHead)
		c.headerDeadline()
		return nil
	}
	c.state.Store(stateActive)
	return nil
}

func (c *conn) headerDeadline() { c.readWithin(c.srv.ReadHeaderTimeout) }

// readWithin bounds the reads from now by d; 0: no bound.
func (c *conn) readWithin(d time.Duration) {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	_ = c.rwc.SetReadDeadline(t)
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
	ctx := &reqContext{c: c}
	if c.lost.Load() {
		ctx.err = context.Canceled
	}
	c.ctx = ctx
	req := (&http.Request{
		Method: p.method, URL: p.url, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: p.header, Body: http.NoBody, Host: p.host, RemoteAddr: c.remoteAddr,
		RequestURI: p.target, Close: p.close,
	}).WithContext(ctx)
	w := &c.res
	w.reset(c, isHead, p.wantsClose)
	// An idle connection holds no output buffer: they are shared.
	buf := c.srv.getOut()
	c.out = *buf
	returned := false
	defer func() {
		if drop, send := w.abortedOutput(); !returned && send {
			// A panic: what net/http would flush goes out.
			c.out = c.out[:len(c.out)-min(len(c.out), drop)]
			_ = c.flushOut()
		}
		*buf = c.out
		c.srv.putOut(buf)
		c.out = nil
	}()
	c.srv.Handler.ServeHTTP(w, req)
	returned = true
	ctx.end()
	c.ctx = nil
	reuse := w.finish()
	if w.setDeadline {
		_ = c.rwc.SetWriteDeadline(time.Time{})
	}
	// A client gone leaves nothing to read but the requests read already.
	return reuse && (!c.lost.Load() || c.pos < len(c.in))
}

// writeFailed records the first write error, which cancels the request's
// context as net/http's connection writer does: a handler that never
// waited on it learns the client is gone.
func (c *conn) writeFailed(err error) {
	if err == nil || c.werr != nil {
		return
	}
	c.werr = err
	c.lost.Store(true)
	if c.ctx != nil {
		c.ctx.cancel()
	}
}

// send queues p after c.out, writing both at once when p is large.
func (c *conn) send(p []byte) {
	if len(c.out)+len(p) <= maxOut {
		c.sentAt = len(c.out)
		c.out = append(c.out, p...)
		return
	}
	c.sentAt, c.emptied = -1, c.emptied+1
	if c.werr != nil {
		return
	}
	c.iov = append(c.iov[:0], c.out, p)
	var err error
	if c.raw != nil {
		_, err = c.raw.WriteBuffers(c.iov)
	} else {
		_, err = c.iov.WriteTo(c.rwc)
	}
	// The array stays for the next send; p must not: held by an idle
	// connection, a body would count against the bodies' budget until the
	// client's next large answer (hold.releaseWhenUnreachable;
	// TestSentBodyNotRetainedByIdleConn). WriteTo consumes what it wrote
	// (net.Buffers nils it); rawio leaves c.iov whole.
	clear(c.iov[:cap(c.iov)])
	c.iov = c.iov[:0]
	c.writeFailed(err)
	c.out = c.out[:0]
}

// read reads from the client, as rwc.Read does.
func (c *conn) read(p []byte) (int, error) {
	if c.raw != nil {
		return c.raw.Read(p)
	}
	return c.rwc.Read(p)
}

// write writes p to the client, as rwc.Write does.
func (c *conn) write(p []byte) (int, error) {
	if c.raw != nil {
		return c.raw.Write(p)
	}
	return c.rwc.Write(p)
}

// flushOut writes c.out.
func (c *conn) flushOut() error {
	if len(c.out) > 0 && c.werr == nil {
		_, err := c.write(c.out)
		c.writeFailed(err)
	}
	c.out = c.out[:0]
	c.emptied++
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
// cache hit never waits on its context, so here it costs nothing). The
// read runs even when the next request is read already, as net/http's
// does: a client that closes after pipelining is gone too.
//
// The read starts watchDelay after the first Done, not at once: a cache
// miss waits on its context for its fetch, and most fetches end sooner.
// Started at once, the read cost each of them a goroutine, a read(2) that
// finds nothing and, to end it, two goroutine switches (about 3% of a
// miss's CPU at 8 connections, and a thread's wake at one).
type reqContext struct {
	c     *conn
	mu    sync.Mutex
	done  chan struct{}
	err   error
	ended bool
	watch *time.Timer // starts the read (see watchDelay); nil before Done
}

// watchDelay is how long a request waits on its context before its
// connection is read to tell whether the client left: a disconnect is
// noticed that much later, at most.
const watchDelay = 2 * time.Millisecond

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
		if x.err != nil {
			close(x.done)
		} else {
			x.watch = time.AfterFunc(cmp.Or(x.c.srv.watchDelay, watchDelay), x.startWatch)
		}
	}
	return x.done
}

// startWatch starts the read of the connection, unless the request ended
// or its context was cancelled meanwhile.
func (x *reqContext) startWatch() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err == nil && !x.ended {
		x.c.watch.start(x)
	}
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

// end cancels the context once the handler returned, and stops the watch.
func (x *reqContext) end() {
	x.mu.Lock()
	x.ended = true
	t := x.watch
	x.mu.Unlock()
	if t != nil {
		t.Stop() // a startWatch already running sees ended and starts nothing
	}
	x.c.watch.stop()
	x.cancel()
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
}

// start reads one byte from the connection in the background: an error
// but the end of stream means the client left, and cancels x; a byte is
// the start of a pipelined request, kept for the loop. x.mu is held.
func (w *watcher) start(x *reqContext) {
	c := w.c
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || x.ended {
		return
	}
	w.running, w.aborted, w.gotByte = true, false, false
	w.done = make(chan struct{})
	_ = c.rwc.SetReadDeadline(time.Time{})
	go func() {
		n, err := c.read(w.got[:])
		w.mu.Lock()
		w.gotByte = n == 1
		var ne net.Error
		aborted := w.aborted && errors.As(err, &ne) && ne.Timeout()
		// An end of stream is no departure: a client may half-close its
		// side after its request and still read the answer (RFC 9112
		// §9.6; nc -N, some health checks). A reset is, and so is a
		// failed write (writeFailed).
		gone := err != nil && !aborted && !errors.Is(err, io.EOF)
		if gone {
			c.lost.Store(true)
		}
		w.mu.Unlock()
		if gone {
			x.cancel()
		}
		close(w.done)
	}()
}

// stop ends a read under way, and puts a byte it read after the
// connection's input read before (the next request's first, or one more
// of it).
func (w *watcher) stop() {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return
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
}

// aLongTimeAgo is a deadline in the past: it ends a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)
