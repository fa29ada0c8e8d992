package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/coverage"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge"
	"edged/origin"
	"edged/storage"
)

// settleTimeout bounds the wait for the edge's goroutines to finish a
// request; a loaded machine may be slow, a hung fill is a failure.
const settleTimeout = 30 * time.Second

// probe serves one hit and one miss through an edge.Handler and writes the
// coverage counters of each into dir/hit and dir/miss.
func probe(dir string) error {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = io.WriteString(w, "the body of a cached object")
	}))
	defer upstream.Close()
	srv, closeEdge, err := startEdge(dir, upstream.URL)
	if err != nil {
		return err
	}
	defer closeEdge()

	if _, err := srv.get("/hit"); err != nil { // store the object the hit finds
		return err
	}
	if err := settle(); err != nil {
		return err
	}
	if err := measure(filepath.Join(dir, "hit"), func() error {
		return srv.want("/hit", true)
	}); err != nil {
		return err
	}
	return measure(filepath.Join(dir, "miss"), func() error {
		return srv.want("/miss", false)
	})
}

// startEdge opens a store under dir and serves an edge.Handler in front of
// upstream on a plain loopback listener. The binary also wraps its public
// listener in a check of the request framing (strictconn.WrapListener before
// issue #13 moved it to its own package); that runs before any handler and
// is left out, so that the count is the handler's path, comparable across
// the move.
func startEdge(dir, upstream string) (*server, func(), error) {
	store, err := storage.Open(storage.Options{Dir: filepath.Join(dir, "store")})
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	up, err := origin.New(origin.Options{Origin: upstream, Via: "edged"})
	if err != nil {
		_ = store.Close()
		return nil, nil, fmt.Errorf("origin client: %w", err)
	}
	h, err := edge.New(edge.Options{Name: "edged", Store: store, Upstream: up, Registerer: prometheus.NewRegistry()})
	if err != nil {
		_ = store.Close()
		return nil, nil, fmt.Errorf("edge: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = store.Close()
		return nil, nil, err
	}
	s := &server{returned: make(chan struct{}, 1), url: "http://" + ln.Addr().String()}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		s.returned <- struct{}{}
	})}
	go func() { _ = hs.Serve(ln) }()
	// The handler is not closed: the probe has waited for its goroutines
	// (settle) and exits next.
	return s, func() {
		_ = hs.Close()
		_ = store.Close()
	}, nil
}

// measure writes the coverage meta-data into dir, clears the counters,
// runs serve, waits for the edge to settle and writes the counters.
func measure(dir string, serve func() error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := coverage.WriteMetaDir(dir); err != nil {
		return fmt.Errorf("build with -cover -covermode=atomic -coverpkg=edged/edge: %w", err)
	}
	if err := coverage.ClearCounters(); err != nil {
		return fmt.Errorf("build with -cover -covermode=atomic -coverpkg=edged/edge: %w", err)
	}
	if err := serve(); err != nil {
		return err
	}
	if err := settle(); err != nil {
		return err
	}
	return coverage.WriteCountersDir(dir)
}

// server is the edge's address and a signal that ServeHTTP returned: a
// client can have the whole response before the handler has finished.
type server struct {
	url      string
	returned chan struct{}
}

// get sends one GET on a new connection, reads the body and waits for the
// handler to return.
func (s *server) get(path string) (*http.Response, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: settleTimeout}
	resp, err := client.Get(s.url + path)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", path, err)
	}
	select {
	case <-s.returned:
	case <-time.After(settleTimeout):
		return nil, fmt.Errorf("GET %s: the handler did not return in %v", path, settleTimeout)
	}
	return resp, nil
}

// want gets path and checks that it was a hit, or a miss.
func (s *server) want(path string, hit bool) error {
	resp, err := s.get(path)
	if err != nil {
		return err
	}
	cs := resp.Header.Get("Cache-Status")
	if strings.Contains(cs, "; hit") != hit || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s, Cache-Status %q; want 200 and hit=%v", path, resp.Status, cs, hit)
	}
	return nil
}

// settle waits until no goroutine runs code of package edge: the handler
// has returned, and what it started (the fill that stores a miss) has
// ended.
func settle() error {
	deadline := time.Now().Add(settleTimeout)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		busy := ""
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "edged/edge.") {
				busy = g
				break
			}
		}
		if busy == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("edge goroutine still running after " + settleTimeout.String() + ":\n" + busy)
		}
		time.Sleep(time.Millisecond)
	}
}
