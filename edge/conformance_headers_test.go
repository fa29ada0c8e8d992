package edge

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Conformance with tests/headers.mjs, tests/uncached.mjs, tests/update304.mjs
// (with tests/header-list.mjs), tests/other.mjs, tests/stale.mjs and
// tests/cc-stale.mjs, for a shared cache.

// Storing header fields: tests/uncached.mjs and tests/headers.mjs.
func TestConformanceStoreHeaders(t *testing.T) {
	var cases []confCase
	for _, h := range []struct {
		name, value string
		stored      bool
		note        string
	}{
		{"Test-Header", "v", true, ""},
		{"X-Test-Header", "v", true, ""},
		{"Content-Type", "text/plain", true, ""},
		{"X-Frame-Options", "deny", true, ""},
		{"X-XSS-Protection", "1", true, ""},
		{"Clear-Site-Data", "cookies", true, ""},
		{"Public-Key-Pins", "v", true, ""},
		{"Strict-Transport-Security", "max-age=1", true, ""},
		{"Strict-Transport-Security2", "v", true, ""},
		{"WWW-Authenticate", "Basic", true, ""},
		// Hop-by-hop and proxy fields are not stored (RFC 9111 §3.1).
		{"Proxy-Authenticate", "Basic", false, "RFC 9111 §3.1: proxy authentication fields are not stored"},
		{"Proxy-Connection", "v", false, "RFC 9111 §3.1, RFC 9110 §7.6.1: hop-by-hop"},
		{"Upgrade", "v", false, "RFC 9110 §7.6.1: hop-by-hop"},
		// Set-Cookie2 is obsolete (RFC 6265) and stored as an ordinary field;
		// only Set-Cookie is kept out of stored responses (policy.Storable).
		{"Set-Cookie2", "a=b", true, ""},
	} {
		for _, v := range []struct{ kind, name, value string }{{"lm", "Last-Modified", "@-86400"}, {"etag", "ETag", `"abc"`}} {
			step := clientStep{expect: cached}
			if h.stored {
				step.headers = []string{h.name, h.value}
			} else {
				step.missing = []string{h.name}
			}
			cases = append(cases, confCase{id: fmt.Sprintf("uncached-%s-store-%s", v.kind, h.name), rfc: "RFC 9111 §3.1", kind: "required", note: h.note, steps: []clientStep{
				{resp: originStep{fields: []string{"Cache-Control", "max-age=3600", "Date", "@0", v.name, v.value, h.name, h.value}}, pause: true},
				step,
			}})
		}
	}
	// edged stores a response with Set-Cookie only when public or s-maxage
	// (deliberate); the suite's store-Set-Cookie case is then not cached.
	cases = append(cases, confCase{id: "uncached-etag-store-Set-Cookie", rfc: "RFC 9111 §3.1, edged's Set-Cookie rule", kind: "required",
		note: "edged refuses to store a response with Set-Cookie unless public/s-maxage (deliberate)", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600", "Date", "@0", "ETag", `"abc"`, "Set-Cookie", "a=b"}}, pause: true},
			{expect: notCached},
		}},
		confCase{id: "uncached-etag-store-Set-Cookie (public)", rfc: "edged's Set-Cookie rule", kind: "edged",
			note: "stored when public, but the cookie is never stored", steps: []clientStep{
				{resp: originStep{fields: []string{"Cache-Control", "max-age=3600, public", "Date", "@0", "ETag", `"abc"`, "Set-Cookie", "a=b"}}, pause: true},
				{expect: cached, missing: []string{"Set-Cookie"}},
			}},
		confCase{id: "headers-omit-headers-listed-in-Connection", rfc: "RFC 9110 §7.6.1, RFC 9111 §3.1", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Connection", "a, b", "a", "1", "b", "2", "c", "3", "Cache-Control", "max-age=3600", "Date", "@0"}}, pause: true},
			{expect: cached, headers: []string{"c", "3"}, missing: []string{"Connection", "a", "b"}},
		}},
		confCase{id: "uncached-etag-omit-headers-listed-in-Cache-Control-no-cache", rfc: "RFC 9111 §5.2.2.4", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600", "Date", "@0", "ETag", `"abc"`, "Cache-Control", `no-cache="a, b"`, "a", "1", "b", "2", "c", "3"}}, pause: true, headers: []string{"a", "1", "b", "2"}},
			{expect: cached, headers: []string{"c", "3"}, missing: []string{"a", "b"}},
		}},
	)
	runConformance(t, cases)
}

