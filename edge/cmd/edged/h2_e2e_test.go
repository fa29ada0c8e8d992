package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"edged/edge/config"
)

// The tests in this file speak HTTP/2 frame by frame (golang.org/x/net/http2's
// Framer over crypto/tls, ALPN "h2") to the HTTPS listener of a node run in
// the test process, to check the limits set by http2Limits and the server's
// behaviour against hostile clients (docs/security.md, "HTTP/2").

// h2Timeout bounds every wait for the server in these tests. It is far above
// what any step needs, so it only turns a hang into a failure.
const h2Timeout = 15 * time.Second

// h2Node is a node with an HTTPS listener, and what clients need to reach it.
type h2Node struct {
	f    *fleetNode
	ca   *testCA
	addr string // the TLS listener
	cfg  serverLimits
}

// serverLimits is the part of the server section the tests read back.
type serverLimits struct{ maxHeaderBytes int }

// startH2Node starts a node with a TLS listener serving a certificate for
// h2.test. upstreamYAML says where misses go (originYAML, or pools and
// sites); serverYAML is the server section's body (indented two spaces),
// possibly empty.
func startH2Node(tb testing.TB, upstreamYAML, serverYAML string) *h2Node {
	tb.Helper()
	return startH2NodeWith(tb, upstreamYAML, serverYAML, startFleetNode)
}

// startH2NodeWith is startH2Node with the node started by start.
func startH2NodeWith(tb testing.TB, upstreamYAML, serverYAML string, start func(testing.TB, *config.Config) *fleetNode) *h2Node {
	tb.Helper()
	dir := tb.TempDir()
	ca := newTestCA(tb)
	certFile, keyFile := filepath.Join(dir, "h2.crt"), filepath.Join(dir, "h2.key")
	ca.issue(tb, certFile, keyFile, "h2.test")
	yaml := upstreamYAML + fmt.Sprintf("tls:\n  listen: 127.0.0.1:0\n  certificates: [{cert: %s, key: %s}]\n", certFile, keyFile)
	if serverYAML != "" {
		yaml += "server:\n" + serverYAML
	}
	cfg := parseNodeConfig(tb, yaml)
	f := start(tb, cfg)
	return &h2Node{f: f, ca: ca, addr: f.n.tlsLn.Addr().String(), cfg: serverLimits{maxHeaderBytes: int(cfg.Server.MaxHeaderBytes)}}
}

// originYAML is the configuration for a single origin at url.
func originYAML(url string) string { return "upstream: {origin: " + url + "}\n" }

// checkServes fails the test unless a new client gets path with 200 over
// HTTP/2: the node still serves others.
func (h *h2Node) checkServes(tb testing.TB, path string) {
	tb.Helper()
	client, tr := tlsClient(h.ca, h.addr)
	defer tr.CloseIdleConnections()
	// Another client is another address: per-client bounds must not make
	// one client wait behind a flood from another.
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		return d.DialContext(ctx, network, h.addr)
	}
	client.Timeout = h2Timeout
	resp, err := client.Get("https://h2.test" + path)
	if err != nil {
		tb.Fatalf("another client: GET %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		tb.Fatalf("another client: GET %s = %d HTTP/%d, want 200 over HTTP/2", path, resp.StatusCode, resp.ProtoMajor)
	}
}

// h2Conn is a raw HTTP/2 client connection.
type h2Conn struct {
	tb       testing.TB
	conn     *tls.Conn
	fr       *http2.Framer
	hbuf     bytes.Buffer
	enc      *hpack.Encoder
	settings map[http2.SettingID]uint32 // the server's first SETTINGS
}

