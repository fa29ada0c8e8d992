package policy

import (
	"net/http"
	"testing"
	"time"

	"edged/internal/fielderr/fieldtest"
)

func TestLifetime(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		h         []string
		want      time.Duration
		heuristic bool
	}{
		{"§4.2.1 max-age", 200, []string{"Cache-Control: max-age=60"}, 60 * time.Second, false},
		{"§4.2.1 s-maxage overrides max-age", 200, []string{"Cache-Control: max-age=3600, s-maxage=1"}, time.Second, false},
		{"§4.2.1 s-maxage overrides shorter max-age", 200, []string{"Cache-Control: max-age=1", "Cache-Control: s-maxage=3600"}, time.Hour, false},
		{"§4.2.1 max-age overrides Expires", 200, []string{"Cache-Control: max-age=0", "Expires: " + date(time.Hour), "Date: " + date(0)}, 0, false},
		{"§4.2.1 Expires minus Date", 200, []string{"Expires: " + date(time.Hour), "Date: " + date(0)}, time.Hour, false},
		{"§5.3 Expires in the past", 200, []string{"Expires: " + date(-time.Hour), "Date: " + date(0)}, 0, false},
		{"§5.3 invalid Expires is expired", 200, []string{"Expires: 0", "Date: " + date(0)}, 0, false},
		{"§4.2.1 conflicting Expires lines", 200, []string{"Expires: " + date(time.Hour), "Expires: " + date(2*time.Hour)}, 0, false},
		{"§4.2.1 Date missing: response time", 200, []string{"Expires: " + date(time.Minute)}, time.Minute, false},
		{"§4.2.1 invalid max-age is stale", 200, []string{"Cache-Control: max-age=abc", "Expires: " + date(time.Hour)}, 0, false},
		{"§4.2.1 negative max-age is stale", 200, []string{"Cache-Control: max-age=-100"}, 0, false},
		{"§1.2.2 huge max-age saturates", 200, []string{"Cache-Control: max-age=99999999999"}, (1 << 31) * time.Second, false},
		{"§4.2.2 heuristic 10%", 200, []string{"Last-Modified: " + date(-10*time.Hour), "Date: " + date(0)}, time.Hour, true},
		{"§4.2.2 heuristic capped", 200, []string{"Last-Modified: " + date(-1000*time.Hour), "Date: " + date(0)}, 24 * time.Hour, true},
		{"§4.2.2 no heuristic for 302", 302, []string{"Last-Modified: " + date(-10*time.Hour), "Date: " + date(0)}, 0, false},
		{"§4.2.2 no heuristic for 503", 503, []string{"Last-Modified: " + date(-10*time.Hour), "Date: " + date(0)}, 0, false},
		{"§4.2.2 heuristic with public", 599, []string{"Cache-Control: public", "Last-Modified: " + date(-10*time.Hour), "Date: " + date(0)}, time.Hour, true},
		{"§4.2.2 no heuristic with explicit Expires", 200, []string{"Expires: 0", "Last-Modified: " + date(-10*time.Hour)}, 0, false},
		{"§4.2.2 no heuristic without Last-Modified", 200, nil, 0, false},
		{"RFC 9213 §2.1 CDN-Cache-Control beats Cache-Control", 200, []string{"Cache-Control: max-age=3600", "CDN-Cache-Control: max-age=1"}, time.Second, false},
		{"RFC 9213 §2.1 targeted field ignores Expires", 200, []string{"CDN-Cache-Control: public", "Expires: " + date(time.Hour)}, 0, false},
		{"RFC 9213 §2.1 CDN max-age=0 with future Expires", 200, []string{"CDN-Cache-Control: max-age=0", "Expires: " + date(time.Hour), "Date: " + date(0)}, 0, false},
		{"Surrogate-Control beats Cache-Control", 200, []string{"Cache-Control: max-age=1", "Surrogate-Control: max-age=3600"}, time.Hour, false},
		{"Surrogate-Control max-age =100 is invalid", 200, []string{"Cache-Control: max-age=3600", "Surrogate-Control: max-age =100"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resp(t, tt.h...)
			r.Status = tt.status
			got, heur := Lifetime(r, Options{})
			if got != tt.want || heur != tt.heuristic {
				t.Errorf("got %v %v, want %v %v", got, heur, tt.want, tt.heuristic)
			}
		})
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		name        string
		h           []string
		reqT, respT time.Time
		now         time.Time
		want        time.Duration
	}{
		{"§4.2.3 resident time", nil, t0, t0, t0.Add(10 * time.Second), 10 * time.Second},
		{"§4.2.3 Age header", []string{"Age: 100"}, t0, t0, t0, 100 * time.Second},
		{"§4.2.3 response_delay added to age_value", []string{"Age: 100"}, t0.Add(-5 * time.Second), t0, t0, 105 * time.Second},
		{"§4.2.3 apparent age from Date", []string{"Date: " + date(-30*time.Second)}, t0, t0, t0, 30 * time.Second},
		{"§4.2.3 max of apparent and corrected", []string{"Date: " + date(-30*time.Second), "Age: 10"}, t0, t0, t0, 30 * time.Second},
		{"§4.2.3 Date in the future: apparent 0", []string{"Date: " + date(time.Hour)}, t0, t0, t0, 0},
		{"§5.1 negative Age ignored", []string{"Age: -7200"}, t0, t0, t0, 0},
		{"§5.1 non-numeric Age ignored", []string{"Age: abc"}, t0, t0, t0, 0},
		{"§5.1 float Age ignored", []string{"Age: 7200.0"}, t0, t0, t0, 0},
		{"§5.1 first list element", []string{"Age: 7200, 0"}, t0, t0, t0, 7200 * time.Second},
		{"§1.2.2 huge Age saturates", []string{"Age: 999999999999999999999"}, t0, t0, t0, (1 << 31) * time.Second},
		{"§4.2.3 missing times", []string{"Age: 5"}, time.Time{}, time.Time{}, t0, 5 * time.Second},
		{"§4.2.3 clock before response: no negative resident", nil, t0, t0, t0.Add(-time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Response{Status: 200, Header: hdr(t, tt.h...), RequestTime: tt.reqT, ResponseTime: tt.respT}
			if got := Age(r, tt.now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		req        []string
		h          []string
		after      time.Duration
		action     Action
		background bool
		detail     string
	}{
		{"§4.2 fresh", nil, []string{"Cache-Control: max-age=60"}, 10 * time.Second, Serve, false, ""},
		{"§4.2 stale", nil, []string{"Cache-Control: max-age=60"}, 61 * time.Second, Revalidate, false, "stale"},
		{"§4.2 exactly at lifetime is stale", nil, []string{"Cache-Control: max-age=60"}, 60 * time.Second, Revalidate, false, "stale"},
		{"§4.2 max-age=0 is stale at once", nil, []string{"Cache-Control: max-age=0", `ETag: "a"`}, 0, Revalidate, false, "stale"},
		{"§4.2 Age header beyond max-age", nil, []string{"Cache-Control: max-age=10", "Age: 15"}, 0, Revalidate, false, "stale"},
		{"§5.2.2.4 no-cache even when fresh", nil, []string{"Cache-Control: max-age=10000, No-Cache"}, 0, Revalidate, false, "no-cache"},
		{"§5.2.2.4 qualified no-cache does not force", nil, []string{`Cache-Control: max-age=100, no-cache="X-A"`}, 0, Serve, false, ""},
		{"§5.2.1.4 request no-cache", []string{"Cache-Control: no-cache"}, []string{"Cache-Control: max-age=100"}, 0, Revalidate, false, "request no-cache"},
		{"§5.4 Pragma without Cache-Control", []string{"Pragma: no-cache"}, []string{"Cache-Control: max-age=100"}, 0, Revalidate, false, "pragma no-cache"},
		{"§5.4 Pragma ignored with Cache-Control", []string{"Pragma: no-cache", "Cache-Control: max-stale"}, []string{"Cache-Control: max-age=100"}, 0, Serve, false, ""},
		{"§5.2.1.1 request max-age", []string{"Cache-Control: max-age=5"}, []string{"Cache-Control: max-age=100"}, 10 * time.Second, Revalidate, false, "request max-age"},
		{"§5.2.1.1 request max-age satisfied", []string{"Cache-Control: max-age=50"}, []string{"Cache-Control: max-age=100"}, 10 * time.Second, Serve, false, ""},
		{"§5.2.1.1 request max-age=0", []string{"Cache-Control: max-age=0"}, []string{"Cache-Control: max-age=100"}, time.Second, Revalidate, false, "request max-age"},
		{"§5.2.1.3 min-fresh not met", []string{"Cache-Control: min-fresh=60"}, []string{"Cache-Control: max-age=100"}, 50 * time.Second, Revalidate, false, "min-fresh"},
		{"§5.2.1.3 min-fresh met", []string{"Cache-Control: min-fresh=50"}, []string{"Cache-Control: max-age=100"}, 50 * time.Second, Serve, false, ""},
		{"§5.2.1.2 max-stale unbounded", []string{"Cache-Control: max-stale"}, []string{"Cache-Control: max-age=1"}, 10 * time.Minute, ServeStale, false, "max-stale"},
		{"edged: max-stale capped at 10 minutes", []string{"Cache-Control: max-stale"}, []string{"Cache-Control: max-age=1"}, 10*time.Minute + 2*time.Second, Revalidate, false, "stale"},
		{"edged: max-stale=N capped at 10 minutes", []string{"Cache-Control: max-stale=99999"}, []string{"Cache-Control: max-age=1"}, 10*time.Minute + 2*time.Second, Revalidate, false, "stale"},
		{"§5.2.1.2 invalid max-stale", []string{"Cache-Control: max-stale=x"}, []string{"Cache-Control: max-age=1"}, 2 * time.Second, Revalidate, false, "stale"},
		{"§5.2.1.2 max-stale within bound", []string{"Cache-Control: max-stale=100"}, []string{"Cache-Control: max-age=10"}, 60 * time.Second, ServeStale, false, "max-stale"},
		{"§5.2.1.2 max-stale exceeded", []string{"Cache-Control: max-stale=10"}, []string{"Cache-Control: max-age=10"}, 60 * time.Second, Revalidate, false, "stale"},
		{"§5.2.2.2 must-revalidate forbids max-stale", []string{"Cache-Control: max-stale"}, []string{"Cache-Control: max-age=1, must-revalidate"}, time.Minute, Revalidate, false, "stale"},
		{"§5.2.2.8 proxy-revalidate forbids max-stale", []string{"Cache-Control: max-stale"}, []string{"Cache-Control: max-age=1, proxy-revalidate"}, time.Minute, Revalidate, false, "stale"},
		{"§5.2.2.10 s-maxage forbids max-stale", []string{"Cache-Control: max-stale"}, []string{"Cache-Control: s-maxage=1"}, time.Minute, Revalidate, false, "stale"},
		{"RFC 5861 §3 stale-while-revalidate", nil, []string{"Cache-Control: max-age=10, stale-while-revalidate=60"}, 30 * time.Second, ServeStale, true, "stale-while-revalidate"},
		{"RFC 5861 §3 beyond the window", nil, []string{"Cache-Control: max-age=10, stale-while-revalidate=60"}, 71 * time.Second, Revalidate, false, "stale"},
		{"RFC 5861 §3 must-revalidate forbids SWR", nil, []string{"Cache-Control: max-age=10, stale-while-revalidate=60, must-revalidate"}, 30 * time.Second, Revalidate, false, "stale"},
		{"RFC 5861 §3 no-cache forbids SWR", nil, []string{"Cache-Control: max-age=10, stale-while-revalidate=60, no-cache"}, 30 * time.Second, Revalidate, false, "no-cache"},
		{"RFC 5861 §3 s-maxage allows explicit SWR", nil, []string{"Cache-Control: s-maxage=10, stale-while-revalidate=60"}, 30 * time.Second, ServeStale, true, "stale-while-revalidate"},
		{"RFC 9213 CDN-Cache-Control no-cache", nil, []string{"CDN-Cache-Control: no-cache", "Cache-Control: max-age=10000"}, 0, Revalidate, false, "no-cache"},
		{"RFC 9213 long CDN max-age over short CC", nil, []string{"CDN-Cache-Control: max-age=3600", "Cache-Control: max-age=1"}, 10 * time.Second, Serve, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(hdr(t, tt.req...), resp(t, tt.h...), t0.Add(tt.after), Options{})
			if d.Action != tt.action || d.Background != tt.background || d.Detail != tt.detail {
				t.Errorf("got %+v, want action %v background %v detail %q", d, tt.action, tt.background, tt.detail)
			}
		})
	}
}

// Options.MaxStale caps a client's max-stale; Options.IgnoreClientNoCache
// declines a request's demands for validation of a fresh response; Fwd
// tells a fresh response the request refused from a stale one (RFC 9211
// §2.2).
func TestDecideOptions(t *testing.T) {
	ignore := Options{IgnoreClientNoCache: true}
	tests := []struct {
		name   string
		opt    Options
		req    []string
		h      []string
		after  time.Duration
		action Action
		detail string
		fwd    string
	}{
		{"cap", Options{MaxStale: time.Minute}, []string{"Cache-Control: max-stale"}, []string{"Cache-Control: max-age=10"}, 70 * time.Second, ServeStale, "max-stale", ""},
		{"cap exceeded", Options{MaxStale: time.Minute}, []string{"Cache-Control: max-stale"}, []string{"Cache-Control: max-age=10"}, 71 * time.Second, Revalidate, "stale", FwdStale},
		{"client's bound below the cap", Options{MaxStale: time.Hour}, []string{"Cache-Control: max-stale=30"}, []string{"Cache-Control: max-age=10"}, 41 * time.Second, Revalidate, "stale", FwdStale},
		{"NoMaxStale: no max-stale", Options{NoMaxStale: true}, []string{"Cache-Control: max-stale"}, []string{"Cache-Control: max-age=10"}, 11 * time.Second, Revalidate, "stale", FwdStale},
		{"fresh, request no-cache", Options{}, []string{"Cache-Control: no-cache"}, []string{"Cache-Control: max-age=100"}, 0, Revalidate, "request no-cache", FwdRequest},
		{"fresh, Pragma no-cache", Options{}, []string{"Pragma: no-cache"}, []string{"Cache-Control: max-age=100"}, 0, Revalidate, "pragma no-cache", FwdRequest},
		{"fresh, request max-age=0", Options{}, []string{"Cache-Control: max-age=0"}, []string{"Cache-Control: max-age=100"}, time.Second, Revalidate, "request max-age", FwdRequest},
		{"fresh, min-fresh", Options{}, []string{"Cache-Control: min-fresh=60"}, []string{"Cache-Control: max-age=100"}, 50 * time.Second, Revalidate, "min-fresh", FwdRequest},
		{"stale, request no-cache", Options{}, []string{"Cache-Control: no-cache"}, []string{"Cache-Control: max-age=100"}, 101 * time.Second, Revalidate, "request no-cache", FwdStale},
		{"fresh, response no-cache", Options{}, nil, []string{"Cache-Control: max-age=100, no-cache"}, 0, Revalidate, "no-cache", FwdStale},
		{"ignore: request no-cache", ignore, []string{"Cache-Control: no-cache"}, []string{"Cache-Control: max-age=100"}, 0, Serve, "", ""},
		{"ignore: Pragma no-cache", ignore, []string{"Pragma: no-cache"}, []string{"Cache-Control: max-age=100"}, 0, Serve, "", ""},
		{"ignore: request max-age=0", ignore, []string{"Cache-Control: max-age=0"}, []string{"Cache-Control: max-age=100"}, time.Second, Serve, "", ""},
		{"ignore: min-fresh", ignore, []string{"Cache-Control: min-fresh=60"}, []string{"Cache-Control: max-age=100"}, 50 * time.Second, Serve, "", ""},
		{"ignore: stale still revalidated", ignore, []string{"Cache-Control: no-cache"}, []string{"Cache-Control: max-age=100"}, 101 * time.Second, Revalidate, "stale", FwdStale},
		{"ignore: response no-cache still counts", ignore, nil, []string{"Cache-Control: max-age=100, no-cache"}, 0, Revalidate, "no-cache", FwdStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(hdr(t, tt.req...), resp(t, tt.h...), t0.Add(tt.after), tt.opt)
			if d.Action != tt.action || d.Detail != tt.detail || d.Fwd != tt.fwd {
				t.Errorf("got %+v, want action %v detail %q fwd %q", d, tt.action, tt.detail, tt.fwd)
			}
		})
	}
}

