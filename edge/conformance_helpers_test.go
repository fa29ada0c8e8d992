package edge

// A harness that replays tests of the http-tests/cache-tests suite
// (cache-tests.fyi) against edged as a shared cache. Each case is a list of
// client requests; each request names the response the origin gives if the
// request (or a fetch it causes) reaches it, and what the client must see.
// The suite's own time passes with real sleeps; here the fake clock moves.

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// reqNumField carries the index of the client request in the case. The
// scripted origin answers a request with the response of that index, as the
// suite's server does, so a background refresh triggered by request i gets
// request i's response.
const reqNumField = "Test-Req-Num"

// pause is the suite's pause_after: three seconds.
const pause = 3 * time.Second

// expect is the suite's expected_type.
type expect int

const (
	anyType       expect = iota
	cached               // the origin did not see the request
	notCached            // the origin saw the request
	etagValidated        // the origin saw it with If-None-Match (and answered 304)
	lmValidated          // the origin saw it with If-Modified-Since (and answered 304)
)

func (x expect) String() string {
	return [...]string{"any", "cached", "not_cached", "etag_validated", "lm_validated"}[x]
}

// originStep is what the origin answers to one request.
type originStep struct {
	status int      // 0 means 200
	fields []string // name/value pairs, in order; see dateValue for "@N" values
	body   *string  // nil means a body naming the request
	// validate answers 304 with fields and no body when the request is
	// conditional (the suite's server does this for *_validated requests).
	validate   bool
	disconnect bool // close the connection without an answer
}

// clientStep is one client request and what the client must see.
type clientStep struct {
	method   string   // "" means GET
	path     string   // "" means the case's path
	query    string   // appended as ?query
	req      []string // request field pairs; "@N" values are dates
	reqBody  string
	resp     originStep
	pause    bool // advance the clock by pause afterwards
	settle   bool // wait for background revalidations afterwards
	expect   expect
	status   int      // expected status; 0 means any
	headers  []string // expected response field pairs; ">N" means an integer above N, "@N" a date relative to the case start
	missing  []string // response fields that must be absent
	reqHdrs  []string // fields the origin must have seen on this request
	reqMiss  []string // fields the origin must not have seen on this request
	wantBody *string  // expected response body
}

// confCase is one suite test.
type confCase struct {
	id    string // the suite's test id
	rfc   string // the section it tests
	kind  string // the suite's kind: required, optional, check
	note  string // where and why edged's expectation differs from the suite's
	path  string // "" means /t
	steps []clientStep
}

func str(s string) *string { return &s }

// scripted is a loopback origin that answers from a script.
type scripted struct {
	*testOrigin
	steps []clientStep
	start time.Time

	mu   sync.Mutex
	base string // the edge's URL, substituted for {base} in field values
	got  map[int][]*http.Request
}

func newScripted(t testing.TB, c *clock, steps []clientStep) *scripted {
	t.Helper()
	s := &scripted{steps: steps, start: c.Now(), got: map[int][]*http.Request{}}
	s.testOrigin = newOrigin(t, c, s.serve)
	return s
}

// capabilityTarget is what the suite's server puts for CAPABILITY_TARGET:
// the device token of the request's Surrogate-Capability (its first
// member's name), or the placeholder itself when there is none.
func capabilityTarget(h http.Header) string {
	v := h.Get("Surrogate-Capability")
	name, _, _ := strings.Cut(v, "=")
	if name = strings.TrimSpace(name); name == "" {
		return "CAPABILITY_TARGET"
	}
	return name
}

func (s *scripted) serve(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.Header.Get(reqNumField))
	if err != nil || n < 0 || n >= len(s.steps) {
		n = len(s.steps) - 1
	}
	seen := r.Clone(r.Context())
	seen.Header = r.Header.Clone()
	s.mu.Lock()
	s.got[n] = append(s.got[n], seen)
	base := s.base
	s.mu.Unlock()
	st := s.steps[n].resp
	if s.steps[n].expect == etagValidated || s.steps[n].expect == lmValidated {
		st.validate = true
	}
	if st.disconnect {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	set := map[string]bool{}
	for i := 0; i+1 < len(st.fields); i += 2 {
		name := st.fields[i]
		v := strings.ReplaceAll(st.fields[i+1], "{base}", base)
		v = strings.ReplaceAll(v, "CAPABILITY_TARGET", capabilityTarget(r.Header))
		v = s.date(v, s.clock.Now())
		if !set[http.CanonicalHeaderKey(name)] {
			// The first line replaces a default (Date); later ones add lines.
			w.Header()[http.CanonicalHeaderKey(name)] = []string{v}
			set[http.CanonicalHeaderKey(name)] = true
		} else {
			w.Header()[http.CanonicalHeaderKey(name)] = append(w.Header()[http.CanonicalHeaderKey(name)], v)
		}
	}
	if st.validate && (r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "") {
		writeRaw304(w)
		return
	}
	status := st.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	body := fmt.Sprintf("response %d", n)
	if st.body != nil {
		body = *st.body
	}
	if status != http.StatusNoContent && status != http.StatusNotModified {
		_, _ = io.WriteString(w, body)
	}
}