// dialH2 opens a TLS connection with ALPN h2, sends the connection preface
// and an empty SETTINGS (RFC 9113 §3.4), reads the server's SETTINGS and
// acknowledges it (RFC 9113 §6.5.3).
func (h *h2Node) dialH2(tb testing.TB) *h2Conn {
	tb.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: h2Timeout}, "tcp", h.addr,
		&tls.Config{ServerName: "h2.test", RootCAs: h.ca.pool, NextProtos: []string{"h2"}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	// RFC 9113 §3.2: "h2" is negotiated with ALPN (RFC 7301).
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		tb.Fatalf("ALPN negotiated %q, want h2", p)
	}
	c := &h2Conn{tb: tb, conn: conn, fr: http2.NewFramer(conn, conn)}
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.SetMaxReadFrameSize(1 << 20)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		tb.Fatal(err)
	}
	if err := c.fr.WriteSettings(); err != nil {
		tb.Fatal(err)
	}
	// RFC 9113 §3.4: the server's preface is a SETTINGS frame, first.
	f := c.read()
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		tb.Fatalf("first frame from the server is %v, want SETTINGS", f)
	}
	c.settings = make(map[http2.SettingID]uint32)
	_ = sf.ForeachSetting(func(s http2.Setting) error {
		c.settings[s.ID] = s.Val
		return nil
	})
	if err := c.fr.WriteSettingsAck(); err != nil {
		tb.Fatal(err)
	}
	return c
}

// read returns the next frame, failing the test on error or after h2Timeout.
func (c *h2Conn) read() http2.Frame {
	c.tb.Helper()
	f, err := c.tryRead()
	if err != nil {
		c.tb.Fatalf("read frame: %v", err)
	}
	return f
}

func (c *h2Conn) tryRead() (http2.Frame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(h2Timeout))
	return c.fr.ReadFrame()
}

// block encodes a GET request for path with the extra fields.
func (c *h2Conn) block(path string, extra ...hpack.HeaderField) []byte {
	c.hbuf.Reset()
	fields := append([]hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "h2.test"}, {Name: ":path", Value: path},
	}, extra...)
	for _, hf := range fields {
		if err := c.enc.WriteField(hf); err != nil {
			c.tb.Fatal(err)
		}
	}
	return bytes.Clone(c.hbuf.Bytes())
}

// get sends a complete GET request for path on stream id.
func (c *h2Conn) get(id uint32, path string) {
	c.tb.Helper()
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block(path), EndStream: true, EndHeaders: true})
	if err != nil {
		c.tb.Fatalf("write HEADERS on stream %d: %v", id, err)
	}
}

// until reads frames, answering PINGs, until match returns true; it fails
// the test if the connection ends first.
func (c *h2Conn) until(what string, match func(http2.Frame) bool) http2.Frame {
	c.tb.Helper()
	for {
		f, err := c.tryRead()
		if err != nil {
			c.tb.Fatalf("waiting for %s: %v", what, err)
		}
		if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
			_ = c.fr.WritePing(true, p.Data)
		}
		if match(f) {
			return f
		}
	}
}

// ping checks that the connection is still open and served (RFC 9113 §6.7:
// a PING is answered with a PING ACK carrying the same data).
func (c *h2Conn) ping() {
	c.tb.Helper()
	data := [8]byte{'e', 'd', 'g', 'e', 'd', 'h', '2', '!'}
	if err := c.fr.WritePing(false, data); err != nil {
		c.tb.Fatalf("write PING: %v", err)
	}
	c.until("PING ACK", func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == data
	})
}

// blockingOrigin answers /block/* only once release is closed (or the
// request is cancelled), and everything else at once; inFlight counts the
// /block/ requests it holds, maxInFlight the most it held at once.
type blockingOrigin struct {
	*httptest.Server
	release               chan struct{}
	once                  sync.Once
	inFlight, maxInFlight atomic.Int64
	started               atomic.Int64
}

func newBlockingOrigin(tb testing.TB) *blockingOrigin {
	tb.Helper()
	o := &blockingOrigin{release: make(chan struct{})}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		if strings.HasPrefix(r.URL.Path, "/block/") {
			o.started.Add(1)
			n := o.inFlight.Add(1)
			for m := o.maxInFlight.Load(); n > m && !o.maxInFlight.CompareAndSwap(m, n); m = o.maxInFlight.Load() {
			}
			select {
			case <-o.release:
			case <-r.Context().Done():
			}
			o.inFlight.Add(-1)
		}
		_, _ = io.WriteString(w, "ok "+r.URL.Path+"\n")
	}))
	tb.Cleanup(o.Server.Close)
	tb.Cleanup(o.free) // runs first
	return o
}

