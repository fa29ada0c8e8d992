package edge

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestSliceAdversarialOrigin: an origin that answers a slice after the
// first with something that cannot be part of the object's response. A
// response whose head is sent already is cut (the client sees it
// incomplete, RFC 9112 §6.3), never completed with other bytes; a first
// slice that is bad is a 502; no bad slice is stored; and once the origin
// behaves, the object is served whole and right.
func TestSliceAdversarialOrigin(t *testing.T) {
	const size = 3 * sliceSize
	body := patterned(size, 31)
	slice1 := body[sliceSize : 2*sliceSize]
	cr := func(a, b, total int) string { return fmt.Sprintf("bytes %d-%d/%d", a, b, total) }
	for _, tc := range []struct {
		name string
		// bad answers the slice at sliceSize (slice 1).
		bad func(w http.ResponseWriter, r *http.Request)
	}{
		{"total differs from slice 0's", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", cr(sliceSize, 2*sliceSize-1, size+1))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(slice1)
		}},
		{"multipart/byteranges", func(w http.ResponseWriter, r *http.Request) {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Range": {cr(sliceSize, 2*sliceSize-1, size)}})
			_, _ = pw.Write(slice1)
			_ = mw.Close()
			w.Header().Set("Content-Type", "multipart/byteranges; boundary="+mw.Boundary())
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(b.Bytes())
		}},
		{"body shorter than Content-Range, chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", cr(sliceSize, 2*sliceSize-1, size))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(slice1[:sliceSize-10])
		}},
		{"body longer than Content-Range, chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", cr(sliceSize, 2*sliceSize-1, size))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(body[sliceSize : 2*sliceSize+10])
		}},
		{"Content-Length other than Content-Range", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", cr(sliceSize, 2*sliceSize-1, size))
			w.Header().Set("Content-Length", strconv.Itoa(sliceSize-10))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(slice1[:sliceSize-10])
		}},
		{"closes mid-slice", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", cr(sliceSize, 2*sliceSize-1, size))
			w.Header().Set("Content-Length", strconv.Itoa(sliceSize))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(slice1[:sliceSize/2])
			panic(http.ErrAbortHandler)
		}},
		{"weak ETag", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Etag", `W/"v1"`)
			w.Header().Set("Content-Range", cr(sliceSize, 2*sliceSize-1, size))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(slice1)
		}},
		{"Content-Encoding gzip, same ETag and length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Range", cr(sliceSize, 2*sliceSize-1, size))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(patterned(sliceSize, 99)) // other bytes
		}},
		{"no complete length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/*", sliceSize, 2*sliceSize-1))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(slice1)
		}},
		{"another range", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", cr(sliceSize+1, 2*sliceSize, size))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(body[sliceSize+1 : 2*sliceSize+1])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			var bad atomic.Bool
			bad.Store(true)
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=3600")
				w.Header().Set("Etag", `"v1"`)
				if bad.Load() && rangeStart(r.Header.Get("Range")) == sliceSize {
					tc.bad(w, r)
					return
				}
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
			})
			e := newSliceEdge(t, c, o.URL, sliceSize, 0)

			resp, got, err := getRange(t, e, http.MethodGet, "/f", "")
			if err == nil && bytes.Equal(got, body) {
				t.Fatalf("status %d: the whole object, though the origin's slice 1 was bad", resp.StatusCode)
			}
			if err == nil || !bytes.Equal(got, body[:len(got)]) || len(got) > sliceSize {
				t.Errorf("full GET: status %d, err %v, %d bytes (a prefix of slice 0: %v); want it cut after slice 0",
					resp.StatusCode, err, len(got), bytes.Equal(got, body[:min(len(got), size)]))
			}
			// A range whose first slice is the bad one: a 502, or the
			// client's own range passed through; never other bytes.
			resp, got, err = getRange(t, e, http.MethodGet, "/f", fmt.Sprintf("bytes=%d-%d", sliceSize+5, sliceSize+104))
			if err == nil && resp.StatusCode == http.StatusPartialContent && !bytes.Equal(got, body[sliceSize+5:sliceSize+105]) {
				t.Errorf("range in slice 1: a 206 of other bytes")
			}
			if resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusPartialContent {
				t.Errorf("range in slice 1: status %d (%d bytes), want 502 or the range", resp.StatusCode, len(got))
			}
			t.Logf("range in slice 1: status %d, Cache-Status %q", resp.StatusCode, resp.Header.Get("Cache-Status"))
			wantSlicesOf(t, e, "/f", body)

			bad.Store(false)
			c.Advance(time.Minute) // past a mark that passes the object's requests
			resp, got, err = getRange(t, e, http.MethodGet, "/f", "")
			if err != nil || resp.StatusCode != http.StatusOK || sha256.Sum256(got) != sha256.Sum256(body) {
				t.Errorf("once the origin behaves: status %d, err %v, %d bytes, right %v", resp.StatusCode, err, len(got), bytes.Equal(got, body))
			}
			wantSlicesOf(t, e, "/f", body)
		})
	}
}

// TestSlice304OtherETagRefetched: a 304 to a stale slice's revalidation
// that names another ETag does not describe the stored slice (RFC 9111
// §4.3.4): the slice is fetched again without conditions, as a whole
// object is, and served; before, the client got a 502.
func TestSlice304OtherETagRefetched(t *testing.T) {
	c := newClock()
	body := patterned(2*sliceSize, 33)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.Header.Get("If-None-Match") != "" {
			w.Header().Set("Etag", `"other"`)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Etag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	rng := fmt.Sprintf("bytes=%d-%d", sliceSize+5, sliceSize+104)
	for i := range 2 {
		resp, got, err := getRange(t, e, http.MethodGet, "/f", rng)
		if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[sliceSize+5:sliceSize+105]) {
			t.Fatalf("request %d: status %d, err %v, %d bytes", i, resp.StatusCode, err, len(got))
		}
		c.Advance(2 * time.Minute) // the slice is stale: revalidated next
	}
	wantSlicesOf(t, e, "/f", body)
}

// TestSliceHead: a HEAD on a sliced object tells its length and fields
// without a body, from slice 0 or the whole answer, however the origin
// answers slice 0's range; it costs the upstream at most one request.
func TestSliceHead(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noRange   bool
		maxObject int64
	}{
		{"ranges honoured", false, 0},
		{"range ignored", true, 0},
		{"range ignored, over max_object", true, 2 * sliceSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			body := patterned(3*sliceSize+7, 34)
			o := newRangeOrigin(t, c, body, `"v1"`)
			o.noRange = tc.noRange
			e := newSliceEdge(t, c, o.URL, sliceSize, tc.maxObject)
			for i := range 2 {
				resp, got, err := getRange(t, e, http.MethodHead, "/f", "")
				if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(body)) || len(got) != 0 {
					t.Fatalf("HEAD %d: status %d, Content-Length %d, %d body bytes, err %v", i, resp.StatusCode, resp.ContentLength, len(got), err)
				}
				if resp.Header.Get("Etag") != `"v1"` || resp.Header.Get("Content-Range") != "" {
					t.Errorf("HEAD %d: ETag %q, Content-Range %q", i, resp.Header.Get("Etag"), resp.Header.Get("Content-Range"))
				}
			}
			if n := o.requests.Load(); n > 2 {
				t.Errorf("two HEADs cost %d upstream requests", n)
			}
			resp, got, err := getRange(t, e, http.MethodGet, "/f", "")
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
				t.Errorf("GET after HEAD: status %d, err %v, %d bytes", resp.StatusCode, err, len(got))
			}
		})
	}
}
