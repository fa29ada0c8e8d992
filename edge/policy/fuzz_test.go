package policy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"edged/internal/httpsyntax"
)

// FuzzParseTarget: no panic; a parsed target reparses to the same key
// (normalization is idempotent); no control characters in the output.
func FuzzParseTarget(f *testing.F) {
	for _, s := range [][2]string{
		{"example.com", "/a/./b/../c?x=%2f"}, {"EXAMPLE.com:80", "/%7e%41%2F"}, {"[::1]:443", "/"},
		{"h.", "/a/%2e%2E/b"}, {"h:65536", "/"}, {"h", "*"}, {"h", "http://x/y?"}, {"h", "/\x00"},
		{"%73ite.ex%41mple", "/admin%09/x"}, {"a%2fb", "/%7f"},
	} {
		f.Add("http", s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, scheme, host, uri string) {
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			return
		}
		tg, err := ParseTarget(scheme, host, u)
		if err != nil {
			return
		}
		key := tg.Key()
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] == 0x7f {
				t.Fatalf("control char in key %q", key)
			}
		}
		// Neither an encoded control character in the path (origins cut
		// or trim at them) nor an escape in the host (routed apart from
		// the name it spells).
		for i := 0; i+2 < len(tg.Path); i++ {
			if tg.Path[i] == '%' && (tg.Path[i+1] < '2' || tg.Path[i+1:i+3] == "7F") {
				t.Fatalf("encoded control character in path %q", tg.Path)
			}
		}
		if strings.Contains(tg.Host, "%") {
			t.Fatalf("escape in host %q", tg.Host)
		}
		u2, err := url.ParseRequestURI(tg.RequestURI())
		if err != nil {
			t.Fatalf("RequestURI %q does not parse: %v", tg.RequestURI(), err)
		}
		tg2, err := ParseTarget(tg.Scheme, tg.Host, u2)
		if err != nil {
			t.Fatalf("reparse of %q: %v", key, err)
		}
		if tg2.Key() != key {
			t.Fatalf("not idempotent: %q -> %q", key, tg2.Key())
		}
	})
}

// FuzzParseUnroutedTarget: ParseUnroutedTarget differs from ParseTarget
// only in taking a path with an encoded control character, which it keeps
// encoded: the key holds no raw control character, and it reparses to
// itself.
func FuzzParseUnroutedTarget(f *testing.F) {
	for _, s := range []string{"/a%0Ab", "/%00", "/x/%7f/../y", "/a%0a%2e%2e/b", "/a?q=%0A", "/\x01", "/%09;x/.."} {
		f.Add("h", s)
	}
	f.Fuzz(func(t *testing.T, host, uri string) {
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			return
		}
		strict, serr := ParseTarget("http", host, u)
		tg, err := ParseUnroutedTarget("http", host, u)
		if serr == nil && (err != nil || tg != strict) {
			t.Fatalf("ParseTarget %+v, ParseUnroutedTarget %+v, %v", strict, tg, err)
		}
		if err != nil {
			return
		}
		key := tg.Key()
		if strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("control char in key %q", key)
		}
		u2, err := url.ParseRequestURI(tg.RequestURI())
		if err != nil {
			t.Fatalf("RequestURI %q does not parse: %v", tg.RequestURI(), err)
		}
		if tg2, err := ParseUnroutedTarget(tg.Scheme, tg.Host, u2); err != nil || tg2.Key() != key {
			t.Fatalf("not idempotent: %q -> %q, %v", key, tg2.Key(), err)
		}
	})
}

