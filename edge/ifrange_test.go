package edge

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// RFC 9110 §13.1.5: an If-Range date holds only when it is exactly the
// representation's Last-Modified and that is a strong validator (§8.8.2.2:
// at least a second before Date); otherwise the whole 200 is sent, since a
// change within the second of a weak date could splice two versions in the
// client. A hit used to leave If-Range to net/http's ServeContent, which
// took a weak Last-Modified, or the same instant in another date format,
// for a match and answered 206; a sliced route took a weak Last-Modified
// when the object also had a strong ETag.
func TestIfRangeDateMustBeStrong(t *testing.T) {
	c := newClock()
	now := c.Now()
	body := patterned(3*MinSlice, 5)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"v1"`) // a strong ETag does not make a weak date strong
		lm := now
		if r.URL.Path == "/strong" {
			lm = now.Add(-time.Hour)
		}
		w.Header().Set("Last-Modified", httpDate(lm))
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
	weak, strong := httpDate(now), httpDate(now.Add(-time.Hour))
	rfc850 := now.Add(-time.Hour).UTC().Format(time.RFC850)
	for _, route := range hitAndSliced() {
		t.Run(route.name, func(t *testing.T) {
			e := newEdge(t, c, edgeConfig{upstream: o.URL, slice: route.slice, memory: 64 << 20})
			for _, path := range []string{"/weak", "/strong"} {
				e.get(t, path)
			}
			e.settle(t)
			for _, tc := range []struct {
				path, ifRange string
				status        int
			}{
				{"/weak", weak, http.StatusOK}, // §13.1.5 step 2
				{"/strong", strong, http.StatusPartialContent},
				{"/strong", rfc850, http.StatusOK}, // step 3: exactly the field value
				{"/weak", `"v1"`, http.StatusPartialContent},
			} {
				resp, got, err := getRange(t, e, http.MethodGet, tc.path, "bytes=10-19", "If-Range", tc.ifRange)
				want := body
				if tc.status == http.StatusPartialContent {
					want = body[10:20]
				}
				if err != nil || resp.StatusCode != tc.status || !bytes.Equal(got, want) {
					t.Errorf("GET %s, If-Range %q: %d with %d bytes (err %v), want %d with %d bytes",
						tc.path, tc.ifRange, resp.StatusCode, len(got), err, tc.status, len(want))
				}
			}
		})
	}
}

// RFC 9110 §14.2: "A server MUST ignore a Range header field received with
// a request method ... for which range handling is not defined"; GET is
// the only one. A HEAD with Range gets the 200's fields, on a hit as on a
// sliced route (a hit used to answer 206 with a Content-Range).
func TestHeadIgnoresRange(t *testing.T) {
	c := newClock()
	body := patterned(3*MinSlice, 6)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
	for _, route := range hitAndSliced() {
		t.Run(route.name, func(t *testing.T) {
			e := newEdge(t, c, edgeConfig{upstream: o.URL, slice: route.slice, memory: 64 << 20})
			e.get(t, "/f")
			e.settle(t)
			resp, _, err := getRange(t, e, http.MethodHead, "/f", "bytes=10-19")
			if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(body)) || resp.Header.Get("Content-Range") != "" {
				t.Errorf("HEAD with Range: %d, Content-Length %d, Content-Range %q (err %v); want 200, %d, none",
					resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Range"), err, len(body))
			}
		})
	}
}

// rangeRoute is a way a stored object answers ranges: a hit on a plain
// route (ServeContent over the stored bytes), or a route with
// Route.Cache.Slice set to slice.
type rangeRoute struct {
	name  string
	slice int64
}

// hitAndSliced is the two rangeRoutes the range tests run on.
func hitAndSliced() []rangeRoute { return []rangeRoute{{"hit", 0}, {"sliced", MinSlice}} }
