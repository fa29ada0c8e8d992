package compress

import (
	"strings"
	"testing"
)

func TestNormalizeAccept(t *testing.T) {
	tests := []struct {
		lines []string
		want  string
	}{
		{[]string{"gzip, deflate, br, zstd"}, "br, gzip, zstd"},
		{[]string{"gzip, deflate, br"}, "br, gzip"},
		{[]string{"br;q=0.1, GZIP"}, "gzip, br;q=0.5"},
		{[]string{"gzip;q=1, br;q=0.5"}, "gzip, br;q=0.5"},
		{[]string{"zstd;q=0.2, br;q=0.9, gzip;q=0.2"}, "br, gzip;q=0.5, zstd;q=0.5"},
		{[]string{"zstd;q=0.1, gzip;q=0.2, br;q=0.3"}, "br, gzip;q=0.5, zstd;q=0.25"},
		{[]string{"gzip;q=0.5, br;q=0.5"}, "br, gzip"},
		{[]string{"x-gzip"}, "gzip"},
		{[]string{"gzip", "br"}, "br, gzip"},
		{[]string{"deflate"}, "identity"},
		{[]string{""}, "identity"},
		{[]string{"junk1"}, "identity"},
		{[]string{"junk64, gzip"}, "gzip"},
		{[]string{"gzip;q=0, br"}, "br"},      // RFC 9110 §12.5.3: q=0 is a refusal
		{[]string{"gzip;q=2"}, "identity"},    // an invalid weight refuses, as in Negotiate
		{[]string{"*"}, "br, gzip, zstd"},     // "*" accepts every coding not listed
		{[]string{"*, br;q=0"}, "gzip, zstd"}, // ... but not one listed with q=0
		{[]string{"*;q=0"}, "identity"},
		{[]string{"identity;q=0"}, "identity"},
		{[]string{"zstd, identity"}, "zstd"},
	}
	for _, tt := range tests {
		if got := NormalizeAccept(tt.lines); got != tt.want {
			t.Errorf("NormalizeAccept(%q) = %q, want %q", tt.lines, got, tt.want)
		}
	}
}

// TestNormalizeAcceptFixedPoint: a normalized value normalizes to itself, so
// a request that went through a node once (a shield behind an edge) keys
// alike, and the values without parsing agree with the parsed ones.
func TestNormalizeAcceptFixedPoint(t *testing.T) {
	for _, v := range []string{"identity", "br", "gzip, br;q=0.5", "br, gzip;q=0.5, zstd;q=0.25", "br, gzip, zstd"} {
		if got := NormalizeAccept([]string{v}); got != v {
			t.Errorf("NormalizeAccept(%q) = %q, want itself", v, got)
		}
	}
	for _, v := range []string{"gzip, deflate, br, zstd", "deflate, gzip, br, zstd", "gzip, deflate, br", "gzip, br", "br, gzip", "gzip, deflate", "gzip,deflate", "gzip"} {
		// A second line defeats the shortcut: the parsed answer must agree.
		if fast, parsed := NormalizeAccept([]string{v}), NormalizeAccept([]string{v, ""}); fast != parsed {
			t.Errorf("NormalizeAccept(%q) = %q without parsing, %q parsed", v, fast, parsed)
		}
	}
}

func FuzzNormalizeAccept(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br", "*;q=0.5, br;q=0", "junk1", "identity;q=0", "gzip;q=0.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := []string{s}
		norm := NormalizeAccept(lines)
		if len(norm) > len("gzip, zstd;q=0.5, br;q=0.25") {
			t.Fatalf("NormalizeAccept(%q) = %q, not a normal value", s, norm)
		}
		if again := NormalizeAccept([]string{norm}); again != norm {
			t.Fatalf("NormalizeAccept(%q) = %q, then %q", s, norm, again)
		}
		// Every coding the normal form accepts, the client accepted: what an
		// origin or this edge picks from it is acceptable to the client.
		for _, c := range []Encoding{Brotli, Gzip, Zstd} {
			if !strings.Contains(norm, string(c)) {
				continue
			}
			// identity;q=0 added, Negotiate picks c whenever c is acceptable.
			if got, _ := Negotiate([]string{s, "identity;q=0"}, c); got != c {
				t.Fatalf("NormalizeAccept(%q) = %q lists %s, which Negotiate refuses", s, norm, c)
			}
		}
		// The client's preference among the three is kept: this edge
		// negotiates from the normal form what it would from the field.
		for _, offered := range [][]Encoding{{Brotli, Gzip}, {Gzip, Brotli}, {Zstd, Gzip, Brotli}} {
			want, _ := Negotiate([]string{s, "identity;q=0"}, offered...)
			if got, _ := Negotiate([]string{norm, "identity;q=0"}, offered...); got != want {
				t.Fatalf("offering %v: Negotiate picks %s from %q, %s from its normal form %q", offered, want, s, got, norm)
			}
		}
	})
}
