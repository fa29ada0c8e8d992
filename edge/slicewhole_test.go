package edge

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// TestSliceOriginHonoursRangeOnlyAtZero: an origin (or a CDN before it)
// that answers bytes=0-N with a 206 but a later slice's range with the
// whole 200, or honours ranges only up to some offset. A full GET and a
// range across slices are still sent whole and right, from the 200's
// bytes at the slice's offset, since it is the same representation
// (strong validator and length, RFC 9111 §3.4); and what the cache keeps
// serves the same bytes again. Before, the response was cut at the
// first slice the origin answered with a 200, on every request.
func TestSliceOriginHonoursRangeOnlyAtZero(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      int
		wholeFrom int64
		maxObject int64
	}{
		{"ranges only at 0", 4*sliceSize + 1234, 1, 0},
		{"ranges only below 2 slices", 4*sliceSize + 1234, 2 * sliceSize, 0},
		{"whole over max_object, streamed", 6 * sliceSize, 1, 3 * sliceSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			body := patterned(tc.size, 21)
			o := newRangeOrigin(t, c, body, `"v1"`)
			o.wholeFrom = tc.wholeFrom
			e := newSliceEdge(t, c, o.URL, sliceSize, tc.maxObject)

			for i := range 2 {
				resp, got, err := getRange(t, e, http.MethodGet, "/f", "")
				if err != nil || resp.StatusCode != http.StatusOK || sha256.Sum256(got) != sha256.Sum256(body) {
					t.Fatalf("full GET %d: status %d, err %v, %d of %d bytes, same bytes %v; upstream ranges %q",
						i, resp.StatusCode, err, len(got), len(body), bytes.Equal(got, body), o.seenRanges())
				}
			}
			// A range across slices, and one in the middle.
			for _, rng := range [][2]int{{sliceSize - 10, 3*sliceSize + 9}, {2*sliceSize + 5, 2*sliceSize + 99}, {10, 20}} {
				resp, got, err := getRange(t, e, http.MethodGet, "/f", fmt.Sprintf("bytes=%d-%d", rng[0], rng[1]))
				if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[rng[0]:rng[1]+1]) {
					t.Errorf("range %v: status %d, err %v, %d bytes, right bytes %v", rng, resp.StatusCode, err, len(got), bytes.Equal(got, body[rng[0]:rng[1]+1]))
				}
			}
			if tc.maxObject == 0 {
				// All of it is stored, in slices or whole: only-if-cached
				// is answered from it (RFC 9111 §5.2.1.7), not a 504.
				resp, got, err := getRange(t, e, http.MethodGet, "/f", fmt.Sprintf("bytes=%d-%d", sliceSize+10, 3*sliceSize+9),
					"Cache-Control", "only-if-cached")
				if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[sliceSize+10:3*sliceSize+10]) {
					t.Errorf("only-if-cached: status %d, err %v, %d bytes", resp.StatusCode, err, len(got))
				}
			}
			// Two ranges in one request (multipart/byteranges, RFC 9110
			// §14.6), the second in a slice the origin answers whole.
			resp, got, err := getRange(t, e, http.MethodGet, "/f", fmt.Sprintf("bytes=10-19,%d-%d", 3*sliceSize+5, 3*sliceSize+99))
			parts := byteRangeParts(resp, got)
			if err != nil || resp.StatusCode != http.StatusPartialContent || len(parts) != 2 ||
				!bytes.Equal(parts[0].body, body[10:20]) || !bytes.Equal(parts[1].body, body[3*sliceSize+5:3*sliceSize+100]) {
				t.Errorf("two ranges: status %d, err %v, %d parts", resp.StatusCode, err, len(parts))
			}
			// Concurrent full GETs: each gets the whole object, whether
			// it shares the whole 200's fetch or (a stream, which one
			// request alone may read) fetches its own.
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodGet, e.URL+"/g", nil)
					resp, err := e.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					got, err := io.ReadAll(resp.Body)
					if err != nil || sha256.Sum256(got) != sha256.Sum256(body) {
						t.Errorf("concurrent full GET: status %d, err %v, %d bytes", resp.StatusCode, err, len(got))
					}
				})
			}
			wg.Wait()
			wantSlicesOf(t, e, "/f", body)
			wantSlicesOf(t, e, "/g", body)
		})
	}
}

