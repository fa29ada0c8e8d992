package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"sync"
	"testing"

	"edged/origin"
)

// hintingOrigin answers every request with 103 Early Hints (a Link and a
// field of its own, as cache-tests' interim-103 does), then 102, then a
// cacheable 200.
func hintingOrigin(t testing.TB, cacheControl string) *testOrigin {
	return newOrigin(t, newClock(), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</styles.css>; rel=preload; as=style")
		w.Header().Set("X-My-Header", "test")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Del("X-My-Header")
		w.WriteHeader(http.StatusProcessing)
		w.Header().Set("Cache-Control", cacheControl)
		_, _ = io.WriteString(w, "final")
	})
}

// interimSeen records the interim responses a client receives.
type interimSeen struct {
	mu    sync.Mutex
	codes []int
	links []string
	mine  []string
}

func (s *interimSeen) ctx() context.Context {
	return httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.codes = append(s.codes, code)
			s.links = append(s.links, h.Get("Link"))
			s.mine = append(s.mine, h.Get("X-My-Header"))
			return nil
		},
	})
}

func getWithInterim(t testing.TB, client *http.Client, url string) (*http.Response, string, *interimSeen) {
	t.Helper()
	seen := &interimSeen{}
	req, err := http.NewRequestWithContext(seen.ctx(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body), seen
}

// cache-tests interim-102 and interim-103: the interim responses reach the
// client with their fields, over HTTP/1.1 and HTTP/2, and the final
// response is what is stored: the next request is a hit, with no interim
// response and none of the hints' fields.
func TestInterimPassedOnNotStored(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			o := hintingOrigin(t, "max-age=100000")
			e := serveEdge(t, Options{Upstream: upstreamTo(t, o.URL), Now: newClock().Now}, func(srv *httptest.Server) {
				srv.EnableHTTP2 = h2
				srv.StartTLS()
			})
			srv, client := e.Server, e.Client()

			resp, body, seen := getWithInterim(t, client, srv.URL+"/page")
			if wantMajor := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != wantMajor {
				t.Fatalf("served over %s, want HTTP/%d", resp.Proto, wantMajor)
			}
			if resp.StatusCode != http.StatusOK || body != "final" {
				t.Fatalf("final response: %d %q", resp.StatusCode, body)
			}
			if !slices.Equal(seen.codes, []int{http.StatusEarlyHints, http.StatusProcessing}) {
				t.Errorf("interim codes = %v, want [103 102]", seen.codes)
			}
			if len(seen.links) == 0 || seen.links[0] != "</styles.css>; rel=preload; as=style" || seen.mine[0] != "test" {
				t.Errorf("103 fields: Link %q, X-My-Header %q", seen.links, seen.mine)
			}
			if resp.Header.Get("Link") != "" || resp.Header.Get("X-My-Header") != "" {
				t.Errorf("hint fields leaked into the final response: %v", resp.Header)
			}
			e.settle(t)
			resp, body, seen = getWithInterim(t, client, srv.URL+"/page")
			if !isHit(resp) || body != "final" || resp.StatusCode != http.StatusOK {
				t.Errorf("second request: %d %q, Cache-Status %q; want the stored 200", resp.StatusCode, body, resp.Header.Get("Cache-Status"))
			}
			if len(seen.codes) != 0 {
				t.Errorf("a hit sent interim responses %v", seen.codes)
			}
		})
	}
}

// A request passed through on its own (not storable) gets the interim
// responses too.
func TestInterimOnPass(t *testing.T) {
	o := hintingOrigin(t, "no-store")
	e := newEdge(t, newClock(), edgeConfig{upstream: o.URL})
	for range 2 { // the second goes upstream without the shared fetch (uncacheable mark)
		resp, body, seen := getWithInterim(t, http.DefaultClient, e.URL+"/private")
		if resp.StatusCode != http.StatusOK || body != "final" {
			t.Fatalf("final response: %d %q", resp.StatusCode, body)
		}
		if !slices.Equal(seen.codes, []int{http.StatusEarlyHints, http.StatusProcessing}) {
			t.Errorf("interim codes = %v, want [103 102]", seen.codes)
		}
	}
}

// An interim response of more field lines than origin.MaxResponseFields
// is not passed on: the bound holds for every head an upstream sends, not
// for the final one only. Before, a 103 of thousands of one-letter fields
// (up to 1 MiB of head, some 7 MiB parsed, five per request) reached the
// client whole, held while a slow client read it; the final response of
// the same head gets 502.
func TestInterimFieldFloodNotPassedOn(t *testing.T) {
	o := newOrigin(t, newClock(), func(w http.ResponseWriter, r *http.Request) {
		for i := range origin.MaxResponseFields + 1 {
			w.Header().Set(fmt.Sprintf("F%d", i), "1")
		}
		w.WriteHeader(http.StatusEarlyHints)
		for i := range origin.MaxResponseFields + 1 {
			w.Header().Del(fmt.Sprintf("F%d", i))
		}
		w.Header().Set("Link", "</styles.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "final")
	})
	e := newEdge(t, newClock(), edgeConfig{upstream: o.URL})
	for _, p := range []string{"/a", "/b"} { // two misses
		resp, body, seen := getWithInterim(t, http.DefaultClient, e.URL+p)
		if resp.StatusCode != http.StatusOK || body != "final" {
			t.Fatalf("%s: final response %d %q", p, resp.StatusCode, body)
		}
		if !slices.Equal(seen.codes, []int{http.StatusEarlyHints}) || seen.links[0] == "" {
			t.Errorf("%s: interim codes %v, Link %q; want the one 103 of a few fields", p, seen.codes, seen.links)
		}
	}
}
