package edge

// Origin faults (issue "Hardening", Faults): refused connections, a reset in
// the middle of the body, hung headers, a hung body, a slow trickle and
// garbage are each bounded by a timeout, answered 502/504 with a
// Cache-Status detail (RFC 9211 §2.4 fwd, §2.8 detail) when nothing was sent
// yet, served stale where stale-if-error allows it (RFC 5861 §4), and never
// leave a partial object in the cache (RFC 9111 §3.3: an incomplete response
// may be stored only as a partial one, which edged does not keep).

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// faultMode is what the fault origin does with a request.
type faultMode int32

const (
	modeGood         faultMode = iota // 200, complete, cacheable with stale-if-error
	modeHangHeaders                   // reads the request, never answers
	modeResetMidBody                  // sends the header and half the body, then a TCP RST
	modeHangBody                      // sends the header and half the body, then nothing
	modeTrickle                       // sends the body one byte every 50ms: never idle, done only after 3.6s
	modeGarbage                       // answers bytes that are not HTTP
	modeEOFMidBody                    // sends half the body and closes cleanly (FIN)
)

// faultBody is what a complete response carries; faultBodyLen is its
// announced Content-Length.
const (
	faultBody    = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	faultBodyLen = len(faultBody)
)

// faultOrigin is a raw TCP HTTP/1.1 origin whose behaviour the test switches.
type faultOrigin struct {
	ln       net.Listener
	mode     atomic.Int32
	requests atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newFaultOrigin(t testing.TB) *faultOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &faultOrigin{ln: ln, stop: make(chan struct{})}
	o.wg.Add(1)
	go o.accept()
	t.Cleanup(func() {
		close(o.stop)
		ln.Close()
		o.wg.Wait()
	})
	return o
}

func (o *faultOrigin) url() string         { return "http://" + o.ln.Addr().String() }
func (o *faultOrigin) setMode(m faultMode) { o.mode.Store(int32(m)) }

func (o *faultOrigin) accept() {
	defer o.wg.Done()
	for {
		conn, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			defer conn.Close()
			o.serve(conn)
		}()
	}
}

// serve answers the requests of one connection.
func (o *faultOrigin) serve(conn net.Conn) {
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		o.requests.Add(1)
		head := "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, stale-if-error=600\r\n" +
			"Date: " + httpDate(time.Now()) + "\r\nContent-Length: " + strconv.Itoa(faultBodyLen) + "\r\n\r\n"
		half := faultBody[:faultBodyLen/2]
		switch faultMode(o.mode.Load()) {
		case modeGood:
			if _, err := io.WriteString(conn, head+faultBody); err != nil {
				return
			}
			_ = req.Body.Close()
			continue
		case modeHangHeaders:
			<-o.stop
		case modeResetMidBody:
			_, _ = io.WriteString(conn, head+half)
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // Close sends RST, not FIN
			}
		case modeHangBody:
			_, _ = io.WriteString(conn, head+half)
			<-o.stop
		case modeTrickle:
			_, _ = io.WriteString(conn, head)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for i := range faultBodyLen {
				select {
				case <-o.stop:
					return
				case <-tick.C:
				}
				if _, err := conn.Write([]byte{faultBody[i]}); err != nil {
					return
				}
			}
			<-o.stop
		case modeGarbage:
			_, _ = io.WriteString(conn, "\x00\x01 this is not HTTP\r\n\r\n")
		case modeEOFMidBody:
			_, _ = io.WriteString(conn, head+half)
		}
		return
	}
}

// Timeouts of the fault tests: short, so each fault is bounded quickly. The
// header timeout is also what a good response or an immediate garbage one
// must beat (a warm-up, the garbage case), so it leaves room for a loaded
// machine running -race.
const (
	faultHeaderTimeout = time.Second
	faultBodyTimeout   = 300 * time.Millisecond // idle time between body reads
	faultFetchTimeout  = 1500 * time.Millisecond
	// faultBound is the most any faulty request may take: the fetch timeout
	// plus slack for a loaded machine running -race.
	faultBound = faultFetchTimeout + 3*time.Second
)

// newFaultEdge runs an edge in front of upstream with the fault timeouts.
func newFaultEdge(t testing.TB, c *clock, upstream string) *testEdge {
	t.Helper()
	return newTimedEdge(t, c, upstream, faultBodyTimeout, faultFetchTimeout)
}

