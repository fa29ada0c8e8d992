package httpsyntax

import (
	"strings"
	"testing"
)

// tcharByDefinition is RFC 9110 §5.6.2 spelled out: a visible ASCII
// character that is not a delimiter.
func tcharByDefinition(c byte) bool {
	return c >= 0x21 && c <= 0x7e && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c))
}

func TestIsTcharMatchesRFC(t *testing.T) {
	n := 0
	for c := 0; c < 256; c++ {
		got, want := IsTchar(byte(c)), tcharByDefinition(byte(c))
		if got != want {
			t.Errorf("IsTchar(%#x %q) = %v, want %v", c, rune(c), got, want)
		}
		if got {
			n++
		}
	}
	// 26+26 letters, 10 digits and the 15 listed symbols.
	if n != 77 {
		t.Errorf("%d tchars, want 77", n)
	}
}

func TestIsToken(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", false},
		{"Content-Length", true},
		{"x-gzip", true},
		{"!#$%&'*+-.^_`|~09azAZ", true},
		{"no space", false},
		{"a:b", false},
		{"a/b", false},
		{`"q"`, false},
		{"tab\t", false},
		{"caf\xc3\xa9", false}, // obs-text is not a tchar
		{"nul\x00", false},
		{"del\x7f", false},
	}
	for _, tt := range tests {
		if got := IsToken(tt.s); got != tt.want {
			t.Errorf("IsToken(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func FuzzIsToken(f *testing.F) {
	for _, s := range []string{"", "gzip", "a b", "X-Custom_1", "é", "a\x00", "{}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := s != ""
		for i := 0; i < len(s); i++ {
			want = want && tcharByDefinition(s[i])
		}
		if got := IsToken(s); got != want {
			t.Errorf("IsToken(%q) = %v, want %v", s, got, want)
		}
	})
}

func BenchmarkIsToken(b *testing.B) {
	for b.Loop() {
		IsToken("Accept-Encoding")
	}
}

func TestListHas(t *testing.T) {
	tests := []struct {
		lines []string
		name  string
		want  bool
	}{
		{[]string{"Origin"}, "Origin", true},
		{[]string{"accept-encoding, origin"}, "Origin", true},
		{[]string{"Accept-Encoding", " Origin\t"}, "origin", true},
		{[]string{"Accept-Encoding,,Cookie"}, "Cookie", true},
		{[]string{"Origins, XOrigin"}, "Origin", false},
		{nil, "Origin", false},
	}
	for _, tt := range tests {
		if got := ListHas(tt.lines, tt.name); got != tt.want {
			t.Errorf("ListHas(%q, %q) = %v, want %v", tt.lines, tt.name, got, tt.want)
		}
	}
}

func TestAppendList(t *testing.T) {
	shared := make([]string, 1, 4)
	shared[0] = "Accept-Encoding, origin"
	got := AppendList(shared, "Origin", "Cookie", "X-Canary", "cookie")
	if want := []string{"Accept-Encoding, origin", "Cookie, X-Canary"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("AppendList = %q, want %q", got, want)
	}
	if shared[:2][1] != "" {
		t.Errorf("the given lines' spare capacity was written: %q", shared[:2])
	}
	if got := AppendList(shared, "ORIGIN"); len(got) != 1 {
		t.Errorf("nothing missing: got %q", got)
	}
}
