package origin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"time"

	"edged/internal/ascii"
	"edged/internal/rawio"
)

// errDesync is wrapped by the errors of an upstream connection that
// received bytes no request asked for: after the end of a response, or
// before the request they would answer was written.
var errDesync = errors.New("upstream connection out of sync")

// upConn is an upstream connection as the transport sees it. It follows
// the framing of every response it carries (respFramer) and keeps the
// connection from ever reading bytes the upstream sent unasked as the
// answer to a later request, which net/http alone does not guarantee: its
// transport returns a connection to the idle pool when a body ends, and
// notices unsolicited bytes only when its read loop next peeks at the idle
// connection; a request that takes the connection in between reads them as
// its response (reproduced in TestDesyncRace).
//
//   - Bytes read past the end of a response, in the read that ended it,
//     are discarded with the connection. When they start a response (the
//     two responses may be out of turn) the response is refused: the
//     caller sees ErrProtocol, the edge answers 502 and stores nothing.
//     Otherwise the response is served as RFC 9112 §6.3 frames it (a body
//     longer than its Content-Length, a body after a HEAD, 204 or 304
//     answer).
//   - Bytes read while no request is outstanding fail the read: the
//     transport closes the connection, and a request that had just taken
//     it fails before writing anything, so the transport retries it on a
//     new connection.
//   - A request's first write first makes sure that every byte that
//     reached this node has been seen: the kernel's receive queue is
//     empty (rawSocket.pending) and, over TLS, tls.Conn holds no record it
//     has not processed. Otherwise the write fails, or waits for the read
//     side to catch up.
//   - A request marked last (see reuse.go) is the connection's last: once
//     its response ends, the connection refuses further requests.
//   - Either way the server is quarantined (reuseGuard) unless the
//     connection was single-use anyway.
//
// What is left is what no HTTP/1.1 client can tell apart: bytes still in
// flight when a request is written on a reused connection look like its
// answer (docs/security.md).
//
// Response heads are held back until they end, so that a head whose
// Transfer-Encoding net/http refuses can be handed over without its
// framing fields (respFramer.hideFraming): net/http then reads the body
// until close, as RFC 9112 §6.3 requires.
type upConn struct {
	net.Conn                 // the transport's reads and writes: TCP, or TLS over tlsSide
	raw        *rawSocket    // the TCP socket; nil where the platform has none
	plainW     *rawio.Conn   // plain HTTP: writes to the TCP socket unseen by the scheduler (rawio); else nil
	tls        *tls.Conn     // https only
	upstream   string        // host:port, for errors and logs
	log        *slog.Logger  // where discarded connections are reported
	guard      *reuseGuard   // shared by the transport's connections
	quiesceMax time.Duration // bound on a request's wait for the read side (TLS)
	tlsBuf     []byte        // TLS: tlsMaxPlaintext bytes that tls.Conn reads into

	// Owned by the reading goroutine (the transport's read loop).
	ready    []byte // framed bytes not yet returned
	readyErr error  // returned once ready is empty
	hold     []byte // the response heads read so far, until the final one ends

	// mu is taken before reuseGuard.mu, never the other way.
	mu       sync.Mutex
	f        respFramer
	chunk    chunkInfo     // what framing the last read found
	next     nextRequest   // the request that will be written next (from GotConn)
	nextLast bool          // ... and it must be the connection's last
	last     bool          // the request being answered is the connection's last
	used     bool          // a request was written before
	err      error         // set once the connection must carry nothing more
	waiters  int           // requests waiting in quiesce
	changed  chan struct{} // closed when the read side moves, if waiters > 0
	rec      recordTracker // TLS: the records handed to tls.Conn
	// waiting is set while tls.Conn waits for more bytes, having processed
	// every complete record it received (it reads a record only when it
	// has no plaintext left, and returns as soon as it has some).
	waiting bool
}

