package main

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTrackedCloseDoesNotWait: closing a net/http connection to make room
// never waits on it. A *tls.Conn's Close sends close_notify first, which
// waits up to 5 s for room in the socket's send buffer; an idle TLS
// connection whose client reads nothing (its buffers full from the last
// response) made closeIdle hold that long the lock every ConnState of the
// node's net/http servers takes, and the Accept loop that called it, on
// the old code.
func TestTrackedCloseDoesNotWait(t *testing.T) {
	srv, cli := stalledTLSPair(t)
	var tc trackedConns
	tc.track(srv, http.StateIdle)
	start := time.Now()
	if !tc.closeIdle() {
		t.Fatal("closeIdle closed nothing with one idle connection")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("closeIdle took %v: it waited for the TLS close_notify", d)
	}
	_ = cli.Close() // ends the close_notify's write

	// The same for a connection waiting for its first request.
	srv, cli = stalledTLSPair(t)
	defer cli.Close()
	tc.fresh[srv] = time.Now().Add(-time.Minute)
	start = time.Now()
	if !tc.closeSlowHead(time.Second) {
		t.Fatal("closeSlowHead closed nothing with one slow head")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("closeSlowHead took %v: it waited for the TLS close_notify", d)
	}
}

// stalledTLSPair returns the server end of a TLS connection on loopback
// whose client end (returned too, open) reads nothing and whose send
// buffer is full, so that a write to it waits.
func stalledTLSPair(t *testing.T) (*tls.Conn, net.Conn) {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t)
	crt, key := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	ca.issue(t, crt, key, "a.test")
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		raw net.Conn
		srv *tls.Conn
		err error
	}
	done := make(chan accepted, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- accepted{err: err}
			return
		}
		srv := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{pair}})
		done <- accepted{raw, srv, srv.Handshake()}
	}()
	cli, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "a.test", RootCAs: ca.pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	raw, srv := a.raw, a.srv
	t.Cleanup(func() { raw.Close() })
	_ = cli.NetConn().(*net.TCPConn).SetReadBuffer(4096)
	_ = raw.(*net.TCPConn).SetWriteBuffer(4096)
	// Fill the client's receive buffer and the server's send buffer under
	// the TLS layer, which keeps no error of its own from it.
	junk := make([]byte, 64<<10)
	for {
		_ = raw.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := raw.Write(junk); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	_ = raw.SetWriteDeadline(time.Time{})
	return srv, cli
}
