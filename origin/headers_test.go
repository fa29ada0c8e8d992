package origin

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestListTokens covers the list syntax of RFC 9110 §5.6.1: empty elements
// and optional whitespace are ignored.
func TestListTokens(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{""}, nil},
		{[]string{"close"}, []string{"close"}},
		{[]string{" Foo ,\tbar,, ,baz "}, []string{"Foo", "bar", "baz"}},
		{[]string{"a", "b, c"}, []string{"a", "b", "c"}},
		{[]string{"gzip;q=0.5, trailers"}, []string{"gzip", "trailers"}},
		{[]string{",,,"}, nil},
	}
	for _, tt := range tests {
		if got := listTokens(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("listTokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzListTokens(f *testing.F) {
	for _, seed := range []string{"", "close", "Foo, Bar", " a ,, b\t,c;q=1", ",", ";", "\t,\t"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, tok := range listTokens([]string{v}) {
			if tok == "" || strings.ContainsAny(tok, ",;") || strings.Trim(tok, " \t") != tok {
				t.Fatalf("listTokens(%q) yielded %q", v, tok)
			}
		}
		// Removing hop-by-hop fields never panics and always removes
		// Connection itself (RFC 9110 §7.6.1).
		h := http.Header{"Connection": {v}, "Te": {v}, v: {"x"}}
		removeHopByHop(h)
		if _, ok := h["Connection"]; ok {
			t.Fatalf("Connection %q survived", v)
		}
	})
}

// TestRemoveHopByHop checks RFC 9110 §7.6.1 on a bare header.
func TestRemoveHopByHop(t *testing.T) {
	tests := []struct {
		name         string
		in, want     http.Header
		wantTrailers bool
	}{
		{
			name: "listed and fixed fields go, others stay",
			in:   http.Header{"Connection": {"x-a, X-B"}, "X-A": {"1"}, "X-B": {"2"}, "X-C": {"3"}, "Keep-Alive": {"5"}},
			want: http.Header{"X-C": {"3"}},
		},
		{
			name:         "RFC 9110 §10.1.4 TE trailers reported",
			in:           http.Header{"Te": {"deflate, TRAILERS"}},
			want:         http.Header{},
			wantTrailers: true,
		},
		{
			name: "TE without trailers",
			in:   http.Header{"Te": {"gzip"}, "Accept": {"*/*"}},
			want: http.Header{"Accept": {"*/*"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotTrailers := removeHopByHop(tt.in)
			if !reflect.DeepEqual(tt.in, tt.want) || gotTrailers != tt.wantTrailers {
				t.Errorf("got %v, trailers %v; want %v, trailers %v", tt.in, gotTrailers, tt.want, tt.wantTrailers)
			}
		})
	}
}

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
