package policy

import (
	"slices"
	"testing"
)

func TestParseVary(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		names []string
		star  bool
	}{
		{"§4.1 none", nil, nil, false},
		{"§4.1 canonical, sorted, deduplicated", []string{"accept-encoding, Accept-Language", "ACCEPT-ENCODING"}, []string{"Accept-Encoding", "Accept-Language"}, false},
		{"§4.1 order independent", []string{"b, a"}, []string{"A", "B"}, false},
		{"§4.1 star alone", []string{"*"}, nil, true},
		{"§4.1 star among names", []string{"Accept", " * "}, []string{"Accept"}, true},
		{"§5.6.1 empty elements", []string{" , ,Accept,"}, []string{"Accept"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hdr(t)
			for _, l := range tt.lines {
				h.Add("Vary", l)
			}
			names, star := ParseVary(h)
			if !slices.Equal(names, tt.names) || star != tt.star {
				t.Errorf("got %q %v, want %q %v", names, star, tt.names, tt.star)
			}
		})
	}
}

func TestVariantKey(t *testing.T) {
	names := []string{"Accept-Encoding", "Accept-Language"}
	tests := []struct {
		name     string
		a, b     []string
		wantSame bool
	}{
		{"§4.1 same value", []string{"Accept-Encoding: gzip"}, []string{"Accept-Encoding: gzip"}, true},
		{"§4.1 whitespace normalized", []string{"Accept-Encoding: gzip,br"}, []string{"Accept-Encoding:  gzip ,  br "}, true},
		{"§4.1 field lines combined", []string{"Accept-Encoding: gzip, br"}, []string{"Accept-Encoding: gzip", "Accept-Encoding: br"}, true},
		{"§4.1 different values", []string{"Accept-Encoding: gzip"}, []string{"Accept-Encoding: br"}, false},
		{"§4.1 absent differs from empty", nil, []string{"Accept-Encoding:"}, false},
		{"§4.1 header order independent", []string{"Accept-Language: en", "Accept-Encoding: gzip"}, []string{"Accept-Encoding: gzip", "Accept-Language: en"}, true},
		{"value cannot forge another field", []string{"Accept-Encoding: x\nAccept-Language:+2:en"}, []string{"Accept-Encoding: x", "Accept-Language: en"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ha, hb := hdr(t, tt.a...), hdr(t, tt.b...)
			if tt.name == "value cannot forge another field" {
				ha = hdr(t)
				ha["Accept-Encoding"] = []string{"x\nAccept-Language:+2:en"}
			}
			ka, kb := VariantKey("k", names, ha), VariantKey("k", names, hb)
			if (ka == kb) != tt.wantSame {
				t.Errorf("keys %q and %q: same=%v, want %v", ka, kb, ka == kb, tt.wantSame)
			}
		})
	}
	if got := VariantKey("k", nil, hdr(t)); got != "k\x00" {
		t.Errorf("no names: got %q", got)
	}
}