// connectionNames returns the field names the Connection fields of the
// response being read list (see respFramer.connNames).
func (c *upConn) connectionNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.f.connNames)
}

// chunkInfo is what framing found in the bytes of one read.
type chunkInfo struct {
	keep    int  // leading bytes that belong to responses; the rest is discarded
	heads   int  // leading bytes that belong to response heads
	interim int  // leading bytes up to the end of the last interim head
	inHead  bool // a head is still being read
	hide    bool // the head that ended must lose its framing fields
	markCC  bool // the head that ended gets an empty Cache-Control line (respFramer.markNoCacheControl)
}

// tlsMaxPlaintext is the largest plaintext of one TLS record (RFC 8446
// §5.1, RFC 5246 §6.2.1): reading with a buffer this large empties
// tls.Conn's plaintext buffer every time.
const tlsMaxPlaintext = 16384

// maxResponseHead is the transport's MaxResponseHeaderBytes; maxHeldHead
// bounds the response heads upConn holds back, above what net/http
// accepts (it allows some slack past its limit).
const (
	maxResponseHead = 1 << 20
	maxHeldHead     = maxResponseHead + 64<<10
)

type nextRequest uint8

const (
	nextNone nextRequest = iota // no request is about to be written
	nextGet                     // a request whose response may have a body
	nextHead                    // a HEAD request: its response has none
)

// errRetired is the answer of a connection whose last request was answered.
var errRetired = errors.New("upstream connection retired after its last request")

// newUpConn wraps a TCP connection; useTLS puts tls.Conn's reads (through
// tlsSide) rather than the transport's on the raw socket.
func newUpConn(tcp net.Conn, upstream string, log *slog.Logger, guard *reuseGuard, quiesceMax time.Duration, useTLS bool) *upConn {
	c := &upConn{Conn: tcp, upstream: upstream, log: log, guard: guard, quiesceMax: quiesceMax}
	got := c.framePlainLocked
	if useTLS {
		got = c.tlsGotLocked
	}
	c.raw = rawSocketOf(tcp, &c.mu, got)
	if !useTLS {
		c.plainW = rawio.New(tcp)
	}
	return c
}

// expectResponse tells conn, when it is an upConn, that a request with
// method is about to be written on it, and whether it must be the
// connection's last. It is called from the GotConn trace of every request
// sent through a transport built by newTransport.
func expectResponse(conn net.Conn, method string, last bool) {
	c, ok := conn.(*upConn)
	if !ok {
		return
	}
	next := nextGet
	if method == http.MethodHead {
		next = nextHead
	}
	c.mu.Lock()
	c.next, c.nextLast = next, last
	c.mu.Unlock()
}

// Read reads response bytes, failing instead when bytes arrive that no
// request asked for. A response head is returned once it is complete.
func (c *upConn) Read(p []byte) (int, error) {
	for {
		if len(c.ready) > 0 {
			n := copy(p, c.ready)
			c.ready = c.ready[n:]
			return n, nil
		}
		if err := c.readyErr; err != nil {
			c.readyErr = nil
			return 0, err
		}
		b, ch, err := c.readChunk(p)
		if len(b) == 0 {
			return 0, err
		}
		if len(c.hold) == 0 && !ch.inHead && !ch.hide && !ch.markCC {
			// The usual case: no head is held back or rewritten.
			if &b[0] == &p[0] {
				return len(b), err
			}
			c.ready, c.readyErr = b, err
			continue
		}
		c.hold = append(c.hold, b[:ch.heads]...)
		if ch.inHead && err == nil {
			// Interim responses go at once: a request may be waiting for
			// its 100 (Continue) to send its body (RFC 9110 §10.1.1).
			if done := len(c.hold) - (ch.heads - ch.interim); ch.interim > 0 {
				c.ready = append([]byte(nil), c.hold[:done]...)
				c.hold = append(c.hold[:0], c.hold[done:]...)
			}
			if len(c.hold) > maxHeldHead {
				// net/http refuses it anyway (MaxResponseHeaderBytes).
				c.mu.Lock()
				c.failLocked(fmt.Errorf("%w: %s: response head over %d bytes", ErrProtocol, c.upstream, maxHeldHead), false)
				c.mu.Unlock()
				c.hold = c.hold[:0]
			}
			continue
		}
		head := c.hold
		if ch.hide {
			head = withoutFraming(head)
		}
		if ch.markCC {
			head = withEmptyCacheControl(head)
		}
		c.ready = append(append(make([]byte, 0, len(head)+len(b)-ch.heads), head...), b[ch.heads:]...)
		c.hold, c.readyErr = c.hold[:0], err
	}
}