// FuzzCacheControl: Storable, Lifetime and Decide on arbitrary field values
// never panic and never give a negative lifetime; credentials only ever
// make Storable stricter; a response stored for a request with a cookie
// without public or s-maxage is fresh when it arrives; max-stale never
// serves beyond the cap.
func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{
		"max-age=60", `max-age="60", s-maxage=1`, "max-age=99999999999999999999", "max-age=-1, no-store",
		`no-cache="a, b", private`, `foo="bar`, "stale-while-revalidate=10, max-age=0",
	} {
		f.Add(s, "max-age=1, &&", "0", "max-stale", "Thu, 01 Jan 1970 00:00:00 GMT")
	}
	f.Fuzz(func(t *testing.T, cc, cdn, age, reqCC, expires string) {
		h := http.Header{"Cache-Control": {cc}, "Cdn-Cache-Control": {cdn}, "Age": {age}, "Expires": {expires},
			"Surrogate-Control": {cc}, "Last-Modified": {expires}}
		req := &http.Request{Method: http.MethodGet, Header: http.Header{"Cache-Control": {reqCC}}}
		h.Set("Date", date(0))
		plain, _ := Storable(req, 200, h, Options{})
		withCookie := &http.Request{Method: http.MethodGet, Header: http.Header{"Cache-Control": {reqCC}, "Cookie": {"s=alice"}}}
		cookieOK, _ := Storable(withCookie, 200, h, Options{})
		if cookieOK && !plain {
			t.Fatalf("storable with a cookie but not without: %v", h)
		}
		r := Response{Status: 200, Header: h, RequestTime: t0, ResponseTime: t0}
		life, heuristic := Lifetime(r, Options{})
		if life < 0 {
			t.Fatalf("negative lifetime %v", life)
		}
		if e := responseDirectives(h, ""); cookieOK && !e.has(fPublic) && e.sMaxAge == unset && (heuristic || life <= Age(r, t0)) {
			t.Fatalf("stored for a cookie without being fresh: lifetime %v (heuristic %v), age %v, %v", life, heuristic, Age(r, t0), h)
		}
		if a := Age(r, t0.Add(time.Hour)); a < 0 {
			t.Fatalf("negative age %v", a)
		}
		Decide(req.Header, r, t0.Add(time.Minute), Options{})
		for _, opt := range []Options{{MaxStale: time.Second}, {NoMaxStale: true, IgnoreClientNoCache: true}} {
			d := Decide(req.Header, r, t0.Add(time.Minute), opt)
			if d.Detail == "max-stale" && -d.TTL > max(opt.MaxStale, 0) {
				t.Fatalf("max-stale served %v stale past a cap of %v", -d.TTL, opt.MaxStale)
			}
		}
		StaleIfError(req.Header, r, t0.Add(time.Minute), Options{})
		StoredHeader(h)
	})
}

// FuzzSurrogateControl: parseSurrogate never panics; a field without ";"
// reads as Cache-Control does for any device token; a directive targeted
// at another device, appended to a field that parses, changes nothing; and
// the device token's case does not matter.
func FuzzSurrogateControl(f *testing.F) {
	for _, s := range []string{
		"max-age=60;edge1, no-store;other", `no-cache="a;b";edge1`, "max-age=1, max-age=2;edge1", "max-age;", `x="`, "a=b ; ; c",
	} {
		f.Add(s, "edge1")
	}
	f.Fuzz(func(t *testing.T, sc, self string) {
		lines := []string{sc}
		d, ok := parseSurrogate(lines, self)
		if !strings.Contains(sc, ";") {
			if c, cok := parseCacheControl(lines); c != d || cok != ok {
				t.Fatalf("%q for %q: %+v, Cache-Control reads %+v", sc, self, d, c)
			}
		}
		if ok && httpsyntax.IsToken(self) {
			other := "zz" + self + "-other"
			if e, eok := parseSurrogate([]string{sc, "max-age=7;" + other + ", no-store;" + other}, self); e != d || !eok {
				t.Fatalf("%q for %q: another's directives changed %+v to %+v", sc, self, d, e)
			}
			if u, _ := parseSurrogate(lines, strings.ToUpper(self)); u != d {
				t.Fatalf("%q: device token case changed %+v to %+v", sc, d, u)
			}
		}
	})
}

// FuzzPrecondition: no panic, and only 0, 304 or 412.
func FuzzPrecondition(f *testing.F) {
	f.Add(`"v1"`, `W/"v1", "x"`, "", "", date(0), "GET")
	f.Add(`W/"a`, "*", `"a"`, date(0), "junk", "PUT")
	f.Fuzz(func(t *testing.T, etag, inm, im, ius, ims, method string) {
		req := &http.Request{Method: method, Header: http.Header{
			"If-None-Match": {inm}, "If-Match": {im}, "If-Unmodified-Since": {ius}, "If-Modified-Since": {ims}}}
		r := Response{Status: 200, Header: http.Header{"Etag": {etag}, "Last-Modified": {ims}}, ResponseTime: t0}
		switch got := Precondition(req, r); got {
		case 0, 304, 412:
		default:
			t.Fatalf("status %d", got)
		}
		Freshen(r.Header, http.Header{"Etag": {inm}, "Last-Modified": {ius}})
	})
}
