package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// cachingEdge answers like an edge: the first GET of a host+path is a
// miss, later ones are hits; /broken is a 502. It records the most fetches
// it saw at once.
func cachingEdge(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]bool{}
	var inflight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if r.URL.Path == "/broken" {
			w.Header().Set("Cache-Status", "edged; fwd=uri-miss; fwd-status=502")
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		mu.Lock()
		key := r.Host + r.URL.RequestURI()
		hit := seen[key]
		seen[key] = true
		mu.Unlock()
		if hit {
			// An upstream cache's member first, this edge's last (RFC 9211 §2).
			w.Header().Set("Cache-Status", "shield; fwd=uri-miss, edged; hit; ttl=60")
		} else {
			w.Header().Set("Cache-Status", "edged; fwd=uri-miss; stored")
		}
		fmt.Fprintf(w, "body of %s", key)
	}))
	t.Cleanup(srv.Close)
	return srv, &peak
}

func TestWarm(t *testing.T) {
	e1, peak1 := cachingEdge(t)
	e2, peak2 := cachingEdge(t)
	var list strings.Builder
	list.WriteString("# assets\n\n")
	for i := range 20 {
		fmt.Fprintf(&list, "http://www.example.test/a/%d\n", i)
	}
	list.WriteString("http://www.example.test/broken\n")
	file := filepath.Join(t.TempDir(), "urls.txt")
	if err := os.WriteFile(file, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"warm", "-c", "3", "-edge", e1.URL, "-edge", strings.TrimPrefix(e2.URL, "http://"), file}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, env(nil), &stdout, &stderr); code != exitFail {
		t.Errorf("first warm: exit %d, want 1 (one URL fails)", code)
	}
	if !strings.Contains(stdout.String(), "warmed 21 URLs through 2 edge(s)") || !strings.Contains(stdout.String(), "0 hits, 40 misses, 2 errors") {
		t.Errorf("first summary:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "http://www.example.test/broken via 127.0.0.1") || !strings.Contains(stderr.String(), "502") {
		t.Errorf("errors not named:\n%s", stderr.String())
	}
	// Not a terminal: plain progress lines, no bar, no escapes.
	if !strings.Contains(stdout.String(), "42/42 fetched") || strings.Contains(stdout.String(), "\r") {
		t.Errorf("progress lines:\n%q", stdout.String())
	}
	if p := max(peak1.Load(), peak2.Load()); p > 3 {
		t.Errorf("%d fetches at once on one edge, want at most -c 3", p)
	}
	stdout.Reset()
	stderr.Reset()
	run(context.Background(), args, env(nil), &stdout, &stderr)
	if !strings.Contains(stdout.String(), "40 hits, 0 misses, 2 errors") {
		t.Errorf("second summary:\n%s", stdout.String())
	}
}

func TestWarmBadList(t *testing.T) {
	file := filepath.Join(t.TempDir(), "urls.txt")
	if err := os.WriteFile(file, []byte("http://a.test/x\n/relative\nftp://a.test/y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"warm", file}, env(nil), &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "urls.txt:2:") || !strings.Contains(stderr.String(), "urls.txt:3:") {
		t.Errorf("exit %d, stderr %q; want 2 and both bad lines named", code, stderr.String())
	}
}

func TestCacheStatusHit(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   bool
	}{
		{[]string{"edged; hit"}, true},
		{[]string{"edged; hit; ttl=3"}, true},
		{[]string{"edged; fwd=stale"}, false},
		{[]string{"shield; hit", "edged; fwd=uri-miss"}, false},
		{[]string{"shield; fwd=uri-miss, edged; hit"}, true},
		{nil, false},
	} {
		if got := cacheStatusHit(tt.values); got != tt.want {
			t.Errorf("cacheStatusHit(%q) = %v", tt.values, got)
		}
	}
}

// On a terminal the progress is one line redrawn in place (isTerminal
// decides; a test has no terminal, so the progress is built with tty set).
func TestWarmProgressOnTerminal(t *testing.T) {
	var out, errs bytes.Buffer
	p := &progress{w: &out, tty: true, total: 4}
	target, _ := url.Parse("http://a.test/x")
	p.done(outcomeMiss, warmJob{target: target}, nil, &errs)
	p.done(outcomeHit, warmJob{target: target}, nil, &errs)
	p.done(outcomeError, warmJob{target: target}, errors.New("502 Bad Gateway"), &errs)
	p.done(outcomeHit, warmJob{target: target}, nil, &errs)
	p.finish()
	got := out.String()
	for _, want := range []string{"\r[#######.......................] 1/4", "\r\x1b[K", "\r[##############################] 4/4  hits 2  misses 1  errors 1\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress %q lacks %q", got, want)
		}
	}
	if strings.Count(got, "\n") != 1 {
		t.Errorf("progress %q: want one line, redrawn", got)
	}
	if errs.String() != "edgectl warm: http://a.test/x: 502 Bad Gateway\n" {
		t.Errorf("errors %q", errs.String())
	}
}