// readChunk reads once from the connection and returns the bytes that
// belong to responses (in p, or in c.tlsBuf over TLS) with what framing
// found in them, and the read's error; or no bytes and an error.
func (c *upConn) readChunk(p []byte) ([]byte, chunkInfo, error) {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return nil, chunkInfo{}, err
	}
	var n int
	switch {
	case c.tls != nil:
		n, err = c.tls.Read(c.tlsBuf)
		p = c.tlsBuf
		c.mu.Lock()
		c.frameLocked(p[:n])
	case c.raw == nil:
		n, err = c.Conn.Read(p)
		c.mu.Lock()
		c.frameLocked(p[:n])
	default:
		// The bytes were framed in the critical section that read them.
		n, err = c.raw.read(p)
		c.mu.Lock()
	}
	ch, ferr := c.chunk, c.err
	c.chunk = chunkInfo{}
	c.mu.Unlock()
	if n == 0 {
		return nil, ch, err
	}
	if ch.keep == 0 && ferr != nil {
		return nil, ch, ferr // the bytes just read did not belong to a response
	}
	return p[:ch.keep], ch, err
}

// framePlainLocked follows the bytes of a plain read; the outcome is left
// in c.chunk and c.err for readChunk.
func (c *upConn) framePlainLocked(b []byte) { c.frameLocked(b) }

// frameLocked follows bytes just read and records in c.chunk which of them
// belong to responses; c.mu is held.
func (c *upConn) frameLocked(b []byte) {
	c.chunk = chunkInfo{}
	if c.err != nil || len(b) == 0 {
		return
	}
	defer c.notifyLocked()
	idle := c.f.state == framingIdle
	n := c.f.feed(b)
	c.chunk = chunkInfo{keep: n, heads: c.f.headLen, interim: c.f.interimEnd, inHead: c.f.inHead(),
		hide:   c.f.hideFraming && c.f.headLen > 0 && !c.f.inHead(),
		markCC: c.f.markNoCacheControl && c.f.headLen > 0 && !c.f.inHead()}
	if n == len(b) {
		if c.last && c.f.state == framingIdle {
			c.retireLocked()
		}
		return
	}
	extra := b[n:]
	reason, what := discardOverrun, "after the end of its response (served as framed)"
	switch {
	case idle:
		reason, what = discardUnsolicited, "while no request was outstanding"
		c.chunk.keep = 0
	case startsResponse(extra):
		reason, what = discardSecondResponse, "after the end of its response, starting another (refused)"
		c.chunk.keep = 0
	}
	c.discardLocked(reason, len(extra), fmt.Errorf("%w: %s sent %d bytes %s, starting %q", errDesync, c.upstream, len(extra), what, quote(extra)),
		idle && is408(extra))
}

// startsResponse reports whether b, after any blank lines, starts (or may
// start, when short) an HTTP/1 status line.
func startsResponse(b []byte) bool {
	b = bytes.TrimLeft(b, "\r\n\t ")
	const prefix = "HTTP/"
	n := min(len(b), len(prefix))
	return n > 0 && string(b[:n]) == prefix[:n]
}

