package edge

import (
	"fmt"
	"net/http"
	"testing"

	"edged/edge/policy"
)

// Conformance with tests/status.mjs, tests/vary.mjs, tests/vary-parse.mjs,
// tests/conditional-etag.mjs, tests/conditional-lm.mjs, tests/invalidation.mjs,
// tests/method.mjs, tests/partial.mjs and tests/update-head.mjs, for a
// shared cache.

// Status codes with explicit freshness: tests/status.mjs (RFC 9111 §3:
// any final status may be stored with explicit freshness).
func TestConformanceStatus(t *testing.T) {
	var cases []confCase
	for _, code := range []int{200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 499, 500, 502, 503, 504, 599} {
		body := str(fmt.Sprintf("status %d", code))
		if code == 204 {
			body = str("")
		}
		fresh := confCase{id: fmt.Sprintf("status-%d-fresh", code), rfc: "RFC 9111 §3, §4.2", kind: "optimal", steps: []clientStep{
			{resp: originStep{status: code, fields: freshFields(), body: body}},
			{expect: cached, status: code, wantBody: body},
		}}
		if policy.RequestErrorStatus(code) {
			fresh.note = "edged never stores 400, 413, 431: one client's oversized field must not answer every client (CPDoS, docs/security.md)"
			fresh.steps[1] = clientStep{resp: originStep{status: code, body: body}, expect: notCached, status: code}
		}
		cases = append(cases,
			fresh,
			confCase{id: fmt.Sprintf("status-%d-stale", code), rfc: "RFC 9111 §4.2", kind: "required", steps: []clientStep{
				{resp: originStep{status: code, fields: staleFields(), body: body}},
				{resp: originStep{status: code, body: body}, expect: notCached, status: code},
			}},
		)
	}
	runConformance(t, cases)
}

