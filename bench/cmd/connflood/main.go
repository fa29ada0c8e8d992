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
// -streams streams of -path each, a window of 0: nothing read).
package main

import (
	"bytes"
	"crypto/tls"
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
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "node address (the TLS one for tls* and h2)")
	pid := flag.Int("pid", 0, "node's process id, for its RSS")
	kind := flag.String("kind", "idle", "idle, head, posthead, tlsstall, tlsidle, h2")
	n := flag.Int("n", 1000, "connections")
	head := flag.Int("head", 63<<10, "head bytes of kind head/posthead")
	path := flag.String("path", "/", "target of requests")
	host := flag.String("host", "localhost", "Host / SNI")
	streams := flag.Int("streams", 100, "HTTP/2 streams per connection")
	hold := flag.Duration("hold", 3*time.Second, "time to hold the connections once open, sampling RSS")
	par := flag.Int("par", 64, "connections opened at once")
	flag.Parse()

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
			c, err := open(*kind, *addr, *host, *path, *head, *streams)
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

func open(kind, addr, host, path string, headBytes, streams int) (net.Conn, error) {
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

func rss(pid int) int64   { return statusKB(pid, "RssAnon:") }
func vmHWM(pid int) int64 { return statusKB(pid, "VmHWM:") }

func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