// withoutFraming returns heads (interim response heads, then a final one,
// each ending with an empty line) with the Transfer-Encoding and
// Content-Length field lines of the final head removed.
func withoutFraming(heads []byte) []byte {
	final := 0 // where the final head starts
	for i := 0; i < len(heads); {
		end := bytes.IndexByte(heads[i:], '\n') + i + 1
		if line := heads[i:end]; (len(line) == 1 || len(line) == 2 && line[0] == '\r') && end < len(heads) {
			final = end
		}
		i = end
	}
	out := append([]byte(nil), heads[:final]...)
	for i := final; i < len(heads); {
		end := bytes.IndexByte(heads[i:], '\n') + i + 1
		name, _, ok := bytes.Cut(heads[i:end], []byte(":"))
		if !ok || !ascii.EqualFold(name, "Transfer-Encoding") && !ascii.EqualFold(name, "Content-Length") {
			out = append(out, heads[i:end]...)
		}
		i = end
	}
	return out
}

// withEmptyCacheControl returns heads (ending with the final head's empty
// line) with an empty Cache-Control field line added at the end of the
// final head, in a new slice.
func withEmptyCacheControl(heads []byte) []byte {
	end := len(heads) - 1 // the final empty line: "\n" ...
	if end > 0 && heads[end-1] == '\r' {
		end-- // ... or "\r\n"
	}
	const line = "Cache-Control:\r\n"
	out := make([]byte, 0, len(heads)+len(line))
	return append(append(append(out, heads[:end]...), line...), heads[end:]...)
}

// retireLocked ends the connection after its last response; c.mu is held.
func (c *upConn) retireLocked() {
	if c.err == nil {
		c.err = errRetired
		c.notifyLocked()
	}
}

// discardLocked discards the connection for n bytes no request asked for:
// err becomes its answer to every later read and write, the bytes are
// counted, and the server is quarantined unless the connection was not
// to be reused anyway. quiet lowers the log level (an idle-timeout 408,
// which net/http also swallows; not held against the server).
func (c *upConn) discardLocked(reason string, n int, err error, quiet bool) {
	c.failLocked(err, quiet)
	if quiet {
		return
	}
	if c.guard != nil {
		c.guard.metrics.discard(reason, n)
	}
	if !c.last {
		c.guard.quarantine(c.upstream)
	}
}

// Write writes request bytes. The first write of a request checks that the
// connection is in step first.
func (c *upConn) Write(p []byte) (int, error) {
	if err := c.startRequest(); err != nil {
		return 0, err
	}
	if c.plainW != nil {
		return c.plainW.Write(p)
	}
	return c.Conn.Write(p)
}

// startRequest begins the response expected for the request announced by
// expectResponse, if this write starts it. Writes after the first (the
// rest of a request) pass, even after its response ended early and the
// connection was retired or discarded since: they cannot make a response
// be read out of turn, and failing them could fail the response already
// received (net/http reports a write error first).
func (c *upConn) startRequest() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.next
	if next == nextNone {
		return nil
	}
	if c.err != nil {
		return c.err
	}
	c.next = nextNone
	switch c.f.state {
	case framingIdle:
	case framingUnknown, framingClose:
		// The previous response was one the framer could not follow, or
		// that ended with the connection (net/http reuses none of those,
		// but it decides, not the framer).
		c.failLocked(fmt.Errorf("%w: %s: the previous response's framing was not followed; not reusing the connection", errDesync, c.upstream), false)
		return c.err
	default:
		c.failLocked(fmt.Errorf("%w: %s: connection reused before its previous response ended", errDesync, c.upstream), false)
		return c.err
	}
	quarantined := c.guard.quarantined(c.upstream)
	if quarantined && c.used {
		// Nothing is written: the transport retries on a new connection.
		c.failLocked(fmt.Errorf("%w: %s recently sent bytes no request asked for; not reusing its connections", errDesync, c.upstream), true)
		return c.err
	}
	if err := c.discardUnaskedLocked(); err != nil {
		return err
	}
	c.used, c.last = true, c.nextLast || quarantined
	c.f.begin(next == nextHead)
	return nil
}

