package edge

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"

	"edged/edge/clientip"
	"edged/origin"
)

// TestClientIPHashKeepsClientOnServer sends the requests of many clients,
// each for several objects, through an edge whose route fetches from a
// client_ip_hash pool of three real servers. The clients arrive through a
// trusted proxy (loopback) that names them in X-Forwarded-For: each client
// always reaches the same server and the clients use every server. Without
// trusted proxies the forwarded address is not believed: every request
// comes from the loopback peer and reaches one server.
func TestClientIPHashKeepsClientOnServer(t *testing.T) {
	c := newClock()
	var urls []string
	for i := range 3 {
		name := fmt.Sprint("s", i)
		o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Served-By", name)
			w.Header().Set("Cache-Control", "no-store")
		})
		urls = append(urls, o.URL)
	}
	servers := make([]origin.Server, len(urls))
	for i, u := range urls {
		servers[i].URL = u
	}
	up := poolClient(t, origin.PoolOptions{Name: "app", Algorithm: origin.ClientIPHash, Servers: servers})
	site := func() *Site {
		return &Site{Name: "app", Hosts: []string{"app.example"}, Routes: []*Route{{PathPrefix: "/", Upstream: up}}}
	}
	trusting := routedEdgeWith(t, c, Options{ClientIP: clientip.New(clientip.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})}, site())
	used := map[string]bool{}
	for i := range 30 {
		client := fmt.Sprintf("203.0.113.%d", i+1)
		want := ""
		for j := range 3 {
			resp, _ := trusting.get(t, fmt.Sprintf("/page/%d", j), "Host", "app.example", "X-Forwarded-For", client)
			wantStatus(t, resp, http.StatusOK)
			got := resp.Header.Get("X-Served-By")
			if want == "" {
				want = got
			} else if got != want {
				t.Fatalf("client %s: /page/%d served by %s, its earlier requests by %s", client, j, got, want)
			}
		}
		used[want] = true
	}
	if len(used) != 3 {
		t.Errorf("30 clients reached servers %v, want all 3", used)
	}

	untrusting := routedEdge(t, c, site())
	used = map[string]bool{}
	for i := range 12 {
		resp, _ := untrusting.get(t, "/", "Host", "app.example", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		used[resp.Header.Get("X-Served-By")] = true
	}
	if len(used) != 1 {
		t.Errorf("forged X-Forwarded-For from an untrusted peer spread requests over %v, want one server", used)
	}
}
