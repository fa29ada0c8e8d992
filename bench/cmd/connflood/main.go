// Command connflood opens many client connections of one kind to an edged
// node and holds them, to measure what each kind costs the node in memory
// (docs/security.md, "Memory"). It prints the node's anonymous RSS before
// and with the connections held, and the cost per connection.
//
//	connflood -addr 127.0.0.1:8080 -pid PID -kind head -n 5000
//
// Kinds: idle (a request answered, then kept alive), head (a GET head of
// -head bytes, never finished), posthead (the same as a POST, which
// fastserve hands to net/http), tlsstall (TCP open to the TLS port, no
// ClientHello), tlsidle (a TLS handshake, then nothing), h2 (TLS, HTTP/2,
// -streams streams of -path each, a window of 0: nothing read), connect
// (to a forward-role node: CONNECT to -dest, answered 200, then the tunnel
// held idle), ws (to an edge-role node whose route -path carries WebSocket:
// the handshake, answered 101, then the connection held idle). Without
// -dest, connflood serves the destination itself on 127.0.0.1 (it echoes a
// tunnel's bytes, and answers a WebSocket handshake with 101 and echoes),
// and prints its address for the node's configuration with -serve. With
// -flow, each connect or ws connection sends -flow bytes every second and
// reads them back, so the relay's buffers are in use.
package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"edged/bench/procstat"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "node address (the TLS one for tls* and h2)")
	pid := flag.Int("pid", 0, "node's process id, for its RSS")
	kind := flag.String("kind", "idle", "idle, head, posthead, tlsstall, tlsidle, h2, connect, ws")
	n := flag.Int("n", 1000, "connections")
	head := flag.Int("head", 63<<10, "head bytes of kind head/posthead")
	path := flag.String("path", "/", "target of requests")
	host := flag.String("host", "localhost", "Host / SNI")
	streams := flag.Int("streams", 100, "HTTP/2 streams per connection")
	hold := flag.Duration("hold", 3*time.Second, "time to hold the connections once open, sampling RSS")
	par := flag.Int("par", 64, "connections opened at once")
	dest := flag.String("dest", "", "CONNECT destination (kind connect); empty: an echo server of connflood's own")
	flow := flag.Int("flow", 0, "bytes each connect/ws connection sends (and reads back) every second; 0: idle")
	serve := flag.Duration("serve", 0, "only serve the echo/WebSocket destination on 127.0.0.1 for this long, printing its address")
	flag.Parse()
	if *serve > 0 || (*dest == "" && (*kind == "connect")) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go echoServe(ln)
		*dest = ln.Addr().String()
		if *serve > 0 {
			fmt.Println(*dest)
			time.Sleep(*serve)
			return
		}
	}

	before := rss(*pid)
	var conns []net.Conn
	var mu sync.Mutex
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, *par)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := open(*kind, *addr, *host, *path, *head, *streams, *dest)
			if err == nil && *flow > 0 {
				go flowing(c, *flow)
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprint(err))
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	opened := time.Since(start)
	peak := int64(0)
	hwm := int64(0)
	deadline := time.Now().Add(*hold)
	for time.Now().Before(deadline) {
		if v := rss(*pid); v > peak {
			peak = v
		}
		time.Sleep(50 * time.Millisecond)
	}
	hwm = vmHWM(*pid)
	// How many still stand: a read with a short deadline tells closed from open.
	alive := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				alive++
			}
		} else {
			alive++ // bytes waiting (an h2 frame): open
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
	held := int64(len(conns))
	per := int64(0)
	if held > 0 {
		per = (peak - before) / held
	}
	fe := ""
	if e := firstErr.Load(); e != nil {
		fe = e.(string)
	}
	fmt.Printf("kind=%s n=%d opened=%d failed=%d alive_at_end=%d in=%s rss_before=%.1fMiB rss_peak=%.1fMiB vmhwm=%.1fMiB per_conn=%.1fKiB %s\n",
		*kind, *n, held, failed.Load(), alive, opened.Round(time.Millisecond), mib(before), mib(peak), mib(hwm), float64(per)/1024, fe)
}

func mib(v int64) float64 { return float64(v) / (1 << 20) }