// Header updates from a 304: tests/update304.mjs and tests/header-list.mjs
// (RFC 9111 §3.2, §4.3.4).
func TestConformanceUpdate304(t *testing.T) {
	var cases []confCase
	makeResp := func(name, value, vname, vvalue string, life int) []string {
		cc := []string{"Cache-Control", fmt.Sprintf("max-age=%d", life)}
		if name == "Cache-Control" {
			cc = []string{"A", "b"}
		}
		return append(cc, "Date", "@0", vname, vvalue, name, value)
	}
	for _, h := range []struct{ name, a, b string }{
		{"Test-Header", "A", "B"}, {"X-Test-Header", "A", "B"}, {"Content-Foo", "A", "B"}, {"X-Content-Foo", "A", "B"},
		{"Content-Type", "text/plain", "text/plain;charset=utf-8"},
		{"Content-MD5", "rL0Y20zC+Fzt72VPzMSk2A==", "N7UdGUp1E+RbVvZSTy1R8g=="},
		{"Content-Location", "/foo", "/bar"},
		{"Content-Security-Policy", "default-src 'self'", "default-src 'self' cdn.example.com"},
		{"X-Frame-Options", "deny", "sameorigin"}, {"X-XSS-Protection", "1", "1; mode=block"},
		{"Cache-Control", "max-age=1", "max-age=3600"},
		{"Expires", "@1", "@3600"},
		{"Clear-Site-Data", "cache", "cookies"}, {"Public-Key-Pins", "A", "B"},
	} {
		want := h.b
		if n, err := strconv.Atoi(strings.TrimPrefix(want, "@")); err == nil && want[0] == '@' {
			// A date the origin made relative to when it answered: the
			// 304 comes after the first step's pause, and expected dates
			// count from the case's start.
			want = fmt.Sprintf("@%d", n+int(pause/time.Second))
		}
		for _, v := range []struct {
			kind, name, value string
			x                 expect
		}{{"lm", "Last-Modified", "@-86400", lmValidated}, {"etag", "ETag", `"etag-1"`, etagValidated}} {
			a := makeResp(h.name, h.a, v.name, v.value, 1)
			b := makeResp(h.name, h.b, v.name, v.value, 3600)
			if v.name == "Last-Modified" {
				// The validator must be the same instant in both responses.
				a[len(a)-3], b[len(b)-3] = "@-86400", "@-86403"
			}
			respHdrs, storedHdrs := []string(nil), []string(nil)
			if want != "" {
				respHdrs, storedHdrs = []string{h.name, want}, []string{h.name, want}
			}
			cases = append(cases,
				confCase{id: fmt.Sprintf("304-%s-update-response-%s", v.kind, h.name), rfc: "RFC 9111 §4.3.4, §3.2", kind: "required", steps: []clientStep{
					{resp: originStep{fields: a}, pause: true},
					{resp: originStep{fields: b}, expect: v.x, headers: respHdrs},
				}},
				confCase{id: fmt.Sprintf("304-%s-update-stored-%s", v.kind, h.name), rfc: "RFC 9111 §4.3.4, §3.2", kind: "required", steps: []clientStep{
					{resp: originStep{fields: a}, pause: true},
					{resp: originStep{fields: b}, expect: v.x, pause: true},
					{expect: cached, headers: storedHdrs},
				}},
			)
		}
	}
	cases = append(cases,
		confCase{id: "304-lm-use-stored-Test-Header", rfc: "RFC 9111 §4.3.4", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=1", "Last-Modified", "@-86400", "Date", "@0", "Test-Header", "A"}}, pause: true},
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600", "Last-Modified", "@-86403", "Date", "@0"}}, expect: lmValidated, headers: []string{"Test-Header", "A"}},
		}},
		// Set-Cookie: edged does not store the first response (deliberate).
		confCase{id: "304-etag-update-response-Set-Cookie", rfc: "edged's Set-Cookie rule", kind: "required",
			note: "edged refuses to store a response with Set-Cookie unless public/s-maxage, so there is nothing to validate", steps: []clientStep{
				{resp: originStep{fields: makeResp("Set-Cookie", "a=b", "ETag", `"e"`, 1)}, pause: true},
				{resp: originStep{fields: makeResp("Set-Cookie", "a=c", "ETag", `"e"`, 3600)}, expect: notCached, headers: []string{"Set-Cookie", "a=c"}, reqMiss: []string{"If-None-Match"}},
			}},
		// header-list.mjs noUpdate: Content-Length is never updated from a
		// 304 (RFC 9111 §3.2), and hop-by-hop fields in a 304 are not stored.
		confCase{id: "304-etag-update-stored-Content-Length (noUpdate)", rfc: "RFC 9111 §3.2", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=1", "ETag", `"e"`}, body: str("12345")}, pause: true},
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600", "ETag", `"e"`, "Content-Length", "10"}}, expect: etagValidated, headers: []string{"Content-Length", "5"}, wantBody: str("12345"), pause: true},
			{expect: cached, headers: []string{"Content-Length", "5"}, wantBody: str("12345")},
		}},
		confCase{id: "304-etag-update-stored-Upgrade (noStore)", rfc: "RFC 9111 §3.1, §3.2", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=1", "ETag", `"e"`}}, pause: true},
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600", "ETag", `"e"`, "Upgrade", "x", "Proxy-Authenticate", "y"}}, expect: etagValidated, pause: true},
			{expect: cached, missing: []string{"Upgrade", "Proxy-Authenticate"}},
		}},
	)
	runConformance(t, cases)
}

