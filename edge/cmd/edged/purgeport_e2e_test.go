package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestPurgeURLWithAPort: a purge URL names the keys requests for it are
// stored under. A port is dropped when it is the default of the URL's
// scheme (https://h.test:443/c is https://h.test/c), and a URL's other
// scheme, which a purge reaches too, is the same host and port under that
// scheme (http://h.test:443/c is also https://h.test/c, https://h.test:80/a
// also http://h.test/a). Before, the other scheme kept the port, so
// http://h.test:443/c and https://h.test:80/a purged keys no request has,
// and the API answered 200 with the objects still served.
func TestPurgeURLWithAPort(t *testing.T) {
	origin, _ := faultsOrigin(t)
	dir := t.TempDir()
	ca := newTestCA(t)
	crt, key := filepath.Join(dir, "h.crt"), filepath.Join(dir, "h.key")
	ca.issue(t, crt, key, "h.test")
	f := startFleetNode(t, parseNodeConfig(t, fmt.Sprintf(`
upstream: {origin: %s}
tls:
  listen: 127.0.0.1:0
  certificates: [{cert: %s, key: %s}]
`, origin.URL, crt, key)))
	client, tr := tlsClient(ca, f.n.tlsLn.Addr().String())
	defer tr.CloseIdleConnections()

	// Each object, and the request that stores it under its key.
	objects := []struct {
		key, host string
		tls       bool
	}{
		{"http://h.test/a", "h.test", false},
		{"http://h.test:443/b", "h.test:443", false},
		{"https://h.test/c", "h.test", true},
		{"https://h.test:80/d", "h.test:80", true},
	}
	hit := func(i int) bool {
		o := objects[i]
		path := o.key[strings.LastIndex(o.key, "/"):]
		var resp *http.Response
		if o.tls {
			resp, _ = get(t, client, "https://h.test"+path, "Host", o.host)
		} else {
			resp, _ = fetch(t, f.public+path, "Host", o.host)
		}
		return strings.Contains(resp.Header.Get("Cache-Status"), "hit")
	}
	for _, tt := range []struct {
		url    string
		purged string // the objects' letters
	}{
		{"http://h.test/a", "a"},
		{"http://h.test:80/a", "a"},
		{"https://h.test:80/a", "a"},
		{"http://h.test:443/b", "b"},
		{"https://h.test:443/c", "c"},
		{"http://h.test:443/c", "c"},
		{"HTTPS://H.test.:0443/c", "c"},
		{"https://h.test:80/d", "d"},
		{"http://h.test:8080/a", ""},
	} {
		for i := range objects {
			hit(i)
			if !hit(i) {
				t.Fatalf("%s is not stored", objects[i].key)
			}
		}
		waitApplied(t, f.purge(t, `{"urls":["`+tt.url+`"]}`), []*fleetNode{f})
		for i, o := range objects {
			letter := o.key[len(o.key)-1:]
			if want := strings.Contains(tt.purged, letter); hit(i) == want {
				t.Errorf("purge of %s: %s purged %v, want %v", tt.url, o.key, !want, want)
			}
		}
	}
}
