package edge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestUploadOutlivesHandler: an origin that answers a POST before reading
// its body lets the handler return while the transport still reads the
// client's body (net/http answers without draining a body with more than
// 256 KiB left). The body must then leave the connection alone: the
// handler's writer is recycled for other requests, and a deadline set
// through it would land on another client's connection (the race detector
// saw the recycled writer read by the transport's goroutine).
func TestUploadOutlivesHandler(t *testing.T) {
	c := newClock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answered := make(chan string, 64)
	go earlyOrigin(ln, answered)
	e := newEdge(t, c, edgeConfig{upstream: "http://" + ln.Addr().String()})

	conn, err := net.Dial("tcp", hostAddr(e.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, "POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\nx"); err != nil {
		t.Fatal(err)
	}
	if got := <-answered; got != "/early" {
		t.Fatalf("origin answered %s first", got)
	}
	// The handler returns once it has the origin's answer; other requests
	// reuse its writer while the rest of its body arrives.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			e.get(t, fmt.Sprintf("/other/%d", i))
		}
	}()
	chunk := make([]byte, 16<<10)
	for range 16 {
		if _, err := conn.Write(chunk); err != nil {
			break // the node closed it once the handler was done
		}
	}
	<-done
	// The body ends short: the transport's last read returns, and the
	// answer, held until then by the body's lock in net/http, is sent.
	_ = conn.(*net.TCPConn).CloseWrite()
	// The answer itself may be 200 or 502 (the origin answered a request
	// it had not read): what matters is that the race detector saw no
	// access to the recycled writer.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// earlyOrigin answers every request on ln at once, before reading its
// body, reports its path on answered, then reads the body and serves the
// next request.
func earlyOrigin(ln net.Listener, answered chan<- string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok"); err != nil {
					return
				}
				answered <- req.URL.Path
				if _, err := io.Copy(io.Discard, req.Body); err != nil {
					return
				}
			}
		}()
	}
}
