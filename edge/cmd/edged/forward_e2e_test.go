package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestForwardRole runs the binary as a forward proxy: the startup says it
// admits loopback clients only, two clients share a cached object through
// it (Cache-Status names the proxy), the JSON log has a line per request,
// an access rule of the file refuses with its name,
// and the reverse side's listener protections hold (smuggling 400, a
// header section past server.max_header_bytes 431, a client that stalls
// in its header section is cut at server.read_header_timeout).
func TestForwardRole(t *testing.T) {
	origin, hits := countingOrigin(t)
	cfg := filepath.Join(t.TempDir(), "forward.yaml")
	// The origin listens on loopback, which a forward proxy refuses unless told.
	if err := os.WriteFile(cfg, []byte("role: forward\nserver:\n  read_header_timeout: 1s\nforward:\n  dial:\n    allow_networks: [127.0.0.1/32]\n"+
		"  rules:\n    list:\n      - {name: no-blocked, action: deny, domains: [blocked.test]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := runEdged(t, "-config", cfg, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", t.TempDir())
	if p.public == "" {
		t.Fatalf("did not start:\n%s", p.stderr)
	}
	if logs := p.stderr.String(); !strings.Contains(logs, `"forward_clients":"loopback only"`) || !strings.Contains(logs, "admits loopback clients only") {
		t.Errorf("startup does not say the proxy admits loopback clients only:\n%s", logs)
	}
	proxy, _ := url.Parse(p.public)
	for i := range 2 { // two clients, each with its own connections
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 20 * time.Second}
		resp, err := c.Get(origin.URL + "/a.txt")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "edged-forward; fwd=uri-miss"
		if i == 1 {
			want = "edged-forward; hit"
		}
		if cs := resp.Header.Get("Cache-Status"); !strings.HasPrefix(cs, want) || string(body) != "object /a.txt\n" {
			t.Errorf("client %d: Cache-Status %q body %q, want %q", i, cs, body, want)
		}
		if id := resp.Header.Get("X-Request-Id"); id != "" {
			t.Errorf("client %d: the forward proxy made a request id %q (it tells destinations nothing)", i, id)
		}
	}
	if hits.Load() != 1 {
		t.Errorf("origin hits = %d, want 1", hits.Load())
	}
	// The line is written once the response is out: wait for it.
	for deadline := time.Now().Add(20 * time.Second); strings.Count(p.stdout.String(), `"msg":"request"`) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 2 request log lines after 20s:\n%s", p.stdout)
		}
	}

	// The access rules of forward.rules: a refusal names its rule.
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 20 * time.Second}
	resp, err := c.Get("http://blocked.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Edged-Rule") != "no-blocked" {
		t.Errorf("blocked.test: %d %q, want 403 no-blocked", resp.StatusCode, resp.Header.Get("X-Edged-Rule"))
	}

	host := strings.TrimPrefix(p.public, "http://")
	smuggle := "POST " + origin.URL + "/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	huge := "GET " + origin.URL + "/ HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n"
	for _, c := range []struct {
		name, req string
		want      int
	}{{"CL+TE", smuggle, http.StatusBadRequest}, {"header past max_header_bytes", huge, http.StatusRequestHeaderFieldsTooLarge}} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprint(conn, c.req)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != c.want {
			t.Errorf("%s: %v %v, want %d", c.name, resp, err, c.want)
		}
		conn.Close()
	}
	if hits.Load() != 1 {
		t.Errorf("a refused request reached the origin (hits %d)", hits.Load())
	}
	slow, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_ = slow.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprint(slow, "GET "+origin.URL+"/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	start := time.Now()
	if _, err := io.ReadAll(slow); err != nil {
		t.Errorf("stalled header: %v, want the proxy to close the connection", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("stalled header cut after %v", d)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestForwardOpenProxyWarns: forward.clients admitting every address
// without proxy authentication starts, as asked, an open proxy, and the
// real binary's start says so; a listed network, or a password, does not
// warn. It started silently, with only the networks in the serving line.
func TestForwardOpenProxyWarns(t *testing.T) {
	users := filepath.Join(t.TempDir(), "htpasswd")
	// bcrypt of "secret", cost 4.
	if err := os.WriteFile(users, []byte("alice:$2a$04$YAYhJ5S0D7TqVV8cD/QlUOPpNlMl0N7vpL3B3LXYc7yvYFxQ.uA8S\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, forward string
		warns         bool
	}{
		{"every IPv4 address", "  clients: [0.0.0.0/0]\n", true},
		{"every IPv6 address", "  clients: [10.0.0.0/8, \"::/0\"]\n", true},
		{"a network", "  clients: [10.0.0.0/8]\n", false},
		{"every address with a password", "  clients: [0.0.0.0/0]\n  auth: {htpasswd: " + users + "}\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "forward.yaml")
			if err := os.WriteFile(cfg, []byte("role: forward\nforward:\n"+tt.forward), 0o600); err != nil {
				t.Fatal(err)
			}
			p := runEdged(t, "-config", cfg, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", t.TempDir())
			if p.public == "" {
				t.Fatalf("did not start:\n%s", p.stderr)
			}
			if got := strings.Contains(p.stderr.String(), "forward proxy is open"); got != tt.warns {
				t.Errorf("open-proxy warning %v, want %v:\n%s", got, tt.warns, p.stderr)
			}
		})
	}
}

// TestForwardCombinedLogNamesTheClient: log.access.format combined on the
// forward role writes the client's Referer and User-Agent, as nginx's and
// Squid's combined lines do, and the User-Agent as the client sent it, not
// the one forward.set_headers gave the destination. Both were "-".
func TestForwardCombinedLogNamesTheClient(t *testing.T) {
	origin, _ := countingOrigin(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
	cfg := writeFile(t, "forward.yaml", fmt.Sprintf("role: forward\nlog:\n  access: {format: combined, file: %s, flush: 1h}\n"+
		"forward:\n  set_headers: {User-Agent: corp-proxy}\n  dial:\n    allow_networks: [127.0.0.1/32]\n", logFile))
	p := runEdged(t, "-config", cfg, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", filepath.Join(dir, "data"))
	if p.public == "" {
		t.Fatalf("did not start:\n%s", p.stderr)
	}
	proxy, _ := url.Parse(p.public)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 20 * time.Second}
	req, err := http.NewRequest("GET", origin.URL+"/page", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "browser/1.0")
	req.Header.Set("Referer", "http://intranet.test/")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if code := p.stop(t); code != 0 { // a clean stop writes the buffered line
		t.Fatalf("exit code %d", code)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	m := combinedLineRE.FindStringSubmatch(strings.TrimSuffix(string(data), "\n"))
	if m == nil || m[5] != origin.URL+"/page" || m[9] != "http://intranet.test/" || m[10] != "browser/1.0" {
		t.Errorf("line %q, want the client's Referer and User-Agent", data)
	}
}
