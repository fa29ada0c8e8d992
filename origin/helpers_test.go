package origin

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// newTestClient returns a Client for opts (Via defaults to "edged") that is
// closed when the test ends.
func newTestClient(tb testing.TB, opts Options) *Client {
	tb.Helper()
	if opts.Via == "" {
		opts.Via = "edged"
	}
	c, err := New(opts)
	if err != nil {
		tb.Fatalf("New(%+v): %v", opts, err)
	}
	tb.Cleanup(c.Close)
	return c
}

// seen is what an upstream received.
type seen struct {
	requestURI string
	host       string
	header     http.Header
	body       string
}

// recorder is an httptest upstream that records every request it receives
// and answers 200 with X-Served-By: name.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex // guards reqs
	reqs []seen
}

func newRecorder(tb testing.TB, name string) *recorder {
	tb.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, seen{requestURI: r.RequestURI, host: r.Host, header: r.Header.Clone(), body: string(body)})
		rec.mu.Unlock()
		w.Header().Set("X-Served-By", name)
		io.WriteString(w, "hello from "+name)
	}))
	tb.Cleanup(rec.Close)
	return rec
}

// last returns the most recent request the recorder received.
func (rec *recorder) last(tb testing.TB) seen {
	tb.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		tb.Fatal("upstream received no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

// deadURL returns the URL of a loopback port nothing listens on: a listener
// opened and closed, so connecting is refused.
func deadURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// serveTCP listens on 127.0.0.1 and runs handle for every connection in a
// goroutine of its own, with a deadline of timeout on the connection, which
// is closed when handle returns. The listener and the handlers end with the
// test.
func serveTCP(tb testing.TB, timeout time.Duration, handle func(net.Conn)) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(timeout))
				handle(conn)
			})
		}
	})
	return ln
}

// rawServer is a TCP server on 127.0.0.1 that reads one request per
// connection and answers with the given bytes verbatim, then closes.
func rawServer(tb testing.TB, response string) string {
	tb.Helper()
	ln := serveTCP(tb, 10*time.Second, func(conn net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
			return
		}
		io.WriteString(conn, response)
	})
	return "http://" + ln.Addr().String()
}

// stallServer answers after stop is closed or the client goes away. If
// partialBody is set, it sends the headers and that much body first.
func stallServer(tb testing.TB, partialBody string) string {
	tb.Helper()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if partialBody != "" {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, partialBody)
			w.(http.Flusher).Flush()
		}
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	// Cleanups run last-in first-out: release handlers, then close.
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { close(stop) })
	return srv.URL
}

// get performs a GET of uri with key and returns the response body.
func get(tb testing.TB, c *Client, key, uri string) (*http.Response, string, error) {
	tb.Helper()
	resp, err := c.Do(context.Background(), &Outbound{Method: "GET", Host: "site.example", RequestURI: uri, Key: key})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// wantErrIs fails unless err wraps target.
func wantErrIs(tb testing.TB, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("error = %v, want one wrapping %v", err, target)
	}
}
