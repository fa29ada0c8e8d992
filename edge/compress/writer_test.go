package compress

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestWriterRoundTrip(t *testing.T) {
	e := newTestEncoder(t, Options{})
	body := text(300 << 10)
	for _, enc := range []Encoding{Identity, Gzip, Brotli} {
		var dst bytes.Buffer
		w, err := e.NewWriter(enc, &dst)
		if err != nil {
			t.Fatalf("NewWriter(%s): %v", enc, err)
		}
		for chunk := range slices.Chunk(body, 7000) {
			if n, err := w.Write(chunk); err != nil || n != len(chunk) {
				t.Fatalf("%s: Write = %d, %v", enc, n, err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatalf("%s: Close: %v", enc, err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("%s: second Close: %v, want nil", enc, err)
		}
		if got := decode(t, enc, dst.Bytes()); !bytes.Equal(got, body) {
			t.Errorf("%s: stream round trip differs", enc)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Write after Close: %v, want ErrClosed", enc, err)
		}
		if err := w.Flush(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Flush after Close: %v, want ErrClosed", enc, err)
		}
	}
}

// TestWriterFlush: after Flush, what was written so far decodes, so a
// streamed response is not held back by the compressor.
func TestWriterFlush(t *testing.T) {
	e := newTestEncoder(t, Options{})
	for _, enc := range []Encoding{Gzip, Brotli} {
		var dst bytes.Buffer
		w, err := e.NewWriter(enc, &dst)
		if err != nil {
			t.Fatalf("NewWriter(%s): %v", enc, err)
		}
		first := []byte("event: one\n\n")
		if _, err := w.Write(first); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("%s: Flush: %v", enc, err)
		}
		got := decodePrefix(t, enc, dst.Bytes(), len(first))
		if !bytes.Equal(got, first) {
			t.Errorf("%s: after Flush decoded %q, want %q", enc, got, first)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewWriterUnsupported(t *testing.T) {
	e := newTestEncoder(t, Options{})
	if _, err := e.NewWriter("zstd", &bytes.Buffer{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewWriter(zstd) error %v, want ErrUnsupported", err)
	}
}
