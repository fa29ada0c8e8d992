package acme

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"edged/edge/internal/pebbletest"
)

// TestManagerRenews: a certificate is renewed in the background before it
// expires, and the renewed one is served by the next handshake. pebble
// issues certificates valid for 30 s here and suggests (ACME Renewal
// Information) renewing within their lifetime; the check runs every 500 ms.
func TestManagerRenews(t *testing.T) {
	httpLn, tlsLn := listen(t), listen(t)
	p := pebbletest.Start(t, pebbletest.Options{
		HTTPPort: pebbletest.Port(t, httpLn.Addr().String()), TLSPort: pebbletest.Port(t, tlsLn.Addr().String()), Validity: 30,
	})
	roots := certPool(t, p.Roots)
	var logs pebbletest.Buffer
	m, err := New(Options{
		Hosts: []string{"renew.test"}, CA: p.Dir, Roots: roots, HTTP01: true,
		HTTPAddr: httpLn.Addr().String(), TLSAddr: tlsLn.Addr().String(),
		Storage: &certmagic.FileStorage{Path: t.TempDir()}, RenewCheckInterval: 500 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager log:\n%s", logs.String())
		}
	})
	serve(t, httpLn, m.HTTPHandler(http.NotFoundHandler()))
	serve(t, tls.NewListener(tlsLn, &tls.Config{GetCertificate: m.GetCertificate, NextProtos: []string{"http/1.1", ALPNProto}}), http.NotFoundHandler())
	m.Start()
	t.Cleanup(m.Close)

	issuing := p.IssuingRoot(t)
	first := pebbletest.WaitForCertificate(t, tlsLn.Addr().String(), "renew.test", issuing)
	deadline := time.Now().Add(time.Until(first.NotAfter) + 5*time.Second)
	for {
		leaf := pebbletest.WaitForCertificate(t, tlsLn.Addr().String(), "renew.test", issuing)
		if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if !leaf.NotAfter.After(first.NotAfter) {
				t.Errorf("renewed certificate expires %v, the first %v", leaf.NotAfter, first.NotAfter)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate %x (expiring %v) not renewed", first.SerialNumber, first.NotAfter)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := p.Orders(); n < 2 {
		t.Errorf("pebble saw %d orders, want a renewal's", n)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", pebbletest.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func serve(t *testing.T, ln net.Listener, h http.Handler) {
	t.Helper()
	// Handshakes fail until the certificate comes: not worth a line each.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
}

func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	return pool
}
