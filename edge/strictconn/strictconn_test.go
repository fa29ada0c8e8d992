package strictconn

import (
	"strings"
	"testing"
)

// TestStrictFramingSplitReads: the framer keeps its place however the
// bytes are split across reads (one byte at a time here).
func TestStrictFramingSplitReads(t *testing.T) {
	raw := "POST /1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;e\r\nhello\r\n0\r\nT: 1\r\n\r\n" +
		"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, size := range []int{1, 3, 7, len(raw)} {
		f := framer{limit: 1 << 16}
		var out []byte
		for i := 0; i < len(raw); i += size {
			f.feed([]byte(raw[i:min(i+size, len(raw))]))
			out = append(out, f.out[f.outPos:]...)
			f.out, f.outPos = f.out[:0], 0
		}
		want := raw[:strings.Index(raw, "POST /3")] + string(refusedHead)
		if string(out) != want || f.refused != "Content-Length with Transfer-Encoding" {
			t.Errorf("split %d: passed %q (refused %q), want %q", size, out, f.refused, want)
		}
	}
}

// FuzzStrictFraming: the framer never panics, never passes on more than
// it was given (except its own refusal line), and a header section it
// passes on is passed unchanged.
func FuzzStrictFraming(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 3)
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 5)
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 1)
	f.Add([]byte("POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhiGET /\n\n"), 2)
	f.Fuzz(func(t *testing.T, raw []byte, size int) {
		if size <= 0 || size > len(raw)+1 {
			size = len(raw) + 1
		}
		fr := framer{limit: 4096}
		var out []byte
		for i := 0; i < len(raw); i += size {
			fr.feed(raw[i:min(i+size, len(raw))])
			out = append(out, fr.out[fr.outPos:]...)
			fr.out, fr.outPos = fr.out[:0], 0
		}
		if fr.refused != "" {
			out = out[:len(out)-len(refusedHead)]
		}
		if len(out) > len(raw) || string(out) != string(raw[:len(out)]) {
			t.Fatalf("passed %q, not a prefix of %q", out, raw)
		}
	})
}
