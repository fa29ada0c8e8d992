package forward

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"edged/edge/clientip"
	"edged/edge/strictconn"
	"edged/internal/rawio"
)

// tunnelBuffer is the size of each relay read (and the largest bandwidth
// burst a Rules limiter must allow).
const tunnelBuffer = 32 << 10

// connect opens a CONNECT tunnel (RFC 9110 §9.3.6): the proxy dials the
// destination, answers 200 and then relays bytes both ways without looking
// at them (TLS stays end to end), until either side closes, nothing moves
// for TunnelIdle, TunnelMax passes, or the proxy closes.
//
// decided, when valid, is the address the rules were given: the tunnel
// goes to exactly it, not to what the name resolves to at dial time, so a
// name re-pointed between the decision and the dial cannot reach a
// network a dest_networks rule denies. The Dialer's SSRF gate checks it
// all the same.
func (p *Proxy) connect(w http.ResponseWriter, r *http.Request, rec *record, dst destination, decided netip.Addr, bw *rate.Limiter) {
	// An IPv6 client is counted by its /64, from any address of which it
	// may send (as the rules' limits count it).
	client := clientip.Network(rec.client)
	if !p.takeTunnel(client, rec.cfg) {
		p.refuse(w, r, rec, http.StatusTooManyRequests, "tunnels", "too many tunnels open from this client (forward.tunnels.max_per_client)")
		return
	}
	defer p.releaseTunnel(client)
	addr := dst.authority()
	if decided.IsValid() {
		addr = netip.AddrPortFrom(decided, uint16(dst.port)).String()
	}
	up, err := p.opts.Dialer.DialContext(r.Context(), "tcp", addr)
	if err != nil {
		if isRefused(err) {
			p.refuse(w, r, rec, http.StatusForbidden, "destination", err.Error())
		} else {
			p.refuse(w, r, rec, http.StatusBadGateway, "", err.Error())
		}
		return
	}
	defer up.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.refuse(w, r, rec, http.StatusInternalServerError, "", "cannot take over the connection: "+err.Error())
		return
	}
	defer conn.Close()
	// RFC 9110 §9.3.6: a 2xx makes the connection a tunnel; it has no
	// content, so neither Content-Length nor Transfer-Encoding.
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		rec.status, rec.why = 499, "client went away"
		return
	}
	rec.status = http.StatusOK
	// The connection stops being HTTP: bytes net/http buffered, then the
	// ones the strict framer held back, then the socket itself.
	held, raw := strictconn.Release(conn)
	_ = raw.SetDeadline(time.Time{}) // net/http's deadlines were for HTTP
	early := append(bufferedBytes(brw.Reader), held...)
	if bw == nil {
		// No bandwidth limit to pace the bytes: TCP to TCP, the kernel
		// moves them (splice(2)) without a copy through this process.
		client, ok1 := rawio.TCPOf(raw)
		upTCP, ok2 := up.(*net.TCPConn)
		if ok1 && ok2 {
			rec.why = p.splice(early, client, upTCP, rec)
			return
		}
	}
	fromClient := io.MultiReader(bytes.NewReader(early), raw)
	rec.why = p.relay(fromClient, raw, up, bw, rec)
}

// relay copies both ways until the tunnel ends and says why it ended.
func (p *Proxy) relay(fromClient io.Reader, client, up net.Conn, bw *rate.Limiter, rec *record) string {
	ctx, cancel := context.WithCancel(context.Background())
	t := &tunnel{client: client, up: up, bw: bw, ctx: ctx, cancel: cancel}
	defer cancel()
	t.touch()
	p.metrics.tunnels.Inc()
	defer p.metrics.tunnels.Dec()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); t.copy(up, fromClient, &t.in) }()
	go func() { defer wg.Done(); t.copy(client, up, &t.out) }()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	why := p.watch(t, done, rec.cfg.opts.TunnelIdle, rec.cfg.opts.TunnelMax)
	<-done
	rec.bytesIn, rec.bytesOut = t.in.Load(), t.out.Load()
	return why
}

// watch ends t on its idle and total limits (those of the settings it
// opened under) or when the proxy closes; it returns when the tunnel is
// over. A zero idle leaves idleness to the copiers (the spliced path).
func (p *Proxy) watch(t *tunnel, done <-chan struct{}, idle, max time.Duration) string {
	total := time.NewTimer(max)
	defer total.Stop()
	var quietC <-chan time.Time
	if idle > 0 {
		quiet := time.NewTimer(idle)
		defer quiet.Stop()
		quietC = quiet.C
	}
	for {
		select {
		case <-done:
			return "closed"
		case <-p.closing:
			t.close()
			return "proxy closing"
		case <-total.C:
			t.close()
			return "tunnel time limit (forward.tunnels.max_duration)"
		case <-quietC:
			since := time.Since(time.Unix(0, t.last.Load()))
			if since >= idle {
				t.close()
				return idleReason
			}
			quietC = time.After(idle - since)
		}
	}
}

// tunnel is one open CONNECT tunnel.
type tunnel struct {
	client, up net.Conn
	bw         *rate.Limiter
	ctx        context.Context // ends with the tunnel, for bandwidth waits
	cancel     context.CancelFunc
	last       atomic.Int64 // UnixNano of the last byte either way
	in, out    atomic.Int64 // bytes from and to the client
	closeOnce  sync.Once
}

func (t *tunnel) touch() { t.last.Store(time.Now().UnixNano()) }

func (t *tunnel) close() {
	t.closeOnce.Do(func() {
		t.cancel()
		_ = t.client.Close()
		_ = t.up.Close()
	})
}

// copy relays src to dst, counting into n. At src's end it half-closes
// dst, so the other direction may finish (a TLS close_notify, an HTTP
// response after the request's end); on any error it ends both.
func (t *tunnel) copy(dst net.Conn, src io.Reader, n *atomic.Int64) {
	buf := make([]byte, tunnelBuffer)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			t.touch()
			if werr := waitBandwidth(t.ctx, t.bw, k); werr != nil {
				t.close()
				return
			}
			if _, werr := dst.Write(buf[:k]); werr != nil {
				t.close()
				return
			}
			n.Add(int64(k))
		}
		if err == io.EOF {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return
			}
			t.close()
			return
		}
		if err != nil {
			t.close()
			return
		}
	}
}

// takeTunnel counts a tunnel against its client's cap in s; false when
// full.
func (p *Proxy) takeTunnel(client netip.Addr, s *Settings) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !s.opts.NoTunnelLimit && p.tunnels[client] >= s.opts.MaxTunnelsPerClient {
		return false
	}
	p.tunnels[client]++
	p.wg.Add(1)
	return true
}

func (p *Proxy) releaseTunnel(client netip.Addr) {
	p.mu.Lock()
	if p.tunnels[client]--; p.tunnels[client] <= 0 {
		delete(p.tunnels, client)
	}
	p.mu.Unlock()
	p.wg.Done()
}

// bufferedBytes returns a copy of the bytes br holds, without reading more.
func bufferedBytes(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return append([]byte(nil), b...)
}
