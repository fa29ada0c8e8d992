package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRequestBeforeRefusedBytesAnsweredByNode: a well-framed request
// followed on its connection by bytes the node refuses (a bad request line,
// a bare LF in the next head) gets its answer and then the refusal's 400, on the
// plain listener and on the HTTPS listener's HTTP/1.1, as net/http alone
// answers. Before, the refusal cancelled the request in flight: a POST
// reached the origin and its client got nothing (logged as a 499 departure),
// and over TLS so did a GET miss.
func TestRequestBeforeRefusedBytesAnsweredByNode(t *testing.T) {
	o := newEchoOrigin(t)
	h := startH2Node(t, originYAML(o.URL), "")
	dials := map[string]func() (net.Conn, error){
		"plain": func() (net.Conn, error) { return net.Dial("tcp", strings.TrimPrefix(h.f.public, "http://")) },
		"tls": func() (net.Conn, error) {
			return tls.Dial("tcp", h.addr, &tls.Config{RootCAs: h.ca.pool, ServerName: "h2.test", NextProtos: []string{"http/1.1"}})
		},
	}
	for name, dial := range dials {
		for _, method := range []string{"POST", "GET"} {
			for j, after := range []string{"XYZ\r\n", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"} {
				path := fmt.Sprintf("/%s-%s-%d", name, method, j)
				req := method + " " + path + " HTTP/1.1\r\nHost: h2.test\r\n"
				if method == "POST" {
					req += "Content-Length: 5\r\n\r\nhello"
				} else {
					req += "\r\n"
				}
				c, err := dial()
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(c, req+after); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				var got []string
				for range 2 {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						got = append(got, err.Error())
						break
					}
					body, _ := io.ReadAll(resp.Body)
					got = append(got, resp.Status+" "+string(body))
				}
				c.Close()
				want := "200 OK " + method + " " + path + " "
				if len(got) != 2 || !strings.HasPrefix(got[0], want) || !strings.HasPrefix(got[1], "400 ") {
					t.Errorf("%s: %q then %q: got %q, want %q..., then 400", name, req, after, got, want)
				}
			}
		}
	}
}