// Vary: tests/vary.mjs and tests/vary-parse.mjs (RFC 9111 §4.1).
func TestConformanceVary(t *testing.T) {
	vary := func(v ...string) []string {
		f := []string{"Expires", "@5000", "Last-Modified", "@-3000", "Date", "@0"}
		for _, s := range v {
			f = append(f, "Vary", s)
		}
		return f
	}
	pair := func(resp, req1, req2 []string, x expect) []clientStep {
		return []clientStep{{req: req1, resp: originStep{fields: resp}}, {req: req2, expect: x}}
	}
	foo1 := []string{"Foo", "1"}
	foo1baz := []string{"Foo", "1", "Baz", "789"}
	foo1bar := []string{"Foo", "1", "Bar", "abc"}
	foo1bar3 := []string{"Foo", "1", "Bar", "abc", "Baz", "789"}
	const sec = "RFC 9111 §4.1"
	cases := []confCase{
		{id: "vary-match", rfc: sec, kind: "optional", steps: pair(vary("Foo"), foo1, foo1, cached)},
		{id: "vary-no-match", rfc: sec, kind: "required", steps: pair(vary("Foo"), foo1, []string{"Foo", "2"}, notCached)},
		{id: "vary-omit", rfc: sec, kind: "required", steps: pair(vary("Foo"), foo1, nil, notCached)},
		{id: "vary-omit-stored", rfc: sec, kind: "required", steps: pair(vary("Foo"), nil, foo1, notCached)},
		{id: "vary-invalidate", rfc: sec, kind: "optional", steps: []clientStep{
			{req: foo1, resp: originStep{fields: vary("Foo"), body: str("foo_1")}},
			{req: []string{"Foo", "2"}, resp: originStep{fields: vary("Foo"), body: str("foo_2")}, expect: notCached},
			{req: foo1, expect: cached, wantBody: str("foo_1")},
		}},
		{id: "vary-cache-key", rfc: sec, kind: "optional", steps: pair(vary("Foo"), []string{"Foo", "1", "Other", "2"}, []string{"Foo", "1", "Other", "3"}, cached)},
		{id: "vary-2-match", rfc: sec, kind: "optional", steps: pair(vary("Foo, Bar"), foo1bar, foo1bar, cached)},
		{id: "vary-2-no-match", rfc: sec, kind: "required", steps: pair(vary("Foo, Bar"), foo1bar, []string{"Foo", "2", "Bar", "abc"}, notCached)},
		{id: "vary-2-match-omit", rfc: sec, kind: "required", steps: pair(vary("Foo, Bar"), foo1, nil, notCached)},
		{id: "vary-3-match", rfc: sec, kind: "optional", steps: pair(vary("Foo, Bar, Baz"), foo1bar3, foo1bar3, cached)},
		{id: "vary-3-no-match", rfc: sec, kind: "required", steps: pair(vary("Foo, Bar, Baz"), foo1bar3, []string{"Foo", "2", "Bar", "abc", "Baz", "789"}, notCached)},
		{id: "vary-3-order", rfc: sec, kind: "required", steps: pair(vary("Foo, Bar, Baz"), []string{"Foo", "1", "Bar", "abc4", "Baz", "789"}, foo1bar3, notCached)},
		{id: "vary-3-omit", rfc: sec, kind: "optional", steps: pair(vary("Foo, Bar, Baz"), foo1baz, foo1baz, cached)},
		{id: "vary-star", rfc: sec, kind: "required", steps: pair(vary("*"), foo1baz, []string{"*", "1", "Baz", "789"}, notCached)},
		{id: "vary-normalise-space", rfc: "RFC 9111 §4.1 (normalization)", kind: "optional", steps: pair(vary("Foo"), []string{"Foo", "1,2"}, []string{"Foo", " 1, 2 "}, cached)},
		{id: "vary-normalise-combine", rfc: "RFC 9111 §4.1, RFC 9110 §5.3", kind: "optional", steps: pair(vary("Foo"), []string{"Foo", "1, 2"}, []string{"Foo", "1", "Foo", "2"}, cached)},
		{id: "vary-normalise-lang-order", rfc: "RFC 9111 §4.1, RFC 9110 §12.4.2 (equal weights, equal preference)", kind: "optimal", steps: pair(vary("Accept-Language"), []string{"Accept-Language", "en, de"}, []string{"Accept-Language", "de, en"}, cached)},
		{id: "vary-normalise-lang-case", rfc: "RFC 9111 §4.1, RFC 4647 §2 (tags case-insensitive)", kind: "optimal", steps: pair(vary("Accept-Language"), []string{"Accept-Language", "en, de"}, []string{"Accept-Language", "eN, De"}, cached)},
		{id: "vary-normalise-lang-space", rfc: "RFC 9111 §4.1, RFC 9110 §5.6.1", kind: "optimal", steps: pair(vary("Accept-Language"), []string{"Accept-Language", "en, de"}, []string{"Accept-Language", " en ,   de"}, cached)},
		{id: "vary-normalise-lang-select", rfc: "RFC 9111 §4.1", kind: "optimal",
			note: "edged matches the normalized request fields, never the stored Content-Language against a new request's preferences: an origin may negotiate otherwise; a miss is allowed",
			steps: []clientStep{
				{req: []string{"Accept-Language", "en, de"}, resp: originStep{fields: append(vary("Accept-Language"), "Content-Language", "de")}},
				{req: []string{"Accept-Language", "fr;q=0.5, de;q=1.0"}, expect: notCached},
			}},
		{id: "vary-normalise-lang-weights (edged)", rfc: "RFC 9110 §12.4.2 (weights carry meaning)", kind: "required", steps: pair(vary("Accept-Language"), []string{"Accept-Language", "en;q=0.5, de"}, []string{"Accept-Language", "en, de;q=0.5"}, notCached)},
		{id: "vary-normalise-lang-qvalue-spelling (edged)", rfc: "RFC 9110 §12.4.2", kind: "optimal", steps: pair(vary("Accept-Language"), []string{"Accept-Language", "en;q=1.0, de;q=0.50"}, []string{"Accept-Language", "de;Q=0.5, en"}, cached)},
		{id: "vary-normalise-case (edged)", rfc: "RFC 9111 §4.1 (field names case-insensitive)", kind: "optional", steps: pair(vary("fOO"), foo1, foo1, cached)},
		{id: "vary-syntax-star", rfc: sec, kind: "required", steps: pair(vary("*"), foo1baz, foo1baz, notCached)},
		{id: "vary-syntax-star-star", rfc: sec, kind: "required", steps: pair(vary("*, *"), foo1baz, foo1baz, notCached)},
		{id: "vary-syntax-star-star-lines", rfc: sec, kind: "required", steps: pair(vary("*", "*"), foo1baz, foo1baz, notCached)},
		{id: "vary-syntax-empty-star", rfc: sec, kind: "required", steps: pair(vary(", *"), foo1baz, foo1baz, notCached)},
		{id: "vary-syntax-empty-star-lines", rfc: sec, kind: "required", steps: pair(vary("", "*"), foo1baz, foo1baz, notCached)},
		{id: "vary-syntax-star-foo", rfc: sec, kind: "required", steps: pair(vary("*, Foo"), foo1baz, foo1baz, notCached)},
		{id: "vary-syntax-foo-star", rfc: sec, kind: "required", steps: pair(vary("Foo, *"), foo1baz, foo1baz, notCached)},
	}
	runConformance(t, cases)
}

