package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A keptConn reuses its connection, reads each answer whole, and when the
// server has closed the kept connection, asks again on a new one.
func TestKeptConnReusesAndRedials(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cache-Control") != "only-if-cached" || r.Host != purgeHost {
			http.Error(w, "bad probe", http.StatusBadRequest)
			return
		}
		w.Header().Set("Cache-Status", "edged; hit")
		_, _ = w.Write([]byte(strings.Repeat("x", 1024)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := &keptConn{addr: strings.TrimPrefix(srv.URL, "http://")}
	defer c.close()
	ask := func() {
		t.Helper()
		resp, err := c.do(context.Background(), probeRequest("/obj/1024/x"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !edgedHit(resp.Header) {
			t.Fatalf("answer %d %v, want a 200 hit", resp.StatusCode, resp.Header)
		}
	}
	ask()
	ask()
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for two probes, want 1 kept", n)
	}
	srv.CloseClientConnections()
	ask()
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections after the server closed the kept one, want 2", n)
	}
}

// waitPurged brackets the moment a node stops serving the object: the
// last request still answered with a hit was sent at low, before it, and
// the first answer that is not a hit arrived at d, after it.
func TestWaitPurgedBracketsTheStop(t *testing.T) {
	var asked atomic.Int32
	var stopped atomic.Int64 // when the server stopped answering hits, ns after t0
	t0 := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asked.Add(1) <= 3 {
			w.Header().Set("Cache-Status", "edged; hit")
			return
		}
		stopped.CompareAndSwap(0, int64(time.Since(t0)))
		w.WriteHeader(http.StatusGatewayTimeout)
	}))
	defer srv.Close()
	c := &keptConn{addr: strings.TrimPrefix(srv.URL, "http://")}
	defer c.close()
	d, low, ok, err := waitPurged(context.Background(), c, "/x", t0, 2*time.Second)
	if err != nil || !ok {
		t.Fatalf("waitPurged = %v, %v", ok, err)
	}
	if s := time.Duration(stopped.Load()); low <= 0 || low > s || s > d {
		t.Fatalf("low %v, stop %v, d %v: want low <= stop <= d", low, s, d)
	}
}