// free lets every held and future /block/ request finish.
func (o *blockingOrigin) free() { o.once.Do(func() { close(o.release) }) }

// TestHTTP2Settings: the server's SETTINGS (RFC 9113 §6.5.2) advertise the
// limits of http2Limits and server.max_header_bytes, and the connection
// window is raised to http2ConnReceiveBuffer (RFC 9113 §6.9.2).
func TestHTTP2Settings(t *testing.T) {
	origin := namedOrigin(t, "origin")
	h := startH2Node(t, originYAML(origin.URL), "  max_header_bytes: 8KiB\n")
	c := h.dialH2(t)
	tests := []struct {
		id   http2.SettingID
		want uint32
	}{
		{http2.SettingMaxConcurrentStreams, 100},
		{http2.SettingMaxFrameSize, 16 << 10},
		{http2.SettingHeaderTableSize, 4096},
		{http2.SettingInitialWindowSize, 256 << 10},
		// net/http: MaxHeaderBytes plus 32 octets (RFC 9113 §6.5.2) for
		// each of 10 fields.
		{http2.SettingMaxHeaderListSize, 8<<10 + 320},
	}
	for _, tt := range tests {
		if got, ok := c.settings[tt.id]; !ok || got != tt.want {
			t.Errorf("SETTINGS %v = %d (sent: %v), want %d", tt.id, got, ok, tt.want)
		}
	}
	wu := c.until("connection WINDOW_UPDATE", func(f http2.Frame) bool {
		w, ok := f.(*http2.WindowUpdateFrame)
		return ok && w.StreamID == 0
	}).(*http2.WindowUpdateFrame)
	if got, want := wu.Increment+65535, uint32(1<<20); got != want {
		t.Errorf("connection receive window = %d, want %d", got, want)
	}
	c.get(1, "/settings")
	resp := c.until("response HEADERS", func(f http2.Frame) bool {
		_, ok := f.(*http2.MetaHeadersFrame)
		return ok
	}).(*http2.MetaHeadersFrame)
	if s := resp.PseudoValue("status"); s != "200" {
		t.Errorf("GET /settings: status %s, want 200", s)
	}
}

// TestHTTP2ConcurrentStreamsLimit: with SETTINGS_MAX_CONCURRENT_STREAMS
// streams open, one more HEADERS is refused with RST_STREAM PROTOCOL_ERROR
// or REFUSED_STREAM (RFC 9113 §5.1.2), the connection stays open, and once
// streams finish new ones are served.
func TestHTTP2ConcurrentStreamsLimit(t *testing.T) {
	origin := newBlockingOrigin(t)
	h := startH2Node(t, originYAML(origin.URL), "")
	c := h.dialH2(t)
	limit := c.settings[http2.SettingMaxConcurrentStreams]
	if limit != http2MaxConcurrentStreams {
		t.Fatalf("advertised MAX_CONCURRENT_STREAMS %d, want %d", limit, http2MaxConcurrentStreams)
	}
	// Client streams have odd ids (RFC 9113 §5.1.1).
	for i := uint32(0); i < limit; i++ {
		c.get(2*i+1, fmt.Sprintf("/block/%d", i))
	}
	extra := 2*limit + 1
	c.get(extra, "/block/extra")
	f := c.until("RST_STREAM for the stream past the limit", func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			t.Fatalf("stream %d answered while all streams should be held by the origin", f.StreamID)
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v: the connection was closed, not the stream refused", f.ErrCode)
		case *http2.RSTStreamFrame:
			return true
		}
		return false
	}).(*http2.RSTStreamFrame)
	if f.StreamID != extra || (f.ErrCode != http2.ErrCodeProtocol && f.ErrCode != http2.ErrCodeRefusedStream) {
		t.Fatalf("RST_STREAM stream %d %v, want stream %d PROTOCOL_ERROR or REFUSED_STREAM", f.StreamID, f.ErrCode, extra)
	}
	c.ping()
	origin.free()
	answered := 0
	c.until("all responses", func(f http2.Frame) bool {
		if m, ok := f.(*http2.MetaHeadersFrame); ok {
			if s := m.PseudoValue("status"); s != "200" {
				t.Errorf("stream %d: status %s, want 200", m.StreamID, s)
			}
			answered++
		}
		return answered == int(limit)
	})
	next := extra + 2
	c.get(next, "/after")
	c.until("the response to a stream opened after", func(f http2.Frame) bool {
		m, ok := f.(*http2.MetaHeadersFrame)
		return ok && m.StreamID == next && m.PseudoValue("status") == "200"
	})
}

