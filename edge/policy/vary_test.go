package policy

import (
	"net/http"
	"slices"
	"strings"
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
		{"not a field name counts as star", []string{`"Cookie"`, "Cookie;", "Accept"}, []string{"Accept"}, true},
		{"inner space counts as star", []string{"X User"}, nil, true},
		{"X-Forwarded-For counts as star", []string{"Accept, x-forwarded-for"}, []string{"Accept", "X-Forwarded-For"}, true},
		{"X-Request-Id counts as star", []string{"X-Request-ID"}, []string{"X-Request-Id"}, true},
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

func TestKeyVariant(t *testing.T) {
	names := []string{"Accept-Encoding", "Accept-Language", "Cookie"}
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
		{"Accept-Language: equal weights in any order", []string{"Accept-Language: en, de"}, []string{"Accept-Language: de, en"}, true},
		{"Accept-Language: case", []string{"Accept-Language: en-US, de"}, []string{"Accept-Language: DE, En-us"}, true},
		{"Accept-Language: whitespace and lines", []string{"Accept-Language: en,de;q=0.5"}, []string{"Accept-Language:  en ,", "Accept-Language: de ; q=0.5 "}, true},
		{"Accept-Language: weight spellings", []string{"Accept-Language: en;q=1.000, de;q=0.50"}, []string{"Accept-Language: de;Q=0.5, en"}, true},
		{"Accept-Language: exact duplicates", []string{"Accept-Language: en, en"}, []string{"Accept-Language: en"}, true},
		{"Accept-Language: different weights differ", []string{"Accept-Language: en;q=0.5, de"}, []string{"Accept-Language: en, de;q=0.5"}, false},
		{"Accept-Language: q=0 is not absence", []string{"Accept-Language: en, de;q=0"}, []string{"Accept-Language: en"}, false},
		{"Accept-Language: subtags kept", []string{"Accept-Language: en-US"}, []string{"Accept-Language: en-GB"}, false},
		{"Accept-Language: unparsable matched as sent", []string{"Accept-Language: en;q=2"}, []string{"Accept-Language: en;q=2"}, true},
		{"Accept-Language: unparsable never equals a normal form", []string{"Accept-Language: en;q=2"}, []string{"Accept-Language: en"}, false},
		{"Cookie: lines join with a semicolon", []string{"Cookie: a=1; b=2"}, []string{"Cookie: a=1", "Cookie: b=2"}, true},
		{"Cookie: whitespace around lines", []string{"Cookie: a=1; b=2"}, []string{"Cookie:  a=1 ", "Cookie:", "Cookie: b=2"}, true},
		{"Cookie: a comma is part of a value", []string{"Cookie: a=1,b=2"}, []string{"Cookie: a=1", "Cookie: b=2"}, false},
		{"Cookie: not a comma list", []string{"Cookie: a=1,b=2"}, []string{"Cookie: a=1, b=2"}, false},
		{"value cannot forge another field", []string{"Accept-Encoding: x\nAccept-Language:+2:en"}, []string{"Accept-Encoding: x", "Accept-Language: en"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ha, hb := hdr(t, tt.a...), hdr(t, tt.b...)
			if tt.name == "value cannot forge another field" {
				ha = hdr(t)
				ha["Accept-Encoding"] = []string{"x\nAccept-Language:+2:en"}
			}
			ka, kb := Key("k").Variant(names, ha), Key("k").Variant(names, hb)
			if (ka == kb) != tt.wantSame {
				t.Errorf("keys %q and %q: same=%v, want %v", ka, kb, ka == kb, tt.wantSame)
			}
		})
	}
	if got := Key("k").Variant(nil, hdr(t)); got != "k\x00" {
		t.Errorf("no names: got %q", got)
	}
}

