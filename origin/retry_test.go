package origin

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// noEject keeps failing servers in rotation, so retry tests see every attempt.
var noEject = Ejection{Disabled: true}

// TestRetryConnectFailure: the first server refuses connections (nothing
// sent), so every request lands on the second.
func TestRetryConnectFailure(t *testing.T) {
	live := newRecorder(t, "live")
	c := newTestClient(t, Options{Pool: newTestPool(t, PoolOptions{Servers: servers(deadURL(t), live.URL), Ejection: noEject})})
	for i := range 4 {
		resp, body, err := get(t, c, "k", "/")
		if err != nil || resp.Header.Get("X-Served-By") != "live" || body != "hello from live" {
			t.Fatalf("request %d: %v; want it served by live", i, err)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		body      string
		getBody   bool
		first     string // "dead" (connect refused), "reset" (reset before headers) or "stall" (no headers within HeaderTimeout)
		retries   int    // negative: NoRetries
		wantRetry bool
	}{
		// Nothing was sent: any replayable request may go elsewhere.
		{"GET, connect failure", "GET", "", false, "dead", 0, true},
		{"POST without body, connect failure", "POST", "", false, "dead", 0, true},
		{"POST with body is not retried", "POST", "data", false, "dead", 0, false},
		{"POST with replayable body, connect failure", "POST", "data", true, "dead", 0, true},
		{"retries disabled", "GET", "", false, "dead", -1, false},
		// RFC 9110 §9.2.1: GET and HEAD are safe, replayed after a reset.
		{"GET, reset before headers", "GET", "", false, "reset", 0, true},
		{"HEAD, reset before headers", "HEAD", "", false, "reset", 0, true},
		// Bytes were sent: other methods are never replayed.
		{"POST, reset before headers", "POST", "", false, "reset", 0, false},
		{"PUT with replayable body, reset before headers", "PUT", "data", true, "reset", 0, false},
		// No response headers in time (nginx's proxy_next_upstream
		// timeout): a safe request without a body goes to another server.
		{"GET, header timeout", "GET", "", false, "stall", 0, true},
		{"HEAD, header timeout", "HEAD", "", false, "stall", 0, true},
		{"GET with a body, header timeout", "GET", "data", true, "stall", 0, false},
		{"POST, header timeout", "POST", "", false, "stall", 0, false},
		{"PUT with replayable body, header timeout", "PUT", "data", true, "stall", 0, false},
		{"DELETE, header timeout", "DELETE", "", false, "stall", 0, false},
		{"GET, header timeout, retries disabled", "GET", "", false, "stall", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := newRecorder(t, "live")
			first := deadURL(t)
			switch tt.first {
			case "reset":
				first = newResetServer(t).URL
			case "stall":
				first = newStallCounter(t).URL
			}
			p := newTestPool(t, PoolOptions{Servers: servers(first, live.URL), Ejection: noEject, Retries: tt.retries, NoRetries: tt.retries < 0,
				HeaderTimeout: 100 * time.Millisecond})
			c := newTestClient(t, Options{Pool: p})
			resp, err := do(t, c, tt.method, tt.body, tt.getBody)
			if got := err == nil; got != tt.wantRetry {
				t.Fatalf("retried = %v (err %v), want %v", got, err, tt.wantRetry)
			}
			if !tt.wantRetry {
				if live.count() != 0 {
					t.Errorf("live got %d requests, want 0", live.count())
				}
				return
			}
			if resp.Header.Get("X-Served-By") != "live" {
				t.Errorf("served by %q, want live", resp.Header.Get("X-Served-By"))
			}
			if got := live.last(t).body; got != tt.body {
				t.Errorf("live received body %q, want %q", got, tt.body)
			}
		})
	}
}

// TestRetryCountBounded: with Retries 2, a GET meets at most 3 servers.
func TestRetryCountBounded(t *testing.T) {
	resets := make([]*resetServer, 5)
	urls := make([]string, 5)
	for i := range resets {
		resets[i] = newResetServer(t)
		urls[i] = resets[i].URL
	}
	p := newTestPool(t, PoolOptions{Servers: servers(urls...), Ejection: noEject, Retries: 2})
	c := newTestClient(t, Options{Pool: p})
	_, _, err := get(t, c, "k", "/")
	wantErrIs(t, err, ErrProtocol)
	total := 0
	for _, rs := range resets {
		total += rs.count()
	}
	if total != 3 {
		t.Errorf("%d servers were sent the request, want 3 (1 + Retries)", total)
	}
}

// TestRetryTimeBudget: no retry starts once RetryTimeout has passed.
func TestRetryTimeBudget(t *testing.T) {
	live := newRecorder(t, "live")
	p := newTestPool(t, PoolOptions{Servers: servers(deadURL(t), live.URL), Ejection: noEject, RetryTimeout: time.Nanosecond})
	c := newTestClient(t, Options{Pool: p})
	_, _, err := get(t, c, "k", "/")
	wantErrIs(t, err, ErrConnect)
	if live.count() != 0 {
		t.Errorf("live got %d requests after the retry budget, want 0", live.count())
	}
}

