package forward

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseConnectTarget(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
		ok   bool
	}{
		{"example.com:443", "example.com", 443, true},
		{"EXAMPLE.com.:8443", "example.com", 8443, true},
		{"[2001:db8::1]:443", "2001:db8::1", 443, true},
		{"10.0.0.1:22", "10.0.0.1", 22, true},
		{"example.com", "", 0, false},
		{"example.com:", "", 0, false},
		{"example.com:0", "", 0, false},
		{"example.com:65536", "", 0, false},
		{"example.com:+443", "", 0, false},
		{"user@example.com:443", "", 0, false},
		{"example.com:443/path", "", 0, false},
		{"2001:db8::1:443", "", 0, false},
		{"[fe80::1%eth0]:443", "", 0, false},
		{"exa%6dple.com:443", "", 0, false},
		{"2130706433:80", "", 0, false},
		{"0x7f.1:80", "", 0, false},
		{"127.1:80", "", 0, false},
		{":443", "", 0, false},
		{"a..b:443", "", 0, false},
	}
	for _, tt := range tests {
		d, err := parseConnectTarget(tt.in)
		if (err == nil) != tt.ok || tt.ok && (d.host != tt.host || d.port != tt.port) {
			t.Errorf("parseConnectTarget(%q) = %+v, %v; want %q %d ok=%v", tt.in, d, err, tt.host, tt.port, tt.ok)
		}
	}
}

func TestParseAbsoluteTarget(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
		ok   bool
	}{
		{"http://example.com/x?y", "example.com", 80, true},
		{"HTTP://Example.COM:8080/", "example.com", 8080, true},
		{"http://[::1]:81/", "::1", 81, true},
		{"http://[::1]/", "::1", 80, true},
		{"https://example.com/", "", 0, false},
		{"ftp://example.com/", "", 0, false},
		{"http://user:pw@example.com/", "", 0, false},
		{"/relative", "", 0, false},
		{"http://example.com:99999/", "", 0, false},
		{"http://example.com:/", "example.com", 80, true},
		{"http://[::1]:/", "::1", 80, true},
	}
	for _, tt := range tests {
		u, err := url.ParseRequestURI(tt.in)
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		d, err := parseAbsoluteTarget(u)
		if (err == nil) != tt.ok || tt.ok && (d.host != tt.host || d.port != tt.port) {
			t.Errorf("parseAbsoluteTarget(%q) = %+v, %v; want %q %d ok=%v", tt.in, d, err, tt.host, tt.port, tt.ok)
		}
	}
}

// checkDestination holds for every destination the parsers accept: a
// host that parses again to itself, and a port in range, so that what the
// rules are asked about is what is dialled.
func checkDestination(t *testing.T, in string, d destination) {
	if d.port < 1 || d.port > 65535 || d.host == "" {
		t.Fatalf("%q: accepted %+v", in, d)
	}
	again, err := parseConnectTarget(d.authority())
	if err != nil || again != d {
		t.Fatalf("%q: %+v reads back from %q as %+v, %v", in, d, d.authority(), again, err)
	}
	if d.ip.IsValid() && d.host != d.ip.String() {
		t.Fatalf("%q: host %q is not the address %s as netip writes it", in, d.host, d.ip)
	}
	if d.host != strings.ToLower(d.host) || strings.ContainsAny(d.host, "@/?#% []") {
		t.Fatalf("%q: host %q", in, d.host)
	}
}

func FuzzConnectTarget(f *testing.F) {
	for _, s := range []string{"example.com:443", "[::1]:443", "1.2.3.4:80", "a.b.:1", "x:0", "[::ffff:1.2.3.4]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseConnectTarget(s)
		if err == nil {
			checkDestination(t, s, d)
		}
	})
}

func FuzzAbsoluteTarget(f *testing.F) {
	for _, s := range []string{"http://example.com/", "http://[::1]:80/x", "http://a:1/?q", "https://x/", "http://u@x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.ParseRequestURI(s)
		if err != nil {
			return
		}
		d, err := parseAbsoluteTarget(u)
		if err == nil {
			checkDestination(t, s, d)
		}
	})
}

// TestOptionsValidate: every bad field is named by its Go path, all at once.
func TestOptionsValidate(t *testing.T) {
	err := Options{ConnectPorts: []string{"0"}, HTTPPorts: []string{"80-"}, RemoveHeaders: []string{"a b"}, SetHeaders: map[string]string{"X": "a\nb"},
		TunnelIdle: -1, MaxTunnelsPerClient: -3, Realm: `a"b`, PAC: PAC{Direct: []string{"a b"}}}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, field := range []string{"ConnectPorts[0]", "HTTPPorts[0]", "RemoveHeaders[0]", `SetHeaders["X"]`, "TunnelIdle", "TunnelMax", "MaxTunnelsPerClient", "Realm", "PAC.Direct[0]"} {
		if !strings.Contains(err.Error(), "option "+field+":") {
			t.Errorf("no problem named %s in:\n%v", field, err)
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Errorf("DefaultOptions: %v", err)
	}
	if _, err := New(DefaultOptions()); err == nil || !strings.Contains(err.Error(), "option Cache: required") || !strings.Contains(err.Error(), "option Dialer: required") {
		t.Errorf("New without Cache and Dialer: %v", err)
	}
}