// quiesceLocked returns once every byte that reached this node has been
// seen by the framer, or an error when bytes are waiting that no request
// asked for. c.mu is held (and released while waiting).
func (c *upConn) quiesceLocked() error {
	var timer *time.Timer
	for {
		if c.err != nil {
			return c.err
		}
		var first [12]byte
		n, arrived := 0, false
		if c.raw != nil {
			n, arrived = c.raw.pending(first[:])
		}
		if c.tls == nil {
			// A plain read frames its bytes in the critical section that
			// took them from the kernel: what is left there is unread.
			if arrived && is408(first[:n]) {
				// An idle-timeout 408, not held against the server (as
				// when a read loop reads it: frameLocked).
				c.failLocked(fmt.Errorf("%w: %s timed the idle connection out (408)", errDesync, c.upstream), true)
				return c.err
			}
			if arrived {
				return fmt.Errorf("%w: %s sent bytes while no request was outstanding", errDesync, c.upstream)
			}
			return nil
		}
		if !arrived && c.waiting && c.rec.atBoundary() {
			return nil
		}
		// tls.Conn holds or is about to receive bytes it has not
		// processed: a session ticket (harmless) or application data (the
		// read side fails the connection). The read loop is reading, so
		// it settles soon.
		if timer == nil {
			timer = time.NewTimer(c.quiesceMax)
			defer timer.Stop()
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.waiters++
		c.mu.Unlock()
		timedOut := false
		select {
		case <-ch:
		case <-timer.C:
			timedOut = true
		}
		c.mu.Lock()
		c.waiters--
		if timedOut && c.err == nil {
			return fmt.Errorf("%w: %s: TLS records still unprocessed after %v", errDesync, c.upstream, c.quiesceMax)
		}
	}
}

// notifyLocked wakes requests waiting in quiesceLocked.
func (c *upConn) notifyLocked() {
	if c.waiters > 0 && c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// failLocked makes err the connection's answer to every later read and
// write; the transport then closes it. quiet lowers the log level (an
// idle-timeout 408, which net/http also swallows).
func (c *upConn) failLocked(err error, quiet bool) {
	if c.err != nil {
		return
	}
	c.err = err
	c.notifyLocked()
	level := slog.LevelWarn
	if quiet {
		level = slog.LevelDebug
	}
	c.log.Log(context.Background(), level, "upstream connection discarded", "upstream", c.upstream, "err", err)
}

// idleCheck looks, without reading, at whether bytes arrived on an idle
// plain connection, and discards it when they did, as a read loop reading
// them would (frameLocked) and as the next request's first write would
// (startRequest): its server is quarantined unless the bytes are an
// idle-timeout 408. It reports whether the connection may still be kept.
func (c *upConn) idleCheck() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && c.tls == nil && c.f.state == framingIdle {
		_ = c.discardUnaskedLocked()
	}
	return c.err == nil
}

// discardUnaskedLocked discards the connection, as unsolicited, when
// quiesceLocked finds bytes no request asked for, and returns the
// connection's error then; c.mu is held.
func (c *upConn) discardUnaskedLocked() error {
	if err := c.quiesceLocked(); err != nil {
		if c.err == nil { // else the read side discarded the connection
			c.discardLocked(discardUnsolicited, 0, err, false)
		}
		return c.err
	}
	return nil
}

// reusable reports whether the connection may carry another request:
// nothing failed it, its framer is between responses, and the request
// answered last was not its last.
func (c *upConn) reusable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && c.f.state == framingIdle && !c.last
}

// Close closes the connection and releases requests waiting on it.
func (c *upConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.notifyLocked()
	c.mu.Unlock()
	return err
}

// tlsSide is the TCP connection as tls.Conn sees it: its reads go through
// the upConn's lock, so that a request's first write can tell whether
// tls.Conn holds bytes it has not processed.
type tlsSide struct {
	net.Conn // the TCP connection: writes, deadlines, close
	c        *upConn
}

