package policy

import (
	"iter"
	"net/http"
	"strings"
	"time"
)

// etag is a parsed entity-tag (RFC 9110 §8.8.3).
type etag struct {
	weak   bool
	opaque string // including the double quotes
}

// parseETag parses one entity-tag; ok is false if s is not one.
func parseETag(s string) (etag, bool) {
	s = strings.Trim(s, " \t")
	var t etag
	if strings.HasPrefix(s, "W/") {
		t.weak, s = true, s[2:]
	}
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' || strings.IndexByte(s[1:len(s)-1], '"') >= 0 {
		return etag{}, false
	}
	t.opaque = s
	return t, true
}

// strongMatch is the strong comparison (RFC 9110 §8.8.3.2): both strong and
// the same opaque-tag.
func strongMatch(a, b etag) bool { return !a.weak && !b.weak && a.opaque == b.opaque }

// weakMatch is the weak comparison: the same opaque-tag.
func weakMatch(a, b etag) bool { return a.opaque == b.opaque }

// matchList evaluates an If-Match or If-None-Match field against the stored
// ETag (RFC 9110 §13.1.1, §13.1.2): "*" matches any stored representation;
// otherwise one listed entity-tag must match with cmp.
func matchList(lines []string, stored etag, haveStored bool, cmp func(a, b etag) bool) bool {
	for _, line := range lines {
		if strings.Trim(line, " \t") == "*" {
			return true
		}
		if !haveStored {
			continue
		}
		for item := range etagItems(line) {
			if t, ok := parseETag(item); ok && cmp(t, stored) {
				return true
			}
		}
	}
	return false
}

// etagItems yields the items of an entity-tag list, split on commas outside
// quotes (an opaque-tag may contain commas), without building a slice: a
// browser's revalidation of a hit passes here.
func etagItems(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		start, inQuote := 0, false
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '"':
				inQuote = !inQuote
			case ',':
				if !inQuote {
					if !yield(s[start:i]) {
						return
					}
					start = i + 1
				}
			}
		}
		yield(s[start:])
	}
}

func storedETag(h http.Header) (etag, bool) {
	v := h["Etag"]
	if len(v) == 0 {
		return etag{}, false
	}
	return parseETag(v[0])
}

// ValidationHeader returns the conditional fields to validate r upstream
// (RFC 9111 §4.3.1): If-None-Match with its entity-tag, and
// If-Modified-Since with its Last-Modified (never a date the origin did not
// send, §4.3.1 prefers Last-Modified and edged sends nothing else).
func ValidationHeader(r Response) http.Header {
	h := http.Header{}
	if v := r.Header.Get("Etag"); v != "" {
		h.Set("If-None-Match", v)
	}
	if v := r.Header.Get("Last-Modified"); v != "" {
		h.Set("If-Modified-Since", v)
	}
	return h
}

// notUpdated are stored fields a 304 does not replace (RFC 9111 §3.2):
// Content-Length, and fields the stored body depends upon: its
// Content-Encoding (§3.2's own example), Content-Range, and Vary (the
// stored variant's key was computed from it).
var notUpdated = [...]string{"Content-Length", "Content-Encoding", "Content-Range", "Vary"}

// Freshen applies a 304 (Not Modified) to a stored response header (RFC 9111
// §4.3.4) and returns the updated header; it mutates neither argument.
//
// The 304 identifies the stored response (§4.3.4) by a strong ETag, which
// must then equal the stored one; a weak ETag must match weakly (edged
// validates with the stored ETag, so an origin answering with the weak tag
// it was sent is naming this response); without an ETag, a Last-Modified
// must equal the stored one; a 304 with no validator at all answers edged's
// own conditional request for this response and is accepted. ok false means
// the 304 is for another representation: do not use it (§4.3.3 then says to
// fetch the response unconditionally).
//
// Updating follows §3.2: each field of the 304 replaces the stored one,
// except those StoredHeader drops and those in notUpdated. Age and Date
// describe the new exchange, so a stored one is dropped when the 304 has
// none (the caller sets RequestTime and ResponseTime to the revalidation's).
func Freshen(stored, notModified http.Header) (http.Header, bool) {
	if !sameValidators(stored, notModified) {
		return nil, false
	}
	out := stored.Clone()
	if out == nil {
		out = http.Header{}
	}
	delete(out, "Age")
	delete(out, "Date")
	nm := StoredHeader(notModified)
	for _, k := range notUpdated {
		delete(nm, k)
	}
	for k, v := range nm {
		out[k] = append([]string(nil), v...)
	}
	return StoredHeader(out), true
}

