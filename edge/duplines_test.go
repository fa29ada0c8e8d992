package edge

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Authorization is one credential, not a list (RFC 9110 §11.6.2): a
// request with two Authorization lines is refused (400) on every route, so
// which line counts is never a question. The old code let it through on a
// route without auth: the origin got both lines (and may read the last),
// and the fetch was partitioned by the first line alone (flightKey), so a
// client sending that line joined it; it got its own answer only because
// an answer to credentials is not handed to waiters unless it may be
// shared. The test holds either way for that client, and fails on the old
// code for the 200.
func TestDuplicateAuthorizationLines(t *testing.T) {
	c := newClock()
	release := newGate()
	arrived := make(chan struct{}, 4)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		release.wait()
		// No freshness: a response to Authorization is not stored.
		_, _ = w.Write([]byte("for " + strings.Join(r.Header.Values("Authorization"), " + ")))
	})
	t.Cleanup(release.open)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	type answer struct {
		status int
		body   string
	}
	both := make(chan answer, 1)
	go func() {
		resp, body := e.get(t, "/me", "Authorization", "Bearer alice", "Authorization", "Bearer mallory")
		both <- answer{resp.StatusCode, body}
	}()
	var got answer
	select {
	case got = <-both: // refused before any fetch
	case <-arrived:
		// Fetching: a client sending the first line alone arrives.
		one := make(chan answer, 1)
		go func() {
			resp, body := e.get(t, "/me", "Authorization", "Bearer alice")
			one <- answer{resp.StatusCode, body}
		}()
		// It joins that fetch (the old code) or starts its own.
		waitFor(t, func() bool {
			return len(arrived) > 0 || testutil.ToFloat64(e.handler.metrics.coalesced) >= 1
		})
		release.open()
		got = <-both
		if a := <-one; a.body != "for Bearer alice" {
			t.Errorf("a client sending Authorization: Bearer alice got %d %q", a.status, a.body)
		}
	}
	if got.status != http.StatusBadRequest || !strings.Contains(got.body, "Authorization") {
		t.Errorf("two Authorization lines: %d %q, want 400 naming the field", got.status, got.body)
	}
	release.open()
	if resp, body := e.get(t, "/me", "Authorization", "Bearer alice"); resp.StatusCode != 200 || body != "for Bearer alice" {
		t.Errorf("one Authorization line: %d %q", resp.StatusCode, body)
	}
}

// A Vary'd field sent on several lines is compared by its combined value
// (RFC 9111 §4.1, RFC 9110 §5.3). Cookie lines combine with "; " (RFC 6265
// §5.4, RFC 9113 §8.2.3), not as a comma list: "a=1" and "b=2" on two lines
// are the cookies a and b, as "a=1; b=2" is, while "a=1,b=2" on one line is
// the cookie a with the value "1,b=2". The old code joined the lines with a
// comma and split on commas, so the one-line "a=1,b=2" was served the page
// stored for the cookies a and b.
func TestVaryCookieLines(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Vary", "Cookie")
		var cookies []string
		for _, k := range r.Cookies() {
			cookies = append(cookies, k.Name+"="+k.Value)
		}
		_, _ = w.Write([]byte("for " + strings.Join(cookies, " ")))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	for _, tt := range []struct {
		name    string
		cookies []string
		want    string
		hit     bool
	}{
		{"two lines", []string{"a=1", "b=2"}, "for a=1 b=2", false},
		{"two lines again", []string{"a=1", "b=2"}, "for a=1 b=2", true},
		{"one line, the same cookies", []string{"a=1; b=2"}, "for a=1 b=2", true},
		{"one line, a comma in a value", []string{"a=1,b=2"}, "for a=1,b=2", false},
		{"one line with a comma again", []string{"a=1,b=2"}, "for a=1,b=2", true},
	} {
		var fields []string
		for _, v := range tt.cookies {
			fields = append(fields, "Cookie", v)
		}
		resp, body := e.get(t, "/page", fields...)
		if body != tt.want || isHit(resp) != tt.hit {
			t.Errorf("%s: %q (Cache-Status %q), want %q, hit %v", tt.name, body, cacheStatus(resp), tt.want, tt.hit)
		}
		e.settle(t)
	}
}
