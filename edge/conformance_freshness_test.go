package edge

import (
	"fmt"
	"testing"
)

// Conformance with the http-tests/cache-tests files cc-freshness,
// cc-parse, age-parse, expires-freshness, expires-parse and
// heuristic-freshness, for a shared cache.

// max-age parsing and precedence: tests/cc-freshness.mjs and tests/cc-parse.mjs.
func TestConformanceCCFreshness(t *testing.T) {
	cc := func(v ...string) []string {
		var f []string
		for _, s := range v {
			f = append(f, "Cache-Control", s)
		}
		return f
	}
	runConformance(t, []confCase{
		{id: "freshness-none", rfc: "RFC 9111 §4.2.2", kind: "optional", steps: twoStep(nil, notCached)},
		{id: "freshness-max-age", rfc: "RFC 9111 §5.2.2.1", kind: "optional", steps: twoStep(cc("max-age=3600"), cached)},
		{id: "freshness-max-age-quoted", rfc: "RFC 9111 §5.2 (quoted argument accepted)", kind: "optional", steps: twoStep(cc(`max-age="3600"`), cached)},
		{id: "freshness-max-age-single-quoted", rfc: "RFC 9111 §1.2.2, §4.2.1", kind: "required", steps: twoStep(cc("max-age='3600'"), notCached)},
		{id: "freshness-max-age-ignore-quoted", rfc: "RFC 9111 §5.2", kind: "required", steps: twoStep(cc(`extension="max-age=100", max-age=1`), notCached)},
		{id: "freshness-max-age-ignore-quoted-rev", rfc: "RFC 9111 §5.2", kind: "required", steps: twoStep(cc(`max-age=1, extension="max-age=100"`), notCached)},
		{id: "freshness-max-age-ignore-quoted-all", rfc: "RFC 9111 §5.2", kind: "required", steps: twoStep(cc(`extension="max-age=100", max-age="1"`), notCached)},
		{id: "freshness-max-age-ignore-quoted-all-rev", rfc: "RFC 9111 §5.2", kind: "required", steps: twoStep(cc(`max-age="1", extension="max-age=100"`), notCached)},
		{id: "freshness-max-age-ignore-quoted (3600)", rfc: "RFC 9111 §5.2", kind: "required", steps: twoStep(cc(`extension="max-age=3600", max-age=1`), notCached)},
		{id: "freshness-max-age-ignore-quoted-rev (3600)", rfc: "RFC 9111 §5.2", kind: "required", steps: twoStep(cc(`max-age=1, extension="max-age=3600"`), notCached)},
		{id: "freshness-max-age-space-before-equals", rfc: "RFC 9111 §5.2 (no BWS around =)", kind: "required", steps: twoStep(cc("max-age =100"), notCached)},
		{id: "freshness-max-age-space-after-equals", rfc: "RFC 9111 §5.2 (no BWS around =)", kind: "required", steps: twoStep(cc("max-age= 100"), notCached)},
		{id: "freshness-max-age-space-before-equals (3600)", rfc: "RFC 9111 §5.2", kind: "check", steps: twoStep(cc("max-age =3600"), notCached)},
		{id: "freshness-max-age-space-after-equals (3600)", rfc: "RFC 9111 §5.2", kind: "check", steps: twoStep(cc("max-age= 3600"), notCached)},
		{id: "freshness-max-age-0", rfc: "RFC 9111 §5.2.2.1", kind: "required", steps: twoStep(cc("max-age=0"), notCached)},
		{id: "freshness-max-age-a100", rfc: "RFC 9111 §1.2.2, §4.2.1", kind: "required", steps: twoStep(cc("max-age=a100"), notCached)},
		{id: "freshness-max-age-100a", rfc: "RFC 9111 §1.2.2, §4.2.1", kind: "required", steps: twoStep(cc("max-age=100a"), notCached)},
		{id: "freshness-max-age-a100 (check a3600)", rfc: "RFC 9111 §4.2.1: invalid means stale", kind: "check", note: "the suite asks whether it is reused; RFC 9111 §4.2.1 says treat as stale", steps: twoStep(cc("max-age=a3600"), notCached)},
		{id: "freshness-max-age-100a (check 3600a)", rfc: "RFC 9111 §4.2.1: invalid means stale", kind: "check", note: "as above", steps: twoStep(cc("max-age=3600a"), notCached)},
		{id: "freshness-max-age-negative", rfc: "RFC 9111 §1.2.2", kind: "required", steps: twoStep(cc("max-age=-100"), notCached)},
		{id: "freshness-max-age-max", rfc: "RFC 9111 §1.2.2 (2^31)", kind: "optional", steps: twoStep(cc("max-age=2147483648"), cached)},
		{id: "freshness-max-age-max-plus", rfc: "RFC 9111 §1.2.2 (saturate at 2^31)", kind: "optional", steps: twoStep(cc("max-age=99999999999"), cached)},
		{id: "freshness-max-age-leading-zero", rfc: "RFC 9111 §1.2.2 (1*DIGIT)", kind: "optimal", steps: twoStep(cc("max-age=003600"), cached)},
		{id: "freshness-max-age-decimal-zero", rfc: "RFC 9111 §1.2.2, §4.2.1", kind: "check", note: "3600.0 is not delta-seconds: edged treats it as invalid, hence stale (§4.2.1)", steps: twoStep(cc("max-age=3600.0"), notCached)},
		{id: "freshness-max-age-decimal-five", rfc: "RFC 9111 §1.2.2, §4.2.1", kind: "check", note: "as above", steps: twoStep(cc("max-age=3600.5"), notCached)},
		{id: "freshness-max-age-age", rfc: "RFC 9111 §4.2.3", kind: "required", steps: twoStep([]string{"Date", "@0", "Cache-Control", "max-age=10", "Age", "15"}, notCached)},
		{id: "freshness-max-age-expires", rfc: "RFC 9111 §5.3 (max-age over Expires)", kind: "optional", steps: twoStep([]string{"Cache-Control", "max-age=3600", "Expires", "@-10000", "Date", "@0"}, cached)},
		{id: "freshness-max-age-expires-invalid", rfc: "RFC 9111 §5.3", kind: "optional", steps: twoStep([]string{"Cache-Control", "max-age=3600", "Expires", "0", "Date", "@0"}, cached)},
		{id: "freshness-max-age-0-expires", rfc: "RFC 9111 §5.3", kind: "required", steps: twoStep([]string{"Expires", "@10000", "Cache-Control", "max-age=0", "Date", "@0"}, notCached)},
		{id: "freshness-max-age-extension", rfc: "RFC 9111 §5.2.3", kind: "optional", steps: twoStep(cc("foobar, max-age=3600"), cached)},
		{id: "freshness-max-age-case-insenstive", rfc: "RFC 9111 §5.2", kind: "optional", steps: twoStep(cc("MaX-aGe=3600"), cached)},
		{id: "freshness-s-maxage-shared", rfc: "RFC 9111 §5.2.2.10", kind: "required", steps: twoStep(cc("s-maxage=3600"), cached)},
		{id: "freshness-max-age-s-maxage-shared-longer", rfc: "RFC 9111 §5.2.2.10", kind: "required", steps: twoStep(cc("max-age=3600, s-maxage=1"), notCached)},
		{id: "freshness-max-age-s-maxage-shared-longer-reversed", rfc: "RFC 9111 §5.2.2.10", kind: "required", steps: twoStep(cc("s-maxage=1, max-age=3600"), notCached)},
		{id: "freshness-max-age-s-maxage-shared-longer-multiple", rfc: "RFC 9111 §5.2.2.10", kind: "required", steps: twoStep(cc("max-age=3600", "s-maxage=1"), notCached)},
		{id: "freshness-max-age-s-maxage-shared-shorter", rfc: "RFC 9111 §5.2.2.10", kind: "optional", steps: twoStep(cc("max-age=1, s-maxage=3600"), cached)},
		// cc-parse checks: duplicate max-age. RFC 9111 §4.2.1 allows either the
		// first value or treating the response as stale; edged treats
		// conflicting duplicates as stale.
		{id: "freshness-max-age-two-fresh-stale-sameline", rfc: "RFC 9111 §4.2.1", kind: "check", note: "conflicting duplicates: edged considers the response stale", steps: twoStep(cc("max-age=1800, max-age=1"), notCached)},
		{id: "freshness-max-age-two-fresh-stale-sepline", rfc: "RFC 9111 §4.2.1", kind: "check", note: "as above", steps: twoStep(cc("max-age=1800", "max-age=1"), notCached)},
		{id: "freshness-max-age-two-stale-fresh-sameline", rfc: "RFC 9111 §4.2.1", kind: "check", note: "as above", steps: twoStep(cc("max-age=1, max-age=1800"), notCached)},
		{id: "freshness-max-age-two-stale-fresh-sepline", rfc: "RFC 9111 §4.2.1", kind: "check", note: "as above", steps: twoStep(cc("max-age=1", "max-age=1800"), notCached)},
	})
}

