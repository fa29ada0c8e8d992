package compress

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// newTestEncoder returns an Encoder for opts or fails the test.
func newTestEncoder(tb testing.TB, opts Options) *Encoder {
	tb.Helper()
	e, err := NewEncoder(opts)
	if err != nil {
		tb.Fatalf("NewEncoder(%+v): %v", opts, err)
	}
	return e
}

// decode undoes enc on data with the standard decoders (not this package's
// code), failing the test when data is not a valid stream.
func decode(tb testing.TB, enc Encoding, data []byte) []byte {
	tb.Helper()
	var r io.Reader
	switch enc {
	case Identity:
		return data
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			tb.Fatalf("gzip.NewReader: %v", err)
		}
		r = zr
	case Brotli:
		r = brotli.NewReader(bytes.NewReader(data))
	default:
		tb.Fatalf("decode: unknown coding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("decode %s: %v", enc, err)
	}
	return out
}

// text returns n bytes of deterministic HTML-like text that compresses about
// as well as a real page.
func text(n int) []byte {
	words := strings.Fields(`the edge node serves cached objects from memory or disk and
		fetches misses through the shield <div class="item"> <a href="/static/app.js">
		content-type application/json {"id": 42, "name": "widget", "tags": ["a","b"]}
		lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor`)
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

// random returns n incompressible bytes.
func random(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// decodePrefix decodes the first n bytes of a stream that is not finished
// (flushed but not closed).
func decodePrefix(tb testing.TB, enc Encoding, data []byte, n int) []byte {
	tb.Helper()
	var r io.Reader
	switch enc {
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			tb.Fatalf("gzip.NewReader: %v", err)
		}
		r = zr
	case Brotli:
		r = brotli.NewReader(bytes.NewReader(data))
	default:
		tb.Fatalf("decodePrefix: unknown coding %q", enc)
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(r, out); err != nil {
		tb.Fatalf("decode %d flushed bytes of %s: %v", n, enc, err)
	}
	return out
}
