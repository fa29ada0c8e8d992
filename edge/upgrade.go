package edge

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edged/edge/clientip"
	"edged/edge/policy"
	"edged/edge/strictconn"
	"edged/internal/httpsyntax"
)

// Defaults of a route's WebSocket settings.
const (
	DefaultWebSocketIdle      = 60 * time.Second
	DefaultWebSocketPerClient = 16
	// DefaultWebSocketMaxDuration bounds a connection however busy it is,
	// so that a client trickling bytes cannot hold an upstream connection
	// for good; 2 hours, as AWS API Gateway's WebSocket limit.
	DefaultWebSocketMaxDuration = 2 * time.Hour
)

// wsCloseGrace is how long a connection at its MaxDuration has, after the
// relay asked for close frames, to finish the close handshake (and a
// peer to end the frame it was sending) before both sides are cut.
const wsCloseGrace = 5 * time.Second

// taskWebSocket names a WebSocket connection's relay among the Handler's
// tasks: Close ends it.
const taskWebSocket = "websocket relay"

// WebSocket lets a route carry WebSocket connections (RFC 6455): HTTP/1.1
// Upgrade, and HTTP/2 extended CONNECT (RFC 8441) where the server accepts
// it. A route without one serves an upgrade request as a plain request,
// ignoring Upgrade (RFC 9110 §7.8 allows it), and refuses an extended
// CONNECT as any CONNECT (405).
//
// The handshake runs after the route's access rules, rate limit and
// authentication, and on a route with a CORS policy only from a page of
// an origin it allows (or the site's own, or no Origin at all: browsers
// apply no CORS to WebSocket); it is forwarded upstream with its Upgrade, and the
// connection is switched only on the upstream's 101 with the
// Sec-WebSocket-Accept that the client's key calls for (RFC 6455 §4.1).
// From then on the bytes are relayed both ways untouched, and nothing of
// the exchange is stored.
type WebSocket struct {
	// IdleTimeout closes a connection over which no byte moved, either
	// way, for this long; 0 means DefaultWebSocketIdle.
	IdleTimeout time.Duration
	// MaxPerClient caps the connections one client (by address, see
	// Options.ClientIP) has open on the route; past it the handshake is
	// answered 429. 0 means DefaultWebSocketPerClient.
	MaxPerClient int
	// MaxDuration ends a connection this long after it was switched,
	// however busy: both sides get a close frame with status 1001 (RFC
	// 6455 §7.4.1) at their next frame boundary, and are cut wsCloseGrace
	// later if the close handshake has not ended the connection. 0 means
	// DefaultWebSocketMaxDuration; negative means no limit.
	MaxDuration time.Duration

	// closeGrace replaces wsCloseGrace when positive (tests).
	closeGrace time.Duration

	mu   sync.Mutex // guards open
	open map[netip.Addr]int
}

func (ws *WebSocket) idle() time.Duration {
	if ws.IdleTimeout > 0 {
		return ws.IdleTimeout
	}
	return DefaultWebSocketIdle
}

// maxDuration is MaxDuration with its default; 0 means none.
func (ws *WebSocket) maxDuration() time.Duration {
	switch {
	case ws.MaxDuration < 0:
		return 0
	case ws.MaxDuration == 0:
		return DefaultWebSocketMaxDuration
	}
	return ws.MaxDuration
}

// take counts a connection against client's cap; false when full. An
// IPv6 client is counted by its /64 (clientip.Network): callers pass the
// address take and release see alike.
func (ws *WebSocket) take(client netip.Addr) bool {
	limit := ws.MaxPerClient
	if limit <= 0 {
		limit = DefaultWebSocketPerClient
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.open[client] >= limit {
		return false
	}
	if ws.open == nil {
		ws.open = make(map[netip.Addr]int)
	}
	ws.open[client]++
	return true
}

func (ws *WebSocket) release(client netip.Addr) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.open[client]--; ws.open[client] <= 0 {
		delete(ws.open, client)
	}
}

// wantsWebSocket reports whether h asks to switch to WebSocket: Upgrade
// lists "websocket" and Connection lists "upgrade" (RFC 6455 §4.2.1 items
// 3 and 4, case-insensitive). It must run before dropConnectionNamed,
// which removes the Upgrade field that Connection names.
func wantsWebSocket(h http.Header) bool {
	// "websocket/13" does not name "websocket".
	return httpsyntax.ListHas(h["Upgrade"], "websocket") && httpsyntax.ListHas(h["Connection"], "upgrade")
}

