package origin

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// smuggledGET is a request hidden in a POST body: an origin that ignores
// the body of the POST (a CL.0 desync) reads it as the next request.
const smuggledGET = "GET /evil HTTP/1.1\r\nHost: site.example\r\n\r\n"

// blindOrigin is a raw HTTP/1.1 origin on 127.0.0.1 that reads request
// heads only, ignoring Content-Length and Connection (the CL.0 desync of a
// real origin endpoint that does not read bodies), and answers them in
// order. For /evil, the response to the smuggled request, it waits until
// the next request's bytes arrive on the connection before answering: the
// slow endpoint that makes the smuggled response land after the next
// request was written, which no HTTP/1.1 client can tell from that
// request's answer. lateJunk, when set, does the same after every answer
// to /a: a response nobody asked for, sent once the next request arrived.
type blindOrigin struct {
	url   string
	conns atomic.Int64
	evils atomic.Int64 // smuggled responses written
}

func newBlindOrigin(tb testing.TB, lateJunk bool) *blindOrigin {
	tb.Helper()
	o := &blindOrigin{}
	ln := serveTCP(tb, 20*time.Second, func(conn net.Conn) {
		o.conns.Add(1)
		br := bufio.NewReader(conn)
		for {
			path, ok := readHeadOnly(br)
			if !ok {
				return
			}
			junkAfter := path == "/evil" || lateJunk && path == "/a"
			if path != "/evil" {
				body := "good"
				if path == "/a" || path == "/submit" {
					body = "ok"
				}
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\nCache-Control: max-age=60\r\n\r\n"+body)
			}
			if !junkAfter {
				continue
			}
			if _, err := br.Peek(1); err != nil {
				return // the client closed the connection: nothing to land on
			}
			o.evils.Add(1)
			io.WriteString(conn, evilResponse)
			// The next request's answer follows apart, as a slow one
			// would: after more bytes or a pause, whichever comes first.
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			br.Peek(br.Buffered() + 1)
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		}
	})
	o.url = "http://" + ln.Addr().String()
	return o
}

// readHeadOnly reads a request head and returns its path, ignoring any
// body.
func readHeadOnly(br *bufio.Reader) (string, bool) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", false
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return "", false
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		if l == "\r\n" || l == "\n" {
			break
		}
	}
	path, _, _ := strings.Cut(fields[1], "?")
	return path, true
}

// post sends a POST with body through c and returns status and body.
func post(c *Client, path, body string) (int, string, error) {
	resp, err := c.Do(context.Background(), &Outbound{Method: http.MethodPost, Host: "site.example", RequestURI: path,
		Key: path, Body: strings.NewReader(body), ContentLength: int64(len(body))})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestSmuggledBodyNeverAnswersAnother reproduces response-queue poisoning
// through a CL.0 desync at the origin: a client POSTs a body that is
// itself a request to an endpoint that ignores bodies; the origin answers
// the POST, then the smuggled request, late. On a connection reused after
// the POST that answer is read as the next client's. No request may ever
// be answered with it: a connection that carried a request body is never
// reused.
func TestSmuggledBodyNeverAnswersAnother(t *testing.T) {
	o := newBlindOrigin(t, false)
	c := newTestClient(t, Options{Origin: o.url, MaxConnsPerHost: 1})
	for round := range 5 {
		if status, body, err := post(c, "/submit", smuggledGET); err != nil || status != http.StatusOK || body != "ok" {
			t.Fatalf("round %d: POST: %d %q %v", round, status, body, err)
		}
		for i := range 3 {
			path := "/home" + strconv.Itoa(i)
			_, body, err := fetch(c, http.MethodGet, path)
			if body == "evil" {
				t.Fatalf("round %d: GET %s was answered with the smuggled response", round, path)
			}
			if err != nil || body != "good" {
				t.Errorf("round %d: GET %s: %q %v", round, path, body, err)
			}
		}
	}
}
