package edge

import (
	"net/http"
	"net/netip"
	"testing"

	"edged/edge/clientip"
)

// TestTrustedProxyForwardedProto: behind a load balancer that terminates
// TLS (a trusted proxy), the scheme of the key and the X-Forwarded-Proto
// sent upstream are the one the proxy names, so an origin that redirects
// http to https by that field does not have its redirect stored for the
// HTTPS clients. Before, a trusted proxy's field was removed like any
// client's and every request was keyed and forwarded as http. An untrusted
// client's field still chooses nothing, and a trusted one only http or https
// on one line.
func TestTrustedProxyForwardedProto(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write([]byte(r.Header.Get("X-Forwarded-Proto")))
	})
	site := func() *Site {
		return &Site{Name: "app", Hosts: []string{"app.example"}, Routes: []*Route{{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)}}}
	}
	trusting := routedEdgeWith(t, c, Options{ClientIP: clientip.New(clientip.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})}, site())
	steps := []struct {
		proto   string // the proxy's X-Forwarded-Proto; "" sends none
		want    string // what the origin is told, and the body served
		wantHit bool
	}{
		{"https", "https", false},
		{"http", "http", false}, // another key: not the https entry
		{"HTTPS", "https", true},
		{"", "http", true},            // no field: the connection's scheme
		{"https, http", "http", true}, // a list: ignored
		{"ftp", "http", true},
	}
	for _, s := range steps {
		fields := []string{"Host", "app.example"}
		if s.proto != "" {
			fields = append(fields, "X-Forwarded-Proto", s.proto)
		}
		resp, body := trusting.get(t, "/p", fields...)
		if body != s.want || isHit(resp) != s.wantHit {
			t.Errorf("trusted proxy, X-Forwarded-Proto %q: got %q (%s), want %q, hit %v", s.proto, body, resp.Header.Get("Cache-Status"), s.want, s.wantHit)
		}
	}

	untrusting := routedEdge(t, c, site())
	for i, proto := range []string{"https", "http", "https"} {
		resp, body := untrusting.get(t, "/p", "Host", "app.example", "X-Forwarded-Proto", proto)
		if body != "http" || isHit(resp) != (i > 0) {
			t.Errorf("untrusted client, X-Forwarded-Proto %q: got %q (%s), want the http entry", proto, body, resp.Header.Get("Cache-Status"))
		}
	}
}