// TestHTTP2OversizedHeaders: a header list larger than
// SETTINGS_MAX_HEADER_LIST_SIZE (server.max_header_bytes, RFC 9113 §6.5.2)
// is refused — 431 (RFC 6585 §5), RST_STREAM or GOAWAY — never forwarded,
// and an endless CONTINUATION sequence (CVE-2023-45288) ends the connection;
// either way the node keeps serving other clients.
func TestHTTP2OversizedHeaders(t *testing.T) {
	origin := newBlockingOrigin(t)
	h := startH2Node(t, originYAML(origin.URL), "  max_header_bytes: 4KiB\n")
	// A list of fields that together pass the limit is answered 431
	// (RFC 6585 §5; RFC 9113 §8.1.1 allows a response). One field longer
	// than the whole limit, or a block fragment over twice what remains,
	// makes net/http stop decoding and end the connection (GOAWAY).
	oversized := []struct {
		name         string
		fields, size int
		wants        []string
	}{
		{"fields over the limit", 12, 400, []string{"status 431"}},
		{"one field over the limit", 1, 12 << 10, []string{"status 431", "RST_STREAM", "GOAWAY"}},
	}
	for _, tt := range oversized {
		t.Run(tt.name, func(t *testing.T) {
			c := h.dialH2(t)
			var extra []hpack.HeaderField
			for i := range tt.fields {
				extra = append(extra, hpack.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: strings.Repeat("a", tt.size)})
			}
			block := c.block("/big", extra...)
			// HEADERS then CONTINUATION (RFC 9113 §6.10), each within
			// SETTINGS_MAX_FRAME_SIZE.
			half := len(block) / 2
			if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:half], EndStream: true}); err != nil {
				t.Fatal(err)
			}
			if err := c.fr.WriteContinuation(1, true, block[half:]); err != nil {
				t.Fatal(err)
			}
			var outcome string
			c.until("the refusal", func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.MetaHeadersFrame:
					outcome = "status " + f.PseudoValue("status")
				case *http2.RSTStreamFrame:
					outcome = "RST_STREAM"
				case *http2.GoAwayFrame:
					outcome = "GOAWAY"
				}
				return outcome != ""
			})
			t.Logf("%d fields of %d octets: %s", tt.fields, tt.size, outcome)
			if !slices.Contains(tt.wants, outcome) {
				t.Errorf("%d fields of %d octets, limit %d: %s, want one of %v", tt.fields, tt.size, h.cfg.maxHeaderBytes, outcome, tt.wants)
			}
			if n := origin.started.Load(); n != 0 {
				t.Errorf("origin saw %d requests", n)
			}
			h.checkServes(t, "/other")
		})
	}

	t.Run("CONTINUATION without end", func(t *testing.T) {
		c := h.dialH2(t)
		block := c.block("/flood")
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block}); err != nil {
			t.Fatal(err)
		}
		// Literal fields without indexing (RFC 7541 §6.2.2), 16 KiB
		// frames, up to 16 MiB in all: far past the limit.
		frag := []byte(strings.Repeat("a", 16<<10))
		done := make(chan error, 1)
		go func() {
			for i := 0; i < 1024; i++ {
				if err := c.fr.WriteContinuation(1, false, frag); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		// The server ends the connection: GOAWAY then EOF, or a reset.
		var goaway http2.ErrCode = 255
		for {
			f, err := c.tryRead()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("connection still open after %v of CONTINUATION frames", h2Timeout)
				}
				break
			}
			if g, ok := f.(*http2.GoAwayFrame); ok {
				goaway = g.ErrCode
			}
		}
		c.conn.Close()
		<-done
		t.Logf("CONTINUATION flood: GOAWAY %v", goaway)
		h.checkServes(t, "/other2")
	})
}

