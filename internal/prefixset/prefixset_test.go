package prefixset

import (
	"errors"
	"net/netip"
	"testing"
)

func TestContains(t *testing.T) {
	s, err := New([]netip.Prefix{
		netip.MustParsePrefix("10.1.2.3/8"), // masked to 10.0.0.0/8
		netip.MustParsePrefix("::ffff:192.168.0.0/112"),
		netip.MustParsePrefix("2001:db8::/32"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"10.200.0.1", true},
		{"11.0.0.1", false},
		{"192.168.3.4", true}, // an unmapped client matches a mapped network
		{"192.169.0.1", false},
		{"2001:db8::5", true},
		{"2001:db9::5", false},
	}
	for _, tt := range tests {
		if got := s.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if s.Contains(netip.Addr{}) {
		t.Error("the invalid address is contained")
	}
	if (Set{}).Contains(netip.MustParseAddr("10.0.0.1")) {
		t.Error("the empty set contains an address")
	}
}

func TestNewInvalid(t *testing.T) {
	ps := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}, netip.PrefixFrom(netip.MustParseAddr("10.0.0.0"), 33)}
	s, err := New(ps)
	var inv *InvalidError
	if !errors.As(err, &inv) || inv.Index != 1 {
		t.Fatalf("err %v, want an InvalidError at index 1", err)
	}
	if len(s) != 1 || !s.Contains(netip.MustParseAddr("10.9.9.9")) {
		t.Errorf("the valid networks were not kept: %v", s)
	}
}

// FuzzContains checks the set against netip's own containment, with the
// unmapping rule applied to both sides.
func FuzzContains(f *testing.F) {
	f.Add("::ffff:10.0.0.0/104", "10.1.1.1")
	f.Add("10.0.0.0/8", "::ffff:10.1.1.1")
	f.Add("2001:db8::/32", "2001:db8::1")
	f.Fuzz(func(t *testing.T, prefix, addr string) {
		p, err := netip.ParsePrefix(prefix)
		if err != nil {
			return
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		s, err := New([]netip.Prefix{p})
		if err != nil {
			t.Fatalf("New(%s): %v", p, err)
		}
		a = a.Unmap()
		want := p.Masked().Contains(a.WithZone(""))
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			want = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Contains(a)
		}
		if got := s.Contains(a); got != want {
			t.Errorf("%s contains %s: got %v, want %v", p, a, got, want)
		}
	})
}
