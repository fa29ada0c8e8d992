package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseList: a list file never panics the parser, and every name it
// accepts is found again by the set it built.
func FuzzParseList(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.txt")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("a.test\n*.b.test # c\n.d.test\r\n\n#x\n")
	f.Add(strings.Repeat("x", maxListLine+1))
	f.Fuzz(func(t *testing.T, list string) {
		s := newDomainSet()
		var names []string
		err := parseList(strings.NewReader(list), func(k patternKind, name string) {
			s.add(k, name)
			names = append(names, name)
		})
		if err != nil {
			return
		}
		for _, n := range names {
			if !s.match(n) && !s.match("x."+n) {
				t.Errorf("%q accepted but matches neither itself nor below it", n)
			}
		}
	})
}

// FuzzPattern: parsePattern accepts only names checkName accepts again,
// and a pattern matches what it promises.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"example.com", "*.example.com", ".example.com", "EXAMPLE.com.", "a..b", "*", "xn--bcher-kva.de", "bücher.de", "_dmarc.x"} {
		f.Add(s, "www.example.com")
	}
	f.Fuzz(func(t *testing.T, pattern, host string) {
		kind, name, err := parsePattern(pattern)
		if err != nil {
			return
		}
		if again, err := checkName(name); err != nil || again != name {
			t.Fatalf("normalized %q to %q, which checkName reads as %q, %v", pattern, name, again, err)
		}
		s := newDomainSet()
		s.add(kind, name)
		if got, want := s.match(name), kind != kindBelow; got != want {
			t.Errorf("%q matches its own name: %v, want %v", pattern, got, want)
		}
		if got, want := s.match("sub."+name), kind != kindExact; got != want {
			t.Errorf("%q matches a name below it: %v, want %v", pattern, got, want)
		}
		h := normalizeHost(host)
		if s.match(h) && h != name && !strings.HasSuffix(h, "."+name) {
			t.Errorf("%q matched unrelated host %q", pattern, host)
		}
	})
}

// FuzzScalars: the small parsers of option values never panic and keep
// their ranges.
func FuzzScalars(f *testing.F) {
	for _, s := range []string{"09:00", "24:00", "23:59", "9:00", "+1:00", "1MiB", "1.5 GiB", "NaN", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := parseClock(s, true); err == nil && (m < 0 || m > 24*60) {
			t.Errorf("parseClock(%q) = %d", s, m)
		}
		if m, err := parseClock(s, false); err == nil && (m < 0 || m >= 24*60) {
			t.Errorf("parseClock(%q, start) = %d", s, m)
		}
		if n, err := parseBytes(s); err == nil && n < 1 {
			t.Errorf("parseBytes(%q) = %d", s, n)
		}
		parseDays(s)
	})
}
