package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edged/edge/config"
)

// testCA issues certificates for the tests; its pool is what clients trust.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(tb testing.TB) *testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edged test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	return ca
}

// issue writes a leaf certificate for names (ECDSA P-256, signed by the CA)
// and its key to certFile and keyFile, and returns its serial number.
func (ca *testCA) issue(tb testing.TB, certFile, keyFile string, names ...string) *big.Int {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	writeBytes(tb, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeBytes(tb, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return serial
}

func writeBytes(tb testing.TB, name string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// parseNodeConfig parses a YAML configuration for a node run in the test
// process (its listeners, data directory and purge settings are set by
// startFleetNode and nodeConfig's defaults).
func parseNodeConfig(tb testing.TB, yaml string) *config.Config {
	tb.Helper()
	cfg, err := config.Parse([]byte(yaml), "edged.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	base := nodeConfig(tb, "edged", tb.TempDir())
	cfg.Data, cfg.Listen, cfg.Admin, cfg.Server.ShutdownTimeout = base.Data, base.Listen, base.Admin, base.Server.ShutdownTimeout
	return cfg
}

// tlsClient returns a client that trusts ca and dials addr whatever the
// URL's host, so the URL's host is the SNI name and the Host header.
func tlsClient(ca *testCA, addr string) (*http.Client, *http.Transport) {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.pool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, tr
}

func get(t testing.TB, c *http.Client, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func servedSerial(resp *http.Response) string {
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return "no TLS"
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.String()
}

// TestTLSEndToEnd runs a node with an HTTPS listener and two certificates:
// SNI picks the certificate, HTTP/2 is negotiated, plain HTTP redirects,
// HSTS is sent only over HTTPS, and SIGHUP's reload swaps certificates
// without breaking an open connection.
func TestTLSEndToEnd(t *testing.T) {
	origin := namedOrigin(t, "origin")
	dir := t.TempDir()
	ca := newTestCA(t)
	aCert, aKey := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	bCert, bKey := filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key")
	aSerial := ca.issue(t, aCert, aKey, "a.test", "www.a.test")
	bSerial := ca.issue(t, bCert, bKey, "*.b.test")
	cfg := parseNodeConfig(t, fmt.Sprintf(`
upstream: {origin: %s}
tls:
  listen: 127.0.0.1:0
  certificates: [{cert: %s, key: %s}, {cert: %s, key: %s}]
sites:
  - name: a
    hosts: [a.test, www.a.test]
    https_redirect: true
    hsts: "max-age=31536000; includeSubDomains"
    hide_backend: true
    response_headers: {set: {X-Content-Type-Options: nosniff}}
    routes: [{path: /}]
  - name: b
    hosts: ["*.b.test"]
    routes: [{path: /}]
`, origin.URL, aCert, aKey, bCert, bKey))
	f := startFleetNode(t, cfg)
	tlsAddr := f.n.tlsLn.Addr().String()
	client, tr := tlsClient(ca, tlsAddr)
	defer tr.CloseIdleConnections()

	// SNI picks the certificate (RFC 6066 §3), wildcards included; HTTP/2
	// is negotiated with ALPN (RFC 9113 §3.2).
	sniTests := []struct {
		url, serial, body string
	}{
		{"https://a.test/x", aSerial.String(), "origin a.test /x\n"},
		{"https://www.a.test/y", aSerial.String(), "origin www.a.test /y\n"},
		{"https://cdn.b.test/z", bSerial.String(), "origin cdn.b.test /z\n"},
	}
	for _, tt := range sniTests {
		resp, body := get(t, client, tt.url)
		if resp.StatusCode != 200 || body != tt.body || servedSerial(resp) != tt.serial || resp.ProtoMajor != 2 {
			t.Errorf("GET %s = %d %q, certificate %s, HTTP/%d; want 200 %q, certificate %s, HTTP/2",
				tt.url, resp.StatusCode, body, servedSerial(resp), resp.ProtoMajor, tt.body, tt.serial)
		}
	}
	// An unknown name (or none) gets the first certificate, the default.
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "unknown.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(aSerial) != 0 {
		t.Errorf("unknown SNI name got certificate %s, want the default %s", got, aSerial)
	}
	conn.Close()
	// TLS 1.1 is refused.
	if c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "a.test", RootCAs: ca.pool, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	// Site headers: HSTS over HTTPS, security headers, no Server.
	resp, _ := get(t, client, "https://a.test/x")
	if resp.Header.Get("Strict-Transport-Security") != "max-age=31536000; includeSubDomains" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Server") != "" {
		t.Errorf("HTTPS headers = %v", resp.Header)
	}
	// Plain HTTP: 308 to https (RFC 9110 §15.4.9), and no HSTS over plain
	// HTTP (RFC 6797 §7.2).
	resp, _ = get(t, &http.Client{CheckRedirect: client.CheckRedirect}, f.public+"/x?q=1", "Host", "a.test")
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://a.test/x?q=1" {
		t.Errorf("plain GET = %d Location %q, want 308 https://a.test/x?q=1", resp.StatusCode, resp.Header.Get("Location"))
	}
	if v := resp.Header.Get("Strict-Transport-Security"); v != "" {
		t.Errorf("plain HTTP response carries Strict-Transport-Security %q", v)
	}
	// Site b has no redirect: plain HTTP is served.
	if resp, body := get(t, http.DefaultClient, f.public+"/p", "Host", "x.b.test"); resp.StatusCode != 200 || body != "origin x.b.test /p\n" {
		t.Errorf("plain GET on site b = %d %q", resp.StatusCode, body)
	}

	// Reload: replace a's files, call what SIGHUP calls. The open HTTP/2
	// connection of client keeps working (with the old certificate); a new
	// connection gets the new one.
	newSerial := ca.issue(t, aCert, aKey, "a.test", "www.a.test")
	if err := f.n.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if resp, _ := get(t, client, "https://a.test/x"); resp.StatusCode != 200 || servedSerial(resp) != aSerial.String() {
		t.Errorf("open connection after reload: %d, certificate %s; want 200 on the old connection (%s)", resp.StatusCode, servedSerial(resp), aSerial)
	}
	fresh, freshTr := tlsClient(ca, tlsAddr)
	defer freshTr.CloseIdleConnections()
	if resp, _ := get(t, fresh, "https://a.test/x"); servedSerial(resp) != newSerial.String() {
		t.Errorf("new connection after reload got certificate %s, want %s", servedSerial(resp), newSerial)
	}
	// A bad file: the reload fails and the current certificates stay.
	writeBytes(t, aKey, []byte("not a key"))
	if err := f.n.reload(); err == nil || !strings.Contains(err.Error(), "tls.certificates[0]") {
		t.Errorf("reload with a bad key: %v, want an error naming tls.certificates[0]", err)
	}
	fresh2, fresh2Tr := tlsClient(ca, tlsAddr)
	defer fresh2Tr.CloseIdleConnections()
	if resp, _ := get(t, fresh2, "https://a.test/x"); servedSerial(resp) != newSerial.String() {
		t.Errorf("after a failed reload got certificate %s, want %s", servedSerial(resp), newSerial)
	}
}

// TestTLSBadCertificateAtStart: a bad certificate file stops edged with
// exit status 2 and a message naming the field and the file.
func TestTLSBadCertificateAtStart(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	ca.issue(t, certFile, keyFile, "a.test")
	other := filepath.Join(dir, "other.key")
	ca.issue(t, filepath.Join(dir, "other.crt"), other, "b.test")
	tests := []struct {
		name, cert, key, want string
	}{
		{"missing cert", filepath.Join(dir, "missing.crt"), keyFile, "tls.certificates[0].cert: open " + filepath.Join(dir, "missing.crt")},
		{"missing key", certFile, filepath.Join(dir, "missing.key"), "tls.certificates[0].key: open " + filepath.Join(dir, "missing.key")},
		{"mismatched key", certFile, other, "tls.certificates[0].cert: " + certFile + " with key " + other},
	}
	for _, tt := range tests {
		conf := filepath.Join(dir, "edged.yaml")
		writeBytes(t, conf, fmt.Appendf(nil, "listen: 127.0.0.1:0\nadmin: \"\"\ndata: %s\nupstream: {origin: 'http://127.0.0.1:1'}\ntls:\n  listen: 127.0.0.1:0\n  certificates:\n    - {cert: %s, key: %s}\n", t.TempDir(), tt.cert, tt.key))
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"-config", conf}, &out, &errOut)
		if code != exitConfig || !strings.Contains(errOut.String(), "edged.yaml:8: "+tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tt.name, code, errOut.String(), exitConfig, tt.want)
		}
	}
}
