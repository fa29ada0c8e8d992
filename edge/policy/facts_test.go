package policy

import (
	"net/http"
	"testing"
	"time"
)

// storedHeaders are stored responses' fields for comparing the rules with
// and without parsed Facts: every field Facts hold, valid, invalid,
// duplicated and in each precedence order.
var storedHeaders = [][]string{
	{},
	{"Cache-Control: max-age=60"},
	{"Cache-Control: public, max-age=3600, stale-while-revalidate=60", "Date: " + date(0), "Etag: \"x\""},
	{"Cache-Control: s-maxage=10, max-age=100"},
	{"Cache-Control: max-age=10", "Cache-Control: max-age=20"},
	{"Cache-Control: max-age=abc, no-store"},
	{"Cache-Control: no-cache, max-age=100"},
	{"Cache-Control: must-revalidate, max-age=1", "Age: 5"},
	{"Cache-Control: proxy-revalidate, stale-if-error=100"},
	{"Cache-Control: max-age=10, stale-while-revalidate=30, stale-if-error=300", "Age: 15"},
	{"Cache-Control: \"unterminated"},
	{"Cdn-Cache-Control: max-age=3600", "Cache-Control: max-age=60", "Date: " + date(0)},
	{"Cdn-Cache-Control: max-age=3600, stale-while-revalidate=10", "Expires: " + date(time.Hour)},
	{"Cdn-Cache-Control: ,,,", "Surrogate-Control: max-age=30", "Cache-Control: no-cache"},
	{"Surrogate-Control: max-age=30", "Cache-Control: no-cache", "Expires: " + date(-time.Hour)},
	{"Surrogate-Control: foo", "Cache-Control: max-age=5"},
	{"Expires: " + date(time.Hour), "Date: " + date(0)},
	{"Expires: " + date(time.Hour), "Date: " + date(-time.Minute), "Age: 30"},
	{"Expires: " + date(time.Hour), "Expires: " + date(2*time.Hour)},
	{"Expires: 0"},
	{"Expires: Sunday, 06-Nov-94 08:49:37 GMT", "Date: Sun Nov  6 08:49:37 1994"},
	{"Expires: Thursday, 01-Mar-25 13:00:00 GMT"},
	{"Last-Modified: " + date(-10*time.Hour), "Date: " + date(0)},
	{"Last-Modified: " + date(-10*time.Hour)},
	{"Last-Modified: " + date(-1000*time.Hour), "Cache-Control: public"},
	{"Last-Modified: " + date(time.Hour), "Date: " + date(0)},
	{"Last-Modified: garbage", "Date: " + date(0), "Etag: W/\"w\""},
	{"Date: " + date(-time.Hour), "Cache-Control: max-age=7200"},
	{"Date: " + date(time.Hour), "Cache-Control: max-age=7200"},
	{"Date: bad", "Cache-Control: max-age=7200", "Age: 10, 20"},
	{"Age: 99999999999999", "Cache-Control: max-age=100"},
	{"Age: -1", "Cache-Control: max-age=100", "Etag: bad"},
	{"Etag: \"a\"", "Last-Modified: " + date(-time.Hour), "Cache-Control: max-age=0"},
}

// requestHeaders are requests' fields for the same comparison.
var requestHeaders = [][]string{
	{},
	{"Cache-Control: no-cache"},
	{"Pragma: no-cache"},
	{"Cache-Control: max-age=0"},
	{"Cache-Control: max-age=100"},
	{"Cache-Control: max-stale"},
	{"Cache-Control: max-stale=100"},
	{"Cache-Control: min-fresh=100"},
	{"Cache-Control: stale-if-error=1000"},
	{"If-None-Match: \"a\", \"x\""},
	{"If-None-Match: *"},
	{"If-Match: \"x\""},
	{"If-Match: \"other\""},
	{"If-Modified-Since: " + date(-5*time.Hour)},
	{"If-Modified-Since: " + date(time.Hour)},
	{"If-Unmodified-Since: " + date(-20*time.Hour)},
	{"If-Unmodified-Since: " + date(time.Hour)},
}

