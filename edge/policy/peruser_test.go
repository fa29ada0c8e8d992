package policy

import (
	"testing"
	"time"
)

// TestPerUser: a response to credentials is marked unless it says it is
// for shared caches (public or s-maxage, in the effective field).
func TestPerUser(t *testing.T) {
	tests := []struct {
		name string
		req  []string
		h    []string
		want bool
	}{
		{"no credentials", nil, []string{"Cache-Control: max-age=60"}, false},
		{"empty cookie", []string{"Cookie: "}, []string{"Cache-Control: max-age=60"}, false},
		{"cookie, max-age", []string{"Cookie: s=alice"}, []string{"Cache-Control: max-age=60"}, true},
		{"cookie, Expires", []string{"Cookie: s=alice"}, []string{"Expires: " + date(time.Minute), "Date: " + date(0)}, true},
		{"cookie, targeted max-age", []string{"Cookie: s=alice"}, []string{"CDN-Cache-Control: max-age=60"}, true},
		{"cookie, public only outside the targeted field", []string{"Cookie: s=alice"}, []string{"CDN-Cache-Control: max-age=60", "Cache-Control: public"}, true},
		{"authorization, must-revalidate", []string{"Authorization: Bearer x"}, []string{"Cache-Control: max-age=60, must-revalidate"}, true},
		{"cookie, public", []string{"Cookie: s=alice"}, []string{"Cache-Control: public, max-age=60"}, false},
		{"cookie, s-maxage", []string{"Cookie: s=alice"}, []string{"Cache-Control: s-maxage=60"}, false},
		{"authorization, targeted public", []string{"Authorization: Bearer x"}, []string{"CDN-Cache-Control: public, max-age=60"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PerUser(hdr(t, tt.req...), hdr(t, tt.h...), Options{}); got != tt.want {
				t.Errorf("PerUser = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMustRevalidateMark: a response marked Response.MustRevalidate is
// served while fresh, and once stale (expired or soft-purged) never
// without validation, whatever the request or the response allows (RFC
// 9111 §5.2.2.2); unmarked, the same response is served stale.
func TestMustRevalidateMark(t *testing.T) {
	const h = "Cache-Control: max-age=1, stale-while-revalidate=600, stale-if-error=600"
	stale := t0.Add(30 * time.Second)
	for _, req := range [][]string{nil, {"Cache-Control: max-stale=600"}, {"Cache-Control: max-stale"}, {"Cache-Control: stale-if-error=600"}} {
		for _, purged := range []bool{false, true} {
			r := resp(t, h)
			if purged {
				r.Purged, r.PurgedAt = true, t0.Add(20*time.Second)
			}
			if d := Decide(hdr(t, req...), r, stale, Options{}); d.Action != ServeStale {
				t.Fatalf("%q, purged %v, unmarked: %+v, want it served stale (the test's premise)", req, purged, d)
			}
			r.MustRevalidate = true
			if d := Decide(hdr(t, req...), r, stale, Options{}); d.Action != Revalidate {
				t.Errorf("%q, purged %v: %+v, want Revalidate", req, purged, d)
			}
			if StaleIfError(hdr(t, req...), r, stale, Options{}) {
				t.Errorf("%q, purged %v: StaleIfError allowed a marked response", req, purged)
			}
		}
	}
	r := resp(t, h)
	r.MustRevalidate = true
	if d := Decide(hdr(t, "Cache-Control: max-stale=600"), r, t0.Add(500*time.Millisecond), Options{}); d.Action != Serve {
		t.Errorf("fresh and marked: %+v, want Serve", d)
	}
}
