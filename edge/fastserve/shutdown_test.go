package fastserve

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestShutdown: Shutdown closes idle connections and the listener at
// once, lets a request under way finish with "Connection: close", and
// returns once it has; as http.Server.Shutdown does.
func TestShutdown(t *testing.T) {
	for _, server := range []string{"net/http", "fastserve"} {
		t.Run(server, func(t *testing.T) {
			h := newCtxHandler()
			ln := listen(t)
			addr := ln.Addr().String()
			var shutdown func(context.Context) error
			if server == "net/http" {
				s := &http.Server{Handler: h}
				go func() { _ = s.Serve(ln) }()
				shutdown = s.Shutdown
			} else {
				fs := &Server{Handler: h}
				behind := &http.Server{Handler: h}
				go func() { _ = behind.Serve(fs.Handoffs()) }()
				go func() { _ = fs.Serve(ln) }()
				t.Cleanup(func() { _ = behind.Close() })
				shutdown = fs.Shutdown
			}

			idle := dial(t, addr)
			_, _ = io.WriteString(idle, get("/"))
			readResponse(t, bufio.NewReader(idle))
			active := dial(t, addr)
			_, _ = io.WriteString(active, get("/wait"))
			<-h.started

			stopped := make(chan error, 1)
			go func() { stopped <- shutdown(context.Background()) }()
			if b, err := io.ReadAll(idle); len(b) > 0 || err != nil && !isReset(err) {
				t.Fatalf("the idle connection read %q, %v; want its close", b, err)
			}
			if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
				if c != nil {
					_ = c.Close()
				}
				t.Fatalf("a new connection: %v, want refused", err)
			}
			select {
			case err := <-stopped:
				t.Fatalf("Shutdown returned %v with a request under way", err)
			default:
			}

			h.release <- struct{}{}
			br := bufio.NewReader(active)
			resp := readResponse(t, br)
			if !resp.Close { // ReadResponse took "Connection: close" out of Header
				t.Errorf("the last response does not say Connection: close: %v", resp.Header)
			}
			if _, err := br.ReadByte(); err == nil || isTimeout(err) {
				t.Errorf("after the last response: %v, want the server's close", err)
			}
			if err := <-stopped; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if got := h.outcome(t); got != "released" {
				t.Errorf("the request under way: %s", got)
			}
		})
	}
}

// TestClientNeverReads: a client pipelining requests without reading the
// responses fills the socket buffers and stalls: the server reads no more
// than it answers, and buffers nothing more of its own. Once the client
// goes, so does the connection.
func TestClientNeverReads(t *testing.T) {
	p := newPair(t)
	c := dial(t, p.fast)
	_ = c.SetReadBuffer(4 << 10)
	req := strings.Repeat(get("/big"), 100)
	sent := 0
	for ; sent < 256<<20; sent += len(req) {
		_ = c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := io.WriteString(c, req); err != nil {
			if !isTimeout(err) {
				t.Fatal(err)
			}
			break
		}
	}
	if sent >= 256<<20 {
		t.Fatalf("the server read %d MiB of requests nobody reads the answers of", sent>>20)
	}
	_ = c.SetLinger(0)
	_ = c.Close()
	waitNoConns(t, p.fs)
}

// waitNoConns waits until s serves no connection.
func waitNoConns(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still served", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
