package policy

import (
	"net/http"
	"testing"
	"time"
)

func TestValidationHeader(t *testing.T) {
	h := ValidationHeader(resp(t, `ETag: W/"x"`, "Last-Modified: "+date(-time.Hour)))
	if h.Get("If-None-Match") != `W/"x"` || h.Get("If-Modified-Since") != date(-time.Hour) {
		t.Errorf("§4.3.1 got %v", h)
	}
	h = ValidationHeader(resp(t, "Date: "+date(0)))
	if len(h) != 0 {
		t.Errorf("§4.3.1 no validators: got %v, want nothing", h)
	}
}

func TestFreshen(t *testing.T) {
	lm := "Last-Modified: " + date(-24*time.Hour)
	tests := []struct {
		name     string
		stored   []string
		nm       []string
		ok       bool
		wantKeys map[string]string // "" = must be absent
	}{
		{"§4.3.4 strong ETag match updates", []string{`ETag: "a"`, "Cache-Control: max-age=1", "Test-Header: A", "Content-Length: 10"},
			[]string{`ETag: "a"`, "Cache-Control: max-age=3600", "Test-Header: B", "Content-Length: 0"}, true,
			map[string]string{"Cache-Control": "max-age=3600", "Test-Header": "B", "Content-Length": "10"}},
		{"§4.3.4 strong ETag mismatch", []string{`ETag: "a"`}, []string{`ETag: "b"`}, false, nil},
		{"§4.3.4 strong ETag vs weak stored", []string{`ETag: W/"a"`}, []string{`ETag: "a"`}, false, nil},
		{"§4.3.4 weak ETag matches weakly", []string{`ETag: W/"a"`}, []string{`ETag: W/"a"`}, true, nil},
		{"§4.3.4 Last-Modified match", []string{lm, "X: 1"}, []string{lm, "X: 2"}, true, map[string]string{"X": "2"}},
		{"§4.3.4 Last-Modified mismatch", []string{lm}, []string{"Last-Modified: " + date(0)}, false, nil},
		{"§4.3.4 no validators", []string{"X: 1"}, []string{"Y: 2"}, true, map[string]string{"X": "1", "Y": "2"}},
		{"§3.2 stored field kept when 304 omits it", []string{lm, "Test-Header: A"}, []string{lm}, true, map[string]string{"Test-Header": "A"}},
		{"§3.2 Content-Encoding not updated", []string{lm, "Content-Encoding: gzip"}, []string{lm, "Content-Encoding: br"}, true, map[string]string{"Content-Encoding": "gzip"}},
		{"§3.1 hop-by-hop of the 304 not stored", []string{lm}, []string{lm, "Connection: close", "Set-Cookie: a=c"}, true, map[string]string{"Connection": "", "Set-Cookie": ""}},
		{"§3.2 stale Age dropped", []string{lm, "Age: 100"}, []string{lm}, true, map[string]string{"Age": ""}},
		{"§5.2.2.4 new no-cache field list applies", []string{lm, "A: 1"}, []string{lm, `Cache-Control: no-cache="a"`}, true, map[string]string{"A": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, n := hdr(t, tt.stored...), hdr(t, tt.nm...)
			sBefore := s.Clone()
			got, ok := Freshen(s, n)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			for k, v := range tt.wantKeys {
				if got.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, got.Get(k), v)
				}
			}
			if len(s) != len(sBefore) {
				t.Error("stored header mutated")
			}
		})
	}
}

func TestPrecondition(t *testing.T) {
	lm := date(-time.Hour)
	stored := []string{`ETag: "v1"`, "Last-Modified: " + lm, "Date: " + date(0)}
	tests := []struct {
		name   string
		method string
		status int
		stored []string
		req    []string
		want   int
	}{
		{"RFC 9110 §13.1.2 If-None-Match matches", "GET", 200, stored, []string{`If-None-Match: "v1"`}, 304},
		{"RFC 9110 §13.1.2 weak comparison", "GET", 200, stored, []string{`If-None-Match: W/"v1"`}, 304},
		{"RFC 9110 §13.1.2 list with commas in tags", "GET", 200, stored, []string{`If-None-Match: "a,b", "v1"`}, 304},
		{"RFC 9110 §13.1.2 no match", "GET", 200, stored, []string{`If-None-Match: "v2"`}, 0},
		{"RFC 9110 §13.1.2 star", "HEAD", 200, stored, []string{`If-None-Match: *`}, 304},
		{"RFC 9110 §13.1.2 match on unsafe method is 412", "POST", 200, stored, []string{`If-None-Match: "v1"`}, 412},
		{"RFC 9110 §13.1.3 IMS ignored when INM present", "GET", 200, stored, []string{`If-None-Match: "v2"`, "If-Modified-Since: " + date(0)}, 0},
		{"RFC 9110 §13.1.3 IMS not modified", "GET", 200, stored, []string{"If-Modified-Since: " + lm}, 304},
		{"RFC 9110 §13.1.3 IMS modified", "GET", 200, stored, []string{"If-Modified-Since: " + date(-2*time.Hour)}, 0},
		{"RFC 9110 §13.1.3 invalid IMS ignored", "GET", 200, stored, []string{"If-Modified-Since: yesterday"}, 0},
		{"RFC 9111 §4.3.2 IMS against Date without Last-Modified", "GET", 200, []string{"Date: " + date(0)}, []string{"If-Modified-Since: " + date(0)}, 304},
		{"RFC 9110 §13.1.1 If-Match strong mismatch", "GET", 200, stored, []string{`If-Match: "v2"`}, 412},
		{"RFC 9110 §13.1.1 If-Match weak never matches", "GET", 200, stored, []string{`If-Match: W/"v1"`}, 412},
		{"RFC 9110 §13.1.1 If-Match match", "GET", 200, stored, []string{`If-Match: "v1"`}, 0},
		{"RFC 9110 §13.1.1 If-Match star", "GET", 200, stored, []string{`If-Match: *`}, 0},
		{"RFC 9110 §13.1.4 IUS fails", "GET", 200, stored, []string{"If-Unmodified-Since: " + date(-2*time.Hour)}, 412},
		{"RFC 9110 §13.1.4 IUS ignored with If-Match", "GET", 200, stored, []string{`If-Match: "v1"`, "If-Unmodified-Since: " + date(-2*time.Hour)}, 0},
		{"RFC 9110 §13.2.2 If-Match before If-None-Match", "GET", 200, stored, []string{`If-Match: "x"`, `If-None-Match: "v1"`}, 412},
		{"RFC 9110 §13.2.1 not for a stored 404", "GET", 404, stored, []string{`If-None-Match: "v1"`}, 0},
		{"RFC 9110 §13.1.2 weak stored tag matches weakly", "GET", 200, []string{`ETag: W/"v1"`}, []string{`If-None-Match: "v1"`}, 304},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := getReq(t, tt.req...)
			req.Method = tt.method
			r := resp(t, tt.stored...)
			r.Status = tt.status
			if got := Precondition(req, r); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
	_ = http.StatusOK
}
