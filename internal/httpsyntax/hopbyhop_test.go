package httpsyntax

import (
	"maps"
	"net/http"
	"net/textproto"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestRemoveHopByHop checks RFC 9110 §7.6.1 on bare headers: the fields
// Connection names and the fixed hop-by-hop list go, TE only when asked.
func TestRemoveHopByHop(t *testing.T) {
	tests := []struct {
		name         string
		te           TEHandling
		in, want     http.Header
		wantTrailers bool
	}{
		{
			name: "fields Connection names go, others stay",
			in:   http.Header{"Connection": {"X-A, X-B"}, "X-A": {"1"}, "X-B": {"2"}, "X-C": {"3"}},
			want: http.Header{"X-C": {"3"}},
		},
		{
			name: "the fixed list goes",
			in: http.Header{"Connection": {"close"}, "Keep-Alive": {"timeout=5"}, "Proxy-Connection": {"keep-alive"},
				"Te": {"gzip"}, "Transfer-Encoding": {"chunked"}, "Upgrade": {"websocket"},
				"Proxy-Authorization": {"Basic eDp5"}, "Proxy-Authenticate": {"Basic"}, "Accept": {"*/*"}},
			want: http.Header{"Accept": {"*/*"}},
		},
		{
			name: "names compared case-insensitively",
			in:   http.Header{"Connection": {"x-lower, ACCEPT-LANGUAGE, kEeP-aLiVe"}, "X-Lower": {"1"}, "Accept-Language": {"fr"}, "Keep-Alive": {"5"}, "Accept": {"*/*"}},
			want: http.Header{"Accept": {"*/*"}},
		},
		{
			name: "every Connection line counts",
			in:   http.Header{"Connection": {"X-A", "x-b", "close"}, "X-A": {"1"}, "X-B": {"2"}, "X-C": {"3"}},
			want: http.Header{"X-C": {"3"}},
		},
		{
			name: "optional whitespace and empty elements",
			in:   http.Header{"Connection": {" \tX-A ,,\t X-B\t, ,"}, "X-A": {"1"}, "X-B": {"2"}, "X-C": {"3"}},
			want: http.Header{"X-C": {"3"}},
		},
		{
			name: "a token with a space inside names no field",
			in:   http.Header{"Connection": {"X A"}, "X": {"1"}, "A": {"2"}},
			want: http.Header{"X": {"1"}, "A": {"2"}},
		},
		{
			name: "parameters cut off",
			in:   http.Header{"Connection": {"X-A;q=1"}, "X-A": {"1"}, "X-C": {"3"}},
			want: http.Header{"X-C": {"3"}},
		},
		{
			name: "Connection naming a field this node must keep still removes it",
			in:   http.Header{"Connection": {"Authorization"}, "Authorization": {"Bearer x"}},
			want: http.Header{},
		},
		{
			name:         "RFC 9110 §10.1.4 TE trailers reported",
			in:           http.Header{"Te": {"deflate;q=0.5, TRAILERS"}},
			want:         http.Header{},
			wantTrailers: true,
		},
		{
			name: "TE without trailers",
			in:   http.Header{"Te": {"gzip"}, "Accept": {"*/*"}},
			want: http.Header{"Accept": {"*/*"}},
		},
		{
			name:         "KeepTE keeps TE, even when Connection names it",
			te:           KeepTE,
			in:           http.Header{"Connection": {"TE, X-A"}, "Te": {"trailers"}, "X-A": {"1"}, "Upgrade": {"h2c"}},
			want:         http.Header{"Te": {"trailers"}},
			wantTrailers: true,
		},
		{
			name: "DropTE drops TE that Connection names",
			in:   http.Header{"Connection": {"TE"}, "Te": {"trailers"}},
			want: http.Header{}, wantTrailers: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotTrailers := RemoveHopByHop(tt.in, tt.te)
			if !reflect.DeepEqual(tt.in, tt.want) || gotTrailers != tt.wantTrailers {
				t.Errorf("got %v, trailers %v; want %v, trailers %v", tt.in, gotTrailers, tt.want, tt.wantTrailers)
			}
		})
	}
}

// FuzzRemoveHopByHop checks the rules of RFC 9110 §7.6.1 on any Connection
// and TE value, against a reference parse written with strings.Split.
func FuzzRemoveHopByHop(f *testing.F) {
	for _, seed := range []string{"", "close", "Foo, Bar", " a ,, b\t,c;q=1", ",", ";", "\t,\t", "te", "Keep-Alive, Upgrade", "X A", "\u212aeep-alive", "connection"} {
		f.Add(seed, "trailers", false)
		f.Add(seed, seed, true)
	}
	f.Fuzz(func(t *testing.T, conn, te string, keepTE bool) {
		mode := DropTE
		if keepTE {
			mode = KeepTE
		}
		var named []string
		for _, elem := range strings.Split(conn, ",") {
			elem, _, _ = strings.Cut(elem, ";")
			if elem = strings.Trim(elem, " \t"); elem != "" {
				named = append(named, textproto.CanonicalMIMEHeaderKey(elem))
			}
		}
		wantTrailers := false
		for _, elem := range strings.Split(te, ",") {
			elem, _, _ = strings.Cut(elem, ";")
			wantTrailers = wantTrailers || strings.EqualFold(strings.Trim(elem, " \t"), "trailers")
		}
		h := http.Header{"X-Unlisted": {"1"}}
		for _, name := range append(named, hopByHop[:]...) {
			h[name] = []string{"x"}
		}
		h["Connection"], h["Te"] = []string{conn}, []string{te}
		if got := RemoveHopByHop(h, mode); got != wantTrailers {
			t.Errorf("Te %q: trailers %v, want %v", te, got, wantTrailers)
		}
		for _, name := range append(named, hopByHop[:]...) {
			if _, ok := h[name]; ok && !(name == "Te" && keepTE) {
				t.Errorf("Connection %q: %q survived: %v", conn, name, slices.Collect(maps.Keys(h)))
			}
		}
		if _, ok := h["Te"]; ok != keepTE {
			t.Errorf("Te present %v with keepTE %v", ok, keepTE)
		}
		if _, ok := h["X-Unlisted"]; !ok && !slices.Contains(named, "X-Unlisted") {
			t.Errorf("Connection %q removed a field it does not name", conn)
		}
	})
}
