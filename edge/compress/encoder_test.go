package compress

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"edged/internal/fielderr/fieldtest"
)

func TestEncodeRoundTrip(t *testing.T) {
	e := newTestEncoder(t, Options{NoMinSize: true})
	bodies := map[string][]byte{
		"empty":    {},
		"one byte": {'x'},
		"1 KiB":    text(1 << 10),
		"100 KiB":  text(100 << 10),
		"random":   random(64 << 10),
	}
	for name, body := range bodies {
		for _, enc := range []Encoding{Gzip, Brotli} {
			t.Run(fmt.Sprintf("%s/%s", name, enc), func(t *testing.T) {
				out, err := e.Encode(enc, body)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				if got := decode(t, enc, out); !bytes.Equal(got, body) {
					t.Fatalf("round trip of %d bytes gave %d different bytes", len(body), len(got))
				}
				if cap(out) != len(out) {
					t.Errorf("result cap %d, len %d: want an exact slice for storage", cap(out), len(out))
				}
			})
		}
	}
}

func TestEncodeShrinksText(t *testing.T) {
	e := newTestEncoder(t, Options{})
	body := text(100 << 10)
	for _, enc := range []Encoding{Gzip, Brotli} {
		out, err := e.Encode(enc, body)
		if err != nil {
			t.Fatalf("Encode(%s): %v", enc, err)
		}
		if len(out)*2 > len(body) {
			t.Errorf("Encode(%s) of %d bytes of text gave %d bytes, want under half", enc, len(body), len(out))
		}
	}
}

func TestEncodeIdentity(t *testing.T) {
	e := newTestEncoder(t, Options{})
	body := []byte("small")
	out, err := e.Encode(Identity, body)
	if err != nil || !bytes.Equal(out, body) {
		t.Errorf("Encode(Identity) = %q, %v; want %q, nil", out, err, body)
	}
}

func TestEncodeErrors(t *testing.T) {
	e := newTestEncoder(t, Options{MinSize: 100})
	tests := []struct {
		name string
		enc  Encoding
		body []byte
		want error
	}{
		{"below MinSize", Gzip, text(99), ErrTooSmall},
		{"at MinSize", Brotli, text(100), nil},
		{"zstd", "zstd", text(200), ErrUnsupported},
		{"empty coding", "", text(200), ErrUnsupported},
	}
	for _, tt := range tests {
		_, err := e.Encode(tt.enc, tt.body)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: Encode error %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestNewEncoderOptions(t *testing.T) {
	tests := []struct {
		opts    Options
		want    Options
		wantErr error
	}{
		{Options{}, Options{GzipLevel: 6, BrotliLevel: 5, MinSize: 1024}, nil},
		{Options{GzipLevel: 9, BrotliLevel: 11, NoMinSize: true}, Options{GzipLevel: 9, BrotliLevel: 11, MinSize: 0, NoMinSize: true}, nil},
		{Options{GzipLevel: 1, BrotliLevel: 1, MinSize: 10}, Options{GzipLevel: 1, BrotliLevel: 1, MinSize: 10}, nil},
		{Options{GzipLevel: 10}, Options{}, ErrLevel},
		{Options{GzipLevel: -1}, Options{}, ErrLevel},
		{Options{BrotliLevel: 12}, Options{}, ErrLevel},
		{Options{BrotliLevel: -3}, Options{}, ErrLevel},
	}
	for _, tt := range tests {
		e, err := NewEncoder(tt.opts)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("NewEncoder(%+v) error %v, want %v", tt.opts, err, tt.wantErr)
			continue
		}
		if err == nil && e.Options() != tt.want {
			t.Errorf("NewEncoder(%+v).Options() = %+v, want %+v", tt.opts, e.Options(), tt.want)
		}
	}
}

func TestWorth(t *testing.T) {
	e := newTestEncoder(t, Options{})
	for _, tt := range []struct {
		size int64
		want bool
	}{{-1, true}, {0, false}, {1023, false}, {1024, true}, {1 << 30, true}} {
		if got := e.Worth(tt.size); got != tt.want {
			t.Errorf("Worth(%d) = %v, want %v", tt.size, got, tt.want)
		}
	}
}

// TestEncodeConcurrent shares one Encoder and its pools among goroutines;
// run with -race.
func TestEncodeConcurrent(t *testing.T) {
	e := newTestEncoder(t, Options{NoMinSize: true})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				enc := []Encoding{Gzip, Brotli}[(g+i)%2]
				body := text(512 + 997*g + 131*i)
				out, err := e.Encode(enc, body)
				if err != nil {
					errs <- err
					return
				}
				if got := decode(t, enc, out); !bytes.Equal(got, body) {
					errs <- fmt.Errorf("goroutine %d, round %d, %s: round trip differs", g, i, enc)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestOptionsValidate(t *testing.T) {
	fieldtest.Run(t, DefaultOptions, []fieldtest.Case[Options]{
		{Path: "GzipLevel", Bad: func(o *Options) { o.GzipLevel = 0 }},
		{Path: "BrotliLevel", Bad: func(o *Options) { o.BrotliLevel = 12 }},
		{Path: "MinSize", Bad: func(o *Options) { o.MinSize = -1 }},
		{Path: "MinSize", Bad: func(o *Options) { o.MinSize = 0 }},
	})
}
