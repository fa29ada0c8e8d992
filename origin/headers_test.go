package origin

import (
	"net/http"
	"reflect"
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

// TestForwardHeaderOwnsItsValues: the header sent upstream shares no
// value with the client's, which stays as it was, and no field's values
// with another's: appending to one (as a later step might with Add)
// changes no other field. Its copy holds what forwardHeader adds without
// an allocation of its own for each (#17).
func TestForwardHeaderOwnsItsValues(t *testing.T) {
	c, err := New(Options{Origin: "http://127.0.0.1:1", Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	client := http.Header{
		"Accept":          {"*/*"},
		"X-Forwarded-For": {"192.0.2.7"},
		"Via":             {"1.1 a", "1.1 b"},
		"Te":              {"trailers"},
		"Connection":      {"X-Private"},
		"X-Private":       {"secret"},
		"Empty":           nil,
	}
	before := client.Clone()
	out := &Outbound{Header: client, ClientIP: "192.0.2.9", Proto: "https", Host: "www.example.com"}
	h := c.forwardHeader(out)
	want := http.Header{
		"Accept":            {"*/*"},
		"X-Forwarded-For":   {"192.0.2.7, 192.0.2.9"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"www.example.com"},
		"Via":               {"1.1 a, 1.1 b, 1.1 edged"},
		"Te":                {"trailers"},
		"User-Agent":        {""},
		"Empty":             nil,
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("forwardHeader = %q, want %q", h, want)
	}
	if !reflect.DeepEqual(client, before) {
		t.Fatalf("the client's header changed: %q, was %q", client, before)
	}
	for name := range h {
		h[name] = append(h[name], "appended")
	}
	for name, vv := range want {
		if got := h[name]; !reflect.DeepEqual(got[:len(got)-1], vv) && len(vv) > 0 {
			t.Errorf("%s = %q after appending to every field, want %q then one more", name, got, vv)
		}
	}
	if !reflect.DeepEqual(client, before) {
		t.Fatalf("appending upstream changed the client's header: %q, was %q", client, before)
	}
	small := &Outbound{Header: http.Header{"Accept": {"*/*"}, "User-Agent": {"bench"}}, ClientIP: "192.0.2.9", Proto: "http", Host: "www.example.com"}
	// The map and its group, the values' array, X-Forwarded-For's join.
	if n := testing.AllocsPerRun(100, func() { c.forwardHeader(small) }); n > 3 {
		t.Errorf("forwardHeader made %v allocations for a header of 2 fields, want at most 3", n)
	}
}
