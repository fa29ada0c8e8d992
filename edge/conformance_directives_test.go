package edge

import "testing"

// Conformance with tests/cc-response.mjs, tests/authorization.mjs,
// tests/cc-request.mjs, tests/pragma.mjs, tests/cdn-cache-control.mjs and
// tests/surrogate-control.mjs, for a shared cache.

// Response directives: tests/cc-response.mjs.
func TestConformanceCCResponse(t *testing.T) {
	noStoreThen := func(second string) []clientStep {
		return []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=10000", "Expires", "@10000", "Date", "@0", "A", "1"}}, pause: true},
			{resp: originStep{fields: []string{"Cache-Control", second, "Date", "@0", "A", "2"}}, pause: true},
			{expect: cached, headers: []string{"A", "1"}},
		}
	}
	runConformance(t, []confCase{
		{id: "cc-resp-private-shared", rfc: "RFC 9111 §5.2.2.7", kind: "required", steps: twoStepNoPause([]string{"Cache-Control", "private, max-age=3600"}, notCached)},
		{id: "cc-resp-no-store", rfc: "RFC 9111 §5.2.2.5", kind: "required", steps: twoStepNoPause([]string{"Cache-Control", "no-store"}, notCached)},
		{id: "cc-resp-no-store-case-insensitive", rfc: "RFC 9111 §5.2", kind: "required", steps: twoStepNoPause([]string{"Cache-Control", "No-StOrE"}, notCached)},
		{id: "cc-resp-no-store-fresh", rfc: "RFC 9111 §5.2.2.5", kind: "required", steps: twoStepNoPause([]string{"Cache-Control", "max-age=10000, no-store", "Expires", "@10000", "Date", "@0"}, notCached)},
		{id: "cc-resp-no-store-old-new", rfc: "RFC 9111 §5.2.2.5 (a no-store response leaves the stored one)", kind: "required", steps: noStoreThen("no-store")},
		{id: "cc-resp-no-store-old-max-age", rfc: "RFC 9111 §5.2.2.5", kind: "required", steps: noStoreThen("no-store, max-age=0")},
		{id: "cc-resp-no-cache", rfc: "RFC 9111 §5.2.2.4", kind: "required", steps: twoStepNoPause([]string{"Cache-Control", "max-age=10000, no-cache", "Expires", "@10000", "Date", "@0"}, notCached)},
		{id: "cc-resp-no-cache-case-insensitive", rfc: "RFC 9111 §5.2", kind: "required", steps: twoStepNoPause([]string{"Cache-Control", "max-age=10000, No-CaChE", "Expires", "@10000", "Date", "@0"}, notCached)},
		{id: "cc-resp-no-cache-revalidate", rfc: "RFC 9111 §5.2.2.4", kind: "optimal", steps: twoStepNoPause([]string{"Cache-Control", "no-cache", "ETag", `"abcd"`}, etagValidated)},
		{id: "cc-resp-no-cache-revalidate-fresh", rfc: "RFC 9111 §5.2.2.4", kind: "optimal", steps: twoStepNoPause([]string{"Cache-Control", "max-age=10000, no-cache", "Expires", "@10000", "Date", "@0", "ETag", `"abcd"`}, etagValidated)},
		// Qualified no-cache: RFC 9111 §5.2.2.4 lets a cache store the
		// response without the named fields and reuse it; edged does.
		{id: "headers-omit-headers-listed-in-Cache-Control-no-cache-single", rfc: "RFC 9111 §5.2.2.4", kind: "check", steps: []clientStep{
			// The suite's server-state check: the response that came from the
			// origin reaches its client whole (§5.2.2.4 limits reuse only).
			{resp: originStep{fields: []string{"Cache-Control", `no-cache="a"`, "a", "1", "b", "2", "Cache-Control", "max-age=3600", "Date", "@0"}}, pause: true, headers: []string{"a", "1"}},
			{expect: cached, headers: []string{"b", "2"}, missing: []string{"a"}},
		}},
		{id: "headers-omit-headers-listed-in-Cache-Control-no-cache", rfc: "RFC 9111 §5.2.2.4", kind: "check", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", `no-cache="a, b"`, "a", "1", "b", "2", "c", "3", "Cache-Control", "max-age=3600", "Date", "@0"}}, pause: true, headers: []string{"a", "1", "b", "2"}},
			{expect: cached, headers: []string{"c", "3"}, missing: []string{"a", "b"}},
		}},
		// Qualified private (RFC 9111 §5.2.2.7): a shared cache must not
		// store the named fields, but may store the rest.
		{id: "cc-resp-private-qualified (edged)", rfc: "RFC 9111 §5.2.2.7", kind: "required", steps: []clientStep{
			// The listed fields are the requesting user's: they reach that
			// user, and only the rest is stored for others.
			{resp: originStep{fields: []string{"Cache-Control", `private="a", max-age=3600`, "a", "1", "b", "2"}}, pause: true, headers: []string{"a", "1"}},
			{expect: cached, headers: []string{"b", "2"}, missing: []string{"a"}},
		}},
		{id: "cc-resp-must-revalidate-fresh", rfc: "RFC 9111 §5.2.2.2", kind: "optimal", steps: twoStepNoPause([]string{"Cache-Control", "max-age=10000, must-revalidate", "ETag", `"abcd"`}, cached)},
		{id: "cc-resp-must-revalidate-stale", rfc: "RFC 9111 §5.2.2.2", kind: "required", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=2, must-revalidate", "ETag", `"abcd"`}}},
			{resp: originStep{fields: []string{"Cache-Control", "max-age=2, must-revalidate", "ETag", `"abcd"`}}, expect: cached, pause: true},
			{expect: etagValidated},
		}},
		// must-understand (RFC 9111 §5.2.2.3): a cache that understands the
		// status ignores no-store; with an unknown status it must not store.
		{id: "cc-resp-must-understand-200 (current suite)", rfc: "RFC 9111 §5.2.2.3", kind: "optimal", steps: twoStep([]string{"Cache-Control", "must-understand, no-store, max-age=3600"}, cached)},
		{id: "cc-resp-must-understand-unknown-status (current suite)", rfc: "RFC 9111 §5.2.2.3", kind: "required", steps: []clientStep{
			{resp: originStep{status: 299, fields: []string{"Cache-Control", "must-understand, no-store, max-age=3600"}}, pause: true},
			{resp: originStep{status: 299}, expect: notCached},
		}},
		{id: "status-599-must-understand", rfc: "RFC 9111 §5.2.2.3", kind: "required", steps: []clientStep{
			{resp: originStep{status: 599, fields: []string{"Cache-Control", "max-age=3600, no-store, must-understand"}}},
			{resp: originStep{status: 599}, expect: notCached},
		}},
		{id: "cc-resp-must-understand-no-store-absent (edged)", rfc: "RFC 9111 §5.2.2.3", kind: "optional", steps: twoStep([]string{"Cache-Control", "must-understand, max-age=3600"}, cached)},
	})
}

