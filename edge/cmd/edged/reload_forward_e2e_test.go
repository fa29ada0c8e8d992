package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// fwdConf is a forward node's configuration file, rewritten between
// reloads: each field is the YAML text of one forward setting.
type fwdConf struct {
	path, data                           string
	clients, connectPorts, httpPorts     string
	via, removeHeaders, setHeaders, auth string
	tunnels, dial, pac, upstream         string
}

func (c *fwdConf) write(t testing.TB) {
	t.Helper()
	conf := fmt.Sprintf("role: forward\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata: %s\nlog: {level: error, access: false}\npurge: {token: %s}\n%s"+
		"forward:\n  clients: %s\n  connect_ports: %s\n  http_ports: %s\n  via: %s\n  remove_headers: %s\n  set_headers: %s\n"+
		"  auth: %s\n  tunnels: %s\n  dial: %s\n  pac: %s\n",
		c.data, purgeToken, c.upstream, c.clients, c.connectPorts, c.httpPorts, c.via, c.removeHeaders, c.setHeaders, c.auth, c.tunnels, c.dial, c.pac)
	writeBytes(t, c.path, []byte(conf))
}

// fwdReloadSetup is a forward node started from a fwdConf, a destination
// that echoes what it was sent, and a TCP echo server for tunnels.
type fwdReloadSetup struct {
	conf  *fwdConf
	f     *fleetNode
	dest  *httptest.Server
	echo  net.Listener
	proxy *url.URL
	// destConns are the connections to dest open (the proxy's kept ones
	// among them).
	destConns atomic.Int64
}

func newFwdReloadSetup(t *testing.T) *fwdReloadSetup {
	s := &fwdReloadSetup{}
	dest := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "x-secret=%s x-set=%s via=%s", r.Header.Get("X-Secret"), r.Header.Get("X-Set"), r.Header.Get("Via"))
	}))
	dest.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.destConns.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.destConns.Add(-1)
		}
	}
	dest.Start()
	t.Cleanup(dest.Close)
	echo := echoListener(t)
	_, destPort, _ := net.SplitHostPort(strings.TrimPrefix(dest.URL, "http://"))
	_, echoPort, _ := net.SplitHostPort(echo.Addr().String())
	dir := t.TempDir()
	c := &fwdConf{
		path: filepath.Join(dir, "forward.yaml"), data: filepath.Join(dir, "data"),
		clients: "[127.0.0.1/32]", connectPorts: fmt.Sprintf("[%q]", echoPort), httpPorts: fmt.Sprintf("[%q]", destPort),
		via: "true", removeHeaders: "[X-Secret]", setHeaders: "{X-Set: one}", auth: "{}",
		tunnels: "{max_per_client: 8}", dial: "{allow_networks: [127.0.0.1/32]}", pac: "{proxy: old.example:3128}",
	}
	c.write(t)
	s.conf, s.f, s.dest, s.echo = c, serveConfigFile(t, c.path), dest, echo
	s.proxy, _ = url.Parse(s.f.public)
	return s
}

// reload rewrites the file and reloads; it must be applied.
func (s *fwdReloadSetup) reload(t *testing.T, what string) {
	t.Helper()
	s.conf.write(t)
	if err := s.f.n.reload(); err != nil {
		t.Fatalf("reload changing %s: %v", what, err)
	}
}