// A soft-purged response is stale now; the origin's stale-while-revalidate
// counts from the purge (Fastly's soft purge), under the conditions RFC 9111
// §4.2.4 and RFC 5861 §3 set for any stale response.
func TestDecidePurged(t *testing.T) {
	const purgedAt = 100 * time.Second // after the response was received at t0
	tests := []struct {
		name       string
		req        []string
		h          []string
		after      time.Duration // since the purge
		unknown    bool          // purged at an unknown time (or by a hard purge)
		action     Action
		background bool
		detail     string
		ttl        time.Duration
	}{
		{"fresh, no stale-while-revalidate", nil, []string{"Cache-Control: max-age=600"}, time.Second, false, Revalidate, false, "purged", -time.Second},
		{"fresh, within stale-while-revalidate", nil, []string{"Cache-Control: max-age=600, stale-while-revalidate=30"}, 10 * time.Second, false, ServeStale, true, "purged stale-while-revalidate", -10 * time.Second},
		{"window counts from the purge", nil, []string{"Cache-Control: max-age=600, stale-while-revalidate=30"}, 31 * time.Second, false, Revalidate, false, "purged", -31 * time.Second},
		{"expired before the purge: counts from expiry", nil, []string{"Cache-Control: max-age=60, stale-while-revalidate=60"}, 10 * time.Second, false, ServeStale, true, "purged stale-while-revalidate", -50 * time.Second},
		{"expired before the purge, beyond its window", nil, []string{"Cache-Control: max-age=60, stale-while-revalidate=60"}, 25 * time.Second, false, Revalidate, false, "purged", -65 * time.Second},
		{"unknown purge time", nil, []string{"Cache-Control: max-age=600, stale-while-revalidate=30"}, time.Second, true, Revalidate, false, "purged", 499 * time.Second},
		{"must-revalidate forbids", nil, []string{"Cache-Control: max-age=600, stale-while-revalidate=30, must-revalidate"}, time.Second, false, Revalidate, false, "purged", -time.Second},
		{"proxy-revalidate forbids", nil, []string{"Cache-Control: max-age=600, stale-while-revalidate=30, proxy-revalidate"}, time.Second, false, Revalidate, false, "purged", -time.Second},
		{"no-cache forbids", nil, []string{"Cache-Control: max-age=600, stale-while-revalidate=30, no-cache"}, time.Second, false, Revalidate, false, "no-cache", 499 * time.Second},
		{"s-maxage allows explicit stale-while-revalidate", nil, []string{"Cache-Control: s-maxage=600, stale-while-revalidate=30"}, time.Second, false, ServeStale, true, "purged stale-while-revalidate", -time.Second},
		{"request min-fresh forbids", []string{"Cache-Control: min-fresh=1"}, []string{"Cache-Control: max-age=600, stale-while-revalidate=30"}, time.Second, false, Revalidate, false, "purged", -time.Second},
		{"request no-cache", []string{"Cache-Control: no-cache"}, []string{"Cache-Control: max-age=600, stale-while-revalidate=30"}, time.Second, false, Revalidate, false, "request no-cache", 499 * time.Second},
		{"request max-stale does not apply", []string{"Cache-Control: max-stale"}, []string{"Cache-Control: max-age=600"}, time.Second, false, Revalidate, false, "purged", -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resp(t, tt.h...)
			r.Purged = true
			if !tt.unknown {
				r.PurgedAt = t0.Add(purgedAt)
			}
			d := Decide(hdr(t, tt.req...), r, t0.Add(purgedAt+tt.after), Options{})
			if d.Action != tt.action || d.Background != tt.background || d.Detail != tt.detail || d.TTL != tt.ttl {
				t.Errorf("got %+v, want action %v background %v detail %q ttl %v", d, tt.action, tt.background, tt.detail, tt.ttl)
			}
		})
	}
}

