package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtSecret = "0123456789abcdef0123456789abcdef-test"

// rawGET sends one HTTP/1.1 request on conn, after prefix (a PROXY
// header), and returns the status code, or 0 when the connection was
// closed without an answer.
func rawGET(t testing.TB, conn net.Conn, prefix, host, path string) int {
	t.Helper()
	if err := conn.SetDeadline(time.Now().Add(startTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "%sGET %s HTTP/1.1\r\nHost: %s\r\n\r\n", prefix, path, host); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// dialFrom connects to addr from a given loopback address (Linux answers
// on all of 127.0.0.0/8), so tests can play a trusted and an untrusted peer.
func dialFrom(t testing.TB, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: startTimeout}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from %s: %v", local, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestGuardsEndToEnd runs a node whose routes have access rules, a rate
// limit and auth, behind a trusted proxy at 127.0.0.2.
func TestGuardsEndToEnd(t *testing.T) {
	t.Setenv("TEST_EDGED_JWT_SECRET", jwtSecret)
	t.Setenv("TEST_EDGED_API_KEYS", "key-1,key-2")
	origin := namedOrigin(t, "origin")
	cfg := parseNodeConfig(t, fmt.Sprintf(`
upstream: {origin: %s}
server:
  trusted_proxies: [127.0.0.2]
sites:
  - name: g
    hosts: [g.test]
    routes:
      - path: /
      - path: /private/
        access: {deny_paths: [/private/secret], block_user_agents: [BadBot]}
      - path: /office/
        access: {allow: [203.0.113.0/24]}
      - path: /limited/
        rate_limit: {rate: 0.01, burst: 2}
      - path: /api/
        auth:
          jwt: {hmac_secret_env: TEST_EDGED_JWT_SECRET, algorithms: [HS256], audience: api}
          api_keys: {keys_env: TEST_EDGED_API_KEYS}
          key_claims: [sub]
`, origin.URL))
	f := startFleetNode(t, cfg)
	token := func(claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtSecret))
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	exp := time.Now().Add(time.Hour).Unix()
	tests := []struct {
		name   string
		path   string
		header []string
		status int
	}{
		{"open route", "/a", nil, 200},
		{"deny_paths", "/private/secret/x", nil, 403},
		{"other private path", "/private/ok", nil, 200},
		{"blocked user agent", "/private/ok", []string{"User-Agent", "Mozilla BadBot/1.0"}, 403},
		// From 127.0.0.1, an untrusted peer: X-Forwarded-For is ignored.
		{"allow list, untrusted XFF", "/office/", []string{"X-Forwarded-For", "203.0.113.9"}, 403},
		{"no credentials", "/api/x", nil, 401},
		{"valid HS256 token", "/api/x", []string{"Authorization", token(jwt.MapClaims{"sub": "u1", "aud": "api", "exp": exp})}, 200},
		{"wrong audience", "/api/x", []string{"Authorization", token(jwt.MapClaims{"sub": "u1", "aud": "web", "exp": exp})}, 401},
		{"expired token", "/api/x", []string{"Authorization", token(jwt.MapClaims{"sub": "u1", "aud": "api", "exp": time.Now().Add(-time.Hour).Unix()})}, 401},
		{"forged token", "/api/x", []string{"Authorization", token(jwt.MapClaims{"sub": "u1", "aud": "api", "exp": exp})[:40] + "x"}, 401},
		{"API key", "/api/x", []string{"X-API-Key", "key-2"}, 200},
		{"wrong API key", "/api/x", []string{"X-API-Key", "key-3"}, 401},
	}
	for _, tt := range tests {
		resp, body := fetch(t, f.public+tt.path, append([]string{"Host", "g.test"}, tt.header...)...)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: GET %s = %d %q, want %d", tt.name, tt.path, resp.StatusCode, body, tt.status)
		}
		// RFC 9110 §11.6.1: a 401 carries a challenge.
		if resp.StatusCode == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `Bearer realm=`) {
			t.Errorf("%s: 401 WWW-Authenticate = %q", tt.name, resp.Header.Get("WWW-Authenticate"))
		}
		if resp.StatusCode == 403 && !strings.Contains(body, "forbidden") {
			t.Errorf("%s: 403 body %q does not say why", tt.name, body)
		}
	}

	// Rate limit: a burst of 2, then 429 with Retry-After (RFC 6585 §4).
	for i, want := range []int{200, 200, 429} {
		resp, _ := fetch(t, f.public+"/limited/x", "Host", "g.test")
		if resp.StatusCode != want {
			t.Errorf("limited request %d = %d, want %d", i, resp.StatusCode, want)
		}
		if want == 429 {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("429 Retry-After = %q, want whole seconds", resp.Header.Get("Retry-After"))
			}
		}
	}

	// From the trusted proxy 127.0.0.2, X-Forwarded-For is believed.
	addr := strings.TrimPrefix(f.public, "http://")
	conn := dialFrom(t, "127.0.0.2", addr)
	if _, err := fmt.Fprintf(conn, "GET /office/ HTTP/1.1\r\nHost: g.test\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("allow list via trusted proxy = %d, want 200", resp.StatusCode)
	}
}

// TestProxyProtocolAndMaxConnections runs a node that takes the PROXY
// protocol from 127.0.0.2 and at most one connection at a time.
func TestProxyProtocolAndMaxConnections(t *testing.T) {
	origin := namedOrigin(t, "origin")
	cfg := parseNodeConfig(t, fmt.Sprintf(`
upstream: {origin: %s}
server:
  trusted_proxies: [127.0.0.2]
  proxy_protocol: true
  max_connections: 1
sites:
  - name: p
    hosts: [p.test]
    routes:
      - path: /
        access: {allow: [198.51.100.0/24]}
`, origin.URL))
	f := startFleetNode(t, cfg)
	addr := strings.TrimPrefix(f.public, "http://")
	const header = "PROXY TCP4 198.51.100.7 127.0.0.1 5555 80\r\n"
	tests := []struct {
		name, from, prefix string
		status             int
	}{
		// The PROXY source is the client: 198.51.100.7 is allowed.
		{"PROXY v1 from the trusted peer", "127.0.0.2", header, 200},
		// Without a header the peer is the client, not allowed.
		{"no header from an untrusted peer", "127.0.0.1", "", 403},
		// An untrusted peer's PROXY header is a spoof: the connection closes.
		{"header from an untrusted peer", "127.0.0.1", header, 0},
	}
	for _, tt := range tests {
		conn := dialFrom(t, tt.from, addr)
		if got := rawGET(t, conn, tt.prefix, "p.test", "/x"); got != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.status)
		}
		conn.Close() // frees the only connection slot
	}

	// max_connections: 1. While a connection in the middle of its request
	// (an upload whose body has not come) is open, a second one is not served; once the first closes, it is.
	// (An idle keep-alive connection or a slow head would be closed to
	// make room: TestIdleConnectionsMakeRoom, TestSlowHeadsMakeRoom.)
	first := dialFrom(t, "127.0.0.2", addr)
	if _, err := io.WriteString(first, header+"POST /x HTTP/1.1\r\nHost: p.test\r\nContent-Length: 10\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	second := dialFrom(t, "127.0.0.2", addr)
	if _, err := fmt.Fprintf(second, "%sGET /y HTTP/1.1\r\nHost: p.test\r\n\r\n", header); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(second)
	_ = second.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.Peek(1); err == nil {
		t.Error("second connection was served while the first was open (max_connections: 1)")
	}
	first.Close()
	_ = second.SetReadDeadline(time.Now().Add(startTimeout))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("second connection after the first closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("second connection = %d, want 200", resp.StatusCode)
	}
}