// Age parsing checks: tests/age-parse.mjs. RFC 9111 §5.1: use the first
// member of a list; ignore an invalid value.
func TestConformanceAgeParse(t *testing.T) {
	age := func(v ...string) []string {
		f := []string{"Date", "@0", "Cache-Control", "max-age=3600"}
		for _, s := range v {
			f = append(f, "Age", s)
		}
		return f
	}
	const sec = "RFC 9111 §5.1"
	runConformance(t, []confCase{
		{id: "age-parse-nonnumeric", rfc: sec, kind: "check", steps: twoStep(age("abc"), cached)},
		{id: "age-parse-negative", rfc: sec, kind: "check", steps: twoStep(age("-7200"), cached)},
		{id: "age-parse-float", rfc: sec, kind: "check", steps: twoStep(age("7200.0"), cached)},
		{id: "age-parse-suffix", rfc: sec, kind: "check", note: "first member 7200 is used (§5.1), so the response is stale", steps: twoStep(age("7200,0"), notCached)},
		{id: "age-parse-suffix-twoline", rfc: sec, kind: "check", note: "first member 7200 is used (§5.1)", steps: twoStep(age("7200", "0"), notCached)},
		{id: "age-parse-prefix", rfc: sec, kind: "check", note: "first member 0 is used (§5.1)", steps: twoStep(age("0,7200"), cached)},
		{id: "age-parse-prefix-twoline", rfc: sec, kind: "check", note: "first member 0 is used (§5.1)", steps: twoStep(age("0", "7200"), cached)},
		{id: "age-parse-dup-0", rfc: sec, kind: "check", steps: twoStep(age("0, 0"), cached)},
		{id: "age-parse-dup-0-twoline", rfc: sec, kind: "check", steps: twoStep(age("0", "0"), cached)},
		{id: "age-parse-dup-old", rfc: sec, kind: "check", note: "first member 7200 is used: stale", steps: twoStep(age("7200, 7200"), notCached)},
		{id: "age-parse-dup-old-twoline", rfc: sec, kind: "check", note: "first member 7200 is used: stale", steps: twoStep(age("7200", "7200"), notCached)},
		// The suite's current age-parse cases (tests/age-parse.mjs), where
		// they differ from the rows above.
		{id: "age-parse-suffix (suite: 7200, 0)", rfc: sec, kind: "required", steps: twoStep(age("7200, 0"), notCached)},
		{id: "age-parse-prefix (suite: 0, 7200)", rfc: sec, kind: "required", steps: twoStep(age("0, 7200"), cached)},
		{id: "age-parse-dup-old (suite: 3600 twice, max-age=10000)", rfc: sec, kind: "required", steps: twoStep([]string{"Date", "@0", "Cache-Control", "max-age=10000", "Age", "3600", "Age", "3600"}, cached)},
		// RFC 9111 §1.2.2: a delta-seconds value past what a cache can
		// represent is 2147483648, far older than max-age=3600.
		{id: "age-parse-large-minus-one", rfc: "RFC 9111 §1.2.2, §4.2.3", kind: "required", steps: twoStep(age("2147483647"), notCached)},
		{id: "age-parse-large", rfc: "RFC 9111 §1.2.2, §4.2.3", kind: "required", steps: twoStep(age("2147483648"), notCached)},
		{id: "age-parse-larger", rfc: "RFC 9111 §1.2.2, §4.2.3", kind: "required", steps: twoStep(age("2147483649"), notCached)},
		// "7200;foo=bar" is not delta-seconds: ignored like "abc" above. The
		// suite (check) reads the leading number and expects a miss.
		{id: "age-parse-parameter", rfc: sec, kind: "check", note: "an invalid Age is ignored, as for age-parse-nonnumeric", steps: twoStep(age("7200;foo=bar"), cached)},
		{id: "age-parse-numeric-parameter", rfc: sec, kind: "check", note: "as above", steps: twoStep(age("7200;foo=111"), cached)},
	})
}