// get fetches path from the destination through the proxy, with the
// proxy credentials in user (nil: none) and header fields (name, value
// pairs); it returns the response and its body.
func (s *fwdReloadSetup) get(t testing.TB, path string, user *url.Userinfo, header ...string) (*http.Response, string) {
	t.Helper()
	resp, body, err := s.fetch(path, user, header...)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// fetch is get, for a goroutine of its own.
func (s *fwdReloadSetup) fetch(path string, user *url.Userinfo, header ...string) (*http.Response, string, error) {
	proxy := *s.proxy
	proxy.User = user
	tr := &http.Transport{Proxy: http.ProxyURL(&proxy), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, s.dest.URL+path, nil)
	if err != nil {
		return nil, "", err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s through the proxy: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// tunnel is a CONNECT tunnel to the echo server, or the refusal.
type tunnel struct {
	conn net.Conn
	br   *bufio.Reader
}

// connect asks for a tunnel to the echo server: the tunnel, or nil and
// the status and rule of the refusal.
func (s *fwdReloadSetup) connect(t testing.TB) (*tunnel, int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", s.proxy.Host)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", s.echo.Addr())
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		t.Fatalf("CONNECT: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, resp.StatusCode, resp.Header.Get("X-Edged-Rule")
	}
	tn := &tunnel{conn: conn, br: br}
	t.Cleanup(func() { conn.Close() })
	return tn, http.StatusOK, ""
}

// echoes sends msg through the tunnel and reads it back.
func (tn *tunnel) echoes(msg string) error {
	if _, err := io.WriteString(tn.conn, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(tn.br, got); err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// TestReloadForwardSettings: every setting of the forward section applies
// at a reload (SIGHUP, edgectl reload) to the next request or tunnel,
// where each used to be refused as needing a restart, which cut every
// open tunnel. Tunnels opened before a reload keep running, even when the
// new settings would refuse them (as Squid's reconfigure keeps its
// tunnels), and keep the limits they opened with.
func TestReloadForwardSettings(t *testing.T) {
	s := newFwdReloadSetup(t)
	c := s.conf
	if resp, body := s.get(t, "/", nil, "X-Secret", "s"); resp.StatusCode != 200 || body != "x-secret= x-set=one via=1.1 edged-forward" {
		t.Fatalf("before any reload: %d %q", resp.StatusCode, body)
	}
	early, code, _ := s.connect(t)
	if early == nil {
		t.Fatalf("CONNECT before any reload: %d, want 200", code)
	}

	t.Run("clients", func(t *testing.T) {
		c.clients = "[10.0.0.0/8]"
		s.reload(t, "forward.clients")
		if resp, _ := s.get(t, "/", nil); resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Edged-Rule") != "clients" {
			t.Errorf("a client no longer admitted: %d %s, want 403 clients", resp.StatusCode, resp.Header.Get("X-Edged-Rule"))
		}
		if err := early.echoes("after clients"); err != nil {
			t.Errorf("a tunnel opened before the reload: %v", err)
		}
		c.clients = "[127.0.0.1/32]"
		s.reload(t, "forward.clients")
	})
	t.Run("http_ports", func(t *testing.T) {
		c.httpPorts = "[1-1024]"
		s.reload(t, "forward.http_ports")
		if resp, _ := s.get(t, "/", nil); resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Edged-Rule") != "http_ports" {
			t.Errorf("a port no longer in http_ports: %d %s, want 403 http_ports", resp.StatusCode, resp.Header.Get("X-Edged-Rule"))
		}
		c.httpPorts = "[1025-65535]"
		s.reload(t, "forward.http_ports")
	})
	t.Run("connect_ports", func(t *testing.T) {
		saved := c.connectPorts
		c.connectPorts = "[443]"
		s.reload(t, "forward.connect_ports")
		if tn, code, rule := s.connect(t); tn != nil || code != http.StatusForbidden || rule != "connect_ports" {
			t.Errorf("CONNECT to a port no longer allowed: %d %s, want 403 connect_ports", code, rule)
		}
		if err := early.echoes("after connect_ports"); err != nil {
			t.Errorf("a tunnel opened before the reload: %v", err)
		}
		c.connectPorts = saved
		s.reload(t, "forward.connect_ports")
	})
	t.Run("headers and via", func(t *testing.T) {
		c.removeHeaders, c.setHeaders, c.via = "[X-Other]", "{X-Set: two}", "false"
		s.reload(t, "forward.remove_headers, set_headers and via")
		if _, body := s.get(t, "/", nil, "X-Secret", "s"); body != "x-secret=s x-set=two via=" {
			t.Errorf("the destination was sent %q, want x-secret=s x-set=two and no Via", body)
		}
	})
	t.Run("auth", func(t *testing.T) {
		users := filepath.Join(t.TempDir(), "htpasswd")
		h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		writeBytes(t, users, []byte("alice:"+string(h)+"\n"))
		c.auth = fmt.Sprintf("{htpasswd: %s, realm: office}", users)
		s.reload(t, "forward.auth")
		if resp, _ := s.get(t, "/", nil); resp.StatusCode != http.StatusProxyAuthRequired || !strings.Contains(resp.Header.Get("Proxy-Authenticate"), `realm="office"`) {
			t.Errorf("without credentials after htpasswd was set: %d %q, want 407 realm office", resp.StatusCode, resp.Header.Get("Proxy-Authenticate"))
		}
		if resp, _ := s.get(t, "/", url.UserPassword("alice", "pw")); resp.StatusCode != 200 {
			t.Errorf("alice after htpasswd was set: %d, want 200", resp.StatusCode)
		}
		if err := early.echoes("after auth"); err != nil {
			t.Errorf("a tunnel opened before the reload: %v", err)
		}
		c.auth = "{}"
		s.reload(t, "forward.auth")
		if resp, _ := s.get(t, "/", nil); resp.StatusCode != 200 {
			t.Errorf("without credentials after htpasswd was unset: %d, want 200", resp.StatusCode)
		}
	})
	t.Run("tunnels", func(t *testing.T) {
		c.tunnels = "{max_per_client: 1}"
		s.reload(t, "forward.tunnels.max_per_client")
		if tn, code, rule := s.connect(t); tn != nil || code != http.StatusTooManyRequests || rule != "tunnels" {
			t.Errorf("a second tunnel past max_per_client 1: %d %s, want 429 tunnels", code, rule)
		}
		c.tunnels = "{max_per_client: 8, max_duration: 300ms}"
		s.reload(t, "forward.tunnels.max_duration")
		short, code, _ := s.connect(t)
		if short == nil {
			t.Fatalf("CONNECT: %d", code)
		}
		if _, err := io.ReadAll(short.br); err != nil {
			t.Errorf("a tunnel past max_duration: %v, want it closed by the proxy", err)
		}
		if err := early.echoes("after max_duration"); err != nil {
			t.Errorf("a tunnel opened before the reload keeps its limits: %v", err)
		}
		c.tunnels = "{max_per_client: 8}"
		s.reload(t, "forward.tunnels")
	})
	t.Run("dial", func(t *testing.T) {
		if resp, _ := s.get(t, "/", nil); resp.StatusCode != 200 || s.destConns.Load() == 0 {
			t.Fatalf("before: %d with %d connections to the destination, want 200 and one kept", resp.StatusCode, s.destConns.Load())
		}
		c.dial = "{timeout: 5s}"
		s.reload(t, "forward.dial.allow_networks")
		// The old upstream client closes the connections it kept to the
		// network no longer allowed.
		waitUntil(t, func() bool { return s.destConns.Load() == 0 })
		if resp, _ := s.get(t, "/", nil); resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Edged-Rule") != "destination" {
			t.Errorf("a destination no longer allowed: %d %s, want 403 destination", resp.StatusCode, resp.Header.Get("X-Edged-Rule"))
		}
		if tn, code, rule := s.connect(t); tn != nil || code != http.StatusForbidden || rule != "destination" {
			t.Errorf("CONNECT to a destination no longer allowed: %d %s, want 403 destination", code, rule)
		}
		c.dial = "{allow_networks: [127.0.0.1/32]}"
		s.reload(t, "forward.dial.allow_networks")
	})
	t.Run("pac", func(t *testing.T) {
		c.pac = "{proxy: new.example:8080, direct: [intranet.example]}"
		s.reload(t, "forward.pac")
		resp, err := http.Get(s.f.public + "/proxy.pac")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "PROXY new.example:8080") || !strings.Contains(string(b), "intranet.example") {
			t.Errorf("/proxy.pac after the reload:\n%s\nwant new.example:8080 and intranet.example", b)
		}
	})
	t.Run("upstream timeouts", func(t *testing.T) {
		c.upstream = "upstream: {header_timeout: 200ms}\n"
		s.reload(t, "upstream.header_timeout")
		start := time.Now()
		if resp, _ := s.get(t, "/slow", nil); resp.StatusCode < 500 || time.Since(start) > 4*time.Second {
			t.Errorf("a destination slower than the new header_timeout: %d after %v, want a 5xx well before its 5s", resp.StatusCode, time.Since(start))
		}
		c.upstream = ""
		s.reload(t, "upstream.header_timeout")
	})
	if err := early.echoes("at the end"); err != nil {
		t.Errorf("the tunnel opened before every reload: %v", err)
	}
}