// Age, Date, query keys, cookies: tests/other.mjs.
func TestConformanceOther(t *testing.T) {
	runConformance(t, []confCase{
		{id: "other-age-gen", rfc: "RFC 9111 §5.1, §4", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Expires", "@2592000", "Date", "@0"}}, pause: true},
			{expect: cached, headers: []string{"Age", ">2"}},
		}},
		{id: "other-age-update-expires", rfc: "RFC 9111 §4.2.3", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Expires", "@2592000", "Date", "@0", "Age", "30"}}, pause: true},
			{expect: cached, headers: []string{"Age", ">32"}},
		}},
		{id: "other-age-update-max-age", rfc: "RFC 9111 §4.2.3", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=600", "Date", "@0", "Age", "30"}}, pause: true},
			{expect: cached, headers: []string{"Age", ">32"}},
		}},
		{id: "other-date-update", rfc: "RFC 9110 §6.6.1", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Expires", "@2592000", "Date", "@0"}}, pause: true},
			{expect: cached, headers: []string{"Date", "@0"}},
		}},
		{id: "other-date-update-expires", rfc: "RFC 9110 §6.6.1", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Expires", "@2592000", "Date", "@0"}}, pause: true},
			{expect: cached, headers: []string{"Date", "@0"}},
		}},
		{id: "other-date-update-expires-update", rfc: "RFC 9111 §5.3", kind: "check", steps: []clientStep{
			{resp: originStep{fields: []string{"Expires", "@2592000", "Date", "@0"}}, pause: true},
			{expect: cached, headers: []string{"Expires", "@2592000"}},
		}},
		{id: "query-args-different", rfc: "RFC 9111 §2", kind: "required", steps: []clientStep{
			{query: "test=1", resp: originStep{fields: freshFields()}},
			{query: "test=2", expect: notCached},
		}},
		{id: "query-args-same", rfc: "RFC 9111 §2", kind: "optimal", steps: []clientStep{
			{query: "test=1", resp: originStep{fields: freshFields()}},
			{query: "test=1", expect: cached},
		}},
		{id: "other-heuristic-content-disposition-attachment", rfc: "RFC 9111 §4.2.2", kind: "check", steps: twoStepNoPause([]string{"Last-Modified", "@-100000", "Date", "@0", "Content-Disposition", "attachment; filename=example.txt"}, cached)},
		{id: "other-fresh-content-disposition-attachment", rfc: "RFC 9111 §4.2", kind: "check", steps: twoStepNoPause([]string{"Cache-Control", "max-age=3600", "Content-Disposition", "attachment; filename=example.txt"}, cached)},
		{id: "other-set-cookie", rfc: "RFC 9111 §3 (edged's Set-Cookie rule)", kind: "optimal", note: "edged refuses to store a response with Set-Cookie unless public/s-maxage (deliberate)", steps: twoStepNoPause([]string{"Cache-Control", "max-age=3600", "Set-Cookie", "a=b"}, notCached)},
		{id: "other-cookie", rfc: "RFC 9111 §4", kind: "optimal", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600"}}},
			{req: []string{"Cookie", "a=b"}, expect: cached},
		}},
	})
}