// Expires: tests/expires-freshness.mjs and tests/expires-parse.mjs.
func TestConformanceExpires(t *testing.T) {
	exp := func(v string) []string { return []string{"Expires", v, "Date", "@0"} }
	const month = 30 * 24 * 60 * 60
	runConformance(t, []confCase{
		{id: "freshness-expires-none", rfc: "RFC 9111 §4.2.2", kind: "optional", steps: twoStep(nil, notCached)},
		{id: "freshness-expires-future", rfc: "RFC 9111 §5.3", kind: "optional", steps: twoStep(exp(fmt.Sprintf("@%d", month)), cached)},
		{id: "freshness-expires-past", rfc: "RFC 9111 §5.3", kind: "required", steps: twoStep(exp(fmt.Sprintf("@-%d", month)), notCached)},
		{id: "freshness-expires-present", rfc: "RFC 9111 §5.3", kind: "required", steps: twoStepNoPause(exp("@0"), notCached)},
		{id: "freshness-expires-old-date", rfc: "RFC 9111 §4.2.1 (Expires - Date)", kind: "required", steps: twoStep([]string{"Expires", "@300", "Date", "@400"}, notCached)},
		{id: "freshness-expires-wrong-case-weekday", rfc: "RFC 9110 §5.6.7", kind: "optional/check", steps: twoStep(exp("THU, 18 Aug 2050 02:01:18 GMT"), cached)},
		{id: "freshness-expires-wrong-case-month", rfc: "RFC 9110 §5.6.7", kind: "optional/check", steps: twoStep(exp("Thu, 18 AUG 2050 02:01:18 GMT"), cached)},
		{id: "freshness-expires-wrong-case-tz", rfc: "RFC 9110 §5.6.7", kind: "optional/check", steps: twoStep(exp("Thu, 18 Aug 2050 02:01:18 gMT"), cached)},
		{id: "freshness-expires-32bit", rfc: "RFC 9111 §5.3", kind: "optimal", steps: twoStep(exp("Tue, 19 Jan 2038 14:14:08 GMT"), cached)},
		{id: "freshness-expires-far-future", rfc: "RFC 9111 §5.3", kind: "optimal", steps: twoStep(exp("Sun, 21 Nov 2286 04:46:39 GMT"), cached)},
		{id: "freshness-expires-rfc850", rfc: "RFC 9110 §5.6.7 (two-digit year)", kind: "optimal", steps: twoStep(exp("Thursday, 18-Aug-50 02:01:18 GMT"), cached)},
		{id: "freshness-expires-ansi-c", rfc: "RFC 9110 §5.6.7", kind: "optimal", steps: twoStep(exp("Thu Aug  8 02:01:18 2050"), cached)},
		{id: "freshness-expires-invalid", rfc: "RFC 9111 §5.3", kind: "required", steps: twoStep(exp("0"), notCached)},
		{id: "freshness-expires-invalid-aest", rfc: "RFC 9110 §5.6.7, RFC 9111 §5.3", kind: "required", steps: twoStep(exp("Thu, 18 Aug 2050 02:01:18 AEST"), notCached)},
		{id: "freshness-expires-invalid-multiple-lines", rfc: "RFC 9111 §5.3", kind: "required", steps: twoStepNoPause([]string{"Expires", "Thu, 18 Aug 2050 2:01:18 GMT", "Expires", "Thu, 18 Aug 2050 2:01:19 GMT", "Date", "@0"}, notCached)},
		{id: "freshness-expires-invalid-utc", rfc: "RFC 9110 §5.6.7, RFC 9111 §5.3", kind: "required", steps: twoStep(exp("Thu, 18 Aug 2050 02:01:18 UTC"), notCached)},
		{id: "freshness-expires-invalid-2-digit-year", rfc: "RFC 9110 §5.6.7, RFC 9111 §5.3", kind: "required", steps: twoStep(exp("Thu, 18 Aug 50 02:01:18 GMT"), notCached)},
		{id: "freshness-expires-invalid-no-comma", rfc: "RFC 9110 §5.6.7, RFC 9111 §5.3", kind: "required", steps: twoStep(exp("Thu 18 Aug 2050 02:01:18 GMT"), notCached)},
		{id: "freshness-expires-invalid-multiple-spaces", rfc: "RFC 9110 §5.6.7, RFC 9111 §5.3", kind: "required", steps: twoStepNoPause(exp("Thu, 18  Aug  2050 02:01:18 GMT"), notCached)},
		{id: "freshness-expires-invalid-date-dashes", rfc: "RFC 9110 §5.6.7, RFC 9111 §5.3", kind: "required", steps: twoStepNoPause(exp("Thu, 18-Aug-2050 02:01:18 GMT"), notCached)},
		{id: "freshness-expires-invalid-time-periods", rfc: "RFC 9110 §5.6.7, RFC 9111 §5.3", kind: "required", steps: twoStepNoPause(exp("Thu, 18 Aug 2050 02.01.18 GMT"), notCached)},
		{id: "freshness-expires-invalid-1-digit-hour", rfc: "RFC 9110 §5.6.7, RFC 9111 §5.3", kind: "required", steps: twoStepNoPause(exp("Thu, 18 Aug 2050 2:01:18 GMT"), notCached)},
		{id: "freshness-expires-invalid-date", rfc: "RFC 9110 §6.6.1 (invalid Date: use receipt time)", kind: "optional", steps: twoStepNoPause([]string{"Date", "foo", "Expires", "@10"}, cached)},
		{id: "freshness-expires-age-slow-date", rfc: "RFC 9111 §4.2.3", kind: "required", steps: twoStepNoPause([]string{"Date", "@-10", "Expires", "@10", "Age", "25"}, notCached)},
		{id: "freshness-expires-age-fast-date", rfc: "RFC 9111 §4.2.3", kind: "required", steps: twoStepNoPause([]string{"Date", "@10", "Expires", "@20", "Age", "15"}, notCached)},
		// RFC 9110 §5.6.7: recipients MUST accept the obsolete rfc850-date and
		// asctime-date formats (the suite's rfc850date option; asctime added here).
		{id: "expires-rfc850 (RFC 9110 §5.6.7)", rfc: "RFC 9110 §5.6.7", kind: "required", steps: twoStep([]string{"Expires", "@rfc850:100000", "Date", "@0"}, cached)},
		{id: "expires-asctime (RFC 9110 §5.6.7)", rfc: "RFC 9110 §5.6.7", kind: "required", steps: twoStep([]string{"Expires", "@asctime:100000", "Date", "@0"}, cached)},
		{id: "expires-rfc850-past (RFC 9110 §5.6.7)", rfc: "RFC 9110 §5.6.7", kind: "required", steps: twoStep([]string{"Expires", "@rfc850:-100000", "Date", "@0"}, notCached)},
		{id: "expires-asctime-past (RFC 9110 §5.6.7)", rfc: "RFC 9110 §5.6.7", kind: "required", steps: twoStep([]string{"Expires", "@asctime:-100000", "Date", "@0"}, notCached)},
	})
}