func TestAppendLanguages(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
		ok   bool
	}{
		{[]string{"en-US,en;q=0.9,de;q=0.8"}, "en-us,en;q=0.9,de;q=0.8", true},
		{[]string{"de;q=0.8, EN-us, en;q=0.900"}, "en-us,en;q=0.9,de;q=0.8", true},
		{[]string{"*;q=0.1, fr;q=0"}, "*;q=0.1,fr;q=0", true},
		{[]string{"zh-Hant-TW;q=0.05"}, "zh-hant-tw;q=0.05", true},
		{[]string{"en;q=1.0001"}, "", false},
		{[]string{"en;q=1.5"}, "", false},
		{[]string{"en;level=1"}, "", false},
		{[]string{"toolongtag"}, "", false},
		{[]string{"1en"}, "", false},
		{[]string{"en_US"}, "", false},
		{[]string{" , "}, "", false},
	} {
		got, ok := appendLanguages(nil, tt.in)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("appendLanguages(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzAppendLanguages: any Accept-Language value, on any number of lines,
// normalizes without panicking to a value that is its own normal form, and
// the same members in reverse order normalize alike.
func FuzzAppendLanguages(f *testing.F) {
	for _, s := range []string{"en-US,en;q=0.9", "de, en", "*;q=0", "en;q=1.000,fr;Q=0.5", "x;q=", ";", "en-;q=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := appendLanguages(nil, []string{v})
		if !ok {
			return
		}
		again, ok := appendLanguages(nil, []string{string(got)})
		if !ok || string(again) != string(got) {
			t.Fatalf("%q normalizes to %q, which normalizes to %q (%v)", v, got, again, ok)
		}
		members := strings.Split(v, ",")
		slices.Reverse(members)
		if rev, ok := appendLanguages(nil, []string{strings.Join(members, ",")}); !ok || string(rev) != string(got) {
			t.Fatalf("%q normalizes to %q, reversed to %q (%v)", v, got, rev, ok)
		}
	})
}

// TestVaryOrigin: a response allowing one origin varies on Origin before
// it is stored (Fetch §3.2.5); "*", an existing Origin or "*" in Vary, and
// no CORS field leave Vary alone. The given lines are never written to.
func TestVaryOrigin(t *testing.T) {
	tests := []struct {
		name     string
		acao     []string
		vary     []string
		want     []string
		wantDone bool
	}{
		{"specific origin, no Vary", []string{"https://a.example"}, nil, []string{"Origin"}, true},
		{"specific origin, other Vary", []string{"https://a.example"}, []string{"Accept-Encoding"}, []string{"Accept-Encoding", "Origin"}, true},
		{"null is one origin too", []string{"null"}, nil, []string{"Origin"}, true},
		{"already varies on origin", []string{"https://a.example"}, []string{"accept-encoding, ORIGIN"}, []string{"accept-encoding, ORIGIN"}, false},
		{"Vary star", []string{"https://a.example"}, []string{"*"}, []string{"*"}, false},
		{"any origin", []string{"*"}, []string{"Accept"}, []string{"Accept"}, false},
		{"no CORS", nil, nil, nil, false},
		{"empty value", []string{" "}, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.acao != nil {
				h["Access-Control-Allow-Origin"] = tt.acao
			}
			var shared []string
			if tt.vary != nil {
				shared = make([]string, len(tt.vary), len(tt.vary)+1)
				copy(shared, tt.vary)
				h["Vary"] = shared
			}
			if done := VaryOrigin(h); done != tt.wantDone || !slices.Equal(h["Vary"], tt.want) {
				t.Errorf("VaryOrigin: %v, Vary %q; want %v, %q", done, h["Vary"], tt.wantDone, tt.want)
			}
			if shared != nil && shared[:cap(shared)][len(shared)] != "" {
				t.Errorf("the given Vary lines were written to")
			}
		})
	}
}

func TestVaryEncoding(t *testing.T) {
	for _, tt := range []struct {
		name     string
		fields   []string // name, value pairs of the response
		added    bool
		wantVary []string
	}{
		{"gzip without Vary", []string{"Content-Encoding", "gzip"}, true, []string{"Accept-Encoding"}},
		{"br beside another Vary", []string{"Content-Encoding", "br", "Vary", "Accept-Language"}, true, []string{"Accept-Language", "Accept-Encoding"}},
		{"listed already, any case", []string{"Content-Encoding", "gzip", "Vary", "accept-encoding"}, false, []string{"accept-encoding"}},
		{"star", []string{"Content-Encoding", "gzip", "Vary", "*"}, false, []string{"*"}},
		{"identity", []string{"Content-Encoding", "identity"}, false, nil},
		{"no coding", []string{"Content-Type", "text/plain"}, false, nil},
		{"two codings", []string{"Content-Encoding", "identity, gzip"}, true, []string{"Accept-Encoding"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := hdr(t)
			for i := 0; i+1 < len(tt.fields); i += 2 {
				h.Add(tt.fields[i], tt.fields[i+1])
			}
			added := VaryEncoding(h)
			if added != tt.added || !slices.Equal(h["Vary"], tt.wantVary) {
				t.Errorf("added %v, Vary %q; want %v, %q", added, h["Vary"], tt.added, tt.wantVary)
			}
		})
	}
}