// TestReloadForwardRefused: a reload of a forward node whose file has a
// problem changes nothing and says why, at the field and line; one that
// changes what only a restart applies (listen) is refused naming it, in
// the log and in POST /reload's answer (what edgectl reload prints), and
// the settings in use stay.
func TestReloadForwardRefused(t *testing.T) {
	s := newFwdReloadSetup(t)
	c := s.conf
	saved := *c
	c.connectPorts, c.clients, c.setHeaders = "[443, x]", "[10.0.0.0/8]", "{X-Set: two}"
	c.write(t)
	code, reply := postReload(t, s.f.admin, "Bearer "+purgeToken)
	if code != http.StatusBadRequest || reply.Result != reloadInvalid {
		t.Errorf("POST /reload of a bad file = %d %+v, want 400 invalid", code, reply)
	}
	if want := c.path + ":9: forward.connect_ports[1]"; !strings.Contains(strings.Join(reply.Errors, "\n"), want) {
		t.Errorf("reload errors %q do not name %s", reply.Errors, want)
	}
	if resp, body := s.get(t, "/", nil); resp.StatusCode != 200 || !strings.Contains(body, "x-set=one") {
		t.Errorf("after a refused reload: %d %q, want the settings in use (200, x-set=one)", resp.StatusCode, body)
	}

	*c = saved
	c.setHeaders = "{X-Set: two}"
	c.write(t)
	writeBytes(t, c.path, []byte(strings.Replace(readFile(t, c.path), "listen: 127.0.0.1:0", "listen: 127.0.0.1:1", 1)))
	code, reply = postReload(t, s.f.admin, "Bearer "+purgeToken)
	if code != http.StatusConflict || reply.Result != reloadRestart || len(reply.Errors) != 1 ||
		!strings.Contains(reply.Errors[0], c.path+":2: listen: cannot change while edged runs: restart edged to apply it") {
		t.Errorf("POST /reload changing listen = %d %+v, want 409 naming listen alone", code, reply)
	}
	if _, body := s.get(t, "/", nil); !strings.Contains(body, "x-set=one") {
		t.Errorf("after a reload that needs a restart: %q, want the settings in use (x-set=one)", body)
	}
}

