package policy

import (
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestStorable(t *testing.T) {
	tests := []struct {
		name   string
		method string
		req    []string
		status int
		h      []string
		ok     bool
		reason string
	}{
		{"§3 max-age", "GET", nil, 200, []string{"Cache-Control: max-age=60"}, true, ""},
		{"§3 HEAD not stored (edge fills HEAD with GET)", "HEAD", nil, 200, []string{"Cache-Control: max-age=60"}, false, "method"},
		{"§3 POST not stored", "POST", nil, 200, []string{"Cache-Control: max-age=60"}, false, "method"},
		{"§3.3 206 not stored", "GET", nil, 206, []string{"Cache-Control: max-age=60"}, false, "status"},
		{"§4.3.4 304 not stored", "GET", nil, 304, []string{"Cache-Control: max-age=60"}, false, "status"},
		{"§3 1xx not stored", "GET", nil, 103, nil, false, "status"},
		{"edged: 400 with max-age not stored (CPDoS)", "GET", nil, 400, []string{"Cache-Control: public, max-age=60"}, false, "status"},
		{"edged: 413 with s-maxage not stored (CPDoS)", "GET", nil, 413, []string{"Cache-Control: s-maxage=60"}, false, "status"},
		{"edged: 431 with CDN-Cache-Control not stored (CPDoS)", "GET", nil, 431, []string{"CDN-Cache-Control: max-age=60"}, false, "status"},
		{"§3 414 with max-age stored (its URI is the key)", "GET", nil, 414, []string{"Cache-Control: max-age=60"}, true, ""},
		{"§3 405 heuristically stored", "GET", nil, 405, []string{"Last-Modified: " + date(-time.Hour), "Date: " + date(0)}, true, ""},
		{"§5.2.2.5 no-store", "GET", nil, 200, []string{"Cache-Control: max-age=60, No-Store"}, false, "no-store"},
		{"§5.2.1.5 request no-store", "GET", []string{"Cache-Control: no-store"}, 200, []string{"Cache-Control: max-age=60"}, false, "no-store"},
		{"§5.2.2.7 private", "GET", nil, 200, []string{"Cache-Control: private, max-age=60"}, false, "private"},
		{"§5.2.2.7 qualified private is storable", "GET", nil, 200, []string{`Cache-Control: private="X-User", max-age=60`}, true, ""},
		{"§3.5 Authorization without permission", "GET", []string{"Authorization: Basic x"}, 200, []string{"Cache-Control: max-age=60"}, false, "authorization"},
		{"§3.5 Authorization + public", "GET", []string{"Authorization: Basic x"}, 200, []string{"Cache-Control: public, max-age=60"}, true, ""},
		{"§3.5 Authorization + s-maxage", "GET", []string{"Authorization: Basic x"}, 200, []string{"Cache-Control: s-maxage=60"}, true, ""},
		{"§3.5 Authorization + must-revalidate", "GET", []string{"Authorization: Basic x"}, 200, []string{"Cache-Control: must-revalidate, max-age=60"}, true, ""},
		{"§3.5 Authorization + must-revalidate, no lifetime", "GET", []string{"Authorization: Basic x"}, 200, []string{"Cache-Control: must-revalidate", `ETag: "a"`}, false, "authorization"},
		{"§3.5 Authorization + must-revalidate, heuristic only", "GET", []string{"Authorization: Basic x"}, 200, []string{"Cache-Control: must-revalidate", "Last-Modified: " + date(-time.Hour), "Date: " + date(0)}, false, "authorization"},
		{"§3.5 Authorization + must-revalidate, max-age=0", "GET", []string{"Authorization: Basic x"}, 200, []string{"Cache-Control: must-revalidate, max-age=0"}, false, "authorization"},
		{"edged: cookie, no freshness", "GET", []string{"Cookie: s=alice"}, 200, nil, false, "cookie"},
		{"edged: cookie, max-age=0", "GET", []string{"Cookie: s=alice"}, 200, []string{"Cache-Control: max-age=0"}, false, "cookie"},
		{"edged: cookie, invalid max-age", "GET", []string{"Cookie: s=alice"}, 200, []string{"Cache-Control: max-age=x"}, false, "cookie"},
		{"edged: cookie, heuristic (Last-Modified)", "GET", []string{"Cookie: s=alice"}, 200, []string{"Last-Modified: " + date(-time.Hour), "Date: " + date(0)}, false, "cookie"},
		{"edged: cookie, no-cache with validator", "GET", []string{"Cookie: s=alice"}, 200, []string{"Cache-Control: no-cache", `ETag: "a"`}, false, "cookie"},
		{"edged: cookie, Age beyond max-age", "GET", []string{"Cookie: s=alice"}, 200, []string{"Cache-Control: max-age=60", "Age: 60"}, false, "cookie"},
		{"edged: cookie, Expires in the past", "GET", []string{"Cookie: s=alice"}, 200, []string{"Expires: " + date(-time.Minute), "Date: " + date(0)}, false, "cookie"},
		{"edged: cookie, Expires without Date", "GET", []string{"Cookie: s=alice"}, 200, []string{"Expires: " + date(time.Hour)}, false, "cookie"},
		{"edged: cookie, max-age=0 over a future Expires", "GET", []string{"Cookie: s=alice"}, 200, []string{"Cache-Control: max-age=0", "Expires: " + date(time.Hour), "Date: " + date(0)}, false, "cookie"},
		{"edged: cookie, max-age", "GET", []string{"Cookie: s=alice"}, 200, []string{"Cache-Control: max-age=60", "Age: 59"}, true, ""},
		{"edged: cookie, Expires after Date", "GET", []string{"Cookie: s=alice"}, 200, []string{"Expires: " + date(time.Hour), "Date: " + date(0)}, true, ""},
		{"edged: cookie, CDN-Cache-Control max-age", "GET", []string{"Cookie: s=alice"}, 200, []string{"CDN-Cache-Control: max-age=60"}, true, ""},
		{"edged: cookie, public", "GET", []string{"Cookie: s=alice"}, 200, []string{"Cache-Control: public"}, true, ""},
		{"edged: cookie, s-maxage=0", "GET", []string{"Cookie: s=alice"}, 200, []string{"Cache-Control: s-maxage=0"}, true, ""},
		{"edged: empty cookie is none", "GET", []string{"Cookie: "}, 200, nil, true, ""},
		{"edged: Set-Cookie needs public or s-maxage", "GET", nil, 200, []string{"Cache-Control: max-age=60", "Set-Cookie: a=b"}, false, "set-cookie"},
		{"edged: Set-Cookie + s-maxage", "GET", nil, 200, []string{"Cache-Control: s-maxage=60", "Set-Cookie: a=b"}, true, ""},
		{"edged: Set-Cookie + public", "GET", nil, 200, []string{"Cache-Control: public", "Set-Cookie: a=b"}, true, ""},
		{"§4.1 Vary star", "GET", nil, 200, []string{"Cache-Control: max-age=60", "Vary: Accept, *"}, false, "vary-star"},
		{"§3 heuristic status without freshness", "GET", nil, 404, nil, true, ""},
		{"§3 non-heuristic status without freshness", "GET", nil, 302, nil, false, "no-freshness"},
		{"§3 non-heuristic status with Expires", "GET", nil, 302, []string{"Expires: " + date(60)}, true, ""},
		{"§5.3 invalid Expires still permits storage", "GET", nil, 503, []string{"Expires: 0"}, true, ""},
		{"§3 public makes any status storable", "GET", nil, 599, []string{"Cache-Control: public"}, true, ""},
		{"edged: no-cache with validator", "GET", nil, 302, []string{"Cache-Control: no-cache", `ETag: "a"`}, true, ""},
		{"edged: no-cache without validator", "GET", nil, 302, []string{"Cache-Control: no-cache"}, false, "no-freshness"},
		{"RFC 9213 §2.1 CDN-Cache-Control no-store wins", "GET", nil, 200, []string{"Cache-Control: max-age=60", "CDN-Cache-Control: no-store"}, false, "no-store"},
		{"RFC 9213 §2.1 CDN-Cache-Control replaces CC no-store", "GET", nil, 200, []string{"Cache-Control: no-store", "CDN-Cache-Control: max-age=60"}, true, ""},
		{"RFC 9213 §2.1 invalid CDN-Cache-Control ignored", "GET", nil, 200, []string{"Cache-Control: no-store", `CDN-Cache-Control: max-age="60"`}, false, "no-store"},
		{"Surrogate-Control no-store", "GET", nil, 200, []string{"Cache-Control: max-age=60", "Surrogate-Control: no-store"}, false, "no-store"},
		{"CDN-Cache-Control over Surrogate-Control", "GET", nil, 200, []string{"Surrogate-Control: no-store", "CDN-Cache-Control: max-age=60"}, true, ""},
		{"§5.2.2.3 must-understand + understood status ignores no-store", "GET", nil, 200, []string{"Cache-Control: must-understand, no-store, max-age=60"}, true, ""},
		{"§5.2.2.3 must-understand + unknown status", "GET", nil, 599, []string{"Cache-Control: must-understand, no-store, max-age=60"}, false, "must-understand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := getReq(t, tt.req...)
			r.Method = tt.method
			ok, reason := Storable(r, tt.status, hdr(t, tt.h...), Options{})
			if ok != tt.ok || reason != tt.reason {
				t.Errorf("got %v %q, want %v %q", ok, reason, tt.ok, tt.reason)
			}
		})
	}
}