// newTimedEdge runs an edge in front of upstream with these body and
// fetch timeouts, and the fault tests' header timeout.
func newTimedEdge(t testing.TB, c *clock, upstream string, body, fetch time.Duration) *testEdge {
	t.Helper()
	store, err := storage.Open(storage.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	up, err := origin.New(origin.Options{Origin: upstream, Via: "edged", ConnectTimeout: time.Second,
		HeaderTimeout: faultHeaderTimeout, BodyTimeout: body})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Name: "edged", Store: store, Upstream: up, Now: c.Now, FetchTimeout: fetch})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEdge{Server: newPublicServer(t, h), handler: h, store: store}
	t.Cleanup(e.stop)
	return e
}

// faultResult is what a client saw of one request.
type faultResult struct {
	resp    *http.Response
	body    string
	readErr error // reading the body failed (the edge aborted the response)
	took    time.Duration
}

// complete reports whether the client got the whole, correct object.
func (r faultResult) complete() bool {
	return r.readErr == nil && r.resp.StatusCode == http.StatusOK && r.body == faultBody
}

func faultGet(t testing.TB, e *testEdge, path string) faultResult {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(e.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, readErr := io.ReadAll(resp.Body)
	return faultResult{resp: resp, body: string(b), readErr: readErr, took: time.Since(start)}
}

// assertNothingStored fails if the store holds anything at all.
func assertNothingStored(t testing.TB, s *storage.Store) {
	t.Helper()
	s.Flush()
	if st := s.Stats(); st.MemoryEntries != 0 || st.DiskEntries != 0 || st.PendingWrites != 0 {
		t.Errorf("a faulty response was stored: %+v", st)
	}
}

// On a miss, every origin fault ends within its timeout, with a 502 or 504
// and a Cache-Status detail when the edge had sent nothing yet, or with an
// aborted body (never a short body passed off as complete) once it had; and
// nothing is stored.
func TestOriginFaultsOnMiss(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mode   faultMode
		status int    // if the fault happens before the edge answers
		detail string // Cache-Status detail with that status
		// midBody: the header may already have reached the client, which
		// then must see the body aborted rather than complete.
		midBody bool
	}{
		{"hung headers", modeHangHeaders, http.StatusGatewayTimeout, "detail=upstream-timeout", false},
		{"garbage", modeGarbage, http.StatusBadGateway, "detail=upstream-error", false},
		{"reset mid-body", modeResetMidBody, http.StatusBadGateway, "detail=upstream-", true},
		{"EOF mid-body", modeEOFMidBody, http.StatusBadGateway, "detail=upstream-", true},
		{"hung body", modeHangBody, http.StatusGatewayTimeout, "detail=upstream-timeout", true},
		// A slow trickle is no fault on a miss any more: the body is sent
		// to the client as it arrives, and only a pause of body_timeout
		// cuts it (TestTrickleStreamedPastFetchTimeout).
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			o := newFaultOrigin(t)
			o.setMode(tt.mode)
			e := newFaultEdge(t, c, o.url())
			r := faultGet(t, e, "/obj")
			if r.took > faultBound {
				t.Errorf("took %v, want at most %v: the fault was not bounded by a timeout", r.took, faultBound)
			}
			switch {
			case r.resp.StatusCode == http.StatusOK && tt.midBody:
				if r.complete() || r.readErr == nil {
					t.Errorf("client got a complete-looking response (%d bytes, err %v): a truncated body must be aborted", len(r.body), r.readErr)
				}
			default:
				wantStatus(t, r.resp, tt.status, tt.detail)
			}
			assertNothingStored(t, e.store)
		})
	}
}

// A miss whose body trickles in (a byte every 50 ms, 3.6 s in all, past
// a 1 s fetch_timeout, each pause well within a 2 s body_timeout, wide
// enough for a loaded machine) is sent to its client as it arrives, whole,
// and stored: fetch_timeout no longer bounds a body a client is being sent
// (fetchContext), body_timeout bounds each pause (the "hung body" case of
// TestOriginFaultsOnMiss). Before, the fill was cut at fetch_timeout and
// the client saw a 504.
func TestTrickleStreamedPastFetchTimeout(t *testing.T) {
	const fetch = time.Second
	c := newClock()
	o := newFaultOrigin(t)
	o.setMode(modeTrickle)
	e := newTimedEdge(t, c, o.url(), 2*time.Second, fetch)
	r := faultGet(t, e, "/obj")
	if !r.complete() {
		t.Fatalf("status %d, %d bytes, err %v, Cache-Status %q: want the whole body, streamed",
			r.resp.StatusCode, len(r.body), r.readErr, r.resp.Header.Get("Cache-Status"))
	}
	if r.took < fetch {
		t.Fatalf("took %v: the trickle did not outlast fetch_timeout, the test proves nothing", r.took)
	}
	e.waitTasks(t)
	e.store.Flush()
	if st := e.store.Stats(); st.MemoryEntries+st.DiskEntries == 0 {
		t.Errorf("the whole body was not stored: %+v", st)
	}
}