// TestFactsAgree checks that every rule answers the same whether it parses
// the stored response's fields itself or reads its parsed Facts.
func TestFactsAgree(t *testing.T) {
	opts := []Options{{}, {HeuristicFraction: 0.5, HeuristicMax: time.Minute}}
	for _, stored := range storedHeaders {
		for _, status := range []int{200, 203, 404, 302, 500} {
			for _, rt := range []time.Time{t0, {}} {
				r := Response{Status: status, Header: hdr(t, stored...), RequestTime: t0.Add(-time.Second), ResponseTime: rt}
				for _, purged := range []struct {
					p  bool
					at time.Time
				}{{false, time.Time{}}, {true, time.Time{}}, {true, t0.Add(time.Minute)}} {
					r.Purged, r.PurgedAt = purged.p, purged.at
					for _, reqLines := range requestHeaders {
						req := getReq(t, reqLines...)
						for _, opt := range opts {
							compareFacts(t, req, r, opt)
						}
					}
				}
			}
		}
	}
}

// compareFacts fails t when a rule's answer for r differs with its Facts.
func compareFacts(t *testing.T, req *http.Request, r Response, opt Options) {
	t.Helper()
	r.Facts = nil
	withFacts := r
	withFacts.Facts = ParseFacts(r, Options{})
	for _, now := range []time.Time{t0, t0.Add(30 * time.Second), t0.Add(2 * time.Hour), t0.Add(-time.Hour), {}} {
		if a, b := Decide(req.Header, r, now, opt), Decide(req.Header, withFacts, now, opt); a != b {
			t.Fatalf("Decide(%v, %v, %v) = %+v, with Facts %+v", req.Header, r.Header, now, a, b)
		}
		if a, b := Age(r, now), Age(withFacts, now); a != b {
			t.Fatalf("Age(%v, %v) = %v, with Facts %v", r.Header, now, a, b)
		}
		if a, b := StaleIfError(req.Header, r, now, opt), StaleIfError(req.Header, withFacts, now, opt); a != b {
			t.Fatalf("StaleIfError(%v, %v, %v) = %v, with Facts %v", req.Header, r.Header, now, a, b)
		}
	}
	l1, h1 := Lifetime(r, opt)
	l2, h2 := Lifetime(withFacts, opt)
	if l1 != l2 || h1 != h2 {
		t.Fatalf("Lifetime(%v) = %v, %v, with Facts %v, %v", r.Header, l1, h1, l2, h2)
	}
	if a, b := Precondition(req, r), Precondition(req, withFacts); a != b {
		t.Fatalf("Precondition(%v, %v) = %v, with Facts %v", req.Header, r.Header, a, b)
	}
	if a, b := Produced(r), Produced(withFacts); !a.Equal(b) {
		t.Fatalf("Produced(%v) = %v, with Facts %v", r.Header, a, b)
	}
}

// FuzzFacts compares the rules with and without Facts for arbitrary
// stored and request fields.
func FuzzFacts(f *testing.F) {
	f.Add("max-age=60, stale-while-revalidate=30", "", "", date(0), "", "", "", `"x"`, "", `"x"`, "")
	f.Add("max-age=60", "max-age=10", "max-age=5", date(0), date(time.Hour), "5", date(-time.Hour), `W/"x"`, "max-stale", "", date(-time.Minute))
	f.Add("public", "", "", "Sunday, 06-Nov-94 08:49:37 GMT", "", "", "Sun Nov  6 08:49:37 1994", "", "min-fresh=10", "*", "")
	f.Fuzz(func(t *testing.T, cc, cdn, surrogate, dateField, expires, age, lm, etag, reqCC, inm, ims string) {
		h := http.Header{}
		for k, v := range map[string]string{"Cache-Control": cc, "Cdn-Cache-Control": cdn, "Surrogate-Control": surrogate,
			"Date": dateField, "Expires": expires, "Age": age, "Last-Modified": lm, "Etag": etag} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		req, err := http.NewRequest(http.MethodGet, "http://example.com/", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{"Cache-Control": reqCC, "If-None-Match": inm, "If-Modified-Since": ims} {
			if v != "" {
				req.Header[k] = []string{v}
			}
		}
		r := Response{Status: 200, Header: h, RequestTime: t0, ResponseTime: t0.Add(time.Second)}
		compareFacts(t, req, r, Options{})
		r.Purged, r.PurgedAt = true, t0.Add(time.Minute)
		compareFacts(t, req, r, Options{})
	})
}
