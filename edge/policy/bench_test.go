package policy

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

func BenchmarkParseTarget(b *testing.B) {
	for _, tc := range []struct{ name, uri string }{
		{"clean", "/static/img/logo.png?v=3"},
		{"normalize", "/static/./img/%7elogo%2epng?v=%2f"},
	} {
		u, err := url.ParseRequestURI(tc.uri)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				t, err := ParseTarget("https", "www.example.com", u)
				if err != nil {
					b.Fatal(err)
				}
				_ = t.Key()
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	for _, tc := range []struct {
		name string
		h    http.Header
	}{
		{"cache-control", http.Header{"Cache-Control": {"public, max-age=3600, stale-while-revalidate=60"}, "Date": {date(0)}, "Etag": {`"x"`}}},
		{"cdn-cache-control", http.Header{"Cdn-Cache-Control": {"max-age=3600"}, "Cache-Control": {"max-age=60"}, "Date": {date(0)}}},
		{"surrogate-control", http.Header{"Surrogate-Control": {"max-age=3600"}, "Cache-Control": {"max-age=60"}, "Date": {date(0)}}},
		{"surrogate-control-targeted", http.Header{"Surrogate-Control": {"max-age=60, max-age=3600;edge1, no-store;other"}, "Date": {date(0)}}},
	} {
		r := Response{Status: 200, Header: tc.h, RequestTime: t0, ResponseTime: t0}
		req := http.Header{"Accept": {"*/*"}}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Decide(req, r, t0.Add(time.Minute), Options{Surrogate: "edge1"})
			}
		})
		// A cache that keeps the stored response's parsed Facts.
		r.Facts = ParseFacts(r, Options{Surrogate: "edge1"})
		b.Run(tc.name+"/facts", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Decide(req, r, t0.Add(time.Minute), Options{Surrogate: "edge1"})
			}
		})
	}
}

func BenchmarkVariantKey(b *testing.B) {
	names := []string{"Accept-Encoding", "Accept-Language"}
	req := http.Header{"Accept-Encoding": {"gzip, deflate, br"}, "Accept-Language": {"en-US,en;q=0.9"}}
	b.ReportAllocs()
	for b.Loop() {
		Key("https://www.example.com/index.html").Variant(names, req)
	}
}

// BenchmarkAppendKey is key building into a buffer the caller reuses, as
// the edge does per request.
func BenchmarkAppendKey(b *testing.B) {
	u, err := url.ParseRequestURI("/static/img/logo.png?v=3")
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		t, err := ParseTarget("https", "www.example.com", u)
		if err != nil {
			b.Fatal(err)
		}
		buf = t.AppendKey(buf[:0])
	}
}
