package clientip

import (
	"net/netip"
	"strings"
	"testing"
)

// referenceClientIP is the slow, obvious reading of the rule, to compare the
// zero-allocation walk against.
func referenceClientIP(r *Resolver, peer netip.Addr, header string) netip.Addr {
	if !r.Trusted(peer) {
		return peer
	}
	parts := strings.Split(header, ",")
	if header == "" {
		parts = nil
	}
	client := peer
	for i := len(parts) - 1; i >= 0; i-- {
		a, ok := parseEntry(parts[i])
		if !ok {
			return client
		}
		client = a
		if !r.Trusted(a) {
			return a
		}
	}
	return client
}

// FuzzXForwardedFor: arbitrary header values never panic, the answer is the
// peer or an address written in the header, and it matches the reference.
func FuzzXForwardedFor(f *testing.F) {
	for _, s := range []string{
		"", "198.51.100.7", "6.6.6.6, 198.51.100.7, 10.9.9.9", "garbage", "1.1.1.1,,10.4.4.4",
		"[2001:db8::1]:80, ::ffff:10.0.0.1", "fe80::1%eth0", " \t, ,", "10.1.1.1,10.2.2.2",
	} {
		f.Add("10.0.0.1:80", s)
	}
	f.Add("203.0.113.9:1", "198.51.100.7")
	r := New(Options{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"),
	}})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		req := newRequest(t, remote, xff)
		got := r.ClientIP(req)
		peer, ok := parseHostPort(remote)
		if !ok {
			if got.IsValid() {
				t.Fatalf("unparsable RemoteAddr %q gave %s", remote, got)
			}
			return
		}
		if want := referenceClientIP(r, peer, xff); got != want {
			t.Fatalf("ClientIP(%q, %q) = %s, reference %s", remote, xff, got, want)
		}
		if got != peer && !r.Trusted(peer) {
			t.Fatalf("untrusted peer %s: header %q was believed (%s)", peer, xff, got)
		}
		if got.Is4In6() || got.Zone() != "" {
			t.Fatalf("ClientIP returned unnormalized %s", got)
		}
	})
}