// wantSlicesOf fails t if a stored slice (or the whole object stored in
// slice 0's place) of path holds other bytes than body's.
func wantSlicesOf(t *testing.T, e *testEdge, path string, body []byte) {
	t.Helper()
	for _, key := range sliceKeys(t, e, path) {
		got, _, err := e.store.Get(key)
		if err != nil {
			continue
		}
		b := got.Body
		if got.InFile() {
			f, err := got.OpenBody()
			if err != nil {
				t.Fatal(err)
			}
			b = make([]byte, got.BodyLen())
			_, err = f.ReadAt(b, 0)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		switch got.Status {
		case http.StatusOK:
			if !bytes.Equal(b, body) {
				t.Errorf("%q: a whole 200 of %d bytes, not the object", key, len(b))
			}
		case http.StatusPartialContent:
			// Its bytes: its length may be another than slice 0's (an
			// origin's mistake), and then it is never combined with it.
			first, last, _, ok := parseContentRange(got.Header.Get("Content-Range"))
			if !ok || last >= int64(len(body)) || !bytes.Equal(b, body[first:last+1]) {
				t.Errorf("%q: Content-Range %q holds other bytes", key, got.Header.Get("Content-Range"))
			}
		default:
			t.Errorf("%q: status %d stored", key, got.Status)
		}
	}
}

// TestSliceOriginRoundsRanges: an origin that answers a slice's range
// with a 206 of more bytes than asked for (rounded to blocks of its own,
// or the whole object from byte 0), as Content-Range says (RFC 9110
// §14.4): the slice's bytes are taken at their offset in it, and the
// slice is stored as what it holds. Before, every such answer was a 502.
func TestSliceOriginRoundsRanges(t *testing.T) {
	const block = 3 * sliceSize / 2
	body := patterned(5*sliceSize+99, 23)
	for _, tc := range []struct {
		name  string
		round func(first int64) (int64, int64)
	}{
		{"blocks of 1.5 slices", func(first int64) (int64, int64) {
			a := first / block * block
			return a, min(a+2*block, int64(len(body))) - 1
		}},
		{"from byte 0 to the end", func(int64) (int64, int64) { return 0, int64(len(body)) - 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=3600")
				w.Header().Set("Etag", `"v1"`)
				a, b := tc.round(rangeStart(r.Header.Get("Range")))
				w.Header().Set("Content-Range", contentRange(a, b, int64(len(body))))
				w.Header().Set("Content-Length", fmt.Sprint(b-a+1))
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write(body[a : b+1])
			})
			e := newSliceEdge(t, c, o.URL, sliceSize, 0)
			resp, got, err := getRange(t, e, http.MethodGet, "/f", "")
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
				t.Fatalf("full GET: status %d, err %v, %d of %d bytes", resp.StatusCode, err, len(got), len(body))
			}
			rng := [2]int{2*sliceSize + 7, 4*sliceSize + 70}
			resp, got, err = getRange(t, e, http.MethodGet, "/g", fmt.Sprintf("bytes=%d-%d", rng[0], rng[1]))
			if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[rng[0]:rng[1]+1]) {
				t.Errorf("range: status %d, err %v, %d bytes", resp.StatusCode, err, len(got))
			}
			wantSlicesOf(t, e, "/f", body)
			wantSlicesOf(t, e, "/g", body)
			if n := len(sliceKeys(t, e, "/f")); n != 6 {
				t.Errorf("%d slices of /f stored, want 6", n)
			}
		})
	}
}
