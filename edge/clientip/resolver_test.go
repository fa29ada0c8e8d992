package clientip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func newRequest(tb testing.TB, remote string, xff ...string) *http.Request {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	req.RemoteAddr = remote
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	return req
}

func mustPrefixes(tb testing.TB, ss ...string) []netip.Prefix {
	tb.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestClientIP(t *testing.T) {
	r := New(Options{TrustedProxies: mustPrefixes(t, "10.0.0.0/8", "2001:db8:ffff::/48", "::ffff:192.168.0.0/112")})
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"untrusted peer, no header", "203.0.113.9:1234", nil, "203.0.113.9"},
		{"untrusted peer, spoofed header ignored", "203.0.113.9:1234", []string{"1.1.1.1"}, "203.0.113.9"},
		{"trusted peer, no header", "10.1.2.3:80", nil, "10.1.2.3"},
		{"trusted peer, one client", "10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"rightmost untrusted wins over spoofed left entries", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"trusted hops skipped", "10.1.2.3:80", []string{"198.51.100.7, 10.9.9.9, 10.8.8.8"}, "198.51.100.7"},
		{"several field lines form one list (RFC 9110 §5.3)", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7", "10.9.9.9"}, "198.51.100.7"},
		{"all trusted: leftmost", "10.1.2.3:80", []string{"10.7.7.7, 10.8.8.8"}, "10.7.7.7"},
		{"malformed rightmost: the trusted peer", "10.1.2.3:80", []string{"198.51.100.7, garbage"}, "10.1.2.3"},
		{"malformed after a trusted hop: that hop", "10.1.2.3:80", []string{"1.1.1.1, bad, 10.4.4.4"}, "10.4.4.4"},
		{"empty entry stops the walk", "10.1.2.3:80", []string{"1.1.1.1,,10.4.4.4"}, "10.4.4.4"},
		{"empty header value", "10.1.2.3:80", []string{""}, "10.1.2.3"},
		{"entry with port", "10.1.2.3:80", []string{"198.51.100.7:4711"}, "198.51.100.7"},
		{"whitespace around entries", "10.1.2.3:80", []string{" \t198.51.100.7 ,10.4.4.4\t"}, "198.51.100.7"},
		{"IPv6 peer trusted, IPv6 client", "[2001:db8:ffff::1]:443", []string{"2001:db8:1::5"}, "2001:db8:1::5"},
		{"IPv6 client with port", "[2001:db8:ffff::1]:443", []string{"[2001:db8:1::5]:80"}, "2001:db8:1::5"},
		{"IPv6 peer untrusted", "[2001:db8:1::1]:443", []string{"1.1.1.1"}, "2001:db8:1::1"},
		{"IPv4-mapped peer matches an IPv4 rule", "[::ffff:10.1.2.3]:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv4-mapped rule matches an IPv4 peer", "192.168.1.1:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"mapped client is unmapped", "10.1.2.3:80", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"zone dropped", "10.1.2.3:80", []string{"fe80::1%eth0"}, "fe80::1"},
		{"bare RemoteAddr without port", "10.1.2.3", []string{"198.51.100.7"}, "198.51.100.7"},
		{"unparsable RemoteAddr", "pipe", []string{"198.51.100.7"}, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.ClientIP(newRequest(t, tt.remote, tt.xff...))
			if got.String() != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPCustomHeader(t *testing.T) {
	r := New(Options{TrustedProxies: mustPrefixes(t, "127.0.0.0/8"), Header: "x-real-ip"})
	req := newRequest(t, "127.0.0.1:9", "6.6.6.6")
	req.Header.Set("X-Real-IP", "198.51.100.7")
	if got, want := r.ClientIP(req), netip.MustParseAddr("198.51.100.7"); got != want {
		t.Errorf("ClientIP = %s, want %s", got, want)
	}
}

func TestZeroResolverTrustsNobody(t *testing.T) {
	var r Resolver
	got := r.ClientIP(newRequest(t, "127.0.0.1:9", "198.51.100.7"))
	if want := netip.MustParseAddr("127.0.0.1"); got != want {
		t.Errorf("ClientIP = %s, want %s", got, want)
	}
}

func BenchmarkClientIP(b *testing.B) {
	r := New(Options{TrustedProxies: mustPrefixes(b, "10.0.0.0/8", "172.16.0.0/12", "2001:db8::/32")})
	for _, bc := range []struct {
		name   string
		remote string
		xff    []string
	}{
		{"untrusted", "203.0.113.9:1234", []string{"1.1.1.1"}},
		{"trusted-1hop", "10.1.2.3:80", []string{"198.51.100.7"}},
		{"trusted-4hops", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7, 10.2.2.2, 172.16.0.1"}},
	} {
		req := newRequest(b, bc.remote, bc.xff...)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = r.ClientIP(req)
			}
		})
	}
}

func TestNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                 "192.0.2.7",
		"::ffff:192.0.2.7":          "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::",
		"2001:db8:1:2::1%eth0":      "2001:db8:1:2::",
		"2001:db8:1:2:ffff::":       "2001:db8:1:2::",
		"::1":                       "::",
		"fe80::1234:5678:9abc:def0": "fe80::",
	} {
		if got := Network(netip.MustParseAddr(in)); got != netip.MustParseAddr(want) {
			t.Errorf("Network(%s) = %s, want %s", in, got, want)
		}
	}
}