// writeRaw304 sends a 304 with exactly the fields set on w. net/http's
// server drops Content-Type from a 304, but the suite's server sends it
// (a 304 may carry any field meant to update the stored response, RFC 9111
// §4.3.4), so the response is written on the hijacked connection.
func writeRaw304(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h := w.Header().Clone()
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = buf.WriteString("HTTP/1.1 304 Not Modified\r\nConnection: close\r\n")
	_ = h.Write(buf)
	_, _ = buf.WriteString("\r\n")
	_ = buf.Flush()
}

// date turns "@N" into the HTTP-date N seconds from now, "@rfc850:N" and
// "@asctime:N" into the obsolete formats (RFC 9110 §5.6.7); other values
// are returned as they are.
func (s *scripted) date(v string, now time.Time) string {
	if !strings.HasPrefix(v, "@") {
		return v
	}
	layout := http.TimeFormat
	rest := v[1:]
	switch {
	case strings.HasPrefix(rest, "rfc850:"):
		layout, rest = time.RFC850, strings.TrimPrefix(rest, "rfc850:")
	case strings.HasPrefix(rest, "asctime:"):
		layout, rest = time.ANSIC, strings.TrimPrefix(rest, "asctime:")
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return v
	}
	out := now.Add(time.Duration(n) * time.Second).UTC().Format(layout)
	return strings.Replace(out, "UTC", "GMT", 1) // time.RFC850 names the zone UTC
}

func (s *scripted) seen(n int) []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[n]
}

// runConformance runs each case against a fresh origin and edge.
func runConformance(t *testing.T, cases []confCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel() // each case has its own clock, origin and edge
			runCase(t, tc)
		})
	}
}

func runCase(t *testing.T, tc confCase) {
	t.Helper()
	c := newClock()
	o := newScripted(t, c, tc.steps)
	// Announced as the binary does (upstream.surrogate_capability): the
	// suite's server puts the device token where CAPABILITY_TARGET is.
	e := newEdge(t, c, edgeConfig{upstream: o.URL, surrogate: "edged"})
	o.mu.Lock()
	o.base = e.URL
	o.mu.Unlock()
	path := tc.path
	if path == "" {
		path = "/t"
	}
	for i, st := range tc.steps {
		p := path
		if st.path != "" {
			p = st.path
		}
		if st.query != "" {
			p += "?" + st.query
		}
		resp, body := sendStep(t, c, o, e, i, p, st)
		if st.settle {
			e.waitTasks(t)
		}
		e.store.Flush()
		checkStep(t, tc, o, i, st, resp, body)
		if st.pause {
			c.Advance(pause)
		}
	}
}

func sendStep(t *testing.T, c *clock, o *scripted, e *testEdge, i int, path string, st clientStep) (*http.Response, string) {
	t.Helper()
	method := st.method
	if method == "" {
		method = http.MethodGet
	}
	var rb io.Reader
	if st.reqBody != "" {
		rb = strings.NewReader(st.reqBody)
	}
	req, err := http.NewRequest(method, e.URL+path, rb)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(reqNumField, strconv.Itoa(i))
	for j := 0; j+1 < len(st.req); j += 2 {
		req.Header.Add(st.req[j], o.date(st.req[j+1], c.Now()))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request %d: %v", i, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("request %d: read body: %v", i, err)
	}
	return resp, string(b)
}