func TestStoredHeader(t *testing.T) {
	tests := []struct {
		name string
		h    []string
		gone []string
		kept []string
	}{
		{"§3.1 Connection and listed fields", []string{"Connection: a, B", "A: 1", "B: 2", "C: 3"}, []string{"Connection", "A", "B"}, []string{"C"}},
		{"§3.1 hop-by-hop", []string{"Keep-Alive: x", "Proxy-Connection: x", "TE: x", "Transfer-Encoding: chunked", "Upgrade: x", "Trailer: x", "Content-Type: text/plain"}, []string{"Keep-Alive", "Proxy-Connection", "Te", "Transfer-Encoding", "Upgrade", "Trailer"}, []string{"Content-Type"}},
		{"§3.1 proxy auth fields", []string{"Proxy-Authenticate: x", "Proxy-Authentication-Info: x", "Proxy-Authorization: x", "WWW-Authenticate: x"}, []string{"Proxy-Authenticate", "Proxy-Authentication-Info", "Proxy-Authorization"}, []string{"Www-Authenticate"}},
		{"edged: cookies; Set-Cookie2 is an ordinary field", []string{"Set-Cookie: a=b", "Set-Cookie2: a=b"}, []string{"Set-Cookie"}, []string{"Set-Cookie2"}},
		{"§5.2.2.4 no-cache fields", []string{`Cache-Control: no-cache="a, b"`, "Cache-Control: max-age=60", "A: 1", "B: 2", "C: 3"}, []string{"A", "B"}, []string{"C", "Cache-Control"}},
		{"§5.2.2.7 private fields", []string{`Cache-Control: private="X-User"`, "X-User: me", "X-Other: 1"}, []string{"X-User"}, []string{"X-Other"}},
		{"RFC 9213 targeted private fields", []string{`CDN-Cache-Control: private="x-user"`, "X-User: me"}, []string{"X-User"}, []string{"Cdn-Cache-Control"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := hdr(t, tt.h...)
			before := in.Clone()
			out := StoredHeader(in)
			for _, k := range tt.gone {
				if _, ok := out[k]; ok {
					t.Errorf("%s kept", k)
				}
			}
			for _, k := range tt.kept {
				if _, ok := out[k]; !ok {
					t.Errorf("%s dropped", k)
				}
			}
			for k, v := range before {
				if !slices.Equal(in[k], v) {
					t.Errorf("input mutated at %s", k)
				}
			}
		})
	}
}

