package edge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHostileSmuggledBodyNotCached reproduces response-queue poisoning
// through a CL.0 desync at the origin, end to end: a client POSTs, through
// the edge, a body that is itself a request for /evil, to an origin
// endpoint that ignores bodies. The origin answers the POST, then the
// smuggled request, slowly: once the next request arrived on the
// connection. Were the connection reused, that answer (cacheable for 600s)
// would be read as the next client's and stored under its URL. No victim
// may ever receive it, and none may be served it from the cache.
func TestHostileSmuggledBodyNotCached(t *testing.T) {
	origin, _ := newBodyBlindOrigin(t, false)
	e := newEdge(t, newClock(), edgeConfig{upstream: origin})
	addr := hostAddr(e.URL)
	const smuggled = "GET /evil HTTP/1.1\r\nHost: h\r\n\r\n"
	for round := range 3 {
		post := fmt.Sprintf("POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled)
		if r := rawExchange(t, addr, post); r.status != http.StatusOK || r.body != "ok" {
			t.Fatalf("round %d: POST: %d %q", round, r.status, r.body)
		}
		for i := range 3 {
			for try := range 2 { // a fill, then a hit
				r := rawExchange(t, addr, fmt.Sprintf("GET /home?r=%d&i=%d HTTP/1.1\r\nHost: h\r\n\r\n", round, i))
				if r.body == "evil" {
					t.Fatalf("round %d: victim %d (request %d) was answered with the smuggled response", round, i, try)
				}
				if r.status != http.StatusOK || r.body != "good" {
					t.Errorf("round %d: victim %d (request %d): %d %q, want good", round, i, try, r.status, r.body)
				}
			}
		}
	}
}

// TestHostileLateResponseCachedOnce: an origin that sends, after its
// answer to /a, a response nobody asked for once the next request arrived
// gets it read as that request's answer: no HTTP/1.1 client can tell them
// apart, so the first victim may be served it (and it may be stored). The
// victim's real answer follows; arriving while no request waits, it gets
// the connection discarded and the origin quarantined, and no later victim
// is ever answered out of turn. Without the quarantine victims kept being
// served and stored the injected response.
func TestHostileLateResponseCachedOnce(t *testing.T) {
	origin, ended := newBodyBlindOrigin(t, true)
	e := newEdge(t, newClock(), edgeConfig{upstream: origin})
	addr := hostAddr(e.URL)
	for round := range 6 {
		for _, path := range []string{"/a", "/home"} {
			target := fmt.Sprintf("%s?r=%d", path, round)
			for range 2 { // a fill, then a hit
				r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n")
				if r.body == "evil" && round > 0 {
					t.Errorf("round %d: %s was answered with the injected response", round, target)
				}
			}
		}
		if round == 0 {
			// The first victim's real answer comes after a pause; the
			// connection it lands on is discarded.
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the out-of-turn connection was never discarded")
			}
		}
	}
}

// newBodyBlindOrigin starts an origin on 127.0.0.1 that reads request
// heads only, ignoring Content-Length (an endpoint that does not read
// bodies), and answers them in order: /submit "ok", /evil "evil"
// (cacheable for 600s) once the next request's bytes arrived or after a
// pause, anything else "good". With lateJunk, "evil" also follows every
// answer to /a, the same way. It returns its URL and a channel that
// receives when a connection ends.
func newBodyBlindOrigin(t testing.TB, lateJunk bool) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards open
	var open []net.Conn
	ended := make(chan struct{}, 100)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close() // idle keep-alive connections the edge still holds
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					select {
					case ended <- struct{}{}:
					default:
					}
				}()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(20 * time.Second))
				answerBlindly(conn, lateJunk)
			})
		}
	})
	return "http://" + ln.Addr().String(), ended
}

// answerBlindly serves one connection of newBodyBlindOrigin.
func answerBlindly(conn net.Conn, lateJunk bool) {
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.TrimRight(l, "\r\n") == "" {
				break
			}
		}
		var path string
		if f := strings.Fields(line); len(f) > 1 {
			path, _, _ = strings.Cut(f[1], "?")
		}
		switch path {
		case "/evil", "/a":
			if path == "/a" {
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: max-age=60\r\n\r\nok")
				if !lateJunk {
					continue
				}
			}
			// Slow: the answer follows the next request's arrival.
			if _, err := br.Peek(br.Buffered() + 1); err != nil {
				return // the connection was closed: nothing to land on
			}
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nCache-Control: max-age=600\r\n\r\nevil")
			// The next answer follows apart, as a slow one would.
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			br.Peek(br.Buffered() + 1)
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		case "/submit":
			// Answered once the body arrived (read as the next request).
			if _, err := br.Peek(1); err != nil {
				return
			}
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		default:
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nCache-Control: max-age=60\r\n\r\ngood")
		}
	}
}