// Authorization: tests/authorization.mjs (RFC 9111 §3.5).
func TestConformanceAuthorization(t *testing.T) {
	auth := func(cc []string, x expect) []clientStep {
		return []clientStep{
			{req: []string{"Authorization", "FOO"}, reqHdrs: []string{"Authorization", "FOO"}, resp: originStep{fields: cc}, pause: true},
			{expect: x},
		}
	}
	runConformance(t, []confCase{
		{id: "other-authorization", rfc: "RFC 9111 §3.5", kind: "required", steps: auth([]string{"Expires", "@2592000", "Date", "@0"}, notCached)},
		{id: "other-authorization-public", rfc: "RFC 9111 §3.5, §5.2.2.9", kind: "optimal", steps: auth([]string{"Cache-Control", "max-age=3600, public", "Date", "@0"}, cached)},
		{id: "other-authorization-must-revalidate", rfc: "RFC 9111 §3.5, §5.2.2.2", kind: "optimal", steps: auth([]string{"Cache-Control", "max-age=3600, must-revalidate", "Date", "@0"}, cached)},
		{id: "other-authorization-smaxage", rfc: "RFC 9111 §3.5, §5.2.2.10", kind: "optimal", steps: auth([]string{"Cache-Control", "s-maxage=3600", "Date", "@0"}, cached)},
	})
}

