package origin

import (
	"net/url"
	"strconv"
	"testing"
)

// The response's Request names the server that answered (Do's contract):
// the edge logs it as the access log's upstream.
func TestResponseNamesServer(t *testing.T) {
	_, urls := recorders(t, 3)
	host := map[string]string{} // X-Served-By → host:port
	for i, u := range urls {
		parsed, _ := url.Parse(u)
		host["s"+strconv.Itoa(i)] = parsed.Host
	}
	for name, c := range map[string]*Client{
		"pool":   newTestClient(t, Options{Pool: newTestPool(t, PoolOptions{Servers: servers(urls...)})}),
		"shield": newTestClient(t, Options{Shields: urls}),
	} {
		for i := range 6 {
			resp, _, err := get(t, c, "key"+strconv.Itoa(i), "/")
			if err != nil {
				t.Fatal(err)
			}
			want := host[resp.Header.Get("X-Served-By")]
			if resp.Request == nil || resp.Request.URL.Host != want {
				t.Errorf("%s: response from %s names %v", name, want, resp.Request)
			}
		}
	}
}