// webSocketGUID is RFC 6455 §1.3's constant.
const webSocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// webSocketAccept is the Sec-WebSocket-Accept a server must answer key
// with (RFC 6455 §4.2.2 item 5.4).
func webSocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + webSocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// isExtendedConnect reports whether r is an HTTP/2 WebSocket opening
// (RFC 8441 §4: CONNECT with :protocol websocket). Go's server passes the
// pseudo-header in Header, and accepts such requests only when the process
// runs with GODEBUG=http2xconnect=1, which edged's main sets (it then sends
// SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 §3).
func isExtendedConnect(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Method == http.MethodConnect && strings.EqualFold(r.Header.Get(":protocol"), "websocket")
}

// checkHandshake returns the status and reason that refuse a WebSocket
// opening handshake (RFC 6455 §4.2.1; RFC 8441 §5 over HTTP/2, which has
// no key), or 0.
func checkHandshake(r *http.Request) (int, string) {
	h2 := isExtendedConnect(r)
	switch {
	case !h2 && r.Method != http.MethodGet:
		return http.StatusBadRequest, "websocket handshake must be a GET (RFC 6455 §4.1)"
	case !h2 && (!r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1):
		return http.StatusBadRequest, "websocket upgrade needs HTTP/1.1, or extended CONNECT over HTTP/2"
	case !h2 && r.ContentLength != 0:
		// Its bytes would be relayed as frames.
		return http.StatusBadRequest, "websocket handshake must have no body"
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		// RFC 6455 §4.4: 426 naming the versions served.
		return http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version (13 is served)"
	case h2:
		return 0, "" // RFC 8441 §5: no Sec-WebSocket-Key
	}
	key := r.Header.Values("Sec-WebSocket-Key")
	if len(key) != 1 {
		return http.StatusBadRequest, "websocket handshake needs one Sec-WebSocket-Key"
	}
	// RFC 6455 §4.1: a base64-encoded 16-byte nonce.
	if raw, err := base64.StdEncoding.DecodeString(key[0]); err != nil || len(raw) != 16 {
		return http.StatusBadRequest, "invalid Sec-WebSocket-Key (want 16 bytes in base64)"
	}
	return 0, ""
}