// Conditional requests: tests/conditional-etag.mjs and tests/conditional-lm.mjs
// (RFC 9111 §4.3, RFC 9110 §13).
func TestConformanceConditional(t *testing.T) {
	inm := func(etag, cond string, status int, x expect, extra ...string) []clientStep {
		return []clientStep{
			{resp: originStep{fields: freshFields(append([]string{"ETag", etag}, extra...)...)}},
			{req: []string{"If-None-Match", cond}, expect: x, status: status},
		}
	}
	ims := func(cc string, lm string, cond string, status int, x expect) []clientStep {
		return []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", cc, "Last-Modified", lm, "Date", "@0"}}, pause: true},
			{req: []string{"If-Modified-Since", cond}, expect: x, status: status},
		}
	}
	// noLM stores a fresh response without Last-Modified, with this Date,
	// then asks with If-Modified-Since (§4.3.2 cases 2 and 3).
	noLM := func(method, date, cond string, status int) []clientStep {
		return []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=10000", "Date", date}}, pause: true},
			{method: method, req: []string{"If-Modified-Since", cond}, expect: cached, status: status},
		}
	}
	cases := []confCase{
		{id: "conditional-etag-strong-respond", rfc: "RFC 9111 §4.3.2", kind: "optimal", steps: inm(`"abcdef"`, `"abcdef"`, 304, cached)},
		{id: "conditional-304-etag", rfc: "RFC 9111 §4.3.2, RFC 9110 §15.4.5", kind: "required", steps: []clientStep{
			{resp: originStep{fields: freshFields("ETag", `"abcdef"`)}},
			{req: []string{"If-None-Match", `"abcdef"`}, expect: cached, status: 304, headers: []string{"ETag", `"abcdef"`}},
		}},
		{id: "conditional-etag-precedence", rfc: "RFC 9110 §13.2.2", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Expires", "@100000", "Cache-Control", "max-age=100000", "Date", "@0", "Last-Modified", "@-5000", "ETag", `"abcdef"`}}},
			{req: []string{"If-None-Match", `"abcdef"`, "If-Modified-Since", "@-5001"}, expect: cached, status: 304},
		}},
		{id: "conditional-etag-strong-respond-obs-text", rfc: "RFC 9110 §8.8.3", kind: "check", steps: inm("\"abcdef\xc3\xbc\"", "\"abcdef\xc3\xbc\"", 304, cached)},
		{id: "conditional-etag-quoted-respond-unquoted", rfc: "RFC 9110 §8.8.3 (unquoted is invalid)", kind: "check", note: "an unquoted entity-tag is invalid: edged does not match it and serves the 200", steps: inm(`"abcdef"`, "abcdef", 200, cached)},
		{id: "conditional-etag-unquoted-respond-unquoted", rfc: "RFC 9110 §8.8.3", kind: "check", note: "as above", steps: inm("abcdef", "abcdef", 200, cached)},
		{id: "conditional-etag-unquoted-respond-quoted", rfc: "RFC 9110 §8.8.3", kind: "check", note: "as above", steps: inm("abcdef", `"abcdef"`, 200, cached)},
		{id: "conditional-etag-weak-respond", rfc: "RFC 9110 §13.1.2 (weak comparison)", kind: "optimal", steps: inm(`W/"abcdef"`, `W/"abcdef"`, 304, cached)},
		{id: "conditional-etag-weak-respond-lowercase", rfc: "RFC 9110 §8.8.3 (W/ is case-sensitive)", kind: "check", note: "w/ is not the weak prefix: invalid, no 304", steps: inm(`w/"abcdef"`, `w/"abcdef"`, 200, cached)},
		{id: "conditional-etag-weak-respond-backslash", rfc: "RFC 9110 §8.8.3", kind: "check", note: "invalid entity-tag, no 304", steps: inm(`W\"abcdef"`, `W\"abcdef"`, 200, cached)},
		{id: "conditional-etag-weak-respond-omit-slash", rfc: "RFC 9110 §8.8.3", kind: "check", note: "invalid entity-tag, no 304", steps: inm(`W"abcdef"`, `W"abcdef"`, 200, cached)},
		{id: "conditional-etag-strong-respond-multiple-first", rfc: "RFC 9110 §13.1.2", kind: "optimal", steps: inm(`"abcdef"`, `"abcdef", "1234", "5678"`, 304, cached)},
		{id: "conditional-etag-strong-respond-multiple-second", rfc: "RFC 9110 §13.1.2", kind: "optimal", steps: inm(`"abcdef"`, `"1234", "abcdef", "5678"`, 304, cached)},
		{id: "conditional-etag-strong-respond-multiple-last", rfc: "RFC 9110 §13.1.2", kind: "optimal", steps: inm(`"abcdef"`, `"1234", "5678", "abcdef"`, 304, cached)},
		{id: "conditional-etag-vary-headers", rfc: "RFC 9111 §4.3.1", kind: "required", steps: []clientStep{
			{req: []string{"Abc", "123"}, resp: originStep{fields: []string{"Expires", "@1", "ETag", `"abcdef"`, "Date", "@0", "Vary", "Abc"}}, pause: true},
			{req: []string{"Abc", "123"}, expect: etagValidated, reqHdrs: []string{"Abc", "123"}},
		}},
		{id: "conditional-etag-vary-headers-mismatch", rfc: "RFC 9111 §4.1, §4.3.1", kind: "check", steps: []clientStep{
			{req: []string{"Abc", "123"}, resp: originStep{fields: []string{"Expires", "@10000", "ETag", `"abcdef"`, "Date", "@0", "Vary", "Abc"}}, pause: true},
			{req: []string{"Abc", "456"}, expect: notCached, reqMiss: []string{"If-None-Match"}},
		}},
		{id: "conditional-etag-strong-generate", rfc: "RFC 9111 §4.3.1", kind: "optimal", steps: []clientStep{
			becomeStale("ETag", `"abcdef"`), {expect: etagValidated, reqHdrs: []string{"If-None-Match", `"abcdef"`}},
		}},
		{id: "conditional-etag-weak-generate-weak", rfc: "RFC 9111 §4.3.1", kind: "optimal", steps: []clientStep{
			becomeStale("ETag", `W/"abcdef"`), {expect: etagValidated, reqHdrs: []string{"If-None-Match", `W/"abcdef"`}},
		}},
		{id: "conditional-etag-strong-generate-unquoted", rfc: "RFC 9111 §4.3.1", kind: "check", note: "edged sends the stored (invalid) ETag as it is", steps: []clientStep{
			becomeStale("ETag", "abcdef"), {reqHdrs: []string{"If-None-Match", "abcdef"}},
		}},
		{id: "conditional-etag-forward", rfc: "RFC 9111 §4.3.1", kind: "check", note: "edged fetches a miss unconditionally so that it can store the full response, and answers the client's conditional itself", steps: []clientStep{
			{req: []string{"If-None-Match", `"abcdef"`}, expect: notCached, reqMiss: []string{"If-None-Match"}},
		}},
		{id: "conditional-lm-fresh", rfc: "RFC 9111 §4.3.2", kind: "optimal", steps: ims("max-age=100000", "@-3000", "@-3000", 304, cached)},
		{id: "conditional-lm-fresh-earlier", rfc: "RFC 9111 §4.3.2", kind: "optimal", steps: ims("max-age=100000", "@-3000", "@-2000", 304, cached)},
		{id: "conditional-lm-stale", rfc: "RFC 9111 §4.3.1, §4.3.2", kind: "optimal", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=2", "Last-Modified", "@-3000", "Date", "@0"}}, pause: true},
			{req: []string{"If-Modified-Since", "@-3003"}, expect: lmValidated, status: 304},
		}},
		{id: "conditional-lm-fresh-no-lm", rfc: "RFC 9111 §4.3.2 (compare with Date)", kind: "optimal",
			note:  "without Last-Modified, RFC 9111 §4.3.2 answers 304 only when the stored Date is earlier than or equal to If-Modified-Since; here Date is 3000 s later, so the resource may have changed after the client's copy and a 304 would tell it that copy is current: edged serves the stored 200",
			steps: noLM(http.MethodGet, "@0", "@-3000", 200)},
		{id: "conditional-lm-fresh-no-lm-date-earlier (edged)", rfc: "RFC 9111 §4.3.2 case 2 (Date earlier than If-Modified-Since)", kind: "optimal", steps: noLM(http.MethodGet, "@0", "@-1", 304)},
		{id: "conditional-lm-fresh-no-lm-date-equal (edged)", rfc: "RFC 9111 §4.3.2 case 2 (Date equal to If-Modified-Since)", kind: "optimal", steps: noLM(http.MethodGet, "@0", "@-3", 304)},
		{id: "conditional-lm-fresh-no-lm-head (edged)", rfc: "RFC 9111 §4.3.2 case 2, RFC 9110 §13.1.3 (GET and HEAD)", kind: "optimal", steps: noLM(http.MethodHead, "@0", "@-1", 304)},
		{id: "conditional-lm-fresh-no-lm-no-date (edged)", rfc: "RFC 9111 §4.3.2 case 3 (time received)", kind: "optimal", steps: noLM(http.MethodGet, "not a date", "@-1", 304)},
		{id: "conditional-lm-fresh-no-lm-no-date-earlier (edged)", rfc: "RFC 9111 §4.3.2 case 3 (time received)", kind: "optimal", steps: noLM(http.MethodGet, "not a date", "@-3000", 200)},
		{id: "conditional-lm-fresh-rfc850", rfc: "RFC 9110 §5.6.7 (rfc850-date accepted)", kind: "optimal", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=10000", "Last-Modified", "@-3000", "Date", "@0"}}, pause: true},
			{req: []string{"If-Modified-Since", "@rfc850:-3003"}, expect: cached, status: 304},
		}},
		{id: "conditional-lm-fresh-asctime (edged)", rfc: "RFC 9110 §5.6.7 (asctime-date accepted)", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=10000", "Last-Modified", "@-3000", "Date", "@0"}}, pause: true},
			{req: []string{"If-Modified-Since", "@asctime:-3003"}, expect: cached, status: 304},
		}},
	}
	runConformance(t, cases)
}

