package origin

import (
	"bufio"
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// keepAlive is the keep-alive pool of plain-HTTP upstream connections that
// GET and HEAD requests without a body are sent on: the requests a cache's
// misses are made of. An exchange runs on the caller's goroutine from
// request to body, where net/http's transport hands it between three
// (the caller, the connection's write loop and its read loop): five
// goroutine wake-ups per miss, most of them a thread woken on an idle
// node, which made a miss cost edged 2.6 times the CPU it costs nginx
// (#17).
//
// The connections are the same upConns net/http's pools use, with the
// same guarantees (upconn.go), which hold without a read loop: bytes an
// upstream sends while a connection is idle stay in the kernel's receive
// queue, where the next request's first write finds them (quiesceLocked)
// and discards the connection before writing; and where a sweep of the
// idle connections every second finds them sooner (sweepIdle), so that
// their server is quarantined as it was when a read loop read them.
// Requests net/http's transport keeps (TLS, upgrades, bodies, unsafe
// methods, a pool with a connection cap) are not sent here.
//
// What net/http does and this pool does the same way: the request is
// written by http.Request.Write and the response read by
// http.ReadResponse, the functions the transport itself uses; interim
// responses go to the trace's Got1xxResponse; the response head is
// awaited for at most the header timeout; a request that fails on a
// reused connection before any byte of its response arrived (the
// upstream closed the idle connection) is sent again on another; a
// connection goes back to the pool when its response's body has been
// read to the end and neither side asked to close it (RFC 9112 §9.3), and
// is closed after 90 seconds idle.
type keepAlive struct {
	dial       func(ctx context.Context, network, addr string) (*upConn, error)
	header     time.Duration // bound on the wait for a response head; 0: none
	maxIdle    int           // idle connections kept per server
	maxTotal   int           // idle connections kept in all; 0: no bound but maxIdle's
	idleFor    time.Duration // how long an idle connection is kept
	sweepEvery time.Duration // how often idle connections are looked at (sweep)
	now        func() time.Time

	mu     sync.Mutex
	idle   map[string][]*keptConn // by dial address; the most recently used last
	lru    list.List              // of every idle *keptConn, the least recently put first (maxTotal)
	closed bool                   // closeIdle was called: new idle ones are closed
	sweep  *time.Timer            // runs sweepIdle while connections are idle; nil when none are
}

// keepIdleFor is how long an idle connection is kept, in this pool and
// net/http's (newTransport's IdleConnTimeout). A forward proxy's pool holds
// connections to many servers, most never asked again: each is closed on
// its own timer.
const keepIdleFor = 90 * time.Second

// idleSweep is how often the idle connections are looked at for bytes
// their server sent unasked (sweepIdle). net/http's read loop reads them
// at once; without one, the connection would be looked at only when a
// request takes it, or never when it expires first, and a server that
// answers out of turn would not be quarantined meanwhile (reuse.go).
const idleSweep = time.Second

// maxInterimResponses bounds the interim (1xx) responses read before the
// final one: an upstream cannot hold a request with them forever.
const maxInterimResponses = 64

// keptConn is one connection of the pool.
type keptConn struct {
	uc        *upConn
	br        *bufio.Reader // reads from the keptConn: under headLeft
	head      bytes.Buffer  // the request head being written
	idleTimer *time.Timer   // closes the connection idle for idleFor; made by put
	addr      string        // the dial address it is idle under (k.idle); set by put
	lruElem   *list.Element // its place in k.lru while idle, else nil; under k.mu

	// headLeft is how many more bytes the response heads being read may
	// take from the connection, as net/http's transport counts them
	// (persistConn.readLimit, MaxResponseHeaderBytes): upConn's own bound
	// on held heads is looser, and http.ReadResponse has none.
	headLeft int64

	// mu orders the exchange's deadline changes with its cancellation,
	// which sets a deadline in the past: a later change must not undo it.
	mu        sync.Mutex
	cancelled bool
	cancelFn  func() // cancel, bound once: not an allocation per exchange
}

func newKeepAlive(d *dialer, header time.Duration, maxIdle, maxTotal int) *keepAlive {
	return &keepAlive{
		dial:       d.plain,
		header:     header,
		maxIdle:    maxIdle,
		maxTotal:   maxTotal,
		idleFor:    keepIdleFor,
		sweepEvery: idleSweep,
		now:        time.Now,
		idle:       make(map[string][]*keptConn),
	}
}

// carries reports whether a request may be sent through the pool: a GET
// or HEAD without a body or an upgrade, to a plain-HTTP server.
func (k *keepAlive) carries(scheme, method string, hasBody bool, upgrade string) bool {
	return k != nil && scheme == "http" && !hasBody && upgrade == "" &&
		(method == http.MethodGet || method == http.MethodHead)
}

// errServerClosedIdle: a reused connection ended before any byte of the
// response to a request written on it; the upstream had closed it.
var errServerClosedIdle = errors.New("upstream closed an idle connection")

// roundTrip sends req to addr, on an idle connection or a new one, and
// returns the response; its body returns the connection to the pool once
// read to the end, and closes it if closed before. a records how far the
// exchange got, for classify.
func (k *keepAlive) roundTrip(ctx context.Context, req *http.Request, addr string, a *attempt) (*http.Response, error) {
	if !httpguts.ValidHostHeader(req.Host) {
		return nil, fmt.Errorf("origin: invalid Host %q", req.Host)
	}
	for name, values := range req.Header {
		// What net/http's transport refuses as well.
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, fmt.Errorf("origin: invalid header field name %q", name)
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("origin: invalid header field value for %q", name)
			}
		}
	}
	a.getConn.Store(true)
	for {
		c, reused := k.take(addr)
		if c == nil {
			uc, err := k.dial(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			c = &keptConn{uc: uc}
			c.br = bufio.NewReaderSize(c, 32<<10)
			c.cancelFn = c.cancel
		}
		a.gotConn.Store(true)
		a.conn.Store(c.uc)
		expectResponse(c.uc, req.Method, false)
		resp, err := k.exchange(ctx, c, req, addr, reused)
		if err == nil {
			return resp, nil
		}
		c.uc.Close()
		if !reused || !errors.Is(err, errServerClosedIdle) || ctx.Err() != nil {
			return nil, err
		}
	}
}

