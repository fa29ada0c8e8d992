package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestOrigin(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newOrigin(time.Now))
	t.Cleanup(srv.Close)
	return srv
}

func get(t testing.TB, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestRoutes(t *testing.T) {
	srv := newTestOrigin(t)
	tests := []struct {
		path         string
		header       []string
		wantStatus   int
		wantCC       string
		wantHeader   string // "Name: value" that must be present
		wantContains string
	}{
		{"/", nil, 200, "public, max-age=60", "", "/static/"},
		{"/static/app.js", nil, 200, "public, max-age=300", "Content-Type: text/javascript; charset=utf-8", "static file /static/app.js"},
		{"/time", nil, 200, "public, max-age=5, stale-while-revalidate=30", "", "T"},
		{"/private", nil, 200, "private, max-age=60", "", "eyes only"},
		{"/nocache", nil, 200, "no-store", "", "never stored"},
		{"/vary", []string{"Accept-Language", "fr-CH, fr;q=0.9"}, 200, "public, max-age=60", "Vary: Accept-Language", "Bonjour"},
		{"/vary", nil, 200, "public, max-age=60", "Content-Language: en", "Hello"},
		{"/slow?ms=1", nil, 200, "public, max-age=60", "", "after 1ms"},
		{"/slow?ms=x", nil, 400, "", "", "ms must be"},
		{"/big?bytes=100", nil, 200, "public, max-age=300", "Content-Length: 100", "0123"},
		{"/big?bytes=-1", nil, 400, "", "", "bytes must be"},
		{"/status/404", nil, 404, "public, max-age=30", "", "status 404 Not Found"},
		{"/status/99", nil, 400, "", "", "200-599"},
		{"/cookie", nil, 200, "public, max-age=60", "", "cookie"},
		{"/nope", nil, 404, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tt.path, tt.header...)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.wantCC {
				t.Errorf("Cache-Control = %q, want %q", got, tt.wantCC)
			}
			if tt.wantHeader != "" {
				name, value, _ := strings.Cut(tt.wantHeader, ": ")
				if got := resp.Header.Get(name); got != value {
					t.Errorf("%s = %q, want %q", name, got, value)
				}
			}
			if !strings.Contains(body, tt.wantContains) {
				t.Errorf("body %q does not contain %q", body, tt.wantContains)
			}
		})
	}
}

func TestBigBodyLength(t *testing.T) {
	srv := newTestOrigin(t)
	_, body := get(t, srv.URL+"/big?bytes=100000")
	if len(body) != 100000 {
		t.Errorf("len = %d, want 100000", len(body))
	}
}

// TestStaticConditional checks RFC 9110 §13.1.2: a matching If-None-Match
// gets 304 without a body, a different one the full response.
func TestStaticConditional(t *testing.T) {
	srv := newTestOrigin(t)
	resp, _ := get(t, srv.URL+"/static/a.css")
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("ETag %q, Last-Modified %q", etag, lm)
	}
	tests := []struct {
		header []string
		want   int
	}{
		{[]string{"If-None-Match", etag}, 304},
		{[]string{"If-None-Match", "W/" + etag}, 304}, // weak comparison
		{[]string{"If-None-Match", `"other", ` + etag}, 304},
		{[]string{"If-None-Match", "*"}, 304},
		{[]string{"If-None-Match", `"other"`}, 200},
		{[]string{"If-Modified-Since", lm}, 304},
	}
	for _, tt := range tests {
		resp, body := get(t, srv.URL+"/static/a.css", tt.header...)
		if resp.StatusCode != tt.want {
			t.Errorf("%v: status %d, want %d", tt.header, resp.StatusCode, tt.want)
		}
		if tt.want == 304 && body != "" {
			t.Errorf("%v: 304 with body %q", tt.header, body)
		}
	}
	other, _ := get(t, srv.URL+"/static/b.css")
	if other.Header.Get("ETag") == etag {
		t.Error("two files share an ETag")
	}
}

func TestStats(t *testing.T) {
	srv := newTestOrigin(t)
	for _, p := range []string{"/time", "/time", "/static/x", "/_stats"} {
		get(t, srv.URL+p)
	}
	resp, body := get(t, srv.URL+"/_stats")
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("stats Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	var got struct {
		Total int
		Paths map[string]int
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Total != 3 || got.Paths["/time"] != 2 || got.Paths["/static/x"] != 1 || got.Paths["/_stats"] != 0 {
		t.Errorf("stats = %+v", got)
	}
}

func TestStatsBounded(t *testing.T) {
	o := newOrigin(time.Now)
	for i := 0; i < maxStatPaths+5; i++ {
		o.count("/p" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if len(o.counts) > maxStatPaths+1 || o.counts["(other)"] == 0 {
		t.Errorf("%d paths, other=%d", len(o.counts), o.counts["(other)"])
	}
}

func TestSlowHonoursCancel(t *testing.T) {
	srv := newTestOrigin(t)
	client := &http.Client{Timeout: 50 * time.Millisecond}
	start := time.Now()
	if _, err := client.Get(srv.URL + "/slow?ms=60000"); err == nil {
		t.Fatal("no timeout")
	}
	// The server side must give up too, or Close below would wait a minute.
	srv.Close()
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
}

// serve says it listens only once it has bound: a taken port is an error
// with no "listening" line before it (issue 12: a second `make run` logged
// "listening" and then failed), and a free one is served.
func TestServeLogsListeningAfterBind(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var log bytes.Buffer
	err = serve(context.Background(), taken.Addr().String(), slog.New(slog.NewTextHandler(&log, nil)))
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("serve on a taken port: err = %v, want one naming the address", err)
	}
	if strings.Contains(log.String(), "listening") {
		t.Errorf("logged %q before failing to bind", log.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	logs := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "127.0.0.1:0", slog.New(slog.NewTextHandler(lineWriter(logs), nil))) }()
	line := <-logs
	i := strings.Index(line, "addr=http://")
	if i < 0 {
		t.Fatalf("log line %q has no address", line)
	}
	addr := strings.Fields(line[i+len("addr="):])[0]
	if resp, _ := get(t, addr+"/_stats"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /_stats after the listening line: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}
}

// lineWriter sends each write (one log record) to c.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}
