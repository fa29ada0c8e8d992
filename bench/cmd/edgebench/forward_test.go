package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// connectProxy is the least CONNECT proxy (RFC 9110 §9.3.6) there is, to
// test the tunnel measurement's plumbing.
func connectProxy(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		dst, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer dst.Close()
		w.WriteHeader(http.StatusOK)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_ = brw.Flush()
		go func() { _, _ = io.Copy(dst, brw) }()
		_, _ = io.Copy(c, dst)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestTunnelRate(t *testing.T) {
	sink, err := startTunnelSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.close()
	ctx := context.Background()
	for _, proxy := range []string{"", connectProxy(t)} {
		mbps, err := tunnelRate(ctx, proxy, sink.addr(), 2, 100*time.Millisecond)
		if err != nil || mbps <= 0 {
			t.Errorf("proxy %q: %.1f MB/s, %v", proxy, mbps, err)
		}
	}
	if _, err := tunnelRate(ctx, connectProxy(t), "127.0.0.1:1", 1, time.Second); err == nil {
		t.Error("a refused CONNECT measured a rate")
	}
}
