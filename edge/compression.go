package edge

import (
	"net/http"
	"strconv"
	"strings"

	"edged/edge/compress"
	"edged/edge/policy"
	"edged/storage"
)

// offered are the codings this edge produces, in its order of preference.
var offered = []compress.Encoding{compress.Brotli, compress.Gzip}

// encoded picks the representation of e to send for the request's Accept-Encoding
// (RFC 9110 §12.5.3): e itself or its compressed variant, made once and
// stored beside e so that later hits never compress again. vary reports
// that the choice depended on Accept-Encoding, so the response must say so
// (RFC 9110 §12.5.5). keep is false for a response that was not stored:
// its variant is not stored either. tier is where e was found; the tier
// returned is the chosen representation's (TierNone for a variant made now).
func (x *exchange) encoded(e *storage.Entry, tier storage.Tier, keep bool) (_ *storage.Entry, _ storage.Tier, vary bool) {
	h, w, r := x.h, &x.w, x.r
	enc := h.opts.Compression
	if enc == nil || e.Status != http.StatusOK || !enc.Worth(e.BodyLen()) || !eligible(e, tier, x.rules().Surrogate) {
		return e, tier, false
	}
	coding, _ := compress.Negotiate(r.Header["Accept-Encoding"], offered...) // a canonical name: Values would canonicalize it again
	if coding == compress.Identity {
		return e, tier, true
	}
	// The variant's key is built in the request's buffer: a hit looks it up
	// without making a string of it.
	w.scratch = policy.AppendEncoding(append(w.scratch[:0], e.Key...), string(coding)) // under e.Key, so purges of e reach it
	if keep {
		// A variant is only good for the response it was made from: one
		// refreshed or refetched since has other times.
		if v, vtier, err := h.store.GetBytesWithin(w.scratch, &w.held); err == nil && v.ResponseTime.Equal(e.ResponseTime) && v.RequestTime.Equal(e.RequestTime) {
			return v, vtier, true
		}
	}
	if !w.held.Admit(e.BodyLen() + compressorCost(coding)) {
		return e, tier, true // the body budget is spent: identity costs nothing more
	}
	key := string(w.scratch)
	identity, err := e.ReadBody() // a body the disk tier keeps in a file is read whole, once
	if err != nil {
		return e, tier, true // serveEntry meets the same error and answers it
	}
	body, err := enc.Encode(coding, identity)
	if err != nil || len(body) >= len(identity) {
		return e, tier, true // incompressible: identity is smaller
	}
	header := encodedHeader(e.Header, coding)
	header.Set("Content-Length", strconv.Itoa(len(body)))
	v := &storage.Entry{Key: key, Status: e.Status, Header: header, Body: body,
		RequestTime: e.RequestTime, ResponseTime: e.ResponseTime, Tags: e.Tags, Stale: e.Stale, StaleAt: e.StaleAt,
		MustRevalidate: e.MustRevalidate} // the representation's mark, as its freshness
	if keep {
		h.storeEncoded(e, v)
	}
	return v, storage.TierNone, true
}

// storeEncoded stores v, the compressed variant made from e, unless e is
// no longer what the store holds under its key: evicted meanwhile (its
// Vary variant replaced by another, variantCounter), purged, refetched
// or refreshed (other times), or marked stale. Such a copy would never be
// served (encoded asks for one of e's times), only take space until the
// store evicts it. The check follows the Set, so that an eviction or a
// purge of e that begins after it removes v too (v is stored under e's
// key; Store.Evict and Purge reach the writes still queued); one that
// ended before it is seen. Store.Holds reads no body, so the check costs
// a disk-tier e only its record's head.
func (h *Handler) storeEncoded(e, v *storage.Entry) {
	h.store.Set(v)
	if h.store.Holds(e) {
		return
	}
	if _, err := h.store.Evict(v.Key); err != nil {
		h.log.Warn("cache evict encoding", "key", v.Key, "err", err)
	}
}

// eligible is compress.Eligible of e's header, as a memory-tier entry's
// hitFacts keep it (hitFactsOf, with the surrogate token in force).
func eligible(e *storage.Entry, tier storage.Tier, surrogate string) bool {
	if d := hitFactsOf(e, tier, surrogate); d != nil {
		return d.eligible
	}
	return compress.Eligible(e.Header)
}

// encodedHeader is e's header for a compressed variant: its coding, and an
// entity tag of its own (a weak one: RFC 9110 §8.8.3 requires a different
// tag for a different representation, or range requests could mix bytes).
func encodedHeader(identity http.Header, coding compress.Encoding) http.Header {
	h := identity.Clone()
	h.Set("Content-Encoding", string(coding))
	h.Del("Content-Length")
	if etag := h.Get("Etag"); etag != "" {
		if v := compress.VariantETag(etag, coding); v != "" {
			h.Set("Etag", v)
		} else {
			h.Del("Etag")
		}
	}
	addVary(h, "Accept-Encoding")
	return h
}

// addVary adds field to h's Vary unless it is already listed (or "*").
func addVary(h http.Header, field string) {
	for _, line := range h.Values("Vary") {
		for f := range strings.SplitSeq(line, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, field) {
				return
			}
		}
	}
	h.Add("Vary", field)
}

// compressStream wraps x's writer to compress an upstream response sent straight
// through (not stored) when the client accepts a coding and the response is
// worth it. It returns the writer to copy the body to and a finish function
// that must be called after the copy.
func (x *exchange) compressStream(resp *http.Response) (writeTo interface{ Write([]byte) (int, error) }, finish func()) {
	h, w, r := x.h, &x.w, x.r
	enc := h.opts.Compression
	noop := func() {}
	if enc == nil || resp.StatusCode != http.StatusOK || r.Method == http.MethodHead || !compress.Eligible(resp.Header) {
		return w, noop
	}
	if resp.ContentLength >= 0 && !enc.Worth(resp.ContentLength) {
		return w, noop
	}
	hdr := w.Header()
	coding, _ := compress.Negotiate(r.Header["Accept-Encoding"], offered...) // a canonical name: Values would canonicalize it again
	addVary(hdr, "Accept-Encoding")
	if coding == compress.Identity || !w.held.Admit(compressorCost(coding)) {
		return w, noop // identity when the body budget is spent: it costs nothing more
	}
	cw, err := enc.NewWriter(coding, w)
	if err != nil {
		return w, noop
	}
	hdr.Set("Content-Encoding", string(coding))
	hdr.Del("Content-Length")
	if etag := hdr.Get("Etag"); etag != "" {
		hdr.Set("Etag", compress.VariantETag(etag, coding))
	}
	return cw, func() { _ = cw.Close() }
}