// wholeSettings is what the destination sees of a request under either
// configuration of TestReloadForwardRacingRequests: each setting old or
// new. The proxy's settings and the upstream client (Via) are swapped one
// after the other, so a request that arrives between the two may see the
// new set_headers and the old Via (docs/forward.md says so).
var wholeSettings = regexp.MustCompile(`^x-secret= x-set=(one|two) via=(1\.1 edged-forward)?$`)

// TestReloadForwardRacingRequests: reloads that switch the forward
// settings back and forth while clients send requests and open tunnels
// (run under -race): every request is answered with each setting old or
// new, never anything else, and no tunnel is cut.
func TestReloadForwardRacingRequests(t *testing.T) {
	s := newFwdReloadSetup(t)
	c := s.conf
	tn, code, _ := s.connect(t)
	if tn == nil {
		t.Fatalf("CONNECT: %d", code)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				resp, body, err := s.fetch("/", nil)
				switch {
				case err != nil:
					report(err)
				case resp.StatusCode == 200 && wholeSettings.MatchString(body):
				case resp.StatusCode == http.StatusForbidden && resp.Header.Get("X-Edged-Rule") == "http_ports":
				default:
					report(fmt.Errorf("a request during reloads: %d %q %s", resp.StatusCode, body, resp.Header.Get("X-Edged-Rule")))
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if err := tn.echoes(fmt.Sprintf("message %d;", i)); err != nil {
				report(fmt.Errorf("the tunnel during reloads: %w", err))
				return
			}
		}
	})
	one, two := *c, *c
	two.setHeaders, two.via = "{X-Set: two}", "false"
	three := one
	three.httpPorts = "[1-1024]"
	for i := range 30 {
		next := []fwdConf{two, one, three}[i%3]
		*c = next
		s.reload(t, "forward settings")
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := tn.echoes("after the reloads"); err != nil {
		t.Errorf("the tunnel after the reloads: %v", err)
	}
}

