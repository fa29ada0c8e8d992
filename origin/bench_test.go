package origin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkDo measures one forwarded GET, body read and closed, against a
// loopback origin, for a few body sizes and with shield selection.
func BenchmarkDo(b *testing.B) {
	for _, size := range []int{0, 4 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("origin/body=%d", size), func(b *testing.B) {
			benchmarkDo(b, size, false)
		})
	}
	b.Run("shields=3/body=4096", func(b *testing.B) { benchmarkDo(b, 4<<10, true) })
}

func benchmarkDo(b *testing.B, size int, shields bool) {
	payload := strings.Repeat("x", size)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, payload)
	}))
	b.Cleanup(srv.Close)
	opts := Options{Origin: srv.URL}
	if shields {
		// Three names for the same server: selection runs, the work is equal.
		opts = Options{Shields: []string{srv.URL, srv.URL + "/", srv.URL + "/."}}
	}
	c := newTestClient(b, opts)
	out := &Outbound{
		Method: "GET", Host: "site.example", RequestURI: "/a/b?c=d", Key: "https://site.example/a/b?c=d",
		Header:   http.Header{"Accept": {"*/*"}, "User-Agent": {"bench"}, "Accept-Encoding": {"gzip"}},
		ClientIP: "192.0.2.1:5555", Proto: "https",
	}
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(ctx, out)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}