// exchange writes req on c and reads the response head.
func (k *keepAlive) exchange(ctx context.Context, c *keptConn, req *http.Request, addr string, reused bool) (*http.Response, error) {
	c.cancelled = false
	stop := context.AfterFunc(ctx, c.cancelFn)
	fail := func(err error) (*http.Response, error) {
		stop()
		return nil, err
	}
	// closedIdle marks the failures of a reused connection that mean the
	// upstream had closed it: nothing of a response was read.
	closedIdle := func(err error) error {
		if reused {
			return fmt.Errorf("%w: %w", errServerClosedIdle, err)
		}
		return err
	}
	// The head is made whole before anything is written: an error making
	// it is the request's own, one writing it the connection's.
	c.head.Reset()
	if err := req.Write(&c.head); err != nil {
		return fail(err)
	}
	if _, err := c.uc.Write(c.head.Bytes()); err != nil {
		return fail(closedIdle(fmt.Errorf("write request: %w", err)))
	}
	if k.header > 0 {
		c.setReadDeadline(k.now().Add(k.header))
	}
	c.headLeft = maxResponseHead
	if _, err := c.br.Peek(1); err != nil {
		if isReset(err) {
			err = closedIdle(err)
		}
		return fail(k.headErr(ctx, err))
	}
	resp, err := readFinalResponse(ctx, c, req)
	if err != nil {
		if c.headLeft <= 0 {
			err = fmt.Errorf("upstream response headers exceeded %d bytes: %w", maxResponseHead, err)
		}
		return fail(k.headErr(ctx, err))
	}
	c.headLeft = math.MaxInt64 // the body is not limited here
	if k.header > 0 {
		c.setReadDeadline(time.Time{})
	}
	body := &keptBody{pool: k, conn: c, addr: addr, stop: stop, resp: resp}
	body.left.Store(resp.ContentLength)
	if resp.Body == http.NoBody {
		body.left.Store(0)
	}
	body.body, resp.Body = resp.Body, body
	return resp, nil
}

// headErr says what a read of the response head that failed by a
// deadline waited for: the header timeout, unless the exchange was
// cancelled (which sets a deadline too).
func (k *keepAlive) headErr(ctx context.Context, err error) error {
	if k.header > 0 && ctx.Err() == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("timeout awaiting response headers (%v): %w", k.header, err)
	}
	return err
}