// webSocket forwards a WebSocket handshake and, once the upstream has
// switched protocols, relays the connection until either side closes it,
// it is idle for the route's IdleTimeout, or the Handler closes. Upstream
// it is always an HTTP/1.1 Upgrade; an HTTP/2 client's stream (RFC 8441)
// is bridged to it, the proxy making the key the upstream must answer.
func (x *exchange) webSocket(ws *WebSocket) {
	h, r := x.h, x.r
	x.cs = policy.CacheStatus{Fwd: policy.FwdBypass, Detail: policy.DetailWebSocket}
	if status, reason := checkHandshake(r); status != 0 {
		if status == http.StatusUpgradeRequired {
			x.w.Header().Set("Sec-WebSocket-Version", "13")
		}
		x.refuse(status, reason, policy.DetailWebSocket)
		return
	}
	if p := x.route.CORS; p != nil && !p.AllowsWebSocket(r, x.t.Scheme, x.t.Host) {
		// Browsers apply no CORS to WebSocket: without this, any page could
		// open one with its user's cookies and read the messages.
		x.refuse(http.StatusForbidden, "websocket handshake from an origin the route's cors policy does not allow", policy.DetailWebSocket)
		return
	}
	client := clientip.Network(h.client(r))
	if !ws.take(client) {
		// RFC 6585 §4.
		x.refuse(http.StatusTooManyRequests, "too many websocket connections open from this client", policy.DetailWebSocket)
		return
	}
	defer ws.release(client)
	out := x.outbound()
	key := r.Header.Get("Sec-WebSocket-Key")
	h2 := r.ProtoMajor == 2
	if h2 {
		// RFC 8441 §5: the HTTP/1.1 side's key and accept are this hop's.
		key = newWebSocketKey()
		out.Method = http.MethodGet
		out.Header.Set("Sec-WebSocket-Key", key)
		delete(out.Header, ":protocol")
	}
	out.Upgrade = "websocket"
	start := time.Now()
	resp, err := x.upstream.Do(r.Context(), out)
	x.noteUpstream(resp, err, start)
	if err != nil {
		x.passUpstreamFailed(err)
		return
	}
	defer resp.Body.Close()
	x.cs.FwdStatus = resp.StatusCode
	if resp.StatusCode != http.StatusSwitchingProtocols && (!h2 || resp.StatusCode >= 300) {
		// The upstream declined (RFC 6455 §4.1: any other status is its
		// answer as plain HTTP): the client gets it, never stored. Over
		// HTTP/2 a 2xx would read as success (RFC 8441 §5), hence 502.
		x.writeUpstream(resp, nil)
		return
	}
	up, ok := resp.Body.(io.ReadWriter)
	if !ok || resp.Header.Get("Sec-WebSocket-Accept") != webSocketAccept(key) {
		// RFC 6455 §4.1: a client fails a handshake whose accept value is
		// not the one its key calls for; so does the proxy, for it.
		x.respondError(http.StatusBadGateway, "upstream did not switch to websocket with the right Sec-WebSocket-Accept")
		return
	}
	hdr := x.w.Header()
	for k, v := range resp.Header {
		hdr[k] = v
	}
	x.setCacheStatus(resp.Header)
	if h2 {
		x.webSocketStream(ws, up, resp.Body)
		return
	}
	hdr.Set("Upgrade", "websocket")
	hdr.Set("Connection", "Upgrade")
	// RFC 9110 §8.6, §6.1: a 1xx has no content, so no framing fields.
	delete(hdr, "Content-Length")
	delete(hdr, "Transfer-Encoding")
	conn, brw, err := http.NewResponseController(&x.w).Hijack()
	if err != nil {
		x.respondError(http.StatusInternalServerError, "cannot take over the connection: "+err.Error())
		return
	}
	defer conn.Close()
	x.w.status = http.StatusSwitchingProtocols
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = hdr.Write(&head)
	head.WriteString("\r\n")
	if _, err := conn.Write(head.Bytes()); err != nil {
		return
	}
	// The connection stops being HTTP: net/http's buffered bytes, then the
	// strict framer's, then the socket (as edge/forward's CONNECT tunnels).
	held, raw := strictconn.Release(conn)
	_ = raw.SetDeadline(time.Time{}) // net/http's deadlines were for HTTP
	early, _ := brw.Reader.Peek(brw.Reader.Buffered())
	fromClient := io.MultiReader(bytes.NewReader(append(bytes.Clone(early), held...)), raw)
	closeRaw := func() { _ = raw.Close() }
	x.w.bytes += h.relay(x.key(), peer{fromClient, raw, closeRaw, closeRaw}, up, resp.Body, ws)
}

// webSocketStream answers an HTTP/2 WebSocket opening with 200 (RFC 8441
// §5) and relays the stream's DATA to and from the upstream connection.
func (x *exchange) webSocketStream(ws *WebSocket, up io.ReadWriter, upClose io.Closer) {
	r := x.r
	hdr := x.w.Header()
	delete(hdr, "Sec-Websocket-Accept") // RFC 8441 §5: not used over HTTP/2
	x.w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(&x.w)
	if rc.Flush() != nil {
		return
	}
	// The server's deadlines were for an HTTP exchange; the stream is
	// bounded by IdleTimeout now.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	toClient := writerFunc(func(p []byte) (int, error) {
		n, err := x.w.ResponseWriter.Write(p)
		if err == nil {
			err = rc.Flush()
		}
		return n, err
	})
	end := func() { _ = r.Body.Close() } // returning then ends the stream (END_STREAM)
	abort := func() {
		end()
		// A deadline in the past resets the stream at once (RST_STREAM),
		// which unblocks a write the client does not read.
		_ = rc.SetWriteDeadline(time.Unix(1, 0))
	}
	x.w.bytes += x.h.relay(x.key(), peer{r.Body, toClient, end, abort}, up, upClose, ws)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// peer is the client's side of a relay: what it sends, where its bytes go,
// and how to end it after either side ended (end) or cut it (abort: idle,
// the Handler closing).
type peer struct {
	from       io.Reader
	to         io.Writer
	end, abort func()
}

