package origin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestUnsafeRequestAfterOriginClosedIdle: an origin that closes its
// keep-alive connections while they are idle (its keep-alive timeout, here
// after every answer, without Connection: close) costs a request that
// cannot be retried nothing: POST, PUT, PATCH and DELETE, with and without
// a body, each sent right after a GET left such a connection in the pool,
// reach the origin exactly once and get its answer. They never take a kept
// connection (reuse.go: a request with a body or an unsafe method gets a
// new connection of its own), so a connection closed while idle is found
// only by the GETs, which are retried (TestKeptClosedIdleRetried).
func TestUnsafeRequestAfterOriginClosedIdle(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	url, _ := scriptedServer(t, func(_, _ int, method string) string {
		mu.Lock()
		seen[method]++
		mu.Unlock()
		return keptOK + "\x00close"
	})
	c := keptClient(t, url)
	for i, tt := range []struct{ method, body string }{
		{http.MethodPost, "a=1"}, {http.MethodPut, "x"}, {http.MethodPatch, "y"},
		{http.MethodDelete, ""}, {http.MethodPost, ""},
	} {
		mustGet(t, c, fmt.Sprintf("/before%d", i)) // leaves a connection the origin closes
		out := &Outbound{Method: tt.method, Host: "site.example", RequestURI: fmt.Sprintf("/%d", i), Key: "k"}
		if tt.body != "" {
			out.Body, out.ContentLength = strings.NewReader(tt.body), int64(len(tt.body))
		}
		resp, err := c.Do(context.Background(), out)
		if err != nil {
			t.Fatalf("%s %s after the origin closed an idle connection: %v", tt.method, out.RequestURI, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(b) != "ok" {
			t.Fatalf("%s: %d %q %v", tt.method, resp.StatusCode, b, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if seen[http.MethodPost] != 2 || seen[http.MethodPut] != 1 || seen[http.MethodPatch] != 1 || seen[http.MethodDelete] != 1 {
		t.Errorf("the origin saw %v: each unsafe request once", seen)
	}
}
