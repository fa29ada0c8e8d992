package origin

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestPool returns a Pool for opts (Name defaults to "test") that is
// closed when the test ends.
func newTestPool(tb testing.TB, opts PoolOptions) *Pool {
	tb.Helper()
	if opts.Name == "" {
		opts.Name = "test"
	}
	p, err := NewPool(opts)
	if err != nil {
		tb.Fatalf("NewPool: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}

// servers returns Server entries for urls, with weight 0 (1).
func servers(urls ...string) []Server {
	s := make([]Server, len(urls))
	for i, u := range urls {
		s[i].URL = u
	}
	return s
}

// fakeURLs returns n server URLs that are never connected to.
func fakeURLs(n int) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = "http://10.0.0." + strconv.Itoa(i+1) + ":8080"
	}
	return urls
}

// recorders starts n recorders named "s0".."s<n-1>" and returns them and
// their URLs.
func recorders(tb testing.TB, n int) ([]*recorder, []string) {
	tb.Helper()
	recs, urls := make([]*recorder, n), make([]string, n)
	for i := range recs {
		recs[i] = newRecorder(tb, "s"+strconv.Itoa(i))
		urls[i] = recs[i].URL
	}
	return recs, urls
}

// servedBy performs n GETs with keys from keyOf and counts the responses by
// X-Served-By.
func servedBy(tb testing.TB, c *Client, n int, keyOf func(int) string) map[string]int {
	tb.Helper()
	got := map[string]int{}
	for i := range n {
		resp, _, err := get(tb, c, keyOf(i), "/")
		if err != nil {
			tb.Fatalf("request %d: %v", i, err)
		}
		got[resp.Header.Get("X-Served-By")]++
	}
	return got
}

func sameKey(int) string { return "k" }

// waitFor polls cond until it holds or 10s pass: state changes driven by
// background checks are awaited, never slept for.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeClock is a settable clock for passive ejection.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// resetServer accepts connections, reads one request, and closes without
// answering (a reset before response headers). It counts requests read.
type resetServer struct {
	URL  string
	mu   sync.Mutex // guards hits
	hits int
}

func newResetServer(tb testing.TB) *resetServer {
	tb.Helper()
	rs := &resetServer{}
	ln := serveTCP(tb, 10*time.Second, func(conn net.Conn) {
		buf := make([]byte, 4096)
		if n, _ := conn.Read(buf); n > 0 {
			rs.mu.Lock()
			rs.hits++
			rs.mu.Unlock()
		}
	})
	rs.URL = "http://" + ln.Addr().String()
	return rs
}

func (rs *resetServer) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.hits
}

// do sends a request with method and optional body through c.
func do(tb testing.TB, c *Client, method string, body string, getBody bool) (*http.Response, error) {
	tb.Helper()
	out := &Outbound{Method: method, Host: "site.example", RequestURI: "/", Key: "k"}
	if body != "" {
		out.Body, out.ContentLength = strings.NewReader(body), int64(len(body))
		if getBody {
			out.GetBody = func() (io.Reader, error) { return strings.NewReader(body), nil }
		}
	}
	resp, err := c.Do(context.Background(), out)
	if err == nil {
		tb.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}