// Request directives: tests/cc-request.mjs (all checks) and tests/pragma.mjs.
func TestConformanceCCRequest(t *testing.T) {
	req := func(resp []string, pause bool, reqCC string, x expect) []clientStep {
		return []clientStep{{resp: originStep{fields: resp}, pause: pause}, {req: []string{"Cache-Control", reqCC}, expect: x}}
	}
	runConformance(t, []confCase{
		{id: "ccreq-ma0", rfc: "RFC 9111 §5.2.1.1", kind: "check", steps: req(freshFields(), true, "max-age=0", notCached)},
		{id: "ccreq-ma1", rfc: "RFC 9111 §5.2.1.1", kind: "check", steps: req(freshFields(), true, "max-age=1", notCached)},
		{id: "ccreq-magreaterage", rfc: "RFC 9111 §5.2.1.1", kind: "check", steps: req([]string{"Cache-Control", "max-age=3600", "Age", "1800"}, false, "max-age=600", notCached)},
		{id: "ccreq-max-stale", rfc: "RFC 9111 §5.2.1.2", kind: "check", steps: req([]string{"Cache-Control", "max-age=1"}, true, "max-stale=1000", cached)},
		{id: "ccreq-max-stale-age", rfc: "RFC 9111 §5.2.1.2", kind: "check", steps: req([]string{"Cache-Control", "max-age=1500", "Age", "2000"}, false, "max-stale=1000", cached)},
		{id: "ccreq-min-fresh", rfc: "RFC 9111 §5.2.1.3", kind: "check", steps: req([]string{"Cache-Control", "max-age=1500"}, false, "min-fresh=2000", notCached)},
		{id: "ccreq-min-fresh-age", rfc: "RFC 9111 §5.2.1.3", kind: "check", steps: req([]string{"Cache-Control", "max-age=1500", "Age", "1000"}, false, "min-fresh=1000", notCached)},
		{id: "ccreq-no-cache", rfc: "RFC 9111 §5.2.1.4", kind: "check", steps: req([]string{"Cache-Control", "max-age=3600"}, false, "no-cache", notCached)},
		// A request's no-store bars storing the response to it (§5.2.1.5);
		// it says nothing of what is stored already, so one client cannot
		// evict a fresh response every other client is served.
		{id: "ccreq-no-store-keeps-stored (edged)", rfc: "RFC 9111 §5.2.1.5", kind: "edged", steps: append(req(freshFields(), false, "no-cache, no-store", notCached), clientStep{expect: cached})},
		{id: "ccreq-no-store-keeps-stored-304 (edged)", rfc: "RFC 9111 §5.2.1.5, §4.3.4", kind: "edged", steps: append(req(freshFields("ETag", `"a"`), false, "no-cache, no-store", etagValidated), clientStep{expect: cached})},
		{id: "ccreq-no-cache-lm", rfc: "RFC 9111 §5.2.1.4", kind: "check", steps: req([]string{"Cache-Control", "max-age=3600", "Last-Modified", "@-10000", "Date", "@0"}, false, "no-cache", lmValidated)},
		{id: "ccreq-no-cache-etag", rfc: "RFC 9111 §5.2.1.4", kind: "check", steps: req([]string{"Cache-Control", "max-age=3600", "ETag", `"abc"`}, false, "no-cache", etagValidated)},
		{id: "ccreq-no-store", rfc: "RFC 9111 §5.2.1.5", kind: "check", note: "edged answers a fresh stored response to a no-store request (§5.2.1.5 only forbids storing)", steps: req([]string{"Cache-Control", "max-age=3600"}, false, "no-store", cached)},
		{id: "ccreq-oic", rfc: "RFC 9111 §5.2.1.7", kind: "check", steps: []clientStep{{req: []string{"Cache-Control", "only-if-cached"}, status: 504, expect: cached}}},
		// Pragma (RFC 9111 §5.4): request Pragma: no-cache is honoured only
		// without Cache-Control; response Pragma has no defined meaning.
		{id: "pragma-request-no-cache", rfc: "RFC 9111 §5.4", kind: "check", note: "edged honours request Pragma: no-cache (§5.4 allows it when Cache-Control is absent)", steps: []clientStep{{resp: originStep{fields: []string{"Cache-Control", "max-age=3600"}}}, {req: []string{"Pragma", "no-cache"}, expect: notCached}}},
		{id: "pragma-request-extension", rfc: "RFC 9111 §5.4", kind: "check", steps: []clientStep{{resp: originStep{fields: []string{"Cache-Control", "max-age=3600"}}}, {req: []string{"Pragma", "unrecognised-extension"}, expect: cached}}},
		{id: "pragma-response-no-cache", rfc: "RFC 9111 §5.4", kind: "check", steps: twoStepNoPause([]string{"Cache-Control", "max-age=3600", "Pragma", "no-cache"}, cached)},
		// net/http's client would read this Pragma as Cache-Control:
		// no-cache (fixPragmaCacheControl); the origin client keeps the
		// header as sent (TestResponsePragmaKeptAsSent in origin,
		// TestResponsePragmaIsNotCacheControl).
		{id: "pragma-response-no-cache-heuristic", rfc: "RFC 9111 §5.4, §4.2.2", kind: "check",
			steps: twoStepNoPause([]string{"Last-Modified", "@-10000", "Pragma", "no-cache"}, cached)},
		{id: "pragma-response-extension", rfc: "RFC 9111 §5.4", kind: "check", steps: twoStepNoPause([]string{"Cache-Control", "max-age=3600", "Pragma", "unrecognised-extension"}, cached)},
	})
}