// readFinalResponse reads interim responses, handing each to the trace's
// Got1xxResponse (net/http's transport does the same, and so limits the
// size of the heads: all of them together when no trace looks at the
// interim ones, else each one), then the final one.
func readFinalResponse(ctx context.Context, c *keptConn, req *http.Request) (*http.Response, error) {
	trace := httptrace.ContextClientTrace(ctx)
	for range maxInterimResponses {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, err
		}
		code := resp.StatusCode
		if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
			c.headLeft = maxResponseHead
		}
	}
	return nil, fmt.Errorf("more than %d interim responses", maxInterimResponses)
}

// errHeadTooLarge fails a read of response heads past maxResponseHead.
var errHeadTooLarge = errors.New("response head too large")

// Read reads from the connection what the response heads being read may
// still take (headLeft); bufio reads through it.
func (c *keptConn) Read(p []byte) (int, error) {
	if c.headLeft <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > c.headLeft {
		p = p[:c.headLeft]
	}
	n, err := c.uc.Read(p)
	c.headLeft -= int64(n)
	return n, err
}

// cancel ends the exchange on c: its reads and writes fail at once.
func (c *keptConn) cancel() {
	c.mu.Lock()
	c.cancelled = true
	_ = c.uc.SetDeadline(aLongTimeAgo)
	c.mu.Unlock()
}

func (c *keptConn) setReadDeadline(t time.Time) {
	c.mu.Lock()
	if !c.cancelled {
		_ = c.uc.SetReadDeadline(t)
	}
	c.mu.Unlock()
}

// aLongTimeAgo is a deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// take returns the most recently used idle connection to addr, or nil.
func (k *keepAlive) take(addr string) (c *keptConn, reused bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	list := k.idle[addr]
	if len(list) == 0 {
		return nil, false
	}
	c = list[len(list)-1]
	list[len(list)-1] = nil
	k.setIdle(addr, list[:len(list)-1])
	k.unlist(c)
	c.idleTimer.Stop() // if it fired, expire finds c taken and leaves it
	return c, true
}

// put keeps c for the next request to addr, for idleFor at most. With
// maxTotal idle connections kept already, the least recently put one is
// closed to make room: a forward proxy's destinations are its clients'
// choice, and one client asking for servers on many addresses (a host
// listening on thousands of ports) kept a connection, a descriptor and
// its buffers open for each, for 90 seconds, until the node ran out of
// descriptors and could accept no client.
func (k *keepAlive) put(addr string, c *keptConn) {
	k.mu.Lock()
	list := k.idle[addr]
	if k.closed || len(list) >= k.maxIdle {
		k.mu.Unlock()
		c.uc.Close()
		return
	}
	var evicted *keptConn
	if k.maxTotal > 0 && k.lru.Len() >= k.maxTotal {
		evicted = k.lru.Front().Value.(*keptConn)
		k.drop(evicted)
		list = k.idle[addr] // drop may have changed it
	}
	k.idle[addr] = append(list, c)
	c.addr, c.lruElem = addr, k.lru.PushBack(c)
	if c.idleTimer == nil {
		c.idleTimer = time.AfterFunc(k.idleFor, func() { k.expire(addr, c) })
	} else {
		c.idleTimer.Reset(k.idleFor)
	}
	if k.sweep == nil {
		k.sweep = time.AfterFunc(k.sweepEvery, k.sweepIdle)
	}
	k.mu.Unlock()
	if evicted != nil {
		evicted.uc.Close()
	}
}

// drop forgets c, an idle connection, and stops its timer; the caller
// closes it. k.mu is held.
func (k *keepAlive) drop(c *keptConn) {
	list := k.idle[c.addr]
	if i := slices.Index(list, c); i >= 0 {
		k.setIdle(c.addr, slices.Delete(list, i, i+1))
	}
	k.unlist(c)
	c.idleTimer.Stop() // if it fired, expire finds c gone and leaves it
}

// unlist takes c out of k.lru; k.mu is held.
func (k *keepAlive) unlist(c *keptConn) {
	if c.lruElem != nil {
		k.lru.Remove(c.lruElem)
		c.lruElem = nil
	}
}

