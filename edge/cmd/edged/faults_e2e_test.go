package main

// Fleet faults (issue "Hardening", Faults): the shield down, the NATS bus
// down, a node cut off from NATS, NATS restarted. Serving continues
// throughout, and a purge made while a node was cut off is applied by it
// once it reconnects.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"edged/edge/config"
)

// faultsOrigin serves "body of PATH", cacheable for ten minutes.
func faultsOrigin(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "body of %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// wantBody fails unless node answers path with 200 and the origin's body.
func (f *fleetNode) wantBody(t testing.TB, path string) {
	t.Helper()
	resp, body := fetch(t, f.public+path, "Host", "www.example.com")
	if resp.StatusCode != http.StatusOK || body != "body of "+path {
		t.Fatalf("%s on %s: %d %q (Cache-Status %q)", path, f.n.cfg.CacheName(), resp.StatusCode, body, resp.Header.Get("Cache-Status"))
	}
}

// With the shield down, an edge with shield_fallback fetches from the
// origin and keeps serving; without it the edge answers 502 for misses but
// still serves its hits.
func TestShieldDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three nodes; skipped with -short")
	}
	origin, originFetches := faultsOrigin(t)
	shieldCfg := nodeConfig(t, "shield", t.TempDir())
	shieldCfg.Role = config.RoleShield
	shieldCfg.Upstream.Origin = origin.URL
	shield := startFleetNode(t, shieldCfg)

	edgeCfg := func(name string, fallback bool) *config.Config {
		cfg := nodeConfig(t, name, t.TempDir())
		cfg.Upstream.Origin = origin.URL
		cfg.Upstream.Shields = []string{shield.public}
		cfg.Upstream.ShieldFallback = fallback
		return cfg
	}
	withFallback := startFleetNode(t, edgeCfg("fallback", true))
	without := startFleetNode(t, edgeCfg("strict", false))
	for _, e := range []*fleetNode{withFallback, without} {
		e.wantBody(t, "/warm")
	}
	if got := originFetches.Load(); got != 1 {
		t.Fatalf("origin fetches = %d, want 1 (through the shield)", got)
	}

	shield.stop()
	for _, e := range []*fleetNode{withFallback, without} {
		if !e.hit(t, "/warm") {
			t.Errorf("%s: a cached object is not a hit with the shield down", e.n.cfg.CacheName())
		}
	}
	withFallback.wantBody(t, "/new")
	if got := originFetches.Load(); got != 2 {
		t.Errorf("origin fetches = %d, want 2: the fallback edge fetched /new from the origin", got)
	}
	resp := without.get(t, "/new")
	if resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("edge without fallback, shield down: status %d, want 502/504", resp.StatusCode)
	}
	if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=upstream-") {
		t.Errorf("edge without fallback, shield down: Cache-Status %q lacks the upstream detail", cs)
	}
}

// natsServer is an external NATS server with JetStream in this process,
// stoppable and restartable on the same port and store directory.
type natsServer struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
}

func startNATS(t testing.TB) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, opts: server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true}}
	ns.start()
	ns.opts.Port = ns.srv.Addr().(*net.TCPAddr).Port // a restart listens on the same port
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	opts := ns.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		ns.t.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		ns.t.Fatal("nats server not ready in 10s")
	}
	ns.srv = srv
}

func (ns *natsServer) stop() {
	if ns.srv != nil {
		ns.srv.Shutdown()
		ns.srv.WaitForShutdown()
		ns.srv = nil
	}
}

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.opts.Port) }

// cutProxy forwards TCP connections to a target until cut, which closes
// them all and refuses new ones until mend.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex // guards cut and conns
	cut    bool
	conns  map[net.Conn]struct{}
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	return p
}

func (p *cutProxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *cutProxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// setCut cuts (closing every forwarded connection) or mends the proxy.
func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// tryPurge posts a purge and returns the status code (0 if the request
// itself failed) and the answer.
func (f *fleetNode) tryPurge(t testing.TB, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.admin+"/purge", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+purgeToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// A node cut off from NATS keeps serving; a purge published meanwhile
// through another node is applied by it once it reconnects. With NATS
// itself down every node keeps serving, a purge is refused (never silently
// lost), and after NATS restarts on the same JetStream directory purges
// flow again to every node.
func TestNATSOutages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes and a NATS server; skipped with -short")
	}
	origin, _ := faultsOrigin(t)
	ns := startNATS(t)
	proxy := newCutProxy(t, strings.TrimPrefix(ns.url(), "nats://"))
	cfgFor := func(name, natsURL string) *config.Config {
		cfg := nodeConfig(t, name, t.TempDir())
		cfg.Upstream.Origin = origin.URL
		cfg.Purge.NATS.URL = natsURL
		return cfg
	}
	a := startFleetNode(t, cfgFor("a", ns.url()))
	b := startFleetNode(t, cfgFor("b", proxy.url())) // b reaches NATS through the proxy
	nodes := []*fleetNode{a, b}
	paths := []string{"/one", "/two", "/three"}
	for _, n := range nodes {
		for _, p := range paths {
			n.wantBody(t, p)
		}
	}

	// b is cut off from the bus: it serves on; a purge through a reaches a
	// at once and b once it is back.
	proxy.setCut(true)
	a.purge(t, `{"urls":["http://www.example.com/one"]}`)
	if a.hit(t, "/one") {
		t.Error("a serves /one from cache after purging it")
	}
	b.wantBody(t, "/two")
	if !b.hit(t, "/two") {
		t.Error("b, cut off from NATS, stopped serving its cache")
	}
	proxy.setCut(false)
	waitUntil(t, func() bool { return !b.hit(t, "/one") })

	// NATS down: both nodes serve; a purge is refused rather than lost.
	// (Once a knows NATS is gone: a purge posted in the moment the server
	// dies may go unanswered instead, and is then hidden on the node for
	// up to purge's hideTimeout in case it was stored (purge/publish.go),
	// which would make /two miss below.)
	ns.stop()
	waitUntil(t, func() bool { return !a.n.bus.Conn().IsConnected() })
	for _, n := range nodes {
		n.wantBody(t, "/two")
		n.wantBody(t, "/uncached")
	}
	if code, answer := a.tryPurge(t, `{"urls":["http://www.example.com/two"]}`); code == http.StatusOK {
		t.Errorf("purge with NATS down answered 200 %s: it cannot have reached the other nodes", answer)
	}

	// NATS restarted on the same JetStream directory: the nodes reconnect,
	// and purges made now reach both.
	ns.start()
	waitUntil(t, func() bool {
		code, _ := a.tryPurge(t, `{"urls":["http://www.example.com/three"]}`)
		return code == http.StatusOK
	})
	// (Each node separately: a miss caches the object again.)
	for _, n := range nodes {
		waitUntil(t, func() bool { return !n.hit(t, "/three") })
	}
	// The stream survived the restart (same JetStream directory), so no
	// node had to invalidate its whole cache to catch up.
	for _, n := range nodes {
		if !n.hit(t, "/two") {
			t.Errorf("%s: /two is no longer a hit after the NATS restart", n.n.cfg.CacheName())
		}
	}
}
