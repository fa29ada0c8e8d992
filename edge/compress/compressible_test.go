package compress

import (
	"net/http"
	"strings"
	"testing"
)

func TestCompressible(t *testing.T) {
	tests := []struct {
		contentType string
		want        bool
	}{
		{"text/html", true},
		{"text/html; charset=utf-8", true},
		{"TEXT/CSS", true}, // RFC 9110 §8.3.1: type and subtype are case-insensitive.
		{"text/plain;charset=\"utf-8\"", true},
		{" text/javascript ", true},
		{"text/event-stream", false},
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"application/javascript", true},
		{"application/xml", true},
		{"application/wasm", true},
		{"application/ld+json", true},
		{"application/problem+json", true},
		{"application/atom+xml", true},
		{"application/xhtml+XML", true},
		{"image/svg+xml", true},
		{"application/vnd.api+json", true},
		{"image/x-icon", true},
		{"font/ttf", true},
		{"image/png", false},
		{"image/jpeg", false},
		{"image/webp", false},
		{"video/mp4", false},
		{"audio/mpeg", false},
		{"font/woff2", false},
		{"application/zip", false},
		{"application/gzip", false},
		{"application/pdf", false},
		{"application/octet-stream", false},
		{"application/x-protobuf", false},
		{"", false},
		{"text", false},
		{"text/", false},
		{"/json", false},
		{"+json", false},
		{"application/+json", false},
		{";charset=utf-8", false},
	}
	for _, tt := range tests {
		if got := Compressible(tt.contentType); got != tt.want {
			t.Errorf("Compressible(%q) = %v, want %v", tt.contentType, got, tt.want)
		}
	}
}

func TestEligible(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   bool
	}{
		{"html", http.Header{"Content-Type": {"text/html"}}, true},
		{"png", http.Header{"Content-Type": {"image/png"}}, false},
		{"no type", http.Header{}, false},
		// RFC 9110 §8.4: the origin's coding is respected, never doubled.
		{"origin gzip", http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"gzip"}}, false},
		{"origin br uppercase", http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"BR"}}, false},
		{"origin identity", http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"identity"}}, true},
		{"origin empty", http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {""}}, true},
		{"origin list", http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"identity, gzip"}}, false},
		// RFC 9111 §5.2.2.6 and RFC 9110 §7.7: no-transform forbids it.
		{"no-transform", http.Header{"Content-Type": {"text/html"}, "Cache-Control": {"public, No-Transform"}}, false},
		{"no-transform second line", http.Header{"Content-Type": {"text/html"}, "Cache-Control": {"max-age=60", "no-transform"}}, false},
		{"other cache-control", http.Header{"Content-Type": {"text/html"}, "Cache-Control": {"public, max-age=60"}}, true},
	}
	for _, tt := range tests {
		if got := Eligible(tt.header); got != tt.want {
			t.Errorf("%s: Eligible(%v) = %v, want %v", tt.name, tt.header, got, tt.want)
		}
	}
}

func TestCompressibleLongAndAllocs(t *testing.T) {
	long := "application/vnd." + strings.Repeat("x", 100) + "+json"
	if !Compressible(long) {
		t.Errorf("Compressible(%q) = false, want true", long)
	}
	if tooLong := "application/" + strings.Repeat("x", 300) + "+json"; Compressible(tooLong) {
		t.Errorf("Compressible of a %d-byte type = true, want false", len(tooLong))
	}
	allocs := testing.AllocsPerRun(100, func() {
		Compressible("Application/Problem+JSON; charset=utf-8")
	})
	if allocs != 0 {
		t.Errorf("Compressible allocates %.1f times, want 0", allocs)
	}
}
