package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRunBoundedByCount(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "br" {
			http.Error(w, "want Accept-Encoding: br only", http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/miss" {
			w.Header().Set("X-Cache", "MISS")
		}
		_, _ = w.Write([]byte("hello"))
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		URL: func(w, i int) string {
			if i == 0 {
				return srv.URL + "/miss"
			}
			return srv.URL + "/hit"
		},
		Conns: 4, Duration: 10 * time.Second, MaxRequests: 100,
		Header:   http.Header{"Accept-Encoding": {"br"}},
		Classify: func(r *http.Response) string { return r.Header.Get("X-Cache") },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || res.Errors != 0 || res.Bytes != 500 || res.Lat.N != 100 {
		t.Errorf("requests %d errors %d (%v) bytes %d samples %d; want 100, 0, 500, 100", res.Requests, res.Errors, res.FirstError, res.Bytes, res.Lat.N)
	}
	if res.Classes["MISS"] < 1 || res.Classes["MISS"] > 4 {
		t.Errorf("classes %v: want 1 to 4 misses (one per worker that ran)", res.Classes)
	}
	if res.Lat.P50 <= 0 || res.Lat.P99 < res.Lat.P50 {
		t.Errorf("latencies %+v", res.Lat)
	}
}

func TestRunCountsErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: func(int, int) string { return srv.URL }, MaxRequests: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors != 10 || res.FirstError == nil {
		t.Errorf("requests %d errors %d first %v; want 0, 10, an error", res.Requests, res.Errors, res.FirstError)
	}
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Error("Run without URL: no error")
	}
}