// cdnExceeds is the shape of the suite's cdn-*-exceed checks: a
// CDN-Cache-Control lifetime longer than Cache-Control's, a pause, then a
// hit that must carry the field name with value want.
func cdnExceeds(extra []string, name, want string) []clientStep {
	fields := append([]string{"Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age=10000", "Date", "@0"}, extra...)
	return []clientStep{{resp: originStep{fields: fields}, pause: true}, {expect: cached, headers: []string{name, want}}}
}

// Targeted fields: tests/cdn-cache-control.mjs (RFC 9213) and
// tests/surrogate-control.mjs.
func TestConformanceTargeted(t *testing.T) {
	runConformance(t, []confCase{
		{id: "cdn-max-age", rfc: "RFC 9213 §2.1", kind: "optimal", steps: twoStep([]string{"CDN-Cache-Control", "max-age=3600"}, cached)},
		{id: "cdn-max-age-max", rfc: "RFC 9213 §2.1, RFC 9111 §1.2.2", kind: "optimal", steps: twoStep([]string{"CDN-Cache-Control", "max-age=2147483648"}, cached)},
		{id: "cdn-max-age-max-plus", rfc: "RFC 9213 §2.1, RFC 9111 §1.2.2", kind: "optimal", steps: twoStep([]string{"CDN-Cache-Control", "max-age=99999999999"}, cached)},
		{id: "cdn-max-age-age", rfc: "RFC 9213 §2.1, RFC 9111 §4.2.3", kind: "required", steps: twoStep([]string{"Date", "@0", "CDN-Cache-Control", "max-age=3600", "Age", "7200"}, notCached)},
		{id: "cdn-max-age-space-before-equals", rfc: "RFC 9213 §2.1 (RFC 8941 Dictionary)", kind: "check", steps: twoStep([]string{"Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age =100"}, notCached)},
		{id: "cdn-max-age-space-after-equals", rfc: "RFC 9213 §2.1 (RFC 8941 Dictionary)", kind: "check", steps: twoStep([]string{"Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age= 100"}, notCached)},
		{id: "cdn-max-age-0", rfc: "RFC 9213 §2.1", kind: "required", steps: twoStep([]string{"CDN-Cache-Control", "max-age=0"}, notCached)},
		{id: "cdn-max-age-extension", rfc: "RFC 9213 §2.1", kind: "optimal", steps: twoStep([]string{"CDN-Cache-Control", "foobar, max-age=3600"}, cached)},
		{id: "cdn-max-age-case-insensitive", rfc: "RFC 9213 §2.1 (RFC 8941 keys are lower case)", kind: "check", note: "RFC 8941 keys are lowercase, but edged's policy deliberately reads keys case-insensitively (policy test \"RFC 9213 §2.1 lenient key case\")", steps: twoStep([]string{"CDN-Cache-Control", "MaX-aGe=3600"}, cached)},
		{id: "cdn-max-age-expires", rfc: "RFC 9213 §2.1", kind: "optimal", steps: twoStep([]string{"CDN-Cache-Control", "max-age=3600", "Expires", "@-10000", "Date", "@0"}, cached)},
		{id: "cdn-max-age-cc-max-age-invalid-expires", rfc: "RFC 9213 §2.1", kind: "optimal", steps: twoStep([]string{"CDN-Cache-Control", "max-age=3600", "Expires", "0", "Date", "@0"}, cached)},
		{id: "cdn-max-age-0-expires", rfc: "RFC 9213 §2.1", kind: "required", steps: twoStep([]string{"CDN-Cache-Control", "max-age=0", "Expires", "@10000", "Date", "@0"}, notCached)},
		{id: "cdn-max-age-short-cc-max-age", rfc: "RFC 9213 §2.1", kind: "optimal", steps: twoStep([]string{"Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age=3600"}, cached)},
		{id: "cdn-max-age-long-cc-max-age", rfc: "RFC 9213 §2.1", kind: "required", steps: twoStep([]string{"Cache-Control", "max-age=3600", "CDN-Cache-Control", "max-age=1"}, notCached)},
		{id: "cdn-private", rfc: "RFC 9213 §2.1, RFC 9111 §5.2.2.7", kind: "required", steps: twoStepNoPause([]string{"CDN-Cache-Control", "private", "Cache-Control", "max-age=10000", "Expires", "@10000", "Date", "@0"}, notCached)},
		{id: "cdn-no-cache", rfc: "RFC 9213 §2.1, RFC 9111 §5.2.2.4", kind: "required", steps: twoStepNoPause([]string{"CDN-Cache-Control", "no-cache", "Cache-Control", "max-age=10000", "Expires", "@10000", "Date", "@0"}, notCached)},
		{id: "cdn-no-store-cc-fresh", rfc: "RFC 9213 §2.1, RFC 9111 §5.2.2.5", kind: "required", steps: twoStep([]string{"Cache-Control", "max-age=10000", "CDN-Cache-Control", "no-store", "Expires", "@10000", "Date", "@0"}, notCached)},
		{id: "cdn-fresh-cc-nostore", rfc: "RFC 9213 §2.1", kind: "required", steps: twoStep([]string{"Cache-Control", "no-store", "CDN-Cache-Control", "max-age=10000"}, cached)},
		{id: "cdn-cc-invalid-sh-type-unknown", rfc: "RFC 9213 §2.1 (invalid field ignored)", kind: "required", steps: twoStep([]string{"CDN-Cache-Control", "max-age=10000, &&&&&", "Cache-Control", "no-store"}, notCached)},
		{id: "cdn-cc-invalid-sh-type-wrong", rfc: "RFC 9213 §2.1 (invalid field ignored)", kind: "required", steps: twoStep([]string{"CDN-Cache-Control", `max-age="10000"`, "Cache-Control", "no-store"}, notCached)},
		{id: "cdn-remove-header", rfc: "RFC 9213 §2.1", kind: "check", note: "edged (edge role) consumes CDN-Cache-Control and does not forward it; a shield keeps it", steps: []clientStep{
			{resp: originStep{fields: []string{"Cache-Control", "max-age=10000", "CDN-Cache-Control", "foo", "Expires", "@10000", "Date", "@0"}}, missing: []string{"CDN-Cache-Control"}},
		}},
		// When CDN-Cache-Control outlives Cache-Control, the stored response is
		// served as it came, with Age (RFC 9111 §5.1) and the origin's Date
		// and Expires untouched (RFC 9213 §2.1 leaves Cache-Control alone).
		{id: "cdn-remove-age-exceed", rfc: "RFC 9213 §2.1, RFC 9111 §5.1", kind: "check", steps: cdnExceeds(nil, "Age", ">0")},
		{id: "cdn-date-update-exceed", rfc: "RFC 9213 §2.1, RFC 9110 §6.6.1", kind: "check", steps: cdnExceeds(nil, "Date", "@0")},
		{id: "cdn-expires-update-exceed", rfc: "RFC 9213 §2.1", kind: "check", steps: cdnExceeds([]string{"Expires", "@1"}, "Expires", "@1")},
		{id: "surrogate-max-age", rfc: "Edge Architecture Surrogate-Control", kind: "optional", steps: twoStep([]string{"Surrogate-Control", "max-age=3600"}, cached)},
		{id: "surrogate-max-age-max", rfc: "Surrogate-Control, RFC 9111 §1.2.2", kind: "optimal", steps: twoStep([]string{"Surrogate-Control", "max-age=2147483648"}, cached)},
		{id: "surrogate-max-age-max-plus", rfc: "Surrogate-Control, RFC 9111 §1.2.2", kind: "optimal", steps: twoStep([]string{"Surrogate-Control", "max-age=99999999999"}, cached)},
		// The binary sends Surrogate-Capability: NAME="Surrogate/1.0"
		// (upstream.surrogate_capability), and so does this harness's
		// edge (NAME "edged"); the suite's server, and this harness's
		// (capabilityTarget), put NAME where CAPABILITY_TARGET is. A
		// directive targeted at another device is ignored (not-for-you
		// leaves no Surrogate-Control for edged, and no other freshness;
		// TestSurrogateControlTargets, docs/design.md).
		{id: "surrogate-max-age-me-target", rfc: "Surrogate-Control (device token)", kind: "optimal", steps: twoStep([]string{"Surrogate-Control", "max-age=3600;CAPABILITY_TARGET"}, cached)},
		{id: "surrogate-max-age-other-target", rfc: "Surrogate-Control (device token), RFC 9111 §4.2.3", kind: "required", steps: twoStep([]string{"Date", "@0", "Surrogate-Control", "max-age=3600;not-for-you", "Age", "7200"}, notCached)},
		{id: "surrogate-fresh-cc-nostore", rfc: "Surrogate-Control", kind: "required", steps: twoStep([]string{"Cache-Control", "no-store", "Surrogate-Control", "max-age=10000;CAPABILITY_TARGET"}, cached)},
		{id: "surrogate-max-age-space-before-equals", rfc: "Surrogate-Control (Cache-Control syntax, RFC 9111 §5.2)", kind: "required", steps: twoStep([]string{"Cache-Control", "max-age=1", "Surrogate-Control", "max-age =100"}, notCached)},
		{id: "surrogate-max-age-space-after-equals", rfc: "Surrogate-Control (RFC 9111 §5.2)", kind: "required", steps: twoStep([]string{"Cache-Control", "max-age=1", "Surrogate-Control", "max-age= 100"}, notCached)},
		{id: "surrogate-max-age-0", rfc: "Surrogate-Control", kind: "required", steps: twoStep([]string{"Surrogate-Control", "max-age=0"}, notCached)},
		{id: "surrogate-max-age-extension", rfc: "Surrogate-Control", kind: "optional", steps: twoStep([]string{"Surrogate-Control", "foobar, max-age=3600"}, cached)},
		{id: "surrogate-max-age-case-insensitive", rfc: "Surrogate-Control (RFC 9111 §5.2)", kind: "optional", steps: twoStep([]string{"Surrogate-Control", "MaX-aGe=3600"}, cached)},
		{id: "surrogate-max-age-expires", rfc: "Surrogate-Control", kind: "optional", steps: twoStep([]string{"Surrogate-Control", "max-age=3600", "Expires", "@-10000", "Date", "@0"}, cached)},
		{id: "surrogate-max-age-cc-max-age-invalid-expires", rfc: "Surrogate-Control", kind: "optional", steps: twoStep([]string{"Surrogate-Control", "max-age=3600", "Expires", "0", "Date", "@0"}, cached)},
		{id: "surrogate-max-age-0-expires", rfc: "Surrogate-Control", kind: "required", steps: twoStep([]string{"Surrogate-Control", "max-age=0", "Expires", "@10000", "Date", "@0"}, notCached)},
		{id: "surrogate-max-age-short-cc-max-age", rfc: "Surrogate-Control", kind: "optional", steps: twoStep([]string{"Cache-Control", "max-age=1", "Surrogate-Control", "max-age=3600"}, cached)},
		{id: "surrogate-max-age-long-cc-max-age", rfc: "Surrogate-Control", kind: "required", steps: twoStep([]string{"Cache-Control", "max-age=3600", "Surrogate-Control", "max-age=1"}, notCached)},
		{id: "surrogate-max-age-age", rfc: "Surrogate-Control, RFC 9111 §4.2.3", kind: "required", steps: twoStep([]string{"Surrogate-Control", "max-age=3600", "Age", "12000"}, notCached)},
		{id: "surrogate-no-store", rfc: "Surrogate-Control", kind: "required", steps: twoStep([]string{"Surrogate-Control", "no-store"}, notCached)},
		{id: "surrogate-no-store-cc-fresh", rfc: "Surrogate-Control", kind: "required", steps: twoStep([]string{"Cache-Control", "max-age=10000", "Surrogate-Control", "no-store", "Expires", "@10000", "Date", "@0"}, notCached)},
	})
}
