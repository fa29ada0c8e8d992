package portset

import (
	"fmt"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Range
		ok   bool
	}{
		{"443", Range{443, 443}, true},
		{"1025-65535", Range{1025, 65535}, true},
		{" 80 - 81 ", Range{80, 81}, true},
		{"0", Range{}, false},
		{"65536", Range{}, false},
		{"9-8", Range{}, false},
		{"", Range{}, false},
		{"-5", Range{}, false},
		{"0x50", Range{}, false},
		{"1-2-3", Range{}, false},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestContains(t *testing.T) {
	s := Set{{80, 80}, {1025, 2000}}
	for port, want := range map[int]bool{80: true, 81: false, 1024: false, 1025: true, 2000: true, 2001: false, 0: false} {
		if got := s.Contains(port); got != want {
			t.Errorf("Contains(%d) = %v, want %v", port, got, want)
		}
	}
	if (Set{}).Contains(80) {
		t.Error("the empty set holds a port")
	}
}

func TestOverlaps(t *testing.T) {
	s := Set{{80, 80}, {1025, 2000}}
	for r, want := range map[Range]bool{{80, 80}: true, {81, 1024}: false, {1, 79}: false, {1, 80}: true, {2000, 3000}: true, {1024, 1025}: true, {2001, 65535}: false} {
		if got := s.Overlaps(r); got != want {
			t.Errorf("Overlaps(%v) = %v, want %v", r, got, want)
		}
	}
	if (Set{}).Overlaps(Range{1, 65535}) {
		t.Error("the empty set overlaps a range")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"443", "1025-65535", " 1 - 2", "0", "9-8", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		bad := false
		list := ParseList([]string{s}, func(int, error) { bad = true })
		if bad != (err != nil) || len(list) == 1 && list[0] != r || len(list)+btoi(bad) != 1 {
			t.Fatalf("ParseList([%q]) = %v, bad %v; Parse = %v, %v", s, list, bad, r, err)
		}
		if err != nil {
			return
		}
		if r.Lo == 0 || r.Hi < r.Lo {
			t.Fatalf("Parse(%q) = %v", s, r)
		}
		if back, err := Parse(fmt.Sprintf("%d-%d", r.Lo, r.Hi)); err != nil || back != r {
			t.Fatalf("Parse(%q) = %v; written back as a range it reads as %v, %v", s, r, back, err)
		}
	})
}

func TestParseList(t *testing.T) {
	var bad []int
	got := ParseList([]string{"443", "x", "8000-8999", "0"}, func(i int, err error) {
		if err == nil {
			t.Errorf("entry %d: bad called without an error", i)
		}
		bad = append(bad, i)
	})
	if want := (Set{{443, 443}, {8000, 8999}}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseList = %v, want %v", got, want)
	}
	if fmt.Sprint(bad) != "[1 3]" {
		t.Errorf("bad entries %v, want [1 3]", bad)
	}
	if got := ParseList([]string{"x", "80"}, nil); len(got) != 1 || !got.Contains(80) {
		t.Errorf("ParseList without bad = %v, want [80]", got)
	}
	if got := ParseList(nil, nil); got.Contains(1) {
		t.Errorf("ParseList(nil) = %v, want no port", got)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
