package compress

import (
	"slices"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	brGzip := []Encoding{Brotli, Gzip}
	tests := []struct {
		name    string
		ae      []string
		offered []Encoding // nil means brGzip
		want    Encoding
		wantOK  bool
	}{
		// RFC 9110 §12.5.3: no field: anything is acceptable, we send identity.
		{"no field", nil, nil, Identity, true},
		// RFC 9110 §12.5.3: an empty value wants no coding.
		{"empty value", []string{""}, nil, Identity, true},
		{"blank value", []string{" \t "}, nil, Identity, true},
		// RFC 9110 §12.5.3 examples.
		{"rfc compress, gzip", []string{"compress, gzip"}, nil, Gzip, true},
		{"rfc star", []string{"*"}, nil, Brotli, true},
		{"rfc compress;q=0.5, gzip;q=1.0", []string{"compress;q=0.5, gzip;q=1.0"}, nil, Gzip, true},
		{"rfc gzip;q=1.0, identity; q=0.5, *;q=0", []string{"gzip;q=1.0, identity; q=0.5, *;q=0"}, nil, Gzip, true},
		// Browsers.
		{"chrome", []string{"gzip, deflate, br, zstd"}, nil, Brotli, true},
		{"old browser", []string{"gzip, deflate"}, nil, Gzip, true},
		{"deflate only", []string{"deflate"}, nil, Identity, true},
		// RFC 9110 §12.5.3: q=0 means not acceptable; "*" covers the rest.
		{"gzip;q=0, *", []string{"gzip;q=0, *"}, nil, Brotli, true},
		{"br;q=0, *", []string{"br;q=0, *"}, nil, Gzip, true},
		{"all refused but identity by star", []string{"br;q=0, gzip;q=0, *"}, nil, Identity, true},
		{"br;q=0.5, gzip;q=0.8", []string{"br;q=0.5, gzip;q=0.8"}, nil, Gzip, true},
		{"star weights unlisted", []string{"gzip;q=0.4, *;q=0.6"}, []Encoding{Gzip, Brotli}, Brotli, true},
		// RFC 9110 §12.5.3: identity refused.
		{"identity;q=0", []string{"identity;q=0"}, nil, Identity, false},
		{"*;q=0", []string{"*;q=0"}, nil, Identity, false},
		{"*;q=0 with identity listed", []string{"*;q=0, identity"}, nil, Identity, true},
		{"identity refused, gzip fine", []string{"identity;q=0, gzip"}, nil, Gzip, true},
		{"identity;q=0 nothing offered", []string{"gzip, identity;q=0"}, []Encoding{}, Identity, false},
		// Identity competes only with an explicit weight.
		{"identity unlisted loses to low q", []string{"gzip;q=0.1"}, nil, Gzip, true},
		{"identity preferred", []string{"identity;q=1, gzip;q=0.5"}, nil, Identity, true},
		{"identity tie goes to coding", []string{"br;q=0.5, identity;q=0.5"}, nil, Brotli, true},
		{"star above listed", []string{"gzip;q=0.5, *"}, []Encoding{Gzip}, Identity, true},
		// Server preference breaks ties.
		{"tie, server order br first", []string{"gzip, br"}, nil, Brotli, true},
		{"tie, server order gzip first", []string{"br, gzip"}, []Encoding{Gzip, Brotli}, Gzip, true},
		{"nothing offered", []string{"gzip, br"}, []Encoding{}, Identity, true},
		{"identity offered is ignored", []string{"gzip"}, []Encoding{Identity, Gzip}, Gzip, true},
		// RFC 9110 §8.4.1: case-insensitive; §8.4.1.3: x-gzip is gzip.
		{"uppercase", []string{"GZIP"}, nil, Gzip, true},
		{"mixed case br", []string{"Br;Q=0.9, GZip;q=0.5"}, nil, Brotli, true},
		{"x-gzip", []string{"x-gzip"}, nil, Gzip, true},
		{"x-gzip refused", []string{"x-gzip;q=0, gzip"}, nil, Identity, true},
		{"uppercase identity refused", []string{"IDENTITY;Q=0"}, nil, Identity, false},
		// RFC 9110 §5.6.3 whitespace and §5.6.1 empty elements.
		{"whitespace", []string{" gzip ;\tq=0.5 , br ; q=0.4 "}, nil, Gzip, true},
		{"empty elements", []string{",,, ,gzip,,"}, nil, Gzip, true},
		{"several field lines", []string{"gzip", "br"}, nil, Brotli, true},
		// RFC 9110 §12.4.2 qvalue grammar; invalid weights refuse the coding.
		{"q=1.000", []string{"gzip;q=1.000"}, nil, Gzip, true},
		{"q=0.001", []string{"gzip;q=0.001"}, nil, Gzip, true},
		{"q=0.000", []string{"gzip;q=0.000"}, nil, Identity, true},
		{"q=1.0000 too many digits", []string{"gzip;q=1.0000"}, nil, Identity, true},
		{"q=2", []string{"gzip;q=2"}, nil, Identity, true},
		{"q=2 with star", []string{"gzip;q=2, *"}, nil, Brotli, true},
		{"q=1.5", []string{"gzip;q=1.5"}, nil, Identity, true},
		{"q=-1", []string{"gzip;q=-1"}, nil, Identity, true},
		{"q=.5", []string{"gzip;q=.5"}, nil, Identity, true},
		{"q empty", []string{"gzip;q="}, nil, Identity, true},
		{"q no value", []string{"gzip;q"}, nil, Identity, true},
		{"empty param", []string{"gzip;"}, nil, Identity, true},
		{"other param", []string{"gzip;level=1"}, nil, Identity, true},
		{"two weights", []string{"gzip;q=0.5;q=0.9"}, nil, Identity, true},
		{"spaces around =", []string{"gzip;q = 0.5"}, nil, Identity, true},
		{"q=1e0", []string{"gzip;q=1e0"}, nil, Identity, true},
		{"invalid identity weight refuses it", []string{"identity;q=x"}, nil, Identity, false},
		// A coding listed twice gets its lowest weight.
		{"duplicate, zero wins", []string{"gzip;q=0", "gzip"}, nil, Identity, true},
		{"duplicate, lower wins", []string{"br;q=0.2, gzip;q=0.5, br"}, nil, Gzip, true},
		// Hostile input.
		{"garbage", []string{"\x00\xff,;;,,==\"gzip\""}, nil, Identity, true},
		{"quoted coding", []string{`"gzip"`}, nil, Identity, true},
		{"lone semicolons", []string{";;;;q=1"}, nil, Identity, true},
		{"huge list", []string{strings.Repeat("foo;q=0.5, ", 10000) + "gzip"}, nil, Gzip, true},
		{"huge token", []string{strings.Repeat("g", 1<<16)}, nil, Identity, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offered := tt.offered
			if offered == nil {
				offered = brGzip
			}
			got, ok := Negotiate(tt.ae, offered...)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Negotiate(%.80q, %v) = %q, %v; want %q, %v", tt.ae, offered, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseQValue(t *testing.T) { // RFC 9110 §12.4.2
	tests := []struct {
		in    string
		want  int
		valid bool
	}{
		{"0", 0, true}, {"0.", 0, true}, {"0.5", 500, true}, {"0.05", 50, true},
		{"0.123", 123, true}, {"1", 1000, true}, {"1.", 1000, true}, {"1.000", 1000, true},
		{"", 0, false}, {"1.001", 0, false}, {"0.1234", 0, false}, {"2", 0, false},
		{"01", 0, false}, {"0.a", 0, false}, {"+1", 0, false}, {" 1", 0, false},
	}
	for _, tt := range tests {
		got, valid := parseQValue(tt.in)
		if got != tt.want || valid != tt.valid {
			t.Errorf("parseQValue(%q) = %d, %v; want %d, %v", tt.in, got, valid, tt.want, tt.valid)
		}
	}
}

// TestNegotiateAllocs holds Negotiate to no allocation on the hit path.
func TestNegotiateAllocs(t *testing.T) {
	headers := [][]string{nil, {"gzip, deflate, br, zstd"}, {"gzip;q=1.0, identity; q=0.5, *;q=0"}}
	for _, h := range headers {
		allocs := testing.AllocsPerRun(100, func() {
			if enc, _ := Negotiate(h, Brotli, Gzip); enc == "" {
				t.Fatal("empty coding")
			}
		})
		if allocs != 0 {
			t.Errorf("Negotiate(%q) allocates %.1f times, want 0", h, allocs)
		}
	}
}

// negotiateOffers are offered lists for comparing Negotiate's shortcut with
// the general rules, including odd ones a caller could pass.
var negotiateOffers = [][]Encoding{
	nil, {Brotli, Gzip}, {Gzip, Brotli}, {Brotli}, {Gzip}, {"zstd", Brotli, Gzip}, {"deflate"},
	{Identity, Gzip}, {"x-gzip"}, {"GZIP", "BR"}, {"*"}, {""}, {"compress"}, {Identity},
}

// TestCommonAcceptEncoding checks the values Negotiate answers without
// parsing: each one's names are what its value lists, and its answers are
// those of the general rules for every offered list.
func TestCommonAcceptEncoding(t *testing.T) {
	for _, c := range commonAcceptEncoding {
		var names []string
		for n := range strings.SplitSeq(c.value, ",") {
			names = append(names, strings.TrimSpace(n))
		}
		if !slices.Equal(names, c.names) {
			t.Errorf("%q lists %q, table says %q", c.value, names, c.names)
		}
		for _, n := range names {
			if n == "" || n == "*" || sameCoding(n, Identity) || strings.ContainsAny(n, "; \t") {
				t.Errorf("%q: %q is not a plain coding name", c.value, n)
			}
		}
		for _, offered := range negotiateOffers {
			got, gotOK := Negotiate([]string{c.value}, offered...)
			want, wantOK := negotiate([]string{c.value}, offered)
			if got != want || gotOK != wantOK {
				t.Errorf("Negotiate(%q, %q) = %q, %v; the general rules say %q, %v", c.value, offered, got, gotOK, want, wantOK)
			}
		}
	}
}

// FuzzNegotiateShortcut compares Negotiate with the general rules for
// arbitrary field lines and offered codings.
func FuzzNegotiateShortcut(f *testing.F) {
	for _, c := range commonAcceptEncoding {
		f.Add(c.value, "br\ngzip")
	}
	f.Add("gzip, deflate, br, zstd", "zstd\nx-gzip\nidentity")
	f.Fuzz(func(t *testing.T, header, offer string) {
		lines := strings.Split(header, "\n")
		var offered []Encoding
		for o := range strings.SplitSeq(offer, "\n") {
			offered = append(offered, Encoding(o))
		}
		got, gotOK := Negotiate(lines, offered...)
		want, wantOK := negotiate(lines, offered)
		if got != want || gotOK != wantOK {
			t.Fatalf("Negotiate(%q, %q) = %q, %v; the general rules say %q, %v", lines, offered, got, gotOK, want, wantOK)
		}
	})
}
