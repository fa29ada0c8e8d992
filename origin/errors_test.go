package origin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestConnectRefused(t *testing.T) {
	dead := deadURL(t)
	c := newTestClient(t, Options{Origin: dead})
	_, _, err := get(t, c, "k", "/")
	wantErrIs(t, err, ErrConnect)
	if !strings.Contains(err.Error(), dead) {
		t.Errorf("error %q does not name the upstream %s", err, dead)
	}
}

func TestConnectDNSFailure(t *testing.T) {
	// .invalid never resolves (RFC 6761 §6.4); the resolver may still be
	// slow, so the connect timeout is kept generous.
	c := newTestClient(t, Options{Origin: "http://no-such-host.invalid"})
	_, _, err := get(t, c, "k", "/")
	if errors.Is(err, ErrTimeout) {
		t.Skipf("resolver timed out: %v", err)
	}
	wantErrIs(t, err, ErrConnect)
}

// TestConnectTLSUntrusted checks that a failed TLS handshake is a connect
// failure, and that TLSClientConfig makes the same server reachable.
func TestConnectTLSUntrusted(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)

	untrusting := newTestClient(t, Options{Origin: srv.URL})
	_, _, err := get(t, untrusting, "k", "/")
	wantErrIs(t, err, ErrConnect)

	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	trusting := newTestClient(t, Options{Origin: srv.URL, TLSClientConfig: &tls.Config{RootCAs: roots}})
	_, body, err := get(t, trusting, "k", "/")
	if err != nil || body != "secure" {
		t.Fatalf("trusted TLS: body %q, err %v; want secure, nil", body, err)
	}
}

func TestHeaderTimeout(t *testing.T) {
	c := newTestClient(t, Options{Origin: stallServer(t, ""), HeaderTimeout: 50 * time.Millisecond})
	_, _, err := get(t, c, "k", "/")
	wantErrIs(t, err, ErrTimeout)
	if !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Errorf("error %q does not say which wait timed out", err)
	}
}

func TestBodyStall(t *testing.T) {
	c := newTestClient(t, Options{Origin: stallServer(t, "partial"), BodyTimeout: 50 * time.Millisecond})
	resp, err := c.Do(context.Background(), &Outbound{RequestURI: "/", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	wantErrIs(t, err, ErrTimeout)
	if string(body) != "partial" {
		t.Errorf("body before the stall = %q, want partial", body)
	}
}

// TestSlowReaderNotTimedOut checks that time the caller spends between reads
// is not charged to the upstream.
func TestSlowReaderNotTimedOut(t *testing.T) {
	rec := newRecorder(t, "origin")
	c := newTestClient(t, Options{Origin: rec.URL, BodyTimeout: 20 * time.Millisecond})
	resp, err := c.Do(context.Background(), &Outbound{RequestURI: "/", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The pause is what is tested, so it is a real sleep: three body
	// timeouts spent by the caller, over a real connection whose deadline
	// is the transport's (a synctest bubble has no loopback network).
	time.Sleep(60 * time.Millisecond)
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("read after a pause: %v", err)
	}
}

func TestContextDeadline(t *testing.T) {
	c := newTestClient(t, Options{Origin: stallServer(t, "")})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, &Outbound{RequestURI: "/", Key: "k"})
	wantErrIs(t, err, ErrTimeout)
}

func TestContextCanceled(t *testing.T) {
	c := newTestClient(t, Options{Origin: stallServer(t, "")})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := c.Do(ctx, &Outbound{RequestURI: "/", Key: "k"})
	wantErrIs(t, err, context.Canceled)
	for _, sentinel := range []error{ErrConnect, ErrTimeout, ErrProtocol} {
		if errors.Is(err, sentinel) {
			t.Errorf("canceled request: error %v wraps %v", err, sentinel)
		}
	}
}

// TestProtocolErrors checks that malformed or broken responses are
// ErrProtocol, whether found in the headers or in the body.
func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name     string
		response string
		inBody   bool // the error shows while reading the body
	}{
		{"bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", false},
		{"not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n", false},
		{"closed before response", "", false},
		{"body shorter than Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, Options{Origin: rawServer(t, tt.response)})
			resp, err := c.Do(context.Background(), &Outbound{RequestURI: "/", Key: "k"})
			if !tt.inBody {
				wantErrIs(t, err, ErrProtocol)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			_, err = io.ReadAll(resp.Body)
			wantErrIs(t, err, ErrProtocol)
		})
	}
}

func TestInvalidMethod(t *testing.T) {
	c := newTestClient(t, Options{Origin: deadURL(t)})
	_, err := c.Do(context.Background(), &Outbound{Method: "GE T", RequestURI: "/"})
	if err == nil || errors.Is(err, ErrConnect) {
		t.Fatalf("error = %v, want an invalid method error", err)
	}
}

// FailedServer names the server whose attempt failed, as a response's
// Request.URL.Host names the one that answered; no server was tried for
// ErrNoHealthy.
func TestFailedServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: ErrConnect
	c, err := New(Options{Origin: "http://" + addr, Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Do(context.Background(), &Outbound{Method: "GET", Host: "a.test", RequestURI: "/", Header: http.Header{}})
	if !errors.Is(err, ErrConnect) || FailedServer(err) != addr {
		t.Errorf("err %v, FailedServer %q, want ErrConnect from %q", err, FailedServer(err), addr)
	}
	if got := FailedServer(&noHealthyError{what: "pool"}); got != "" {
		t.Errorf("FailedServer(ErrNoHealthy) = %q, want none", got)
	}
	if got := FailedServer(errors.New("other")); got != "" {
		t.Errorf("FailedServer(other) = %q", got)
	}
}
