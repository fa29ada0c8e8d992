package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunThroughProxy: with Config.Proxy every request reaches the proxy
// in absolute form (RFC 9112 §3.2.2).
func TestRunThroughProxy(t *testing.T) {
	var absolute, other atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "http://origin.test/obj/1" {
			absolute.Add(1)
		} else {
			other.Add(1)
		}
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	res, err := Run(context.Background(), Config{
		URL:         func(int, int) string { return "http://origin.test/obj/1" },
		Conns:       2,
		Duration:    5 * time.Second,
		MaxRequests: 20,
		Proxy:       pu,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 20 || absolute.Load() != 20 || other.Load() != 0 {
		t.Errorf("requests %d, absolute-form %d, other %d; want 20, 20, 0", res.Requests, absolute.Load(), other.Load())
	}
}