func checkStep(t *testing.T, tc confCase, o *scripted, i int, st clientStep, resp *http.Response, body string) {
	t.Helper()
	where := fmt.Sprintf("%s (%s) request %d: Cache-Status %q", tc.id, tc.rfc, i, resp.Header.Get("Cache-Status"))
	seen := o.seen(i)
	switch st.expect {
	case cached:
		if len(seen) != 0 {
			t.Errorf("%s: expected cached, but the origin saw %d request(s)", where, len(seen))
		}
	case notCached:
		if len(seen) == 0 {
			t.Errorf("%s: expected not_cached, but the origin saw no request", where)
		}
	case etagValidated, lmValidated:
		field := "If-None-Match"
		if st.expect == lmValidated {
			field = "If-Modified-Since"
		}
		if len(seen) == 0 {
			t.Errorf("%s: expected %s, but the origin saw no request", where, st.expect)
		} else if seen[len(seen)-1].Header.Get(field) == "" {
			t.Errorf("%s: expected %s, but the origin's request had no %s", where, st.expect, field)
		}
	}
	if st.status != 0 && resp.StatusCode != st.status {
		t.Errorf("%s: status %d, want %d", where, resp.StatusCode, st.status)
	}
	for j := 0; j+1 < len(st.headers); j += 2 {
		name, want := st.headers[j], st.headers[j+1]
		got, ok := resp.Header[http.CanonicalHeaderKey(name)]
		if !ok {
			t.Errorf("%s: response has no %s, want %q", where, name, want)
			continue
		}
		checkValue(t, where, name, strings.Join(got, ", "), want, o)
	}
	for _, name := range st.missing {
		if v, ok := resp.Header[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("%s: response has %s: %q, want it absent", where, name, v)
		}
	}
	if len(st.reqHdrs) > 0 || len(st.reqMiss) > 0 {
		if len(seen) == 0 {
			t.Errorf("%s: the origin saw no request to check fields on", where)
		} else {
			r := seen[len(seen)-1]
			for j := 0; j+1 < len(st.reqHdrs); j += 2 {
				if got := r.Header.Get(st.reqHdrs[j]); got != st.reqHdrs[j+1] {
					t.Errorf("%s: origin saw %s %q, want %q", where, st.reqHdrs[j], got, st.reqHdrs[j+1])
				}
			}
			for _, name := range st.reqMiss {
				if v := r.Header.Get(name); v != "" {
					t.Errorf("%s: origin saw %s %q, want it absent", where, name, v)
				}
			}
		}
	}
	if st.wantBody != nil && body != *st.wantBody {
		t.Errorf("%s: body %q, want %q", where, body, *st.wantBody)
	}
}

func checkValue(t *testing.T, where, name, got, want string, o *scripted) {
	t.Helper()
	switch {
	case strings.HasPrefix(want, ">"):
		n, err := strconv.Atoi(strings.TrimPrefix(want, ">"))
		g, gerr := strconv.Atoi(got)
		if err != nil || gerr != nil || g <= n {
			t.Errorf("%s: %s = %q, want an integer above %d", where, name, got, n)
		}
	case strings.HasPrefix(want, "@"):
		if w := o.date(want, o.start); got != w {
			t.Errorf("%s: %s = %q, want %q", where, name, got, w)
		}
	default:
		if got != want {
			t.Errorf("%s: %s = %q, want %q", where, name, got, want)
		}
	}
}

// Templates of the suite (tests/lib/templates.mjs).

// freshFields is the "fresh" template's response fields.
func freshFields(extra ...string) []string {
	return append([]string{"Expires", "@100000", "Cache-Control", "max-age=100000", "Last-Modified", "@0", "Date", "@0"}, extra...)
}

// staleFields is the "stale" template's response fields.
func staleFields(extra ...string) []string {
	return append([]string{"Expires", "@-5000", "Last-Modified", "@-100000", "Date", "@0"}, extra...)
}

// becomeStale is the "becomeStale" template: a setup request whose
// response goes stale during the pause after it.
func becomeStale(extra ...string) clientStep {
	return clientStep{resp: originStep{fields: append([]string{"Cache-Control", "max-age=2", "Template-A", "1"}, extra...)}, pause: true}
}

// twoStep is the most common shape: a setup response, a pause, then a
// second request with an expected type.
func twoStep(fields []string, x expect) []clientStep {
	return []clientStep{{resp: originStep{fields: fields}, pause: true}, {expect: x}}
}

// twoStepNoPause is twoStep without the pause (the suite's setup without pause_after).
func twoStepNoPause(fields []string, x expect) []clientStep {
	return []clientStep{{resp: originStep{fields: fields}}, {expect: x}}
}