func sameValidators(stored, nm http.Header) bool {
	if len(nm["Etag"]) > 0 {
		n, ok := storedETag(nm)
		s, sok := storedETag(stored)
		if !ok || !sok {
			return false
		}
		if !n.weak {
			return strongMatch(n, s) // RFC 9111 §4.3.4 first bullet
		}
		return weakMatch(n, s)
	}
	if lm, ok := parseDate(nm, "Last-Modified", time.Time{}); ok {
		slm, sok := parseDate(stored, "Last-Modified", time.Time{})
		return sok && slm.Equal(lm) // RFC 9111 §4.3.4 second bullet
	}
	return true
}

// Precondition evaluates a client's conditional request against stored
// response r in RFC 9110 §13.2.2 order and returns 0 (proceed: serve r),
// 304 (Not Modified, GET and HEAD) or 412 (Precondition Failed).
//
// Preconditions apply only when the response without them would be 2xx
// (RFC 9110 §13.2.1), so a stored 3xx or 4xx is always served as is. Invalid
// dates are ignored (§13.1.3, §13.1.4), as is If-Unmodified-Since or
// If-Modified-Since when there is no date to compare with.
func Precondition(req *http.Request, r Response) int {
	if r.Status < 200 || r.Status > 299 {
		return 0 // RFC 9110 §13.2.1
	}
	h := req.Header
	if len(h["If-Match"]) == 0 && len(h["If-Unmodified-Since"]) == 0 &&
		len(h["If-None-Match"]) == 0 && len(h["If-Modified-Since"]) == 0 {
		return 0 // no precondition: most requests, so the stored fields are not parsed
	}
	get := req.Method == http.MethodGet || req.Method == http.MethodHead
	var stored etag
	var lm, dateValue time.Time
	var haveETag, haveLM bool
	if f := r.Facts; f != nil {
		stored, haveETag, lm, haveLM, dateValue = f.etag, f.hasETag, f.lm, f.hasLM, f.dateValue
	} else {
		stored, haveETag = storedETag(r.Header)
		lm, haveLM = parseDate(r.Header, "Last-Modified", r.ResponseTime)
		dateValue = r.ResponseTime
		if t, ok := parseDate(r.Header, "Date", r.ResponseTime); ok {
			dateValue = t
		}
	}

	// Step 1: If-Match, strong comparison (RFC 9110 §13.1.1).
	if im := h["If-Match"]; len(im) > 0 {
		if !matchList(im, stored, haveETag, strongMatch) {
			return http.StatusPreconditionFailed
		}
	} else if ius, ok := parseDate(h, "If-Unmodified-Since", r.ResponseTime); ok && haveLM {
		// Step 2: If-Unmodified-Since, only without If-Match (§13.1.4).
		if lm.After(ius) {
			return http.StatusPreconditionFailed
		}
	}
	// Step 3: If-None-Match, weak comparison (§13.1.2).
	if inm := h["If-None-Match"]; len(inm) > 0 {
		if matchList(inm, stored, haveETag, weakMatch) {
			if get {
				return http.StatusNotModified
			}
			return http.StatusPreconditionFailed
		}
		return 0 // Step 4 is skipped when If-None-Match is present (§13.1.3).
	}
	// Step 4: If-Modified-Since, GET and HEAD only (§13.1.3).
	if !get {
		return 0
	}
	ims, ok := parseDate(h, "If-Modified-Since", r.ResponseTime)
	if !ok {
		return 0
	}
	// RFC 9111 §4.3.2: compare with Last-Modified, else the stored Date,
	// else the time the response was received.
	ref := lm
	if !haveLM {
		ref = dateValue
		if ref.IsZero() {
			return 0
		}
	}
	if !ref.After(ims) {
		return http.StatusNotModified
	}
	return 0
}