// Invalidation: tests/invalidation.mjs (RFC 9111 §4.4).
func TestConformanceInvalidation(t *testing.T) {
	var cases []confCase
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, "M-SEARCH"} {
		cases = append(cases,
			confCase{id: "invalidate-" + m, rfc: "RFC 9111 §4.4", kind: "required", steps: []clientStep{
				{resp: originStep{fields: freshFields()}},
				{method: m, reqBody: "abc"},
				{expect: notCached},
			}},
			confCase{id: "invalidate-" + m + "-failed", rfc: "RFC 9111 §4.4", kind: "optimal", steps: []clientStep{
				{resp: originStep{fields: freshFields()}},
				{method: m, reqBody: "abc", resp: originStep{status: 500}},
				{expect: cached},
			}},
			confCase{id: "invalidate-" + m + "-location", rfc: "RFC 9111 §4.4", kind: "required", steps: []clientStep{
				{path: "/location_target", resp: originStep{fields: freshFields()}},
				{method: m, reqBody: "abc", resp: originStep{fields: []string{"Location", "{base}/location_target", "Content-Location", "{base}/content_location_target"}}},
				{path: "/location_target", expect: notCached},
			}},
			confCase{id: "invalidate-" + m + "-cl", rfc: "RFC 9111 §4.4", kind: "required", steps: []clientStep{
				{path: "/content_location_target", resp: originStep{fields: []string{"Cache-Control", "max-age=100000", "Last-Modified", "@0", "Date", "@0"}}},
				{method: m, reqBody: "abc", resp: originStep{fields: []string{"Location", "{base}/location_target", "Content-Location", "{base}/content_location_target"}}},
				{path: "/content_location_target", expect: notCached},
			}},
		)
	}
	cases = append(cases, confCase{id: "invalidate-POST-location-relative (edged)", rfc: "RFC 9111 §4.4, RFC 9110 §10.2.2 (relative reference)", kind: "required", steps: []clientStep{
		{path: "/dir/location_target", resp: originStep{fields: freshFields()}},
		{path: "/dir/x", method: http.MethodPost, reqBody: "abc", resp: originStep{fields: []string{"Location", "location_target"}}},
		{path: "/dir/location_target", expect: notCached},
	}})
	runConformance(t, cases)
}