func (s tlsSide) Read(p []byte) (int, error) {
	c := s.c
	c.mu.Lock()
	c.waiting = true
	c.notifyLocked()
	c.mu.Unlock()
	if c.raw != nil {
		return c.raw.read(p)
	}
	n, err := s.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.tlsGotLocked(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// tlsGotLocked notes bytes handed to tls.Conn.
func (c *upConn) tlsGotLocked(b []byte) {
	c.waiting = false
	c.rec.advance(b)
	c.notifyLocked()
}

// recordTracker follows TLS record boundaries (RFC 8446 §5.1: a 5-byte
// header whose last two bytes are the length, then the fragment) in the
// bytes handed to tls.Conn. Between records, tls.Conn holds no part of one.
type recordTracker struct {
	hdr  [5]byte
	nhdr int // header bytes seen of the current record
	left int // fragment bytes left of the current record
}

func (t *recordTracker) advance(b []byte) {
	for len(b) > 0 {
		if t.left > 0 {
			k := min(len(b), t.left)
			t.left -= k
			b = b[k:]
			continue
		}
		t.hdr[t.nhdr] = b[0]
		t.nhdr++
		b = b[1:]
		if t.nhdr == len(t.hdr) {
			t.left, t.nhdr = int(binary.BigEndian.Uint16(t.hdr[3:])), 0
		}
	}
}

func (t *recordTracker) atBoundary() bool { return t.nhdr == 0 && t.left == 0 }

// is408 reports whether b starts an HTTP/1.x 408 response: what servers
// send on an idle connection they time out (net/http's is408Message).
func is408(b []byte) bool {
	return len(b) >= 12 && string(b[:7]) == "HTTP/1." && string(b[8:12]) == " 408"
}

// quote returns at most the first 64 bytes of b, for messages.
func quote(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// dialer opens upstream connections wrapped in upConn, plain or TLS.
type dialer struct {
	net     net.Dialer
	tls     *tls.Config // nil means the system roots; cloned per connection
	connect time.Duration
	log     *slog.Logger
	guard   *reuseGuard
	custom  func(ctx context.Context, network, addr string) (net.Conn, error) // nil: net
}

// tcp opens the connection under an upConn.
func (d *dialer) tcp(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.custom != nil {
		ctx, cancel := context.WithTimeout(ctx, d.connect)
		defer cancel()
		return d.custom(ctx, network, addr)
	}
	return d.net.DialContext(ctx, network, addr)
}

func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.plain(ctx, network, addr)
	if err != nil {
		return nil, err // not a nil *upConn in a non-nil net.Conn
	}
	return c, nil
}

// plain opens a plain-HTTP connection.
func (d *dialer) plain(ctx context.Context, network, addr string) (*upConn, error) {
	conn, err := d.tcp(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return newUpConn(conn, addr, d.log, d.guard, d.connect, false), nil
}

// dialTLS does what http.Transport would do with TLSClientConfig and
// TLSHandshakeTimeout, with the upConn's tlsSide under tls.Conn.
func (d *dialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.tcp(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := newUpConn(conn, addr, d.log, d.guard, d.connect, true)
	cfg := &tls.Config{}
	if d.tls != nil {
		cfg = d.tls.Clone()
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	tc := tls.Client(tlsSide{Conn: conn, c: c}, cfg)
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.TLSHandshakeStart != nil {
		trace.TLSHandshakeStart()
	}
	hctx, cancel := context.WithTimeout(ctx, d.connect)
	err = tc.HandshakeContext(hctx)
	cancel()
	if trace != nil && trace.TLSHandshakeDone != nil {
		trace.TLSHandshakeDone(tc.ConnectionState(), err)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	c.Conn, c.tls, c.tlsBuf = tc, tc, make([]byte, tlsMaxPlaintext)
	return c, nil
}
