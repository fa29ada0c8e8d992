package edge

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"edged/edge/accesslog"
	"edged/edge/clientip"
	"edged/internal/logtest"
	"edged/origin"
	"edged/storage"
)

// loggedEdge is an edge serving site "www" (www.example.com, route
// /static/) from a real origin, logging to out through a real Writer.
type loggedEdge struct {
	url    string
	origin *testOrigin
	log    *accesslog.Writer
	out    *logtest.Buffer
}

func newLoggedEdge(t *testing.T, format accesslog.Format, trusted ...string) *loggedEdge {
	t.Helper()
	return newLoggedEdgeOf(t, format, static("body of a.css", "Cache-Control", "max-age=60"), origin.Options{}, trusted...)
}

// newLoggedEdgeOf is newLoggedEdge with an origin of handler, reached with
// oo (its Origin and Via set here).
func newLoggedEdgeOf(t *testing.T, format accesslog.Format, handler http.HandlerFunc, oo origin.Options, trusted ...string) *loggedEdge {
	t.Helper()
	c := newClock()
	o := newOrigin(t, c, handler)
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	oo.Origin, oo.Via = o.URL, "edged"
	up, err := origin.New(oo)
	if err != nil {
		t.Fatal(err)
	}
	router, err := NewRouter([]*Site{{Name: "www", Hosts: []string{"www.example.com"}, Routes: []*Route{{PathPrefix: "/static/", Upstream: up}}}})
	if err != nil {
		t.Fatal(err)
	}
	out := &logtest.Buffer{}
	w, err := accesslog.New(accesslog.Options{Output: out, Format: format, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []netip.Prefix
	for _, p := range trusted {
		prefixes = append(prefixes, netip.MustParsePrefix(p))
	}
	h, err := New(Options{Name: "edged", Store: store, Router: router, Now: c.Now, AccessLog: w,
		ClientIP: clientip.New(clientip.Options{TrustedProxies: prefixes})})
	if err != nil {
		t.Fatal(err)
	}
	srv := newPublicServer(t, h)
	t.Cleanup(func() {
		srv.Close()
		closeHandler(t, h)
		_ = w.Close()
		up.Close()
		_ = store.Close()
	})
	return &loggedEdge{url: srv.URL, origin: o, log: w, out: out}
}

// get sends GET path for www.example.com with fields (name, value pairs).
func (e *loggedEdge) get(t *testing.T, path string, fields ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "www.example.com"
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Set(fields[i], fields[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// lines flushes the log and returns its lines.
func (e *loggedEdge) lines(t *testing.T) []string {
	t.Helper()
	e.log.Flush()
	s := strings.TrimSuffix(e.out.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func jsonLines(t *testing.T, lines []string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// generatedID is the shape of the ids the edge makes.
var generatedID = regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]{12}$`)

// Issue #15: one line per request with every field, the real client read
// from X-Forwarded-For of a trusted proxy, the proxy's request id kept,
// sent upstream and echoed; the hit after it gets an id of its own.
func TestAccessLogFields(t *testing.T) {
	e := newLoggedEdge(t, accesslog.JSON, "127.0.0.0/8") // the test client is the trusted proxy
	miss := e.get(t, "/static/a.css?v=1", "X-Forwarded-For", "198.51.100.7", "User-Agent", "test-agent/1.0",
		"Referer", "https://www.example.com/", "X-Request-Id", "lb-trace-42")
	hit := e.get(t, "/static/a.css?v=1", "X-Forwarded-For", "203.0.113.9, 127.0.0.1")

	if got := miss.Header.Get("X-Request-Id"); got != "lb-trace-42" {
		t.Errorf("miss: X-Request-Id = %q, want the trusted proxy's", got)
	}
	if got := e.origin.seen[0].Header.Get("X-Request-Id"); got != "lb-trace-42" {
		t.Errorf("origin saw X-Request-Id %q, want the trusted proxy's", got)
	}
	hitID := hit.Header.Get("X-Request-Id")
	if !generatedID.MatchString(hitID) {
		t.Errorf("hit: X-Request-Id = %q, want a generated id", hitID)
	}

	recs := jsonLines(t, e.lines(t))
	if len(recs) != 2 {
		t.Fatalf("%d lines, want 2", len(recs))
	}
	originHost := strings.TrimPrefix(e.origin.URL, "http://")
	for i, want := range []map[string]any{
		{"msg": "request", "client": "198.51.100.7", "method": "GET", "host": "www.example.com", "uri": "/static/a.css?v=1",
			"proto": "HTTP/1.1", "status": 200.0, "bytes": float64(len("body of a.css")), "upstream": originHost,
			"cache": "miss", "site": "www", "route": "/static/", "request_id": "lb-trace-42",
			"user_agent": "test-agent/1.0", "referer": "https://www.example.com/", "user": ""},
		{"client": "203.0.113.9", "status": 200.0, "upstream": "", "upstream_first_byte_ms": nil, "cache": "hit",
			"site": "www", "route": "/static/", "request_id": hitID, "user_agent": "Go-http-client/1.1", "referer": ""},
	} {
		for k, v := range want {
			if got, ok := recs[i][k]; !ok || got != v {
				t.Errorf("line %d: %s = %#v, want %#v", i+1, k, got, v)
			}
		}
	}
	if ttfb, ok := recs[0]["upstream_first_byte_ms"].(float64); !ok || ttfb < 0 {
		t.Errorf("miss: upstream_first_byte_ms = %#v, want a duration", recs[0]["upstream_first_byte_ms"])
	}
	if d, ok := recs[0]["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("miss: duration_ms = %#v", recs[0]["duration_ms"])
	}
	if tm, ok := recs[0]["time"].(string); !ok || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(tm) {
		t.Errorf("time = %#v", recs[0]["time"])
	}
}

// An untrusted peer's X-Forwarded-For and X-Request-Id are not believed:
// the client is the peer, and the id is replaced by one the edge makes,
// which the origin and the log get too.
func TestAccessLogUntrustedPeer(t *testing.T) {
	e := newLoggedEdge(t, accesslog.JSON) // no trusted proxy
	resp := e.get(t, "/static/u.css", "X-Forwarded-For", "198.51.100.7", "X-Request-Id", "forged-id")
	id := resp.Header.Get("X-Request-Id")
	if !generatedID.MatchString(id) {
		t.Fatalf("X-Request-Id = %q, want a generated id", id)
	}
	if got := e.origin.seen[0].Header.Values("X-Request-Id"); len(got) != 1 || got[0] != id {
		t.Errorf("origin saw X-Request-Id %q, want [%s]", got, id)
	}
	recs := jsonLines(t, e.lines(t))
	if len(recs) != 1 || recs[0]["client"] != "127.0.0.1" || recs[0]["request_id"] != id {
		t.Errorf("log %v, want client 127.0.0.1 and request_id %s", recs, id)
	}
}

// A trusted proxy's id is kept only when well formed: visible ASCII, at
// most 128 bytes.
func TestRequestIDFromTrustedProxy(t *testing.T) {
	e := newLoggedEdge(t, accesslog.JSON, "127.0.0.0/8")
	for _, tc := range []struct {
		id   string
		kept bool
	}{
		{"abc-123_XYZ.=/+", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"has space", false},
		{"tab\there", false},
		{"caf\u00e9", false},
	} {
		got := e.get(t, "/static/id.css", "X-Request-Id", tc.id).Header.Get("X-Request-Id")
		if kept := got == tc.id; kept != tc.kept || !kept && !generatedID.MatchString(got) {
			t.Errorf("incoming %q: answered %q, want kept %v", tc.id, got, tc.kept)
		}
	}
}

// Each request gets an id no other has.
func TestGeneratedRequestIDsDiffer(t *testing.T) {
	e := newLoggedEdge(t, accesslog.JSON)
	seen := map[string]bool{}
	for range 3 * idBatch {
		id := e.get(t, "/static/many.css").Header.Get("X-Request-Id")
		if seen[id] || !generatedID.MatchString(id) {
			t.Fatalf("id %q repeated or malformed", id)
		}
		seen[id] = true
	}
}

// rawRequest sends a request written by hand (header values net/http's client
// would refuse) and returns the response.
func rawRequest(t *testing.T, edgeURL, request string) *http.Response {
	t.Helper()
	u, _ := url.Parse(edgeURL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// hostileUA tries to close the quotes of the combined format and start a
// forged line, or a JSON string and its object, with bytes net/http
// accepts in a field value.
const hostileUA = "evil\" 200 0 \"-\" \"-\"\xff\xfe \\\"} , \"status\": 500, \"x\": {\""

// Hostile header values stay inside their field: the JSON line is valid
// and one line, and the combined line parses as one line, as nginx's
// format does.
func TestAccessLogHostileValues(t *testing.T) {
	for _, format := range []accesslog.Format{accesslog.JSON, accesslog.Combined} {
		e := newLoggedEdge(t, format)
		resp := rawRequest(t, e.url, "GET /static/h%22.css?q=\"x HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: "+hostileUA+
			"\r\nReferer: \"\\\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		lines := e.lines(t)
		if len(lines) != 1 {
			t.Fatalf("format %d: %d lines, want 1: %q", format, len(lines), lines)
		}
		if format == accesslog.JSON {
			rec := jsonLines(t, lines)[0]
			if rec["status"] != 200.0 || rec["user_agent"] != strings.ToValidUTF8(strings.Replace(hostileUA, "\xff\xfe", "\ufffd\ufffd", 1), "") || rec["referer"] != "\"\\" {
				t.Errorf("fields moved: %v", rec)
			}
			continue
		}
		m := combinedLine.FindStringSubmatch(lines[0] + "\n")
		if m == nil {
			t.Fatalf("combined line %q does not parse", lines[0])
		}
		want := []string{"127.0.0.1", "-", "GET", `/static/h%22.css?q=\x22x`, "HTTP/1.1", "200", fmt.Sprint(len("body of a.css")),
			`\x22\x5C`, `evil\x22 200 0 \x22-\x22 \x22-\x22\xFF\xFE \x5C\x22} , \x22status\x22: 500, \x22x\x22: {\x22`}
		for i, w := range want {
			if got := m[[]int{1, 2, 4, 5, 6, 7, 8, 9, 10}[i]]; got != w {
				t.Errorf("combined field %d = %q, want %q", i, got, w)
			}
		}
	}
}

// combinedLine reads a combined line as log parsers do.
var combinedLine = regexp.MustCompile(`^(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"\n$`)

// An upstream that times out (504) or fails is named in the access log, as
// one that answers is: the server tried, for a miss and for a request
// passed through. The old code logged "upstream":"" for every failure,
// which left an operator no way to tell which server of a pool was slow.
func TestAccessLogNamesTheUpstreamThatFailed(t *testing.T) {
	release := newGate()
	e := newLoggedEdgeOf(t, accesslog.JSON, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/static/slow" {
			release.wait()
		}
		w.Header().Set("Cache-Control", "max-age=60")
	}, origin.Options{HeaderTimeout: 100 * time.Millisecond})
	t.Cleanup(release.open) // before the origin closes
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, err := http.NewRequest(method, e.url+"/static/slow", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "www.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("%s: status %d, want 504", method, resp.StatusCode)
		}
	}
	originHost := strings.TrimPrefix(e.origin.URL, "http://")
	recs := jsonLines(t, e.lines(t))
	if len(recs) != 2 {
		t.Fatalf("%d lines, want 2", len(recs))
	}
	for _, rec := range recs {
		if rec["status"] != 504.0 || rec["upstream"] != originHost {
			t.Errorf("%v %v: status %v, upstream %q, want 504 and %q", rec["method"], rec["uri"], rec["status"], rec["upstream"], originHost)
		}
	}
}
