package policy

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// t0 is the fixed clock of the tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// hdr builds a header from "Name: value" lines; repeated names make
// several field lines.
func hdr(tb testing.TB, lines ...string) http.Header {
	tb.Helper()
	h := http.Header{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			tb.Fatalf("bad header line %q", l)
		}
		h.Add(k, strings.TrimSpace(v))
	}
	return h
}

// date formats t0+d as an HTTP-date.
func date(d time.Duration) string { return t0.Add(d).Format(http.TimeFormat) }

// resp builds a 200 response received at t0 (request sent at t0).
func resp(tb testing.TB, lines ...string) Response {
	tb.Helper()
	return Response{Status: 200, Header: hdr(tb, lines...), RequestTime: t0, ResponseTime: t0}
}

func getReq(tb testing.TB, lines ...string) *http.Request {
	tb.Helper()
	r, err := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	if err != nil {
		tb.Fatal(err)
	}
	r.Header = hdr(tb, lines...)
	return r
}
