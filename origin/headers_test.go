package origin

import (
	"net/http"
	"testing"
)

// TestProtocolVersion checks the received-protocol format (RFC 9110 §7.6.3).
func TestProtocolVersion(t *testing.T) {
	tests := []struct {
		major, minor int
		want         string
	}{
		{1, 1, "1.1"}, {1, 0, "1.0"}, {2, 0, "2"}, {3, 0, "3"}, {0, 0, "1.1"},
	}
	for _, tt := range tests {
		if got := protocolVersion(tt.major, tt.minor); got != tt.want {
			t.Errorf("protocolVersion(%d, %d) = %q, want %q", tt.major, tt.minor, got, tt.want)
		}
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := clientAddr(tt.in); got != tt.want {
			t.Errorf("clientAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDropInvalidNames: RFC 9110 §5.1 field names are tokens; an upstream
// field named otherwise is removed, the others stay.
func TestDropInvalidNames(t *testing.T) {
	h := http.Header{"X A": {"1"}, "X-Ok": {"2"}, "X\tB": {"3"}, "": {"4"}, "X:C": {"5"}}
	dropInvalidNames(h)
	if got, want := len(h), 1; got != want || h.Get("X-Ok") != "2" {
		t.Errorf("after dropInvalidNames: %q, want only X-Ok", h)
	}
}
