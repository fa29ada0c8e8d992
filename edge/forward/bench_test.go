package forward

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkForwardHit: 1 KiB cache hits through the real listener, with
// the access log on (what make bench's forward scenario measures; profile
// it with -cpuprofile to find per-request waste on the hit path).
func BenchmarkForwardHit(b *testing.B) {
	body := strings.Repeat("x", 1024)
	o := newOrigin(b, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, body)
	})
	s := newStack(b, stackConfig{})
	c := s.client(nil, "", "")
	url := o.URL + "/hit"
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