// Heuristic freshness by status: tests/heuristic-freshness.mjs.
func TestConformanceHeuristic(t *testing.T) {
	var cases []confCase
	for _, s := range []struct {
		ok     bool
		status int
		public bool
	}{
		{true, 200, false}, {false, 201, false}, {false, 202, false}, {true, 203, false}, {true, 204, false},
		{false, 403, false}, {true, 404, false}, {true, 405, false}, {true, 410, false}, {true, 414, false},
		{true, 501, false}, {false, 502, false}, {false, 503, false}, {false, 504, false},
		{false, 599, false}, {true, 599, true},
		// RFC 9110 §15.1 also lists 206, 300, 301 and 308 as heuristically
		// cacheable; edged never stores 206 (RFC 9111 §3.3 is optional).
		{true, 300, false}, {true, 301, false}, {true, 308, false},
	} {
		x, kind := notCached, "required"
		if s.ok {
			x, kind = cached, "optimal"
		}
		fields := []string{"Last-Modified", "@-86400", "Date", "@0"}
		id := fmt.Sprintf("heuristic-%d-%s", s.status, x)
		if s.public {
			fields = append(fields, "Cache-Control", "public")
			id += " (public)"
		}
		cases = append(cases, confCase{id: id, rfc: "RFC 9111 §4.2.2, RFC 9110 §15.1", kind: kind, steps: []clientStep{
			{resp: originStep{status: s.status, fields: fields}},
			{resp: originStep{status: s.status, fields: fields}, expect: x, status: s.status},
		}})
	}
	// Checks: Last-Modified N seconds ago. With 10% of N as lifetime and the
	// suite's pause of 3s, edged reuses it when N/10 > 3.
	for _, n := range []int{5, 10, 30, 60, 300, 600, 1200, 1800, 3600, 3600 * 12, 3600 * 24} {
		x := cached
		if n/10 <= 3 {
			x = notCached
		}
		cases = append(cases, confCase{id: fmt.Sprintf("heuristic-delta-%d", n), rfc: "RFC 9111 §4.2.2", kind: "check",
			note:  "edged uses 10% of Date - Last-Modified; the suite pauses 3s",
			steps: twoStep([]string{"Last-Modified", fmt.Sprintf("@-%d", n), "Date", "@0"}, x)})
	}
	runConformance(t, cases)
}
