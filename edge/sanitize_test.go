package edge

import (
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"edged/internal/httpsyntax"
)

// FuzzDropConnectionNamed: whatever Connection says, the edge removes
// exactly the fields the upstream client removes (httpsyntax.RemoveHopByHop),
// but for the connection options it leaves to that client (close,
// keep-alive, te, connection) and the fields it removes whatever
// Connection says. A field removed there but kept here would select a
// Vary variant the origin never saw (TestHostileConnectionCannotRemoveEdgeFields).
func FuzzDropConnectionNamed(f *testing.F) {
	for _, seed := range []string{"", "close", "X-A, X-B", " x-a ,, X-B\t,c;q=1", "Accept-Language;x=1", "X-A ;x", ",;,",
		"\u00a0X-A", "X-A\u00a0", "\u00a0Upgrade", "Proxy-Authorization", "keep-alive, TE", "\u212aeep-alive", "X A", "x-a\t;"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, conn string) {
		// Every spelling of a field name a parse of conn could find.
		names := map[string]bool{"X-Unlisted": true}
		for _, piece := range strings.FieldsFunc(conn, func(r rune) bool { return r == ',' || r == ';' }) {
			for _, n := range []string{piece, strings.TrimSpace(piece), strings.Trim(piece, " \t")} {
				if n = textproto.CanonicalMIMEHeaderKey(n); n != "" && !connectionOption(strings.TrimSpace(n)) && !alwaysHopByHop(n) {
					names[n] = true
				}
			}
		}
		edge, upstream := http.Header{"Connection": {conn}}, http.Header{"Connection": {conn}}
		for n := range names {
			edge[n], upstream[n] = []string{"x"}, []string{"x"}
		}
		dropConnectionNamed(edge)
		httpsyntax.RemoveHopByHop(upstream, httpsyntax.DropTE)
		for n := range names {
			if _, kept := edge[n]; kept != (upstream[n] != nil) {
				t.Errorf("Connection %q: field %q kept by the edge %v, by the upstream client %v", conn, n, kept, !kept)
			}
		}
	})
}

// alwaysHopByHop reports whether the upstream client removes the field
// name even when Connection does not name it.
func alwaysHopByHop(name string) bool {
	h := http.Header{name: {"x"}}
	httpsyntax.RemoveHopByHop(h, httpsyntax.DropTE)
	return len(h) == 0
}
