package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestPoolRetriesAHungServer: a pool server that accepts requests and never
// answers costs a GET a header timeout, then the next server answers it
// (nginx's proxy_next_upstream timeout); a POST is not sent twice. Before,
// every request picked for the hung server failed with 504.
func TestPoolRetriesAHungServer(t *testing.T) {
	stop := make(chan struct{})
	var hungGot atomic.Int64
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hungGot.Add(1)
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(stop) }) // first: release its handlers
	var liveGot atomic.Int64
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		liveGot.Add(1)
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "live %s", r.Method)
	}))
	t.Cleanup(live.Close)
	f := startFleetNode(t, parseNodeConfig(t, fmt.Sprintf(`upstream: {header_timeout: 200ms}
pools:
  app:
    servers: [{url: %s}, {url: %s}]
    ejection: {failures: 0}
sites:
  - name: s
    hosts: [www.example.com]
    routes: [{path: /, pool: app}]
`, hung.URL, live.URL)))
	for i := range 4 { // round robin: two of them go to the hung server first
		resp, body := fetch(t, fmt.Sprintf("%s/g%d", f.public, i), "Host", "www.example.com")
		if resp.StatusCode != http.StatusOK || body != "live GET" {
			t.Errorf("GET %d: %d %q (Cache-Status %q), want the live server's answer", i, resp.StatusCode, body, resp.Header.Get("Cache-Status"))
		}
	}
	if hungGot.Load() == 0 {
		t.Fatal("the hung server got no request: nothing was retried")
	}
	posts, fails := 0, 0
	for i := range 4 {
		req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/p%d", f.public, i), strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "www.example.com"
		before := liveGot.Load()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			posts++
		case http.StatusGatewayTimeout:
			fails++
			if liveGot.Load() != before {
				t.Errorf("POST %d timed out on the hung server and was sent to the live one too", i)
			}
		default:
			t.Errorf("POST %d: %d", i, resp.StatusCode)
		}
	}
	if fails == 0 {
		t.Errorf("no POST went to the hung server (%d answered)", posts)
	}
}