// TestOwnHeader: what StoredHeader drops but the fetching client is sent.
func TestOwnHeader(t *testing.T) {
	tests := []struct {
		name string
		h    []string
		want []string // OwnHeader's field names, sorted
	}{
		{"nothing qualified", []string{"Cache-Control: max-age=60", "A: 1"}, nil},
		{"§5.2.2.4 no-cache fields", []string{`Cache-Control: no-cache="a, b"`, "Cache-Control: max-age=60", "A: 1", "B: 2", "C: 3"}, []string{"A", "B"}},
		{"§5.2.2.7 private fields", []string{`Cache-Control: private="X-User"`, "X-User: me", "X-Other: 1"}, []string{"X-User"}},
		{"RFC 9213 targeted private fields", []string{`CDN-Cache-Control: private="x-user"`, "X-User: me"}, []string{"X-User"}},
		{"a listed field that is absent", []string{`Cache-Control: private="x-user"`}, nil},
		{"edged: Set-Cookie", []string{"Set-Cookie: a=b", "Cache-Control: max-age=60"}, []string{"Set-Cookie"}},
		{"RFC 9110 §7.6.1: hop-by-hop never", []string{`Cache-Control: private="upgrade, a"`, "Upgrade: x", "Connection: a", "A: 1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := OwnHeader(hdr(t, tt.h...))
			got := slices.Sorted(maps.Keys(out))
			if !slices.Equal(got, tt.want) {
				t.Errorf("OwnHeader fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNotModifiedOwnHeader(t *testing.T) {
	tests := []struct {
		name       string
		stored, nm []string
		want       []string // NotModifiedOwnHeader's field names, sorted
	}{
		{"nothing", []string{"Cache-Control: max-age=60", "X-User: a"}, []string{"X-User: b"}, nil},
		{"the 304's Set-Cookie", []string{"Cache-Control: max-age=60"}, []string{"Set-Cookie: s=b"}, []string{"Set-Cookie"}},
		{"named by the stored Cache-Control", []string{`Cache-Control: private="X-User", max-age=60`}, []string{"X-User: b", "X-Other: 1"}, []string{"X-User"}},
		{"named by the 304's", []string{"Cache-Control: max-age=60"}, []string{`Cache-Control: no-cache="X-Trace"`, "X-Trace: t"}, []string{"X-Trace"}},
		{"named by the stored CDN-Cache-Control", []string{`CDN-Cache-Control: private="x-user"`}, []string{"X-User: b"}, []string{"X-User"}},
		{"fields a 304 does not update", []string{`Cache-Control: private="Content-Length, Vary, A"`}, []string{"Content-Length: 0", "Vary: B", "A: 1"}, []string{"A"}},
		{"hop-by-hop never", []string{`Cache-Control: private="Upgrade, A"`}, []string{"Upgrade: x", "Connection: a", "A: 1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := NotModifiedOwnHeader(hdr(t, tt.stored...), hdr(t, tt.nm...))
			if got := slices.Sorted(maps.Keys(out)); !slices.Equal(got, tt.want) {
				t.Errorf("NotModifiedOwnHeader fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClientHeader(t *testing.T) {
	for _, shield := range []bool{false, true} {
		h := hdr(t, "CDN-Cache-Control: max-age=60", "Surrogate-Control: max-age=60", "Cache-Control: max-age=5")
		ClientHeader(h, Options{Shield: shield})
		_, cdn := h["Cdn-Cache-Control"]
		_, sc := h["Surrogate-Control"]
		if cdn != shield || sc != shield || h.Get("Cache-Control") == "" {
			t.Errorf("RFC 9213 §2.1 shield=%v: got CDN-Cache-Control %v Surrogate-Control %v, %v", shield, cdn, sc, h)
		}
	}
	_ = http.Header{}
}

// CredentialsAllow alone: a 304 to a request with credentials refreshes a
// stored response only when the 304 itself says it may be shared.
func TestCredentialsAllow(t *testing.T) {
	tests := []struct {
		name   string
		req    []string
		h      []string
		ok     bool
		reason string
	}{
		{"no credentials", nil, nil, true, ""},
		{"cookie, 304 without freshness", []string{"Cookie: s=alice"}, []string{`ETag: "a"`}, false, "cookie"},
		{"cookie, 304 with max-age", []string{"Cookie: s=alice"}, []string{"Cache-Control: max-age=60"}, true, ""},
		{"authorization, 304 with max-age only", []string{"Authorization: Bearer x"}, []string{"Cache-Control: max-age=60"}, false, "authorization"},
		{"authorization, 304 with s-maxage", []string{"Authorization: Bearer x", "Cookie: s=alice"}, []string{"Cache-Control: s-maxage=60"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := CredentialsAllow(hdr(t, tt.req...), hdr(t, tt.h...), Options{})
			if ok != tt.ok || reason != tt.reason {
				t.Errorf("got %v %q, want %v %q", ok, reason, tt.ok, tt.reason)
			}
		})
	}
}