func open(kind, addr, host, path string, headBytes, streams int, dest string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) { c.Close(); return nil, err }
	switch kind {
	case "idle":
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host); err != nil {
			return fail(err)
		}
		if err := readResponse(c); err != nil {
			return fail(err)
		}
	case "head", "posthead":
		method := "GET"
		if kind == "posthead" {
			method = "POST"
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
		line := "X-Filler: " + strings.Repeat("a", 990) + "\r\n"
		for b.Len()+len(line) < headBytes {
			b.WriteString(line)
		}
		if _, err := c.Write(b.Bytes()); err != nil {
			return fail(err)
		}
	case "connect":
		if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", dest); err != nil {
			return fail(err)
		}
		if err := readStatus(c, "200"); err != nil {
			return fail(err)
		}
	case "ws":
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, wsKey); err != nil {
			return fail(err)
		}
		if err := readStatus(c, "101"); err != nil {
			return fail(err)
		}
	case "tlsstall":
	case "tlsidle", "h2":
		proto := "http/1.1"
		if kind == "h2" {
			proto = "h2"
		}
		tc := tls.Client(c, &tls.Config{ServerName: host, InsecureSkipVerify: true, NextProtos: []string{proto}})
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			return fail(fmt.Errorf("handshake: %w", err))
		}
		if kind == "h2" {
			if err := h2Stall(tc, host, path, streams); err != nil {
				return fail(err)
			}
		}
		_ = tc.SetDeadline(time.Time{})
		return tc, nil
	default:
		return fail(fmt.Errorf("unknown kind %q", kind))
	}
	return c, nil
}

// h2Stall opens streams GETs of path with an initial window of 0, and
// waits for the first HEADERS answered so the handlers are running.
func h2Stall(c net.Conn, host, path string, streams int) error {
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return err
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		return err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := 0; i < streams; i++ {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", host}, {":path", path}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			return err
		}
	}
	// Read until a HEADERS frame: the handlers have answered.
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return fmt.Errorf("h2 read: %w", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame, *http2.RSTStreamFrame:
			return nil // answered (or refused): the node has seen the streams
		case *http2.GoAwayFrame:
			return fmt.Errorf("goaway %v", f.ErrCode)
		}
	}
}

// wsKey is the handshake's Sec-WebSocket-Key (any 16 bytes, base64).
const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="

// readStatus reads a response head without a body (a 200 to CONNECT, a
// 101) and checks its status code, byte by byte so that nothing of the
// tunnel after it is consumed.
func readStatus(c net.Conn, want string) error {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var buf []byte
	var b [1]byte
	for !bytes.HasSuffix(buf, []byte("\r\n\r\n")) {
		if _, err := c.Read(b[:]); err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		buf = append(buf, b[0])
		if len(buf) > 64<<10 {
			return fmt.Errorf("answer head too long")
		}
	}
	if f := strings.Fields(string(buf)); len(f) < 2 || f[1] != want {
		return fmt.Errorf("answered %q, want %s", strings.SplitN(string(buf), "\r\n", 2)[0], want)
	}
	return nil
}

// echoServe is the destination of connect and ws floods: it echoes what a
// connection sends, after answering 101 to a WebSocket handshake (a head
// starting with GET).
func echoServe(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var first [3]byte
			if _, err := io.ReadFull(c, first[:]); err != nil {
				return
			}
			if string(first[:]) == "GET" {
				var buf []byte
				var b [1]byte
				for !bytes.HasSuffix(buf, []byte("\r\n\r\n")) {
					if _, err := c.Read(b[:]); err != nil {
						return
					}
					buf = append(buf, b[0])
				}
				key := wsKey
				for _, l := range strings.Split(string(buf), "\r\n") {
					if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Sec-WebSocket-Key") {
						key = strings.TrimSpace(v)
					}
				}
				sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
			} else if _, err := c.Write(first[:]); err != nil {
				return
			}
			_, _ = io.Copy(c, c)
		}()
	}
}

// flowing sends n bytes on c every second and reads them back, until c
// closes. The echo server returns them as sent: the node relays a tunnel's
// and a WebSocket connection's bytes without reading frames.
func flowing(c net.Conn, n int) {
	msg := bytes.Repeat([]byte("x"), n)
	back := make([]byte, n)
	for {
		time.Sleep(time.Second)
		if _, err := c.Write(msg); err != nil {
			return
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return
		}
	}
}

func readResponse(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		k, err := c.Read(tmp)
		buf = append(buf, tmp[:k]...)
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			cl := 0
			for _, l := range strings.Split(string(buf[:i]), "\r\n") {
				if v, ok := strings.CutPrefix(strings.ToLower(l), "content-length:"); ok {
					cl, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			if len(buf) >= i+4+cl {
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// rss is the node's anonymous resident memory (RssAnon), 0 when it
// cannot be read.
func rss(pid int) int64 {
	anon, _, _ := procstat.ParseResident(procStatus(pid))
	return anon
}

// vmHWM is the node's peak resident set, 0 when it cannot be read.
func vmHWM(pid int) int64 {
	peak, _ := procstat.ParsePeakRSS(procStatus(pid))
	return peak
}

func procStatus(pid int) []byte {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return b
}
