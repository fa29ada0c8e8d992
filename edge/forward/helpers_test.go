package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge"
	"edged/edge/accesslog"
	"edged/edge/clientip"
	"edged/edge/fastserve"
	"edged/edge/strictconn"
	"edged/internal/logtest"
	"edged/origin"
	"edged/storage"
)

// loopback is what tests allow the Dialer to reach: their origins listen
// on 127.0.0.1.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// stack is a forward proxy on a real 127.0.0.1 listener, in front of the
// real cache (edge.Handler, a bbolt store in a temporary directory) and a
// Direct origin.Client dialling through the proxy's Dialer.
type stack struct {
	proxy  *Proxy
	dialer *Dialer
	addr   string // host:port of the proxy
	url    *url.URL
	reg    *prometheus.Registry
	logs   *logtest.Buffer
}

// stackConfig sets up a stack; opts.Cache and opts.Dialer are filled in.
type stackConfig struct {
	opts     Options
	allow    []netip.Prefix // the Dialer's exceptions; nil means loopback
	noAllow  bool           // allow nothing, loopback included
	resolver *net.Resolver
	omitVia  bool
	// proxyProtocol makes connections from 127.0.0.1 begin with a PROXY
	// header whose source is the client (server.proxy_protocol).
	proxyProtocol bool
}

func newStack(t testing.TB, sc stackConfig) *stack {
	t.Helper()
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), MemoryBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	allow := sc.allow
	if allow == nil && !sc.noAllow {
		allow = loopback
	}
	d := NewDialer(DialerOptions{Allow: allow, Resolver: sc.resolver, Timeout: 5 * time.Second})
	client, err := origin.New(origin.Options{Direct: true, Via: "edged-forward", OmitVia: sc.omitVia, Dial: d.DialContext,
		ConnectTimeout: 5 * time.Second, HeaderTimeout: 5 * time.Second, BodyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cache, err := edge.New(edge.Options{Name: "edged-forward", Store: store, Upstream: client, FetchTimeout: 10 * time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	opts := sc.opts
	opts.Cache, opts.Dialer, opts.Registerer = cache, d, reg
	accessLog, err := accesslog.New(accesslog.Options{Output: logs, FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = accessLog.Close() })
	opts.AccessLog = accessLog
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.RefuseListener(ln.Addr())
	addr := ln.Addr().String()
	if sc.proxyProtocol {
		ln = clientip.Listen(ln, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, 5*time.Second)
	}
	// As the binary serves it: fastserve answers plain GET and HEAD, and
	// hands the rest (CONNECT, uploads) to net/http behind strictconn.
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 16 << 10}
	fs := &fastserve.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() { _ = srv.Serve(strictconn.WrapListener(fs.Handoffs(), 16<<10)) }()
	go func() { _ = fs.Serve(ln) }()
	t.Cleanup(func() {
		_ = fs.Close()
		_ = srv.Close()
		p.Close()
		_ = cache.Close(context.Background())
		client.Close()
		_ = store.Close()
	})
	u, _ := url.Parse("http://" + addr)
	return &stack{proxy: p, dialer: d, addr: addr, url: u, reg: reg, logs: logs}
}

// client returns an http.Client that uses the proxy, with its own
// connections (a second client is a second browser), trusting roots.
func (s *stack) client(roots *tls.Config, user, pass string) *http.Client {
	u := *s.url
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(&u), TLSClientConfig: roots, DisableCompression: true}
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// get fetches rawURL through c and returns the response with its body.
func get(t testing.TB, c *http.Client, rawURL string, fields ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Set(fields[i], fields[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: body: %v", rawURL, err)
	}
	return resp, string(body)
}

// raw sends request bytes to the proxy on a new connection and returns the
// response head read back, and the connection (closed with the test).
func (s *stack) raw(t testing.TB, request string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: strings.Fields(request)[0]})
	if err != nil {
		t.Fatalf("read response to %q: %v", request, err)
	}
	return resp, conn, br
}

// origin is an httptest server that records the requests it got.
type recordingOrigin struct {
	*httptest.Server
	mu   sync.Mutex // guards reqs
	reqs []*http.Request
}

func newOrigin(t testing.TB, tlsOn bool, h http.HandlerFunc) *recordingOrigin {
	t.Helper()
	o := &recordingOrigin{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.reqs = append(o.reqs, r.Clone(r.Context()))
		o.mu.Unlock()
		h(w, r)
	})
	if tlsOn {
		o.Server = httptest.NewTLSServer(handler)
	} else {
		o.Server = httptest.NewServer(handler)
	}
	t.Cleanup(o.Close)
	return o
}

func (o *recordingOrigin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.reqs)
}

func (o *recordingOrigin) last(t testing.TB) *http.Request {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reqs) == 0 {
		t.Fatal("the origin got no request")
	}
	return o.reqs[len(o.reqs)-1]
}

func (o *recordingOrigin) port() int {
	return o.Listener.Addr().(*net.TCPAddr).Port
}

// rulesFunc adapts a function to Rules for tests of the proxy's handling
// of decisions (the rules themselves are edge/forward/rules' tests).
type rulesFunc func(RuleRequest) RuleDecision

func (f rulesFunc) Decide(req RuleRequest, _ time.Time) RuleDecision { return f(req) }
func (f rulesFunc) NeedsAddrFor(RuleRequest, time.Time) bool         { return false }

// ports writes ports as Options.ConnectPorts and HTTPPorts take them.
func ports(ps ...int) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strconv.Itoa(p)
	}
	return out
}

// rawListener is a TCP service that is not HTTP (SMTP, say) on a random
// 127.0.0.1 port: it counts the connections it accepts and closes them.
type rawListener struct {
	ln net.Listener
	n  atomic.Int32
}

func newRawListener(t testing.TB) *rawListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &rawListener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.n.Add(1)
			_, _ = io.WriteString(c, "220 mail.example ESMTP\r\n")
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return l
}

func (l *rawListener) addr() string  { return l.ln.Addr().String() }
func (l *rawListener) port() int     { return l.ln.Addr().(*net.TCPAddr).Port }
func (l *rawListener) accepted() int { return int(l.n.Load()) }
