package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	maxSize  = 64 << 20
	maxDelay = 10 * time.Second
)

// bodies holds one body per size, built once.
type bodies struct{ m sync.Map } // size (int) → []byte

// get returns the body of n bytes: numbered text lines, compressible like
// the HTML and JavaScript a CDN serves.
func (b *bodies) get(n int) []byte {
	if v, ok := b.m.Load(n); ok {
		return v.([]byte)
	}
	var sb strings.Builder
	sb.Grow(n + 64)
	for i := 0; sb.Len() < n; i++ {
		fmt.Fprintf(&sb, "%08d edged benchmark object, the same bytes behind every cache\n", i)
	}
	body := []byte(sb.String()[:n])
	v, _ := b.m.LoadOrStore(n, body)
	return v.([]byte)
}

// parseSize reads SIZE from /obj/SIZE/NAME.
func parseSize(path string) (int, bool) {
	rest, ok := strings.CutPrefix(path, "/obj/")
	if !ok {
		return 0, false
	}
	s, _, _ := strings.Cut(rest, "/")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxSize {
		return 0, false
	}
	return n, true
}

func writeBody(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h["Cache-Control"] = []string{"public, max-age=3600"}
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	_, _ = w.Write(body)
}

// ceiling serves the bodies and nothing else.
type ceiling struct{ bodies bodies }

func newCeiling() *ceiling { return &ceiling{} }

func (c *ceiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, ok := parseSize(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeBody(w, c.bodies.get(n))
}

// origin serves the bodies, counts requests per path and can delay.
type origin struct {
	bodies bodies
	total  atomic.Int64
	paths  sync.Map // path → *atomic.Int64
}

func newOrigin() *origin { return &origin{} }

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_stats" {
		o.stats(w, r)
		return
	}
	o.count(r.URL.Path)
	n, ok := parseSize(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if d := r.URL.Query().Get("delay"); d != "" {
		ms, err := strconv.Atoi(d)
		if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > maxDelay {
			http.Error(w, "delay: milliseconds, at most 10000", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
	writeBody(w, o.bodies.get(n))
}

func (o *origin) count(path string) {
	o.total.Add(1)
	c, ok := o.paths.Load(path)
	if !ok {
		c, _ = o.paths.LoadOrStore(path, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

// Stats is the /_stats answer.
type Stats struct {
	Total int64 `json:"total"`
	Path  int64 `json:"path"`
}

func (o *origin) stats(w http.ResponseWriter, r *http.Request) {
	s := Stats{Total: o.total.Load()}
	if c, ok := o.paths.Load(r.URL.Query().Get("path")); ok {
		s.Path = c.(*atomic.Int64).Load()
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s)
}