// TestKeepAliveReuse counts new upstream connections: sequential requests
// share one, and MaxConnsPerHost caps concurrent ones.
func TestKeepAliveReuse(t *testing.T) {
	newCounted := func(tb testing.TB, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(h)
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		tb.Cleanup(srv.Close)
		return srv, &conns
	}
	t.Run("sequential", func(t *testing.T) {
		srv, conns := newCounted(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
		c := newTestClient(t, Options{Pool: newTestPool(t, PoolOptions{Servers: servers(srv.URL)})})
		for range 20 {
			if _, _, err := get(t, c, "k", "/"); err != nil {
				t.Fatal(err)
			}
		}
		if got := conns.Load(); got != 1 {
			t.Errorf("20 sequential requests opened %d connections, want 1", got)
		}
	})
	t.Run("MaxConnsPerHost", func(t *testing.T) {
		// Every answer waits until all ten requests are under way and two
		// are being served: then a third connection can only come from a
		// transport that ignores the bound, never from requests that
		// happened not to overlap.
		var serving atomic.Int64
		all := make(chan struct{})
		srv, conns := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
			serving.Add(1)
			<-all
			w.Write([]byte("ok"))
		})
		release := sync.OnceFunc(func() { close(all) })
		t.Cleanup(release) // before the server closes, so that a failing test cannot hang
		p := newTestPool(t, PoolOptions{Servers: servers(srv.URL), MaxConnsPerHost: 2})
		c := newTestClient(t, Options{Pool: p})
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				resp, err := c.Do(context.Background(), &Outbound{RequestURI: "/"})
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body) // fully read: the connection is reused
				resp.Body.Close()
			})
		}
		waitFor(t, "ten requests under way, two served", func() bool {
			return p.Status()[0].InFlight == 10 && serving.Load() >= 2
		})
		release()
		wg.Wait()
		if got := conns.Load(); got > 2 {
			t.Errorf("10 concurrent requests opened %d connections, want at most 2", got)
		}
	})
}

// TestInFlightReleased checks that the in-flight count ends when the body is
// closed, and on errors.
func TestInFlightReleased(t *testing.T) {
	live := newRecorder(t, "live")
	p := newTestPool(t, PoolOptions{Servers: servers(live.URL, deadURL(t)), Ejection: noEject})
	c := newTestClient(t, Options{Pool: p})
	resp, err := c.Do(context.Background(), &Outbound{RequestURI: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Status()[0].InFlight; got != 1 {
		t.Errorf("in flight with the body open = %d, want 1", got)
	}
	resp.Body.Close()
	resp.Body.Close() // twice: counted once
	for range 3 {
		get(t, c, "k", "/")
	}
	for _, st := range p.Status() {
		if st.InFlight != 0 {
			t.Errorf("%s in flight = %d after every body was closed, want 0", st.URL, st.InFlight)
		}
	}
}

// stallCounter is a server that reads requests, counts them and never
// answers (until the test ends): a header timeout for every request.
type stallCounter struct {
	*httptest.Server
	hits atomic.Int64
}

func newStallCounter(tb testing.TB) *stallCounter {
	tb.Helper()
	sc := &stallCounter{}
	stop := make(chan struct{})
	sc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc.hits.Add(1)
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	tb.Cleanup(sc.Close)
	tb.Cleanup(func() { close(stop) }) // first: release the handlers
	return sc
}

// TestRetryOnHeaderTimeoutBounded: a GET whose servers all time out
// waiting for response headers meets 1 + Retries of them, each once, and
// fails with ErrTimeout, whatever the time the tries took (RetryTimeout
// left zero); RetryTimeout, when set, bounds when a retry may start; a
// shield's header timeout is not retried on another shield (it
// is most likely waiting on the origin, which another shield would ask
// again).
func TestRetryOnHeaderTimeoutBounded(t *testing.T) {
	const timeout = 100 * time.Millisecond
	stalls := make([]*stallCounter, 4)
	urls := make([]string, len(stalls))
	for i := range stalls {
		stalls[i] = newStallCounter(t)
		urls[i] = stalls[i].URL
	}
	total := func() (n int64) {
		for _, s := range stalls {
			n += s.hits.Load()
		}
		return n
	}
	p := newTestPool(t, PoolOptions{Servers: servers(urls...), Ejection: noEject, Retries: 2, HeaderTimeout: timeout})
	c := newTestClient(t, Options{Pool: p})
	_, _, err := get(t, c, "k", "/")
	wantErrIs(t, err, ErrTimeout)
	// Every try was sent before Do returned; a loaded machine may start
	// a server's handler later.
	waitFor(t, "3 servers sent the request (1 + Retries)", func() bool { return total() == 3 })
	for _, s := range stalls {
		if s.hits.Load() > 1 {
			t.Errorf("a server got the request %d times", s.hits.Load())
		}
	}

	before := total()
	p2 := newTestPool(t, PoolOptions{Servers: servers(urls...), Ejection: noEject, Retries: 2, HeaderTimeout: timeout, RetryTimeout: timeout / 2})
	_, _, err = get(t, newTestClient(t, Options{Pool: p2}), "k", "/")
	wantErrIs(t, err, ErrTimeout)
	waitFor(t, "the one try's request", func() bool { return total()-before >= 1 })
	if n := total() - before; n != 1 {
		t.Errorf("with RetryTimeout under HeaderTimeout %d servers got the request, want 1", n)
	}

	live := newRecorder(t, "live")
	before = total()
	sc := newTestClient(t, Options{Shields: []string{stalls[0].URL, stalls[1].URL}, Origin: live.URL, HeaderTimeout: timeout})
	_, _, err = get(t, sc, "k", "/")
	wantErrIs(t, err, ErrTimeout)
	waitFor(t, "the shield's request", func() bool { return total()-before >= 1 })
	if n := total() - before; n != 1 || live.count() != 0 {
		t.Errorf("a shield's header timeout went to %d shields and %d origins, want 1 shield", n, live.count())
	}
}
