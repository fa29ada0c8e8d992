package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestSlowHeadFloodBounded runs the binary with cache.memory 16MiB, so
// that server.max_connections, unset, is derived as 64, and opens 400
// connections that each send 60 KiB of a request head and never end it
// (slowloris, at its costliest per connection). Before, every one was
// accepted and read: each held its head in a buffer of 64 KiB (400 of them
// some 27 MiB past what the node held at rest, 311 MiB for 5,000 on a 64
// MiB node). Now 64 are read and the rest wait in the kernel's backlog; the
// node says so in a metric and its log.
func TestSlowHeadFloodBounded(t *testing.T) {
	origin := sizedOrigin(t, 1<<10)
	cfg := writeFile(t, "edged.yaml", fmt.Sprintf(`
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
log: {level: info, access: false}
upstream: {origin: %s}
server: {read_header_timeout: 60s}
cache: {memory: 16MiB}
`, t.TempDir(), origin.URL))
	p := runEdged(t, "-config", cfg)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	pid := p.cmd.Process.Pid
	if got := metricValue(t, p.admin, "edged_connections_max"); got != 64 {
		t.Fatalf("edged_connections_max = %v, want 64 (16MiB / 256KiB)", got)
	}
	rest := rssAnon(pid)
	peak := sampleRSS(t, pid)

	const flood, headBytes = 400, 60 << 10
	var head bytes.Buffer
	head.WriteString("GET /slow HTTP/1.1\r\nHost: flood.test\r\n")
	for head.Len() < headBytes {
		head.WriteString("X-Filler: " + strings.Repeat("a", 1000) + "\r\n")
	}
	addr := strings.TrimPrefix(p.public, "http://")
	conns := make([]net.Conn, 0, flood)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range flood {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		// Into the node's socket buffer, read or not: a connection in the
		// backlog takes it as well as one being served.
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(head.Bytes()); err != nil {
			t.Fatalf("write head: %v", err)
		}
	}
	// The node has read every head it accepts once the connections it
	// served reach the cap and one more has waited; the old node has no
	// such metric, and its growth is what the deadline shows.
	// 64 heads of 64 KiB, their goroutines, the buffers of slow heads
	// closed to make room (garbage until the next collection), and slack:
	// 12 MiB was passed by 0.3 MiB under -race on a loaded machine; the
	// old node grew by 22 MiB.
	limit := rest + 16<<20
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if peak() > limit {
			break
		}
		if metricValue(t, p.admin, "edged_connections_open") >= 64 && metricValue(t, p.admin, "edged_connections_waits_total") >= 1 {
			// Let the last accepted heads be read, then look once more.
			time.Sleep(500 * time.Millisecond)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := peak(); got > limit {
		t.Errorf("peak anonymous RSS %.1f MiB with %d slow heads, want at most %.1f MiB (%.1f MiB at rest)", mib(got), flood, mib(limit), mib(rest))
	}
	if open := metricValue(t, p.admin, "edged_connections_open"); open > 64 {
		t.Errorf("edged_connections_open = %v, want at most 64", open)
	}
	if waits := metricValue(t, p.admin, "edged_connections_waits_total"); waits < 1 {
		t.Errorf("edged_connections_waits_total = %v, want the waits counted", waits)
	}
	if !strings.Contains(p.stderr.String(), "server.max_connections reached") {
		t.Errorf("no log line says the cap was reached; stderr:\n%s", p.stderr)
	}
	// Once the flood leaves, a client is served: nothing was lost.
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	if resp, _ := fetch(t, p.public+"/after?size=10"); resp.StatusCode != 200 {
		t.Errorf("GET after the flood = %d, want 200", resp.StatusCode)
	}
}

func mib(v int64) float64 { return float64(v) / (1 << 20) }

// TestHTTP2StreamFloodRefused opens two HTTP/2 connections that start 100
// streams each for a 1 MiB object and grant no flow-control window, so no
// handler can finish. With cache.memory 16MiB at most 64 streams run at
// once (as many as connections); the others are answered 503 with no body,
// which a HEADERS frame carries whatever the window (RFC 9113 §6.9), so a
// refused stream holds nothing. Before, every stream ran and held its
// handler: 100 such connections took a 64 MiB node to 466 MiB.
func TestHTTP2StreamFloodRefused(t *testing.T) {
	f, ca := tlsNode(t, sizedOrigin(t, 1<<20), "cache: {memory: 16MiB}\n")
	addr := f.n.tlsLn.Addr().String()
	const conns, streams, max = 2, 100, 64
	counts := map[string]int{}
	var open []net.Conn
	for range conns {
		c, got := stallStreams(t, addr, ca, "a.test", "/big?size=1048576", streams)
		open = append(open, c)
		for k, v := range got {
			counts[k] += v
		}
	}
	if counts["200"] > max || counts["503"] < conns*streams-max || counts["200"]+counts["503"] != conns*streams {
		t.Errorf("statuses of %d stalled streams: %v; want at most %d of 200, the rest 503", conns*streams, counts, max)
	}
	if got := metricValue(t, f.admin, "edged_http2_streams_refused_total"); int(got) != counts["503"] {
		t.Errorf("edged_http2_streams_refused_total = %v, want %d", got, counts["503"])
	}
	// The stalled streams end with their connections; a client is then
	// served.
	for _, c := range open {
		c.Close()
	}
	client, tr := tlsClient(ca, addr)
	defer tr.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := get(t, client, "https://a.test/small?size=100")
		if resp.StatusCode == 200 && resp.ProtoMajor == 2 {
			break
		}
		if resp.StatusCode != 503 || time.Now().After(deadline) {
			t.Fatalf("GET after the flood = %d HTTP/%d, want 200 over HTTP/2", resp.StatusCode, resp.ProtoMajor)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stallStreams opens an HTTP/2 connection with an initial window of 0,
// starts n GET streams of path, and returns the connection (open) and the
// count of the status each stream was answered with ("reset" for
// RST_STREAM).
func stallStreams(t *testing.T, addr string, ca *testCA, host, path string, n int) (net.Conn, map[string]int) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: host, RootCAs: ca.pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := range n {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", host}, {":path", path}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	counts := map[string]int{}
	for answered := 0; answered < n; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d of %d streams answered (%v): %v", answered, n, counts, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			counts[f.PseudoValue("status")]++
			answered++
		case *http2.RSTStreamFrame:
			counts["reset"]++
			answered++
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v after %d streams answered", f.ErrCode, answered)
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, counts
}

// TestIdleConnectionsMakeRoom: at the cap on connections, an idle
// keep-alive connection is closed so that a new client is served, on the
// plain listener (edge/fastserve's idle connections) and over TLS
// (net/http's). Before, the new client waited in the backlog until an
// idle connection timed out (server.idle_timeout, 120 s): connections
// held open and unused locked everyone else out.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	f, ca := tlsNode(t, sizedOrigin(t, 1<<10), "server: {max_connections: 3}\n")
	plain := strings.TrimPrefix(f.public, "http://")
	secure := f.n.tlsLn.Addr().String()
	dials := map[string]func() net.Conn{
		"plain": func() net.Conn {
			c, err := net.Dial("tcp", plain)
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		"tls": func() net.Conn {
			c, err := tls.Dial("tcp", secure, &tls.Config{ServerName: "a.test", RootCAs: ca.pool, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
	}
	for _, kind := range []string{"plain", "tls"} {
		var idle []*bufio.Reader
		var conns []net.Conn
		for i := range 3 {
			c := dials[kind]()
			defer c.Close()
			br := bufio.NewReader(c)
			if got := keepAliveGET(t, c, br, fmt.Sprintf("/%s/%d?size=10", kind, i)); got != 200 {
				t.Fatalf("%s connection %d: %d", kind, i, got)
			}
			idle, conns = append(idle, br), append(conns, c)
		}
		// A fourth connection at the cap: served, as one idle one is closed.
		done := make(chan int, 1)
		go func() {
			c := dials[kind]()
			defer c.Close()
			done <- keepAliveGET(t, c, bufio.NewReader(c), "/"+kind+"/new?size=10")
		}()
		select {
		case got := <-done:
			if got != 200 {
				t.Errorf("%s: new connection at the cap = %d, want 200", kind, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: a new connection at the cap was not served while 3 idle ones held the slots", kind)
		}
		closed := 0
		for i, br := range idle {
			_ = conns[i].SetReadDeadline(time.Now().Add(time.Second))
			if _, err := br.Peek(1); err == io.EOF || errors.Is(err, net.ErrClosed) || isReset(err) {
				closed++
			}
		}
		if closed != 1 {
			t.Errorf("%s: %d idle connections closed, want 1", kind, closed)
		}
		for _, c := range conns {
			c.Close()
		}
	}
	if got := metricValue(t, f.admin, "edged_connections_idle_closed_total"); got != 2 {
		t.Errorf("edged_connections_idle_closed_total = %v, want 2", got)
	}
}

// TestSlowHeadsMakeRoom: at the cap on connections, none idle, the
// connection that has been reading its head the longest (a second at
// least) is closed so that a new client is served, on the plain listener
// (edge/fastserve) and over TLS (net/http, waiting for its first request).
// Before, the new client waited for server.read_header_timeout (60 s
// here) while slow heads held every slot.
func TestSlowHeadsMakeRoom(t *testing.T) {
	f, ca := tlsNode(t, sizedOrigin(t, 1<<10), "server: {max_connections: 3, read_header_timeout: 60s}\n")
	plain := strings.TrimPrefix(f.public, "http://")
	secure := f.n.tlsLn.Addr().String()
	dial := func(kind string) net.Conn {
		if kind == "plain" {
			c, err := net.Dial("tcp", plain)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		c, err := tls.Dial("tcp", secure, &tls.Config{ServerName: "a.test", RootCAs: ca.pool, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, kind := range []string{"plain", "tls"} {
		var slow []net.Conn
		for range 3 {
			c := dial(kind)
			defer c.Close()
			if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a.test\r\n"); err != nil {
				t.Fatal(err)
			}
			slow = append(slow, c)
		}
		start := time.Now()
		c := dial(kind)
		got := keepAliveGET(t, c, bufio.NewReader(c), "/"+kind+"/new?size=10")
		c.Close()
		if got != 200 {
			t.Errorf("%s: new connection beside 3 slow heads at the cap = %d, want 200", kind, got)
		}
		if waited := time.Since(start); waited > 20*time.Second {
			t.Errorf("%s: the new connection waited %v", kind, waited)
		}
		for _, c := range slow {
			c.Close()
		}
	}
	if got := metricValue(t, f.admin, "edged_connections_slow_heads_closed_total"); got < 2 {
		t.Errorf("edged_connections_slow_heads_closed_total = %v, want at least 2", got)
	}
}

// keepAliveGET sends a GET on c and reads its response, leaving c open.
func keepAliveGET(t *testing.T, c net.Conn, br *bufio.Reader, target string) int {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n", target); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// tlsNode serves origin with the YAML sections given and an HTTPS
// listener whose certificate, from the returned CA, is for a.test.
func tlsNode(t *testing.T, origin *httptest.Server, sections string) (*fleetNode, *testCA) {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t)
	crt, key := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	ca.issue(t, crt, key, "a.test")
	cfg := parseNodeConfig(t, fmt.Sprintf(`
upstream: {origin: %s}
tls:
  listen: 127.0.0.1:0
  certificates: [{cert: %s, key: %s}]
`, origin.URL, crt, key)+sections)
	return startFleetNode(t, cfg), ca
}
