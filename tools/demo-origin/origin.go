package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits on what a query can ask for.
const (
	maxSlow      = 60 * time.Second
	maxBig       = 1 << 30
	maxStatPaths = 10000
)

// route is one documented path.
type route struct {
	pattern string
	doc     string
	handler http.HandlerFunc
}

// demoOrigin serves the demo routes and counts requests per path.
type demoOrigin struct {
	now     func() time.Time
	started time.Time // Last-Modified of the static files
	routes  []route
	mux     *http.ServeMux

	mu     sync.Mutex     // guards counts
	counts map[string]int // requests per URL path
}

func newOrigin(now func() time.Time) *demoOrigin {
	o := &demoOrigin{now: now, started: now().UTC().Truncate(time.Second), counts: make(map[string]int), mux: http.NewServeMux()}
	o.routes = []route{
		{"GET /{$}", "this list", o.index},
		{"GET /static/", "a file: public, max-age=300, ETag and Last-Modified (answers If-None-Match with 304)", o.static},
		{"GET /time", "the time: max-age=5, stale-while-revalidate=30", o.time},
		{"GET /private", "private, max-age=60: a shared cache must not store it", o.private},
		{"GET /nocache", "no-store: never stored", o.nocache},
		{"GET /vary", "Vary: Accept-Language: one stored variant per language", o.vary},
		{"GET /slow", "?ms=N: answers after N milliseconds (max 60000); public, max-age=60", o.slow},
		{"GET /big", "?bytes=N: an N-byte body (max 1GiB); public, max-age=300", o.big},
		{"GET /status/{code}", "answers with that status; public, max-age=30", o.status},
		{"GET /cookie", "Set-Cookie with public, max-age=60", o.cookie},
		{"GET /_stats", "requests per path as JSON (not counted)", o.stats},
	}
	for _, rt := range o.routes {
		o.mux.HandleFunc(rt.pattern, rt.handler)
	}
	return o
}

func (o *demoOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/_stats" {
		o.count(r.URL.Path)
	}
	o.mux.ServeHTTP(w, r)
}

func (o *demoOrigin) count(path string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.counts[path]; !ok && len(o.counts) >= maxStatPaths {
		path = "(other)"
	}
	o.counts[path]++
}

func (o *demoOrigin) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "edged demo origin (not for production). Routes:")
	for _, rt := range o.routes {
		_, path, _ := strings.Cut(rt.pattern, " ")
		path = strings.TrimSuffix(path, "{$}")
		fmt.Fprintf(w, "  %-18s %s\n", path, rt.doc)
	}
}

// static serves a body derived from the path. http.ServeContent answers
// If-None-Match and If-Modified-Since with 304 (RFC 9110 §13.1.2, §13.1.3)
// and Range with 206 (RFC 9110 §14).
func (o *demoOrigin) static(w http.ResponseWriter, r *http.Request) {
	body := []byte("static file " + r.URL.Path + "\n" + strings.Repeat("edged demo content. ", 50) + "\n")
	sum := sha256.Sum256(body)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	if !strings.Contains(r.URL.Path[len("/static/"):], ".") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	http.ServeContent(w, r, r.URL.Path, o.started, bytes.NewReader(body))
}

func (o *demoOrigin) time(w http.ResponseWriter, _ *http.Request) {
	// RFC 5861 §3: may be served stale for 30s while one refresh runs.
	w.Header().Set("Cache-Control", "public, max-age=5, stale-while-revalidate=30")
	text(w, o.now().UTC().Format(time.RFC3339Nano))
}

func (o *demoOrigin) private(w http.ResponseWriter, _ *http.Request) {
	// RFC 9111 §5.2.2.7: private responses are not stored by shared caches.
	w.Header().Set("Cache-Control", "private, max-age=60")
	text(w, "for your eyes only, generated "+o.now().UTC().Format(time.RFC3339Nano))
}

func (o *demoOrigin) nocache(w http.ResponseWriter, _ *http.Request) {
	// RFC 9111 §5.2.2.5: no-store forbids storing the response.
	w.Header().Set("Cache-Control", "no-store")
	text(w, "never stored, generated "+o.now().UTC().Format(time.RFC3339Nano))
}

var greetings = map[string]string{"en": "Hello", "fr": "Bonjour", "de": "Hallo", "es": "Hola", "nl": "Hallo", "it": "Ciao"}

func (o *demoOrigin) vary(w http.ResponseWriter, r *http.Request) {
	// RFC 9111 §4.1: a stored response is used only for requests whose
	// Accept-Language matches the one that fetched it.
	w.Header().Set("Vary", "Accept-Language")
	w.Header().Set("Cache-Control", "public, max-age=60")
	lang := "en"
	if al := strings.ToLower(strings.TrimSpace(r.Header.Get("Accept-Language"))); len(al) >= 2 {
		if _, ok := greetings[al[:2]]; ok {
			lang = al[:2]
		}
	}
	w.Header().Set("Content-Language", lang)
	text(w, greetings[lang]+", generated "+o.now().UTC().Format(time.RFC3339Nano))
}

func (o *demoOrigin) slow(w http.ResponseWriter, r *http.Request) {
	ms, err := queryInt(r, "ms", 1000, int64(maxSlow/time.Millisecond))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	text(w, fmt.Sprintf("answered after %dms at %s", ms, o.now().UTC().Format(time.RFC3339Nano)))
}

func (o *demoOrigin) big(w http.ResponseWriter, r *http.Request) {
	n, err := queryInt(r, "bytes", 1<<20, maxBig)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	line := []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_\n")
	for n > 0 {
		chunk := line
		if int64(len(chunk)) > n {
			chunk = chunk[:n]
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		n -= int64(len(chunk))
	}
}

func (o *demoOrigin) status(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 200 || code > 599 {
		http.Error(w, "status must be 200-599", http.StatusBadRequest)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=30")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if code != http.StatusNoContent && code != http.StatusNotModified {
		fmt.Fprintf(w, "status %d %s\n", code, http.StatusText(code))
	}
}

func (o *demoOrigin) cookie(w http.ResponseWriter, _ *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: "demo", Value: strconv.FormatInt(o.now().UnixNano(), 36), Path: "/"})
	w.Header().Set("Cache-Control", "public, max-age=60")
	text(w, "a response that sets a cookie")
}

func (o *demoOrigin) stats(w http.ResponseWriter, _ *http.Request) {
	o.mu.Lock()
	counts := make(map[string]int, len(o.counts))
	total := 0
	for p, n := range o.counts {
		counts[p] = n
		total += n
	}
	o.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	// encoding/json writes map keys sorted.
	_ = json.NewEncoder(w).Encode(struct {
		Total int            `json:"total"`
		Paths map[string]int `json:"paths"`
	}{total, counts})
}

func text(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, s+"\n")
}

// queryInt reads a non-negative integer query parameter, def when absent.
func queryInt(r *http.Request, name string, def, max int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("%s must be an integer from 0 to %d", name, max)
	}
	return n, nil
}