// A refused connection is a 502 upstream-unreachable, quickly.
func TestOriginRefused(t *testing.T) {
	e := newFaultEdge(t, newClock(), "http://"+refusingAddr(t))
	r := faultGet(t, e, "/obj")
	wantStatus(t, r.resp, http.StatusBadGateway, "fwd=uri-miss", "detail=upstream-unreachable")
	if r.took > faultBound {
		t.Errorf("took %v, want at most %v", r.took, faultBound)
	}
	assertNothingStored(t, e.store)
}

// refusingAddr is a 127.0.0.1 address where nothing listens: connections
// to it are refused.
func refusingAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A pass-through whose upstream refuses the connection counts in
// edged_pass_failures_total under the Cache-Status detail; a miss's failure
// counts in edged_upstream_fetches_total instead.
func TestPassFailureCounted(t *testing.T) {
	e := newFaultEdge(t, newClock(), "http://"+refusingAddr(t))
	resp, err := http.Post(e.URL+"/form", "text/plain", strings.NewReader("a=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantStatus(t, resp, http.StatusBadGateway, "fwd=method", "detail=upstream-unreachable")
	faultGet(t, e, "/obj")
	if got := testutil.ToFloat64(e.handler.metrics.passFailures.WithLabelValues(policy.DetailUpstreamUnreachable)); got != 1 {
		t.Errorf("edged_pass_failures_total{reason=upstream-unreachable} = %v, want 1 (the POST; the GET is a miss)", got)
	}
}

// RFC 5861 §4: with stale-if-error, each origin fault while revalidating a
// stale object serves the stale copy, unless the edge had already begun
// sending the new response (then the client sees it aborted); either way the
// stored copy stays the good one and the request is bounded.
func TestOriginFaultsServeStale(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode faultMode
	}{
		{"hung headers", modeHangHeaders},
		{"garbage", modeGarbage},
		{"reset mid-body", modeResetMidBody},
		{"EOF mid-body", modeEOFMidBody},
		{"hung body", modeHangBody},
		{"slow trickle", modeTrickle},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			o := newFaultOrigin(t)
			e := newFaultEdge(t, c, o.url())
			if r := faultGet(t, e, "/obj"); !r.complete() {
				t.Fatalf("warm-up: status %d, body %q, err %v", r.resp.StatusCode, r.body, r.readErr)
			}
			c.Advance(time.Minute) // stale (max-age=10), within stale-if-error=600
			o.setMode(tt.mode)
			r := faultGet(t, e, "/obj")
			if r.took > faultBound {
				t.Errorf("took %v, want at most %v", r.took, faultBound)
			}
			if !r.complete() {
				t.Errorf("status %d, %d bytes, err %v, Cache-Status %q: want the stale copy",
					r.resp.StatusCode, len(r.body), r.readErr, r.resp.Header.Get("Cache-Status"))
			} else {
				wantStatus(t, r.resp, http.StatusOK, "stale-if-error")
			}
			// The good copy is still the stored one, whole.
			o.setMode(modeHangHeaders)
			e.store.Flush()
			if r := faultGet(t, e, "/obj"); !r.complete() {
				t.Errorf("after the fault: status %d, body %q: the stored copy was damaged", r.resp.StatusCode, r.body)
			}
		})
	}
}

// Many clients waiting on one faulty fetch are all released within the
// bound: a hung origin does not pile up waiting requests forever.
func TestCoalescedHungBodyReleasesAll(t *testing.T) {
	o := newFaultOrigin(t)
	o.setMode(modeHangBody)
	e := newFaultEdge(t, newClock(), o.url())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			resp, err := http.Get(e.URL + "/obj")
			if err != nil {
				errs <- err
				return
			}
			b, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch took := time.Since(start); {
			case took > faultBound:
				errs <- errors.New("a waiter took " + took.String())
			case resp.StatusCode == http.StatusOK && readErr == nil && string(b) == faultBody:
				errs <- errors.New("a waiter got a complete body from a hung origin")
			case resp.StatusCode != http.StatusOK && !strings.Contains(resp.Header.Get("Cache-Status"), "upstream-timeout"):
				errs <- errors.New("Cache-Status " + resp.Header.Get("Cache-Status") + " lacks upstream-timeout")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assertNothingStored(t, e.store)
}