// newWebSocketKey is a fresh Sec-WebSocket-Key: 16 random bytes in base64
// (RFC 6455 §4.1).
func newWebSocketKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// relay copies client → upstream and upstream → client until either ends,
// nothing moves for ws's idle timeout, the connection reaches its
// MaxDuration, or the Handler closes (Close stops the relay at once); it
// returns the bytes sent to the client. Either end closes both: WebSocket
// ends with its own close handshake (RFC 6455 §7), so nothing is owed
// after a side's end. At MaxDuration each side is sent a close frame at its
// next frame boundary and what follows is dropped; the peers' close
// handshake then ends the connection, or wsCloseGrace does.
func (h *Handler) relay(key string, client peer, up io.ReadWriter, upClose io.Closer, ws *WebSocket) int64 {
	var last atomic.Int64
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	var once sync.Once
	var why atomic.Value // the reason of the first finish
	finish := func(cut bool, reason string) {
		once.Do(func() {
			why.Store(reason)
			if cut {
				client.abort()
			} else {
				client.end()
			}
			_ = upClose.Close()
		})
	}
	conn := h.tasks.add(taskWebSocket, key, func() { finish(true, wsShutdown) })
	defer h.tasks.done(conn)
	// Frames to the client are a server's (unmasked); frames to the
	// upstream a client's (masked), RFC 6455 §5.1.
	toClient := &wsGate{w: client.to, close: wsCloseFrame(wsStatusGoingAway, "maximum connection duration", false)}
	toUpstream := &wsGate{w: up, close: wsCloseFrame(wsStatusGoingAway, "maximum connection duration", true)}
	var sentToClient, sentToUpstream int64
	done := make(chan struct{}, 2)
	pump := func(dst *wsGate, src io.Reader, n *int64) func() {
		return func() {
			defer func() { finish(false, wsEnded); done <- struct{}{} }()
			buf := make([]byte, 32<<10)
			for {
				k, err := src.Read(buf)
				if k > 0 {
					touch()
					if _, werr := dst.Write(buf[:k]); werr != nil {
						return
					}
					*n += int64(k)
				}
				if err != nil {
					return
				}
			}
		}
	}
	h.tasks.start(taskWebSocket, key, pump(toUpstream, client.from, &sentToUpstream))
	h.tasks.start(taskWebSocket, key, pump(toClient, up, &sentToClient))
	idle := ws.idle()
	timer := time.NewTimer(idle)
	defer timer.Stop()
	var limit, grace <-chan time.Time
	reached := false // MaxDuration, whatever ended the relay after it
	if d := ws.maxDuration(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		limit = t.C
	}
	for running := 2; running > 0; {
		select {
		case <-done:
			running--
		case <-timer.C:
			if since := time.Since(time.Unix(0, last.Load())); since < idle {
				timer.Reset(idle - since)
				continue
			}
			finish(true, wsIdle)
		case <-limit:
			limit, reached = nil, true
			// A write may block on a peer that does not read: the grace
			// timer cuts it, which ends these too.
			h.tasks.start(taskWebSocket, key, toClient.sendClose)
			h.tasks.start(taskWebSocket, key, toUpstream.sendClose)
			t := time.NewTimer(cmp.Or(ws.closeGrace, wsCloseGrace))
			defer t.Stop()
			grace = t.C
		case <-grace:
			grace = nil
			finish(true, wsMaxDuration)
		}
	}
	reason, _ := why.Load().(string)
	if reached {
		reason = wsMaxDuration // the pumps ended in the close handshake it began
	}
	h.metrics.webSocketEnded(reason)
	return sentToClient
}

// Why a relay ended: the label of edged_websocket_closed_total.
const (
	wsEnded       = "ended"        // a side closed its connection
	wsIdle        = "idle"         // nothing moved for IdleTimeout
	wsMaxDuration = "max_duration" // the connection reached MaxDuration
	wsShutdown    = "shutdown"     // Handler.Close
)

// wsGate passes one direction's bytes to w while following its frames, so
// that sendClose can put a close frame at the next frame boundary; after
// it, the peer's bytes are dropped (RFC 6455 §5.5.1: no data frames after
// a close).
type wsGate struct {
	w     io.Writer
	close []byte // the close frame to send

	mu      sync.Mutex // guards the fields below and writes to w
	frames  wsFrames
	closing bool // a close frame is owed at the next boundary
	sent    bool // it was sent
}

func (g *wsGate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sent {
		return len(p), nil
	}
	k := g.frames.feed(p, g.closing)
	if k < 0 {
		return g.w.Write(p)
	}
	if _, err := g.w.Write(p[:k]); err != nil {
		return 0, err
	}
	g.sent = true
	if _, err := g.w.Write(g.close); err != nil {
		return 0, err
	}
	return len(p), nil
}

// sendClose sends the close frame now if no frame is under way, else has
// the Write that ends it send it.
func (g *wsGate) sendClose() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sent {
		return
	}
	g.closing = true
	if g.frames.atBoundary() {
		g.sent = true
		_, _ = g.w.Write(g.close)
	}
}
