package forward

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/origin"
)

// The destinations of a forward proxy are its clients' choice, so the idle
// connections it keeps to them are bounded in all, not only per server
// (origin.DirectMaxIdle, the least recently used closed first). Before, a
// client asking for servers on many addresses (one host listening on
// thousands of ports, all in forward.http_ports) had the proxy keep one
// connection open to each for 90 seconds: a probe held 3,000 descriptors
// open with 3,000 requests, and the ports from 1025 up are 64,511.
func TestIdleUpstreamConnectionsBounded(t *testing.T) {
	const servers = origin.DirectMaxIdle + 76
	var open atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private") // each a pass of its own
		_, _ = io.WriteString(w, "hi")
	})
	addrs := make([]string, servers)
	var srvs []*http.Server
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		srv := &http.Server{Handler: h, ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		}}
		srvs = append(srvs, srv)
		go func() { _ = srv.Serve(ln) }()
	}
	t.Cleanup(func() {
		for _, srv := range srvs {
			_ = srv.Close()
		}
	})
	s := newStack(t, stackConfig{})
	c := s.client(nil, "", "")
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= servers {
					return
				}
				resp, body := get(t, c, fmt.Sprintf("http://%s/x", addrs[i]))
				if resp.StatusCode != http.StatusOK || body != "hi" {
					t.Errorf("%s: %d %q", addrs[i], resp.StatusCode, body)
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for open.Load() > origin.DirectMaxIdle && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n > origin.DirectMaxIdle {
		t.Errorf("%d connections from the proxy still open to %d servers, want at most %d", n, servers, origin.DirectMaxIdle)
	}
	// The most recent destinations keep theirs: asked again, one is reused.
	before := open.Load()
	get(t, c, "http://"+addrs[servers-1]+"/x")
	if n := open.Load(); n > before {
		t.Errorf("a recent destination's idle connection was not kept: %d open, %d before", n, before)
	}
}
