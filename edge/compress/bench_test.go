package compress

import (
	"fmt"
	"testing"
)

// BenchmarkNegotiate runs on every request: it must not allocate.
func BenchmarkNegotiate(b *testing.B) {
	headers := []struct {
		name string
		ae   []string
	}{
		{"none", nil},
		{"chrome", []string{"gzip, deflate, br, zstd"}},
		{"curl", []string{"gzip"}},
		{"weighted", []string{"gzip;q=1.0, identity; q=0.5, *;q=0"}},
		{"long", []string{"compress;q=0.1, deflate;q=0.2, zstd;q=0.3, x-gzip;q=0.4, br;q=0.9, identity;q=0.05, *;q=0"}},
	}
	for _, h := range headers {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Negotiate(h.ae, Brotli, Gzip)
			}
		})
	}
}

// BenchmarkEncode measures a cache fill's compression of text bodies at the
// default levels; ratio is compressed/original size.
func BenchmarkEncode(b *testing.B) {
	e := newTestEncoder(b, Options{})
	for _, size := range []int{1 << 10, 100 << 10} {
		body := text(size)
		for _, enc := range []Encoding{Gzip, Brotli} {
			b.Run(fmt.Sprintf("%s/%dKiB", enc, size>>10), func(b *testing.B) {
				benchEncode(b, e, enc, body)
			})
		}
	}
}

func benchEncode(b *testing.B, e *Encoder, enc Encoding, body []byte) {
	b.Helper()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	var n int
	for b.Loop() {
		out, err := e.Encode(enc, body)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n)/float64(len(body)), "ratio")
}
