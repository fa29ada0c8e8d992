package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"edged/edge/policy"
	"edged/internal/httpsyntax"
	"edged/storage"
)

// The fetch of one slice of an object on a route with Route.Cache.Slice:
// a Range request for the slice's bytes, aligned to slice boundaries, whose
// 206 is stored under the slice's own key (policy.Key.Slice). slice.go
// stitches slices into responses.

var (
	// errSliceRange: the upstream answered a slice's Range request with a
	// 206 that does not hold the slice's bytes (RFC 9110 §14.4:
	// Content-Range names what the response holds), or with a body of
	// another length than it names.
	errSliceRange = errors.New("upstream answered a slice with other bytes than asked for")
	// errSliceChanged: a slice came back from another version of the
	// object than the slices already sent (RFC 9111 §3.4).
	errSliceChanged = errors.New("object changed upstream while its slices were being sent")
	// errSliceBudget: the budget for bodies in memory refused the slice.
	errSliceBudget = errors.New("slice refused by the memory budget for bodies")
)

// runSlice fetches bytes first-last of f's object, one slice, and stores
// the 206 under f.storeKey (the slice's key) when RFC 9111 allows. An
// answer other than a 206 (an origin that ignores Range sends the whole
// 200, RFC 9110 §14.2; or 404, 416, 5xx) is the object's own: read as a
// miss is (fetch.read) and stored, when storable, under the key of slice
// 0, where every request of the object looks for it (wholeKey).
func (f *fetch) runSlice(first, last int64, wholeKey string) *fillResult {
	h := f.h
	ctx, cancel, unbind := h.fetchContext()
	res := &fillResult{unbind: unbind} // a whole 200 too large to store is streamed (fetch.read)
	f.res, f.cancel = res, cancel
	f.order = h.fills.begin(f.key) // before the generation, as fetch.run
	defer h.fills.end(f.key)
	f.generation = h.store.Generation()
	// RFC 9110 §14.2: the slice's own Range, on a copy of the object's
	// outbound request (shared by the object's slices).
	out := *f.out
	out.Header = f.out.Header.Clone()
	out.Header["Range"] = []string{"bytes=" + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10)}
	if f.stale != nil {
		// RFC 9111 §4.3.1: validate the stored slice. A 304 answers for
		// the whole representation (RFC 9110 §13.2.2: preconditions
		// before Range) and refreshes the slice without its bytes.
		for k, v := range policy.ValidationHeader(sliceResponse(f.stale)) {
			out.Header[k] = v
		}
	}
	requestTime := h.opts.Now()
	resp, err := h.fetchUpstream(ctx, f.upstream, &out, res)
	if err == nil && resp.StatusCode == http.StatusNotModified && f.stale != nil {
		if f.freshenSlice(resp, requestTime) {
			return res
		}
		// RFC 9111 §4.3.4: the 304 does not describe the stored slice
		// (another ETag): fetch the slice without conditions, as fetch.run
		// does a whole object. Before, the client got a 502.
		for k := range policy.ValidationHeader(sliceResponse(f.stale)) {
			delete(out.Header, k)
		}
		requestTime = h.opts.Now()
		resp, err = h.fetchUpstream(ctx, f.upstream, &out, res)
	}
	if err != nil {
		cancel()
		res.err = err
		return res
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// RFC 9110 §15.5.17: the slice starts past the object's end. An
		// answer to this slice's range, not the object's: never stored.
		drain(resp)
		cancel()
		res.status = resp.StatusCode
		res.entry = &storage.Entry{Key: f.storeKey, Status: resp.StatusCode, RequestTime: requestTime, ResponseTime: h.opts.Now(),
			Header: http.Header{"Content-Range": resp.Header.Values("Content-Range"), "Date": resp.Header.Values("Date")}}
		res.reason = policy.DetailStatus
		return res
	default:
		f.storeKey = wholeKey
		f.read(resp, requestTime)
		return res
	}
	f.readSlice(resp, first, last, requestTime)
	return res
}