// Serving stale: tests/stale.mjs and tests/cc-stale.mjs (RFC 9111 §4.2.4,
// RFC 5861).
func TestConformanceStale(t *testing.T) {
	staleCC := func(cc string) []clientStep {
		return []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=2, " + cc}}, pause: true},
			{resp: originStep{disconnect: true}, expect: notCached, status: 502},
		}
	}
	runConformance(t, []confCase{
		// Checks: edged serves stale on errors only with stale-if-error.
		{id: "stale-close", rfc: "RFC 9111 §4.2.4", kind: "check", note: "edged serves stale on failure only with stale-if-error", steps: []clientStep{becomeStale(), {resp: originStep{disconnect: true}, expect: notCached, status: 502}}},
		{id: "stale-503", rfc: "RFC 9111 §4.2.4", kind: "check", note: "as above", steps: []clientStep{becomeStale(), {resp: originStep{status: 503}, expect: notCached, status: 503}}},
		{id: "stale-sie-close", rfc: "RFC 5861 §4", kind: "check", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=2, stale-if-error=60"}}, pause: true},
			{resp: originStep{disconnect: true}, status: 200, wantBody: str("response 0")},
		}},
		{id: "stale-sie-503", rfc: "RFC 5861 §4", kind: "check", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=2, stale-if-error=60"}}, pause: true},
			{resp: originStep{status: 503}, status: 200, wantBody: str("response 0")},
		}},
		{id: "stale-close-must-revalidate", rfc: "RFC 9111 §5.2.2.2", kind: "required", steps: staleCC("must-revalidate")},
		{id: "stale-close-proxy-revalidate", rfc: "RFC 9111 §5.2.2.8", kind: "required", steps: staleCC("proxy-revalidate")},
		{id: "stale-close-no-cache", rfc: "RFC 9111 §5.2.2.4", kind: "required", steps: staleCC("no-cache")},
		{id: "stale-close-s-maxage=2", rfc: "RFC 9111 §5.2.2.10", kind: "required", steps: staleCC("s-maxage=2")},
		// cc-stale.mjs (RFC 5861).
		{id: "stale-while-revalidate", rfc: "RFC 5861 §3", kind: "optimal", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=0, stale-while-revalidate=3600", "ETag", `"abc"`}}},
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600", "ETag", `"def"`}}, settle: true, pause: true,
				headers: []string{"Cache-Control", "max-age=0, stale-while-revalidate=3600", "ETag", `"abc"`}},
			{expect: cached, headers: []string{"Cache-Control", "max-age=3600", "ETag", `"def"`}},
		}},
		// stale.mjs (required): the background revalidation's answer
		// (no-cache) replaces the stored response, so the next request,
		// past the window, goes upstream.
		{id: "stale-while-revalidate-window", rfc: "RFC 5861 §3, RFC 9111 §5.2.2.4", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=1, stale-while-revalidate=4", "ETag", `"abc"`}}, pause: true},
			{resp: originStep{fields: []string{"Cache-Control", "no-cache", "ETag", `"def"`}}, wantBody: str("response 0"), settle: true, pause: true}, // served stale; the refresh asked upstream
			{expect: notCached, wantBody: str("response 2")},
		}},
		{id: "stale-if-error-cc-response", rfc: "RFC 5861 §4", kind: "check", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=0, stale-if-error=3600"}}},
			{resp: originStep{status: 500}, status: 200},
		}},
		{id: "stale-if-error-cc-response-expired", rfc: "RFC 5861 §4", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=0, stale-if-error=1"}}, pause: true},
			{resp: originStep{status: 500}, status: 500},
		}},
		{id: "stale-if-error-cc-request", rfc: "RFC 5861 §4", kind: "check", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=0"}}},
			{req: []string{"Cache-Control", "stale-if-error=3600"}, resp: originStep{status: 500}, status: 200},
		}},
		{id: "stale-if-error-cc-request-expired", rfc: "RFC 5861 §4", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=0"}}, pause: true},
			{req: []string{"Cache-Control", "stale-if-error=1"}, resp: originStep{status: 500}, status: 500},
		}},
		{id: "other-warning / stale-warning-*", rfc: "RFC 9111 §5.5 (Warning obsoleted)", kind: "check", note: "Warning is obsolete in RFC 9111; edged sends none", steps: []clientStep{
			{resp: originStep{fields: staleFields()}},
			{missing: []string{"Warning"}},
		}},
	})
}