// TestHTTP2RapidReset: a client that opens streams and resets them at once
// (HEADERS then RST_STREAM CANCEL, CVE-2023-44487) does not stop the node
// serving other clients, during or after. net/http's mitigation: at most
// SETTINGS_MAX_CONCURRENT_STREAMS handlers run per connection, the others
// wait in a queue and are dropped when reset before they start, and once
// more than four times the limit wait the connection is closed with GOAWAY
// ENHANCE_YOUR_CALM (RFC 9113 §5.4.1, §7). Here the edge's handlers return
// as soon as their stream is reset, so the queue rarely grows that far and
// the connection may survive the flood; it must then still answer.
//
// The flood asks for one URL, held at the origin, so the edge coalesces it
// into one fill: this test is about the HTTP/2 layer. For distinct URLs see
// TestHTTP2RapidResetDistinctURLs.
func TestHTTP2RapidReset(t *testing.T) {
	origin := newBlockingOrigin(t)
	h := startH2Node(t, originYAML(origin.URL), "")
	defer origin.free() // before the node stops: its fill waits for the origin
	n, goaway := rapidReset(t, h, 10000, func(int) string { return "/block/same" })
	t.Logf("rapid reset: %d HEADERS+RST_STREAM pairs written; GOAWAY %v; origin fetches started %d", n, goaway, origin.started.Load())
	if goaway != nil && goaway.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("flood connection ended with GOAWAY %v, want ENHANCE_YOUR_CALM or none", goaway.ErrCode)
	}
	if n := origin.started.Load(); n > 1 {
		t.Errorf("origin fetches started = %d, want 1 (the flood's requests coalesced)", n)
	}
	h.checkServes(t, "/after")
}

// TestHTTP2RapidResetDistinctURLs is the same flood over distinct URLs
// whose origin does not answer. A fill runs detached from its client (no
// client's disconnect may cancel a shared fetch), so the edge bounds the
// fetches one client may have under way (fillSlots, edge/flight.go): the flood
// starts at most that many, and other clients are served meanwhile.
func TestHTTP2RapidResetDistinctURLs(t *testing.T) {
	origin := newBlockingOrigin(t)
	// max_conns_per_host keeps the fills' origin connections (two file
	// descriptors each in this process) within bounds.
	h := startH2Node(t, fmt.Sprintf(`pools:
  o: {servers: [{url: %s}], max_conns_per_host: 64}
sites:
  - {name: h2, hosts: [h2.test], routes: [{path: /, pool: o}]}
`, origin.URL), "")
	defer origin.free()
	n, _ := rapidReset(t, h, 10000, func(i int) string { return fmt.Sprintf("/block/%d", i) })
	t.Logf("rapid reset: %d HEADERS+RST_STREAM pairs written; origin fetches started %d", n, origin.started.Load())
	if started := origin.started.Load(); started > 32 {
		t.Errorf("one client's flood started %d origin fetches, want at most 32 (its fetch slots)", started)
	}
	h.checkServes(t, "/after")
}

// rapidReset opens pairs streams for path(i) on one connection and resets
// each at once, checks that another client is served meanwhile, and returns
// the pairs written and the GOAWAY that ended the connection (nil if none).
func rapidReset(t *testing.T, h *h2Node, pairs int, path func(int) string) (int, *http2.GoAwayFrame) {
	t.Helper()
	c := h.dialH2(t)
	written := make(chan int, 1)
	go func() {
		n := 0
		defer func() { written <- n }()
		for ; n < pairs; n++ {
			id := uint32(2*n + 1)
			if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block(path(n)), EndStream: true, EndHeaders: true}); err != nil {
				return
			}
			if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
				return
			}
		}
	}()
	h.checkServes(t, "/during")
	n := <-written
	// After the flood: either the connection was ended (GOAWAY), or it is
	// still served and answers a PING (RFC 9113 §6.7).
	var goaway *http2.GoAwayFrame
	_ = c.fr.WritePing(false, [8]byte{1})
	for {
		f, err := c.tryRead()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("flood connection neither ended nor answered a PING within %v", h2Timeout)
			}
			break
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			goaway = g
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() && goaway == nil {
			break
		}
	}
	c.conn.Close()
	return n, goaway
}