func TestDecideAgeTTL(t *testing.T) {
	d := Decide(hdr(t), resp(t, "Cache-Control: max-age=60", "Age: 10"), t0.Add(5*time.Second), Options{})
	if d.Age != 15*time.Second || d.TTL != 45*time.Second {
		t.Errorf("§4.2.3 got age %v ttl %v, want 15s 45s", d.Age, d.TTL)
	}
}

func TestStaleIfError(t *testing.T) {
	tests := []struct {
		name  string
		req   []string
		h     []string
		after time.Duration
		want  bool
	}{
		{"RFC 5861 §4 response stale-if-error", nil, []string{"Cache-Control: max-age=10, stale-if-error=60"}, 30 * time.Second, true},
		{"RFC 5861 §4 beyond the window", nil, []string{"Cache-Control: max-age=10, stale-if-error=60"}, 80 * time.Second, false},
		{"RFC 5861 §4 request stale-if-error", []string{"Cache-Control: stale-if-error=60"}, []string{"Cache-Control: max-age=10"}, 30 * time.Second, true},
		{"RFC 5861 §4 none", nil, []string{"Cache-Control: max-age=10"}, 30 * time.Second, false},
		{"RFC 9111 §4.2.4 must-revalidate forbids", nil, []string{"Cache-Control: max-age=10, stale-if-error=60, must-revalidate"}, 30 * time.Second, false},
		{"RFC 9111 §4.2.4 proxy-revalidate forbids", nil, []string{"Cache-Control: max-age=10, stale-if-error=60, proxy-revalidate"}, 30 * time.Second, false},
		{"RFC 9111 §5.2.2.4 no-cache forbids", nil, []string{"Cache-Control: max-age=10, stale-if-error=60, no-cache"}, 30 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StaleIfError(hdr(t, tt.req...), resp(t, tt.h...), t0.Add(tt.after), Options{}); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// A soft-purged response is stale since the purge (or since it expired,
	// if earlier); one purged at an unknown time is never served stale.
	for _, tt := range []struct {
		name            string
		h               string
		purgedAt, after time.Duration // since t0
		unknown         bool
		want            bool
	}{
		{"purged fresh, within the window", "Cache-Control: max-age=600, stale-if-error=60", 100 * time.Second, 150 * time.Second, false, true},
		{"purged fresh, beyond the window", "Cache-Control: max-age=600, stale-if-error=60", 100 * time.Second, 170 * time.Second, false, false},
		{"expired before the purge", "Cache-Control: max-age=10, stale-if-error=60", 60 * time.Second, 80 * time.Second, false, false},
		{"purged at an unknown time", "Cache-Control: max-age=600, stale-if-error=60", 100 * time.Second, 101 * time.Second, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := resp(t, tt.h)
			r.Purged = true
			if !tt.unknown {
				r.PurgedAt = t0.Add(tt.purgedAt)
			}
			if got := StaleIfError(hdr(t), r, t0.Add(tt.after), Options{}); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	for s, want := range map[int]bool{500: true, 502: true, 503: true, 504: true, 501: false, 404: false} {
		if StaleIfErrorStatus(s) != want {
			t.Errorf("RFC 5861 §4 StaleIfErrorStatus(%d) != %v", s, want)
		}
	}
}

func TestOnlyIfCached(t *testing.T) {
	tests := []struct {
		name string
		req  []string
		want bool
	}{
		{"§5.2.1.7 present", []string{"Cache-Control: only-if-cached"}, true},
		{"§5.2.1.7 case-insensitive among others", []string{"Cache-Control: max-age=0, Only-If-Cached"}, true},
		{"§5.2.1.7 absent", []string{"Cache-Control: no-cache"}, false},
	}
	for _, tt := range tests {
		if got := OnlyIfCached(hdr(t, tt.req...)); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// RFC 9111 §5.2.1.7 and §5.2.1.5: request directives read on their own.
func TestRequestOnlyDirectives(t *testing.T) {
	for _, tt := range []struct {
		cc                    string
		onlyIfCached, noStore bool
	}{
		{"", false, false},
		{"only-if-cached", true, false},
		{"no-store", false, true},
		{"max-age=5, No-Store", false, true},
		{"no-store=\"x\", only-if-cached", true, true},
	} {
		h := http.Header{"Cache-Control": {tt.cc}}
		if got := OnlyIfCached(h); got != tt.onlyIfCached {
			t.Errorf("OnlyIfCached(%q) = %v", tt.cc, got)
		}
		if got := RequestNoStore(h); got != tt.noStore {
			t.Errorf("RequestNoStore(%q) = %v", tt.cc, got)
		}
	}
}

func TestProduced(t *testing.T) {
	sent := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		age  string
		want time.Time
	}{
		{"", sent},
		{"0", sent},
		{"30", sent.Add(-30 * time.Second)},
		{"junk", sent},
		{"5, 7", sent.Add(-5 * time.Second)},
	} {
		h := http.Header{"Date": {"Thu, 01 Jan 2026 11:00:00 GMT"}} // Date is ignored
		if tt.age != "" {
			h.Set("Age", tt.age)
		}
		if got := Produced(Response{Header: h, RequestTime: sent, ResponseTime: sent.Add(time.Second)}); !got.Equal(tt.want) {
			t.Errorf("Age %q: Produced = %v, want %v", tt.age, got, tt.want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	fieldtest.Run(t, DefaultOptions, []fieldtest.Case[Options]{
		{Path: "HeuristicFraction", Bad: func(o *Options) { o.HeuristicFraction = 1.5 }},
		{Path: "HeuristicFraction", Bad: func(o *Options) { o.HeuristicFraction = 0 }},
		{Path: "HeuristicMax", Bad: func(o *Options) { o.HeuristicMax = 0 }},
		{Path: "MaxStale", Bad: func(o *Options) { o.MaxStale = -time.Second }},
		{Path: "MaxStale", Bad: func(o *Options) { o.MaxStale = 0 }},
		// NoMaxStale turns max-stale off, MaxStale stays a duration.
		{Path: "MaxStale", Bad: func(o *Options) { o.MaxStale, o.NoMaxStale = -1, true }},
	})
}