// Methods, partial content and HEAD: tests/method.mjs, tests/partial.mjs
// and tests/update-head.mjs.
func TestConformanceMethodPartialHead(t *testing.T) {
	runConformance(t, []confCase{
		{id: "method-POST", rfc: "RFC 9111 §3, §4.4", kind: "optimal", note: "edged does not cache POST responses (deliberate); the POST also invalidates the URL", steps: []clientStep{
			{method: http.MethodPost, reqBody: "12345", req: []string{"Content-Type", "text/plain"}, resp: originStep{fields: []string{"Expires", "@2592000", "Content-Location", "{base}/t", "Date", "@0"}}, pause: true},
			{expect: notCached},
		}},
		{id: "partial-store-complete-reuse-partial", rfc: "RFC 9110 §14.2, RFC 9111 §3.4", kind: "optimal", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600"}, body: str("01234567890")}},
			{req: []string{"Range", "bytes=0-1"}, expect: cached, status: 206, wantBody: str("01")},
		}},
		{id: "partial-store-complete-reuse-partial-no-last", rfc: "RFC 9110 §14.1.2", kind: "optimal", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600"}, body: str("01234567890")}},
			{req: []string{"Range", "bytes=1-"}, expect: cached, status: 206, wantBody: str("1234567890")},
		}},
		{id: "partial-store-complete-reuse-partial-suffix", rfc: "RFC 9110 §14.1.2", kind: "optimal", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600"}, body: str("0123456789A")}},
			{req: []string{"Range", "bytes=-1"}, expect: cached, status: 206, wantBody: str("A")},
		}},
		{id: "partial-store-partial-reuse-partial", rfc: "RFC 9111 §3.3 (optional)", kind: "optimal",
			note: "without cache.slice edged never stores partial content and fills a ranged miss with a full GET (Range not forwarded); the suite's server answers 206 anyway, which edged passes through. With cache.slice edged stores the slices it asks for and reuses them (TestSliceRangeInTheMiddle), but this server answers bytes 4-9 to any Range, which a slice fetch refuses (502, TestSliceBadContentRange)",
			steps: []clientStep{
				{req: []string{"Range", "bytes=-5"}, resp: originStep{status: 206, fields: []string{"Cache-Control", "max-age=3600", "Content-Range", "bytes 4-9/10"}, body: str("01234")}, reqMiss: []string{"Range"}},
				{req: []string{"Range", "bytes=-5"}, expect: notCached},
			}},
		{id: "partial-use-stored-headers", rfc: "RFC 9111 §3.4, RFC 9110 §14.2", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=3600", "A", "1"}, body: str("01234567890")}},
			{req: []string{"Range", "bytes=0-1"}, expect: cached, status: 206, wantBody: str("01"), headers: []string{"A", "1"}},
		}},
		{id: "head-writethrough", rfc: "RFC 9110 §9.3.2", kind: "check", note: "edged fills HEAD misses and revalidations with GET (deliberate)", steps: []clientStep{
			becomeStale(), {method: http.MethodHead, expect: notCached},
		}},
		{id: "head-200-freshness-update", rfc: "RFC 9111 §4.3.5", kind: "check", note: "the refresh is a GET, whose 200 replaces the stored response", steps: []clientStep{
			becomeStale(), {method: http.MethodHead, resp: originStep{fields: []string{"Cache-Control", "max-age=1000"}}}, {expect: cached},
		}},
		{id: "head-200-update", rfc: "RFC 9111 §4.3.5", kind: "check", steps: []clientStep{
			becomeStale(), {method: http.MethodHead, resp: originStep{fields: []string{"Template-A", "2", "Cache-Control", "max-age=1000"}}}, {expect: cached, headers: []string{"Template-A", "2"}},
		}},
	})
}