// TestHTTP2IdleTimeout: an HTTP/2 connection without open streams is closed
// after server.idle_timeout with GOAWAY NO_ERROR (RFC 9113 §6.8), whether
// it served a request or none.
func TestHTTP2IdleTimeout(t *testing.T) {
	origin := namedOrigin(t, "origin")
	// The idle timer runs from the connection's start: 1s leaves a loaded
	// machine room to send the request of "after a request" in time.
	h := startH2Node(t, originYAML(origin.URL), "  idle_timeout: 1s\n")
	tests := []struct {
		name    string
		request bool
	}{
		{"after a request", true},
		{"no request", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.dialH2(t)
			if tt.request {
				c.get(1, "/idle")
				c.until("the response", func(f http2.Frame) bool {
					d, ok := f.(*http2.DataFrame)
					return ok && d.StreamEnded()
				})
			}
			var got *http2.GoAwayFrame
			for {
				f, err := c.tryRead()
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatalf("idle connection still open after %v (idle_timeout 1s)", h2Timeout)
					}
					break // closed
				}
				if g, ok := f.(*http2.GoAwayFrame); ok {
					got = g
				}
			}
			if got == nil || got.ErrCode != http2.ErrCodeNo {
				t.Errorf("idle connection closed with GOAWAY %v, want GOAWAY NO_ERROR", got)
			}
		})
	}
}

// TestTLSHandshakeTimeout: a client that connects to the TLS listener and
// never completes its handshake is disconnected after
// server.read_header_timeout (tlsListener bounds the handshake by it).
func TestTLSHandshakeTimeout(t *testing.T) {
	origin := namedOrigin(t, "origin")
	// Long enough for the real client of checkServes to finish its own
	// handshake on a loaded machine; every handshake is bounded by it.
	h := startH2Node(t, originYAML(origin.URL), "  read_header_timeout: 1s\n")
	tests := []struct {
		name string
		send []byte
	}{
		{"nothing sent", nil},
		{"partial ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(h2Timeout))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("stalled handshake still open after %v (read_header_timeout 1s)", h2Timeout)
			}
		})
	}
	h.checkServes(t, "/ok")
}

// TestBinaryOffersExtendedConnect: the binary, started without GODEBUG,
// advertises RFC 8441's SETTINGS_ENABLE_CONNECT_PROTOCOL (WebSocket over
// HTTP/2), which Go's server does only with GODEBUG=http2xconnect=1: main
// re-executes itself with it. An operator's http2xconnect=0 turns it off.
func TestBinaryOffersExtendedConnect(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(origin.Close)
	for _, c := range []struct {
		godebug string
		want    uint32
	}{{"", 1}, {"http2xconnect=0", 0}} {
		dir := t.TempDir()
		ca := newTestCA(t)
		certFile, keyFile := filepath.Join(dir, "h2.crt"), filepath.Join(dir, "h2.key")
		ca.issue(t, certFile, keyFile, "h2.test")
		cfg := writeFile(t, "edged.yaml", fmt.Sprintf(`
listen: 127.0.0.1:0
admin: ""
data: %s
log: {level: info, access: false}
upstream: {origin: %s}
tls:
  listen: 127.0.0.1:0
  certificates: [{cert: %s, key: %s}]
`, filepath.Join(dir, "data"), origin.URL, certFile, keyFile))
		t.Setenv("GODEBUG", c.godebug)
		p := runEdged(t, "-config", cfg)
		if p.tls == "" {
			t.Fatalf("GODEBUG=%q: no TLS listener in the serving line (%v)", c.godebug, p.exitErr)
		}
		conn := (&h2Node{ca: ca, addr: p.tls}).dialH2(t)
		if got := conn.settings[http2.SettingEnableConnectProtocol]; got != c.want {
			t.Errorf("GODEBUG=%q: SETTINGS_ENABLE_CONNECT_PROTOCOL = %d, want %d", c.godebug, got, c.want)
		}
	}
}