// readSlice reads a 206 that must hold bytes first-last of the object (or
// up to its end) and stores it.
func (f *fetch) readSlice(resp *http.Response, first, last int64, requestTime time.Time) {
	h, res, cancel := f.h, f.res, f.cancel
	defer cancel()
	responseTime := h.opts.Now()
	res.status = resp.StatusCode
	start, end, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
	if ok && total >= 0 {
		last = min(last, total-1)
	}
	n := end - start + 1
	if !ok || total < 0 || start > first || end < last || resp.ContentLength >= 0 && resp.ContentLength != n {
		// A multipart answer, a range that does not hold the slice's
		// bytes, an unknown length: nothing here can be stitched into
		// the object.
		drain(resp)
		res.status, res.err = 0, fmt.Errorf("bytes %d-%d: got Content-Range %q, Content-Length %d: %w",
			first, last, resp.Header.Get("Content-Range"), resp.ContentLength, errSliceRange)
		return
	}
	body := io.Reader(resp.Body)
	contentLength := resp.ContentLength
	if start < first || end > last {
		// More than the slice: a server that rounds ranges to blocks of
		// its own (RFC 9110 §14.4: Content-Range says what the 206
		// holds). The slice's bytes are taken at their offset in it, the
		// rest dropped, and the slice says what it holds.
		if _, err := io.CopyN(io.Discard, resp.Body, first-start); err != nil {
			resp.Body.Close()
			res.status, res.err = 0, fmt.Errorf("read slice body: %w", err)
			return
		}
		n, contentLength = last-first+1, -1
		body = io.LimitReader(resp.Body, n)
		resp.Header.Set("Content-Range", contentRange(first, last, total))
	}
	f.completeHeader(http.StatusOK, resp.Header, responseTime) // a slice of the 200 it is part of
	// The object's fields govern its slices: Storable judges them as the
	// 200 they are part of (RFC 9111 §3.3, §3.4). An answer to one Origin
	// varies on it (addImplicitVary), and sliceStorable stores no slice that
	// varies: it is served to the request that fetched it alone.
	f.addImplicitVary(resp.Header)
	storable, reason := policy.Storable(f.request, http.StatusOK, resp.Header, *f.rules)
	if storable {
		storable, reason = sliceStorable(resp.Header, responseTime)
	}
	held := &hold{b: &h.bodies}
	got, complete, err := readUpTo(body, n, contentLength, held, nil, nil)
	resp.Body.Close()
	switch {
	case err != nil:
		err = fmt.Errorf("read slice body: %w", err)
	case held.refused:
		err = errSliceBudget
	case !complete || int64(len(got)) != n:
		err = fmt.Errorf("bytes %d-%d: a body of other length: %w", first, last, errSliceRange)
	}
	if err != nil {
		held.release()
		res.status, res.err = 0, err
		return
	}
	if !storable || n > h.store.MemoryItemLimit() {
		held.releaseWhenUnreachable(got)
	} else {
		held.release()
	}
	e := &storage.Entry{Key: f.storeKey, Status: http.StatusPartialContent, Body: got, RequestTime: requestTime, ResponseTime: responseTime}
	if !storable {
		// Served to the request that fetched it alone: waiters fetch
		// their own (a private slice is one user's), and so do the next
		// requests for a while, without coalescing.
		e.Header, res.entry, res.reason = resp.Header, e, reason
		if reason != policy.DetailAuthorization && reason != policy.DetailCookie {
			h.uncacheable.mark(f.storeKey, responseTime)
			if reason != policy.DetailSliceNoValidator {
				// The object's key too: serveSliced passes the next
				// requests for it with their own Range (a byte, or a
				// HEAD, must not cost the upstream a slice each time).
				// Without a validator a range within one slice is still
				// served from it (serveSliced).
				h.uncacheable.mark(f.key, responseTime)
			}
		}
		return
	}
	res.own = policy.OwnHeader(resp.Header) // for the leader alone, as fetch.read keeps it
	e.Header = policy.StoredHeader(resp.Header)
	e.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	e.Tags = policy.Tags(resp.Header)
	f.keepSlice(e)
}

// freshenSlice applies a 304 to the stale slice f validated (RFC 9111
// §4.3.4): the refreshed slice shares its body, in memory or in its file.
// It reports false, having done nothing but read the 304, when the 304
// names another representation (RFC 9111 §4.3.4): the slice is fetched
// again.
func (f *fetch) freshenSlice(resp *http.Response, requestTime time.Time) bool {
	h, res := f.h, f.res
	drain(resp)
	merged, ok := policy.Freshen(f.stale.Header, resp.Header)
	if !ok {
		return false
	}
	f.cancel()
	res.status = resp.StatusCode
	f.addImplicitVary(merged) // a 304 may name one Origin too (readSlice)
	// The tags too are the merged fields' (RFC 9111 §4.3.4: a Surrogate-Key
	// or Cache-Tag in the 304 replaces the stored one), so a purge of a tag
	// the 304 named reaches the slice; sliceStorable refuses it when one is
	// too many to keep.
	e := &storage.Entry{Key: f.stale.Key, Status: http.StatusPartialContent, Header: merged,
		RequestTime: requestTime, ResponseTime: h.opts.Now(), Tags: policy.Tags(merged), MustRevalidate: f.stale.MustRevalidate}
	e.ShareBody(f.stale)
	res.own = policy.NotModifiedOwnHeader(f.stale.Header, resp.Header) // for the leader alone, as fetch.run keeps it
	// As for a whole object (fetch.run): a 304 to credentials refreshes
	// only this client's copy unless it says it may be shared, and it may
	// have made the slice unstorable.
	storable, reason := policy.CredentialsAllow(f.request.Header, resp.Header, *f.rules)
	if storable {
		storable, reason = policy.Storable(f.request, http.StatusOK, merged, *f.rules)
	}
	if storable {
		storable, reason = sliceStorable(merged, e.ResponseTime)
	}
	if !storable {
		res.entry, res.reason = e, reason
		if f.refusedByResponse(reason) {
			h.forget(f.stale.Key)
		}
		return true
	}
	f.keepSlice(e)
	return true
}