// sweepIdle discards the idle connections that received bytes no request
// asked for, as net/http's read loop does when it reads them: their
// server is quarantined (except for an idle-timeout 408) without waiting
// for a request to take them. It runs every sweepEvery while connections
// are idle: one wake-up for the pool, one non-blocking look (MSG_PEEK)
// per connection, nothing per request.
func (k *keepAlive) sweepIdle() {
	k.mu.Lock()
	addrs := slices.Collect(maps.Keys(k.idle))
	k.mu.Unlock()
	var bad []*keptConn
	for _, addr := range addrs {
		// One server at a time: a request waits for at most one
		// server's idle connections (maxIdle) to be looked at.
		k.mu.Lock()
		if list := k.idle[addr]; len(list) > 0 {
			kept := list[:0]
			for _, c := range list {
				if c.uc.idleCheck() {
					kept = append(kept, c)
				} else {
					c.idleTimer.Stop()
					k.unlist(c)
					bad = append(bad, c)
				}
			}
			clear(list[len(kept):])
			k.setIdle(addr, kept)
		}
		k.mu.Unlock()
	}
	k.mu.Lock()
	if len(k.idle) > 0 && !k.closed {
		k.sweep.Reset(k.sweepEvery)
	} else {
		k.sweep = nil
	}
	k.mu.Unlock()
	for _, c := range bad {
		c.uc.Close()
	}
}

// expire closes c if it is still idle.
func (k *keepAlive) expire(addr string, c *keptConn) {
	k.mu.Lock()
	list := k.idle[addr]
	i := slices.Index(list, c)
	if i < 0 {
		k.mu.Unlock()
		return
	}
	k.setIdle(addr, slices.Delete(list, i, i+1))
	k.unlist(c)
	k.mu.Unlock()
	c.uc.Close()
}

// setIdle records the idle connections to addr; k.mu is held. A server
// with none is forgotten.
func (k *keepAlive) setIdle(addr string, list []*keptConn) {
	if len(list) == 0 {
		delete(k.idle, addr)
		return
	}
	k.idle[addr] = list
}

// closeIdle closes the idle connections; later ones are closed as they
// become idle.
func (k *keepAlive) closeIdle() {
	if k == nil {
		return
	}
	k.mu.Lock()
	idle := k.idle
	k.idle, k.closed = make(map[string][]*keptConn), true
	k.lru.Init()
	for _, list := range idle {
		for _, c := range list {
			c.lruElem = nil
		}
	}
	if k.sweep != nil {
		k.sweep.Stop()
		k.sweep = nil
	}
	k.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.idleTimer.Stop()
			c.uc.Close()
		}
	}
}

// keptBody is the body of a response read from a kept connection. The
// connection goes back to the pool when the body ends and nothing says it
// may not carry another request: the response did not ask to close it
// (resp.Close, RFC 9112 §9.6), and the connection's framer followed the
// response to its end with nothing after it (upConn.reusable).
type keptBody struct {
	body io.ReadCloser // http.ReadResponse's
	pool *keepAlive
	conn *keptConn
	addr string
	stop func() bool // ends the exchange's cancellation
	resp *http.Response
	left atomic.Int64 // body bytes still to come when known, else -1; Close may run beside Read
	done atomic.Bool
}

func (b *keptBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 && b.left.Load() > 0 {
		b.left.Add(-int64(n))
	}
	if err != nil {
		b.finish(err == io.EOF)
	}
	return n, err
}

// cancel ends the exchange before the body's end, as cancelling its
// context would: reads fail at once, and the connection is closed, not
// kept. Once the body has ended it does nothing: the connection may carry
// another request by then.
func (b *keptBody) cancel() {
	if b.stop() {
		b.conn.cancel()
	}
}

// Close ends the exchange. A body closed before its end closes the
// connection: what is left of it would have to be read first (net/http
// does the same), unless no byte is left to come.
func (b *keptBody) Close() error {
	b.finish(b.left.Load() == 0)
	return nil
}

func (b *keptBody) finish(atEnd bool) {
	if b.done.Swap(true) {
		return
	}
	c := b.conn
	// A connection without a raw socket (a custom Options.Dial's) cannot
	// be looked at while idle: it carries one request.
	if b.stop() && atEnd && !b.resp.Close && c.br.Buffered() == 0 && c.uc.raw != nil && c.uc.reusable() {
		b.pool.put(b.addr, c)
		return
	}
	c.uc.Close()
}
