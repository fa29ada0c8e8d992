package compress

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// refQValue is an independent reading of RFC 9110 §12.4.2's qvalue grammar.
var refQValue = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)

// refWeight is a slow, independent model of the weight a header gives to
// coding (-1: not listed), used as the oracle for Negotiate.
func refWeight(lines []string, coding Encoding) (q float64, listed bool) {
	q = 2
	for _, line := range lines {
		for _, elem := range strings.Split(line, ",") {
			parts := strings.Split(elem, ";")
			name := strings.ToLower(strings.Trim(parts[0], " \t"))
			if name == "" {
				continue
			}
			if name == "x-gzip" {
				name = "gzip"
			}
			if name != string(coding) {
				continue
			}
			w := 1.0
			if len(parts) > 2 {
				w = 0
			} else if len(parts) == 2 {
				p := strings.Trim(parts[1], " \t")
				if len(p) < 2 || strings.ToLower(p[:2]) != "q=" || !refQValue.MatchString(p[2:]) {
					w = 0
				} else {
					w = parseFloat(p[2:])
				}
			}
			q, listed = min(q, w), true
		}
	}
	if !listed {
		return 0, false
	}
	return q, true
}

func parseFloat(s string) float64 {
	v, frac, scale := float64(s[0]-'0'), 0.0, 0.1
	for _, c := range strings.TrimPrefix(s[1:], ".") {
		frac += float64(c-'0') * scale
		scale /= 10
	}
	return v + frac
}

// refAcceptable reports the weight of coding after "*" (RFC 9110 §12.5.3).
func refAcceptable(lines []string, coding Encoding) float64 {
	if q, ok := refWeight(lines, coding); ok {
		return q
	}
	if q, ok := refWeight(lines, "*"); ok {
		return q
	}
	if coding == Identity {
		return 0.0005 // acceptable by default, below any explicit weight.
	}
	return 0
}

// FuzzNegotiate: no panic; the result is offered or Identity; never a coding
// refused (q=0, RFC 9110 §12.5.3) or not accepted; never a worse coding
// than another offered one; ok is false only when identity is refused too.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"", "*", "gzip, deflate, br, zstd", "gzip;q=0, *", "br;q=0.5, gzip;q=0.8",
		"identity;q=0", "*;q=0", "gzip;q=1.0, identity; q=0.5, *;q=0", "x-gzip;q=0\ngzip",
		"gzip;q=1.0000", "gzip;q=2", "GZIP;Q=0.5", "br;q=0.001, identity;q=0.001",
	} {
		f.Add(s)
	}
	offered := []Encoding{Brotli, Gzip}
	f.Fuzz(func(t *testing.T, header string) {
		lines := strings.Split(header, "\n") // several field lines
		got, ok := Negotiate(lines, offered...)
		if got != Identity && got != Brotli && got != Gzip {
			t.Fatalf("Negotiate(%q) = %q, not offered", lines, got)
		}
		best := 0.0
		for _, c := range offered {
			best = max(best, refAcceptable(lines, c))
		}
		idQ := refAcceptable(lines, Identity)
		switch {
		case got != Identity && refAcceptable(lines, got) == 0:
			t.Fatalf("Negotiate(%q) = %s, which the client refused", lines, got)
		case got != Identity && refAcceptable(lines, got) < best:
			t.Fatalf("Negotiate(%q) = %s, weight %v below the best %v", lines, got, refAcceptable(lines, got), best)
		case got != Identity && idQ > refAcceptable(lines, got):
			t.Fatalf("Negotiate(%q) = %s, but the client weighted identity higher", lines, got)
		case got == Identity && best > 0 && best >= idQ:
			t.Fatalf("Negotiate(%q) = identity, but a coding of weight %v was acceptable", lines, best)
		case ok != (got != Identity || idQ > 0):
			t.Fatalf("Negotiate(%q) = %s, ok=%v; identity weight %v", lines, got, ok, idQ)
		}
	})
}

// FuzzEncodeRoundTrip: both codings, whole and streamed in chunks, decode
// back to the input with the standard decoders.
func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add([]byte(""), uint16(1))
	f.Add([]byte("hello, hello, hello"), uint16(3))
	f.Add(text(4096), uint16(1000))
	f.Add(random(2048), uint16(7))
	e := newTestEncoder(f, Options{NoMinSize: true})
	f.Fuzz(func(t *testing.T, body []byte, chunk uint16) {
		for _, enc := range []Encoding{Gzip, Brotli} {
			out, err := e.Encode(enc, body)
			if err != nil {
				t.Fatalf("Encode(%s): %v", enc, err)
			}
			if got := decode(t, enc, out); !bytes.Equal(got, body) {
				t.Fatalf("Encode(%s) round trip differs", enc)
			}
			var dst bytes.Buffer
			w, err := e.NewWriter(enc, &dst)
			if err != nil {
				t.Fatal(err)
			}
			size := int(chunk)%4096 + 1
			for rest := body; len(rest) > 0; {
				n := min(size, len(rest))
				if _, err := w.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := decode(t, enc, dst.Bytes()); !bytes.Equal(got, body) {
				t.Fatalf("NewWriter(%s) round trip differs", enc)
			}
		}
	})
}

// FuzzVariantETag: variant tags are weak, distinct and strip back to a weak
// match of the identity tag (RFC 9110 §8.8.3); nothing panics.
func FuzzVariantETag(f *testing.F) {
	for _, s := range []string{`"abc"`, `W/"abc"`, `""`, ``, `W/"abc-br"`, `"a"b"`, `W/`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, etag string) {
		if tag, enc := StripVariantETag(etag); enc == Identity && tag != etag {
			t.Fatalf("StripVariantETag(%q) = %q, identity, want the tag unchanged", etag, tag)
		}
		for _, enc := range []Encoding{Gzip, Brotli} {
			v := VariantETag(etag, enc)
			if v == "" {
				if _, ok := opaqueTag(etag); ok {
					t.Fatalf("VariantETag(%q, %s) = \"\" for a valid tag", etag, enc)
				}
				continue
			}
			if !strings.HasPrefix(v, `W/"`) || v == etag {
				t.Fatalf("VariantETag(%q, %s) = %q, want a distinct weak tag", etag, enc, v)
			}
			tag, got := StripVariantETag(v)
			if got != enc || !weakMatch(tag, etag) {
				t.Fatalf("StripVariantETag(%q) = %q, %s; want a weak match of %q, %s", v, tag, got, etag, enc)
			}
		}
	})
}