// keepSlice stores e, a slice that may be stored, as the result of f.
func (f *fetch) keepSlice(e *storage.Entry) {
	h, res := f.h, f.res
	f.markPerUser(e, e.Header) // the object's fields, which govern its slices
	stored := sliceResponse(e)
	if !h.fills.store(f.key, e.Key, "", f.order, func(bool) { h.store.SetFetchedAt(e, f.generation, policy.Produced(stored)) }) {
		res.entry, res.shared, res.reason = e, true, policy.DetailSuperseded // fillOrder
		return
	}
	h.uncacheable.clear(f.storeKey)
	res.entry, res.shared, res.stored = e, true, true
	lifetime, _ := policy.Lifetime(stored, *f.rules)
	res.ttl = lifetime - policy.Age(stored, h.opts.Now())
}

// sliceStorable says whether a slice that RFC 9111 lets the cache store
// may be stored as a slice: slices are combined into one response only
// when they share a strong validator (RFC 9111 §3.4), and one slice key
// serves every request, so it must not vary (the slice fetch asks for
// identity, so Vary: Accept-Encoding changes nothing). A slice that came
// content-coded all the same is a range of another representation (RFC
// 9110 §8.4, §14.1.1: ranges count the coded bytes), which the one slice
// key cannot tell from the identity one: not stored, as one that varies.
func sliceStorable(hdr http.Header, responseTime time.Time) (bool, string) {
	names, star := policy.ParseVary(hdr)
	if star || len(names) > 1 || len(names) == 1 && names[0] != "Accept-Encoding" || contentCoded(hdr) {
		return false, policy.DetailSliceVary
	}
	if sliceValidator(hdr) == "" {
		return false, policy.DetailSliceNoValidator
	}
	if _, all := policy.AllTags(hdr); !all {
		return false, policy.DetailTags
	}
	return true, ""
}

// sliceValidator is the strong validator of a slice's header (RFC 9110
// §8.8.1), "" when it has none: the ETag unless weak, else a Last-Modified
// at least a second before the response's Date (§8.8.2.2).
//
// The content codings are part of it: an origin that sends the identity
// and the gzip representation under one ETag (RFC 9110 §8.8.3 says it
// must not) never has bytes of one spliced into the other.
func sliceValidator(hdr http.Header) string {
	v := ""
	if etag := hdr.Get("Etag"); etag != "" {
		if strings.HasPrefix(etag, "W/") {
			return ""
		}
		v = "etag " + etag
	} else if lm := strongLastModified(hdr); lm != "" {
		v = "last-modified " + lm
	} else {
		return ""
	}
	if contentCoded(hdr) {
		v += "; coding " + strings.Join(hdr.Values("Content-Encoding"), ",")
	}
	return v
}

// contentCoded reports whether hdr names a content coding other than
// identity (RFC 9110 §8.4), walking the list as policy.VaryEncoding does.
func contentCoded(hdr http.Header) bool {
	for c := range httpsyntax.TokenElems(hdr.Values("Content-Encoding")) {
		if !strings.EqualFold(c, "identity") {
			return true
		}
	}
	return false
}

// parseContentRange parses a Content-Range of bytes (RFC 9110 §14.4):
// "bytes first-last/complete" or "bytes first-last/*" (total -1), or an
// unsatisfied range "bytes */complete" (first and last -1).
func parseContentRange(v string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, length, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	total = -1
	if length != "*" {
		if total, ok = rangePos(length); !ok {
			return 0, 0, 0, false
		}
	}
	if rng == "*" {
		return -1, -1, total, total >= 0
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	if first, ok = rangePos(a); !ok {
		return 0, 0, 0, false
	}
	if last, ok = rangePos(b); !ok || last < first || total >= 0 && last >= total {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

// sliceResponse is what the caching rules see of a stored slice: the 200
// it is part of, whose fields it carries (RFC 9111 §3.4).
func sliceResponse(e *storage.Entry) policy.Response {
	r := responseOf(e)
	r.Status = http.StatusOK
	return r
}