// TestReloadForwardOnSIGHUP runs the binary as a forward proxy and sends
// it real SIGHUPs: new forward settings reach the next request, the open
// proxy they make is warned of as at a start, and a change of listen is
// refused with a log line that names it and says it needs a restart,
// while the proxy keeps the settings it had.
func TestReloadForwardOnSIGHUP(t *testing.T) {
	dest := reloadOrigin(t, "dest")
	_, destPort, _ := net.SplitHostPort(strings.TrimPrefix(dest.URL, "http://"))
	dir := t.TempDir()
	path := filepath.Join(dir, "forward.yaml")
	conf := fmt.Sprintf("role: forward\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata: %s\nlog: {level: info, access: false}\n"+
		"forward:\n  clients: [127.0.0.1/32]\n  http_ports: [%q]\n  dial: {allow_networks: [127.0.0.1/32]}\n", filepath.Join(dir, "data"), destPort)
	writeBytes(t, path, []byte(conf))
	p := runEdged(t, "-config", path)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	proxy, _ := url.Parse(p.public)
	status := func() (int, string) {
		t.Helper()
		tr := &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get(dest.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Edged-Rule")
	}
	hup := func(result string) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		metric := `edged_config_reloads_total{result="` + result + `"}`
		waitUntil(t, func() bool { return metricValue(t, p.admin, metric) == 1 })
	}
	if code, _ := status(); code != http.StatusOK {
		t.Fatalf("before the reload: %d, want 200", code)
	}

	writeBytes(t, path, []byte(strings.Replace(conf, "clients: [127.0.0.1/32]\n  http_ports: ["+strconv.Quote(destPort)+"]", "clients: [0.0.0.0/0]\n  http_ports: [80]", 1)))
	hup(reloadOK)
	if code, rule := status(); code != http.StatusForbidden || rule != "http_ports" {
		t.Errorf("after the reload narrowing http_ports: %d %s, want 403 http_ports", code, rule)
	}
	if !strings.Contains(p.stderr.String(), "reload: forward proxy is open") {
		t.Errorf("the reload that opened the proxy did not warn; stderr:\n%s", p.stderr)
	}

	writeBytes(t, path, []byte(strings.Replace(readFile(t, path), "listen: 127.0.0.1:0", "listen: 127.0.0.1:1", 1)))
	hup(reloadRestart)
	if log := p.stderr.String(); !strings.Contains(log, "reload refused") || !strings.Contains(log, "listen: cannot change while edged runs: restart edged to apply it") {
		t.Errorf("the reload changing listen was not logged as needing a restart; stderr:\n%s", log)
	}
	if code, rule := status(); code != http.StatusForbidden || rule != "http_ports" {
		t.Errorf("after a refused reload: %d %s, want the settings in use (403 http_ports)", code, rule)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}
