package ascii

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLower(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := byte(c)
		if 'A' <= c && c <= 'Z' {
			want = byte(c) + 32
		}
		if got := Lower(byte(c)); got != want {
			t.Errorf("Lower(%#x) = %#x, want %#x", c, got, want)
		}
	}
}

func TestToLower(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"gzip", "gzip"},
		{"Content-Length", "content-length"},
		{"ÉCOLE", "École"},             // only ASCII letters fold
		{"\u212Aelvin", "\u212Aelvin"}, // the Kelvin sign is not a K
	}
	for _, tt := range tests {
		if got := ToLower(tt.in); got != tt.want {
			t.Errorf("ToLower(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(10, func() { _ = ToLower("already-lower") }); n != 0 {
		t.Errorf("ToLower of a lower-case string allocated %v times", n)
	}
}

func TestEqualFold(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"Transfer-Encoding", "transfer-encoding", true},
		{"CHUNKED", "chunked", true},
		{"chunked", "chunke", false},
		{"gzip", "gzi\u017f", false}, // ſ is not s
		{"k", "\u212A", false},       // the Kelvin sign is not k
		{"[", "{", false},            // differ by 0x20 but are not letters
		{"@", "`", false},
		{"caf\xc3\xa9", "CAF\xc3\xa9", true},
	}
	for _, tt := range tests {
		if got := EqualFold(tt.a, tt.b); got != tt.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := EqualFold([]byte(tt.a), tt.b); got != tt.want {
			t.Errorf("EqualFold([]byte %q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestHasPrefixAndContainsFold(t *testing.T) {
	if !HasPrefixFold("/Admin/x", "/admin/") || HasPrefixFold("/adm", "/admin/") {
		t.Error("HasPrefixFold")
	}
	if !ContainsFold("/a/%2E%2E/b", "%2e") || ContainsFold("/a/b", "%2e") || !ContainsFold("x", "") {
		t.Error("ContainsFold")
	}
}

// FuzzEqualFold checks EqualFold against the standard library on ASCII
// input, where the two must agree, and ToLower against EqualFold.
func FuzzEqualFold(f *testing.F) {
	f.Add("Content-Type", "content-type")
	f.Add("a", "B")
	f.Add("\u212A", "k")
	f.Fuzz(func(t *testing.T, a, b string) {
		got := EqualFold(a, b)
		if isASCII(a) && isASCII(b) && got != strings.EqualFold(a, b) {
			t.Errorf("EqualFold(%q, %q) = %v, strings.EqualFold says otherwise", a, b, got)
		}
		if got != (ToLower(a) == ToLower(b)) {
			t.Errorf("EqualFold(%q, %q) = %v, but ToLower gives %q and %q", a, b, got, ToLower(a), ToLower(b))
		}
		if utf8.ValidString(a) && !utf8.ValidString(ToLower(a)) {
			t.Errorf("ToLower(%q) broke UTF-8", a)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
