// Package pebbletest runs letsencrypt/pebble, an ACME CA for tests, built
// from the module cache (a tool dependency in go.mod), with a DNS server
// that resolves every name under .test to 127.0.0.1, so that pebble
// validates challenges on listeners of the test on 127.0.0.1. A test that
// cannot build pebble is skipped, saying why.
package pebbletest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startTimeout bounds pebble's start; generous, as the machine is shared.
const startTimeout = 60 * time.Second

// Pebble is a running ACME test server.
type Pebble struct {
	// Dir is the ACME directory URL.
	Dir string
	// Roots is a PEM file of the roots of the directory's HTTPS: what a
	// client of the CA must trust (tls.acme.ca_root).
	Roots string
	mgmt  string // management base URL (https)
	log   *Buffer
}

// Options of a Pebble: the ports of 127.0.0.1 it validates challenges on.
type Options struct {
	HTTPPort, TLSPort int
	// Validity of the certificates issued, in seconds; 0: 90 days.
	Validity int
}

// Start runs pebble until the test ends.
func Start(t *testing.T, o Options) *Pebble {
	t.Helper()
	bin := build(t)
	dnsAddr := startDNS(t)
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/letsencrypt/pebble/v2").Output()
	if err != nil {
		t.Skipf("no pebble module directory: %v", err)
	}
	certs := filepath.Join(strings.TrimSpace(string(out)), "test", "certs")
	if o.Validity == 0 {
		o.Validity = 90 * 24 * 3600
	}
	listen, mgmt := FreeAddr(t), FreeAddr(t)
	data, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": filepath.Join(certs, "localhost", "cert.pem"), "privateKey": filepath.Join(certs, "localhost", "key.pem"),
		"httpPort": o.HTTPPort, "tlsPort": o.TLSPort, "ocspResponderURL": "",
		"externalAccountBindingRequired": false, "keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{"description": "test", "validityPeriod": o.Validity}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(confFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Pebble{Dir: "https://" + listen + "/dir", mgmt: "https://" + mgmt, Roots: filepath.Join(certs, "pebble.minica.pem"), log: &Buffer{}}
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", dnsAddr)
	// No sleeps before validations, no bad nonces, and a fresh
	// authorization for every order, so every order is validated.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.log)
		}
	})
	client := p.client(t)
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := client.Get(p.Dir)
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v\n%s", err, p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// build builds pebble once per test binary, or skips the test.
func build(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs pebble; skipped with -short")
	}
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "edged-pebble-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "pebble")
		out, err := exec.Command("go", "build", "-o", binary.path, "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build pebble: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Skipf("no ACME test server: %v", binary.err)
	}
	return binary.path
}

// startDNS answers A 127.0.0.1 for every name under .test, and no address
// for any other, over TCP on 127.0.0.1 (pebble's resolver asks over TCP).
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA && strings.HasSuffix(q.Name, ".test.") {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// client trusts pebble's own HTTPS (its directory and management API).
func (p *Pebble) client(t *testing.T) *http.Client {
	t.Helper()
	data, err := os.ReadFile(p.Roots)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// IssuingRoot is the root that pebble's certificates chain to (a new one
// each run), from its management API.
func (p *Pebble) IssuingRoot(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client(t).Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("no root from pebble: %s", data)
	}
	return pool
}

// Orders is the number of orders pebble received.
func (p *Pebble) Orders() int { return strings.Count(p.log.String(), "Added order") }

// GateDirectory puts a server in front of pebble's ACME directory that
// holds every request until the returned channel is closed; Dir and Roots
// then name the gate's directory and a file of both servers' roots.
func (p *Pebble) GateDirectory(t *testing.T) chan<- struct{} {
	t.Helper()
	gate := make(chan struct{})
	client, upstream := p.client(t), p.Dir
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		resp, err := client.Get(upstream)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(front.Close)
	minica, err := os.ReadFile(p.Roots)
	if err != nil {
		t.Fatal(err)
	}
	roots := filepath.Join(t.TempDir(), "roots.pem")
	data := append(minica, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})...)
	if err := os.WriteFile(roots, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p.Dir, p.Roots = front.URL+"/dir", roots
	return gate
}

// FreeAddr returns an address on 127.0.0.1 that nothing listens on now,
// for a server to bind once started (pebble takes its addresses from its
// configuration, and validates on ports fixed before the node starts).
// Its port is below the kernel's ephemeral ports (32768 and up on Linux),
// which on a busy machine can become some connection's local port first.
func FreeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := "127.0.0.1:" + strconv.Itoa(20000+rand.IntN(12000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port in 20000-31999")
	return ""
}

// Port is the port of a host:port address, as a number.
func Port(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil {
		t.Fatalf("no port in %q", addr)
	}
	return n
}

// WaitForCertificate handshakes with addr as name, trusting roots, until
// it presents a certificate that verifies, and returns its leaf.
func WaitForCertificate(t *testing.T, addr, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
		if err == nil {
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			return leaf
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate for %s from %s: %v", name, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Buffer collects a log written by one goroutine or process and read by
// the test: pebble's output, or a logger's.
type Buffer struct {
	mu  sync.Mutex // guards buf
	buf strings.Builder
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
