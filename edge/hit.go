package edge

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"edged/edge/compress"
	"edged/edge/policy"
	"edged/storage"
)

// lookupResult is what the store holds for a request.
type lookupResult struct {
	key       string         // primary cache key
	entry     *storage.Entry // the selected stored response; nil on a miss
	tier      storage.Tier   // where entry came from
	varyNames []string       // request fields that select variants, when a Vary index is stored
	fwd       string         // on a miss: uri-miss or vary-miss (RFC 9211 §2.2)
	// overBudget: the stored response is on disk, but decoding it would
	// pass the memory budget for bodies (storage.ErrOverBudget).
	overBudget bool
	// body is entry's body file, lent by the store to the lookup when the
	// disk tier keeps the body in one (serveEntry sends it, exchange.done
	// gives it back if nothing did).
	body storage.BodyFile
}

// withBody opens the body file of res's entry, if it has one. A file gone
// since the record was read (a purge, an eviction, a newer write of the
// key) or damaged makes the lookup a miss: the fetch stores the response
// again, and a damaged file's entry is deleted first.
func (x *exchange) withBody(res lookupResult) lookupResult {
	e := res.entry
	if e == nil || !e.InFile() {
		return res
	}
	f, err := e.LendBody()
	if err != nil {
		x.h.storeError("open body", e.Key, err)
		if errors.Is(err, storage.ErrCorrupt) {
			_ = x.h.store.Delete(e.Key)
		}
		res.entry, res.tier = nil, storage.TierNone
		if res.fwd == "" {
			res.fwd = policy.FwdURIMiss
		}
		return res
	}
	res.body = f
	return res
}

// takeBody returns the body file the lookup opened for e, if any; the
// caller closes it.
func (l *lookupResult) takeBody(e *storage.Entry) (storage.BodyFile, bool) {
	if l.entry != e || l.body.File() == nil {
		return storage.BodyFile{}, false
	}
	f := l.body
	l.body = storage.BodyFile{}
	return f, true
}

// closeBody gives back a body file the lookup opened and nothing sent.
func (l *lookupResult) closeBody() {
	_ = l.body.Close()
}

// storageKey is where a response to req for this lookup is stored.
func (l lookupResult) storageKey(req http.Header) string {
	if l.varyNames != nil {
		return string(policy.Key(l.key).Variant(l.varyNames, req))
	}
	return l.key
}

// lookup finds the stored response that RFC 9111 §4.1 selects for x's
// request: the entry under the primary key, or, when that is a Vary index,
// the variant whose varied request fields match the request's. A disk hit
// is decoded only if admit admits it.
func (x *exchange) lookup(admit storage.Admitter) lookupResult {
	h, req := x.h, x.r.Header
	e, tier, err := h.store.GetBytesWithin(x.keyBuf, admit)
	if errors.Is(err, storage.ErrOverBudget) {
		return lookupResult{key: x.key(), overBudget: true}
	}
	if err != nil {
		key := x.key()
		h.storeError("get", key, err)
		return lookupResult{key: key, fwd: policy.FwdURIMiss}
	}
	if e.Key == string(x.keyBuf) {
		x.keyStr = e.Key // the same key, in memory the entry holds already
	}
	key := x.key()
	if e.Vary == nil {
		return x.withBody(lookupResult{key: key, entry: e, tier: tier})
	}
	miss := lookupResult{key: key, varyNames: e.Vary, fwd: policy.FwdVaryMiss}
	variant := string(policy.Key(key).Variant(e.Vary, req))
	v, tier, err := h.store.GetWithin(variant, admit)
	if errors.Is(err, storage.ErrOverBudget) {
		return lookupResult{key: key, overBudget: true}
	}
	if err != nil {
		h.storeError("get", variant, err) // the key that failed, not the index's
		return miss
	}
	// RFC 9111 §4.1: the variant's own Vary must select this request too
	// (the index may have changed since the variant was stored).
	names, star := policy.ParseVary(v.Header)
	if star || string(policy.Key(key).Variant(names, req)) != v.Key {
		return miss
	}
	miss.entry, miss.tier, miss.fwd = v, tier, ""
	h.variants.used(key, v.Key, h.opts.Now()) // what keeps it stored when others come
	return x.withBody(miss)
}

// storeError logs a failed store operation op on key; a miss
// (storage.ErrNotFound) is no failure.
func (h *Handler) storeError(op, key string, err error) {
	if !errors.Is(err, storage.ErrNotFound) {
		h.log.Warn("cache store", "op", op, "key", key, "err", err)
	}
}

// ageNow asks serveEntry to compute the response's age itself.
const ageNow = time.Duration(-1)

// serveEntry answers the request from e, found in tier: the stored header
// fields with Age and Cache-Status (x.cs), the client's preconditions and
// ranges evaluated here (RFC 9111 §4.3.2), and no body for HEAD. age is e's
// current age when the caller has it (a hit's Decide computed it: parsing
// Date again would double the hit's date work), else ageNow. own (see
// policy.OwnHeader) is sent only to the client whose request fetched e.
func (x *exchange) serveEntry(e *storage.Entry, tier storage.Tier, age time.Duration, own http.Header) {
	h, w, r := x.h, &x.w, x.r
	e, eTier, varies := x.encoded(e, tier, tier != storage.TierNone || x.cs.Stored)
	var file *os.File // e's body, when the disk tier keeps it in a file
	if e.InFile() {
		lent, ok := x.found.takeBody(e)
		if !ok {
			var err error
			if lent, err = e.LendBody(); err != nil {
				// Gone between a revalidation and now: rare, and the next
				// request fetches it again.
				h.storeError("open body", e.Key, err)
				x.respondError(http.StatusServiceUnavailable, "stored response unreadable; try again")
				return
			}
		}
		defer lent.Close()
		file = lent.File()
	}
	derived := hitFactsOf(e, eTier, x.rules().Surrogate)
	stored := responseWithFacts(e, derived)
	if age == ageNow {
		age = policy.Age(stored, h.opts.Now())
	}
	hdr := x.entryHeader(e, derived, varies, age)
	x.setCacheStatus(e.Header)
	addOwn(hdr, own)
	size := e.BodyLen()
	h.metrics.served(tier, int(size))

	switch policy.Precondition(r, stored) {
	case http.StatusNotModified:
		writeNotModified(w)
		return
	case http.StatusPreconditionFailed:
		clearContentFields(hdr)
		w.WriteHeader(http.StatusPreconditionFailed)
		return
	}
	// RFC 9110 §14.2: Range is defined for GET alone (a HEAD gets the
	// 200's fields); §13.1.5: a failed If-Range means the whole 200.
	if e.Status == http.StatusOK && r.Method == http.MethodGet && firstValue(r.Header, "Range") != "" && ifRangeHolds(r.Header, e.Header) {
		if rr, n, ok := satisfiableRanges(r, size); ok {
			// net/http's ServeContent implements RFC 9110 §14 (single and
			// multiple ranges, 416) over the stored bytes, given the
			// ranges satisfiableRanges leaves it.
			hdr.Del("Content-Length")
			if _, ok := hdr["Content-Type"]; !ok {
				hdr["Content-Type"] = nil // never sniff a type the origin did not send
			}
			lastModified, _ := http.ParseTime(e.Header.Get("Last-Modified"))
			var content io.ReadSeeker = bytes.NewReader(e.Body)
			switch {
			case file == nil:
			case n > 1:
				// ServeContent writes a multipart body from a goroutine
				// of its own, which may still read when it has returned
				// (a client gone mid-body) and the file is lent to the
				// next hit: reading at offsets (pread) leaves the file's
				// own offset, where that hit's sendfile(2) starts, alone.
				// Before, such reads shifted another client's body.
				content = io.NewSectionReader(file, 0, size)
			default:
				// A file goes out with sendfile(2) at the range's offset.
				content = file
			}
			http.ServeContent(w, rr, "", lastModified, content)
			return
		}
	}
	if bodyAllowed(e.Status) && !lengthIs(e.Header, size) {
		hdr.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead && bodyAllowed(e.Status) {
		if file != nil {
			// sendfile(2) from the page cache where the connection allows
			if n, err := w.ReadFrom(&io.LimitedReader{R: file, N: size}); err == nil && n < size {
				// The file ended early: truncated since it was opened (a
				// descriptor the store keeps is not checked again). The
				// client sees a short body on a closed connection (net/http
				// closes it when fewer bytes than Content-Length went out);
				// the entry is deleted so the next request fetches it again.
				h.log.Warn("cache store: body file shorter than stored", "key", e.Key, "sent", n, "want", size)
				_ = h.store.Delete(e.Key)
			}
			return
		}
		_, _ = w.Write(e.Body)
	}
}

// responseOf is what the caching rules need of a stored entry. A soft purge
// makes it stale since the purge (stale-while-revalidate may still serve
// it while it is refreshed); an entry fetched across a hard purge has no
// purge time and is validated before any use.
func responseOf(e *storage.Entry) policy.Response {
	return policy.Response{Status: e.Status, Header: e.Header, RequestTime: e.RequestTime, ResponseTime: e.ResponseTime,
		Purged: e.Stale, PurgedAt: e.StaleAt, MustRevalidate: e.MustRevalidate}
}

// hitResponse is responseOf for an entry found in the store. One the
// store shares between hits (see hitFactsOf) is immutable and used by many
// requests, so its header fields are parsed once (policy.Facts) and kept
// on it; the first hit parses them. Other entries (a disk hit decoded for
// this request, a fetch's result) are parsed per use, as responseOf does:
// caching would only cost allocations.
func hitResponse(e *storage.Entry, tier storage.Tier, surrogate string) policy.Response {
	return responseWithFacts(e, hitFactsOf(e, tier, surrogate))
}

// entryHeader fills the response header with e's fields as a response made
// from a stored one carries them (a hit, or a fill streamed to its clients
// while it is stored), and returns it: Vary gains Accept-Encoding when the
// response varies by it (varies), the fields a client never gets are
// removed, a per-user page is marked must-revalidate, and Age is age.
// derived is e's hit facts (hitFactsOf), or nil.
func (x *exchange) entryHeader(e *storage.Entry, derived *hitFacts, varies bool, age time.Duration) http.Header {
	hdr := x.w.Header()
	// known: hdr holds e's fields and nothing else, so what a memory-tier
	// entry's hitFacts say of its fields holds for hdr.
	known := derived != nil && len(hdr) == 0
	for k, v := range e.Header {
		// Clip capacity: e is shared, so an append must never write into
		// its backing array.
		hdr[k] = v[:len(v):len(v)]
	}
	switch {
	case !varies:
	case !known:
		addVary(hdr, "Accept-Encoding")
	case derived.varyEncoding != nil:
		hdr["Vary"] = derived.varyEncoding // addVary's result, made once
	}
	if !known || !derived.plain {
		policy.ClientHeader(hdr, x.h.opts.Policy)
	}
	if e.MustRevalidate {
		// One user's page (policy.PerUser): say so to the caches below
		// (an edge behind this shield), which cannot tell from their own
		// request that it must never be served stale.
		policy.MarkMustRevalidate(hdr)
	}
	// RFC 9111 §5.1: a response generated from a stored one carries Age.
	// (A compressed variant has the times and fields that make e's age.)
	hdr["Age"] = x.h.ageValue(age)
	return hdr
}

// responseWithFacts is responseOf(e) with d's parsed fields, when e has
// hitFacts (d != nil).
func responseWithFacts(e *storage.Entry, d *hitFacts) policy.Response {
	r := responseOf(e)
	if d != nil {
		r.Facts = &d.Facts
	}
	return r
}

// hitFacts is what the hits of a memory-tier entry derive from it once and
// keep on it (storage.Entry.SetDerived), rather than on every hit: its
// parsed freshness fields, and what serveEntry would find again in its
// header fields.
type hitFacts struct {
	policy.Facts
	// surrogate is the Surrogate-Control device token Facts were parsed
	// with: facts parsed for another token are not used (hitFactsOf).
	surrogate string
	// plain: the header has none of the fields policy.ClientHeader
	// removes, so a copy of it needs no deletions.
	plain bool
	// eligible is compress.Eligible of the header.
	eligible bool
	// varyEncoding is the Vary value of a response that varies by
	// compression: the stored Vary with Accept-Encoding added, as
	// addVary makes it; nil when Vary names it already (or "*"). Shared
	// by every hit, like ageValues: its capacity makes an append copy.
	varyEncoding []string
}

// varyEncoding is the Vary value of a response without one that varies by
// compression, shared by all of them as hitFacts.varyEncoding is.
var varyEncoding = []string{"Accept-Encoding"}[:1:1]

// hitFactsOf returns the hitFacts cached on e, parsing and caching them
// first if need be; nil for an entry that later hits do not share (a disk
// hit decoded for this request, a fetch's result: caching would only cost
// allocations), or if something else is cached on e. The memory tier's
// entries are shared, and so are the disk tier's that it decodes once for
// every hit on their record (storage.Entry.Shared). surrogate is the
// Surrogate-Control device token of the rules in force (policy.Options.
// Surrogate of x.rules()): the facts cached on an entry hold for that
// token only, and a use under another (after a Reroute to sites of another
// cache name) parses its own, so that a memory-tier entry is judged as one
// read from disk is.
func hitFactsOf(e *storage.Entry, tier storage.Tier, surrogate string) *hitFacts {
	if tier != storage.TierMemory && !e.Shared() {
		return nil
	}
	cached, ok := e.Derived().(*hitFacts)
	if ok && cached.surrogate == surrogate {
		return cached
	}
	d := &hitFacts{Facts: *policy.ParseFacts(responseOf(e), policy.Options{Surrogate: surrogate}), surrogate: surrogate, eligible: compress.Eligible(e.Header)}
	probe := e.Header.Clone()
	policy.ClientHeader(probe, policy.Options{})
	d.plain = len(probe) == len(e.Header)
	vary := e.Header["Vary"]
	addVary(probe, "Accept-Encoding")
	switch v := probe["Vary"]; {
	case len(v) == len(vary): // Vary names it already
	case len(vary) == 0:
		d.varyEncoding = varyEncoding // nothing of e's own to keep
	default:
		d.varyEncoding = v[:len(v):len(v)]
	}
	if ok {
		// Cached for another token (the rules in force were rerouted to
		// another cache name): this use's own, not cached, since the
		// entry keeps its first; entries stored since cache the new one.
		return d
	}
	if won, ok := e.SetDerived(d).(*hitFacts); ok && won.surrogate == surrogate {
		return won
	}
	return d
}

// addOwn adds to hdr the fields of own (policy.OwnHeader), which only the
// client whose request fetched the response gets. The stored header lacks
// them (policy.StoredHeader); a field the cache set itself (Age, Vary,
// Cache-Status) is never replaced.
func addOwn(hdr, own http.Header) {
	for k, v := range own {
		if _, ok := hdr[k]; !ok {
			hdr[k] = v[:len(v):len(v)]
		}
	}
}

// ageValues holds the Age field values of the first hour, shared by every
// response (net/http only reads them): a hit then allocates no Age string.
var ageValues = func() [][]string {
	v := make([][]string, 3600)
	for i := range v {
		s := strconv.Itoa(i)
		v[i] = []string{s}[:1:1]
	}
	return v
}()

// ageValue is the Age field value for age (RFC 9111 §5.1: whole seconds).
func (h *Handler) ageValue(age time.Duration) []string {
	n := int64(age / time.Second)
	if n >= 0 && n < int64(len(ageValues)) {
		return ageValues[n]
	}
	if v := h.ages.get(n, ""); v != nil {
		return v
	}
	return h.ages.put(n, "", strconv.FormatInt(n, 10))
}

// valueCache remembers header values made from an integer (an Age, a
// remaining TTL) and a string (prior Cache-Status members), each in a
// one-element slice that every response may share: net/http only reads
// header values, and the capacity of 1 makes an append copy. Each slot holds
// the last value made for any key mapped to it.
type valueCache struct {
	slots [valueCacheSlots]atomic.Pointer[cachedValue]
}

const valueCacheSlots = 1024

type cachedValue struct {
	n     int64
	s     string
	value []string
}

// get returns the value cached for (n, s), or nil.
func (c *valueCache) get(n int64, s string) []string {
	if v := c.slot(n, s).Load(); v != nil && v.n == n && v.s == s {
		return v.value
	}
	return nil
}

// put caches value as the value for (n, s) and returns it.
func (c *valueCache) put(n int64, s, value string) []string {
	v := []string{value}[:1:1]
	c.slot(n, s).Store(&cachedValue{n: n, s: s, value: v})
	return v
}

func (c *valueCache) slot(n int64, s string) *atomic.Pointer[cachedValue] {
	h := uint64(n)
	for i := 0; i < len(s); i++ { // FNV-1a: a collision only costs a rebuild
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return &c.slots[h%valueCacheSlots]
}

// lengthIs reports whether h already says the body is n bytes (stored
// entries carry their length from the fill).
func lengthIs(h http.Header, n int64) bool {
	v := h["Content-Length"]
	if len(v) != 1 {
		return false
	}
	got, err := strconv.ParseInt(v[0], 10, 64)
	return err == nil && got == n
}

// firstValue is h.Get(key) for a key already in canonical form, without
// canonicalizing it again on every hit.
func firstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// bodyAllowed reports whether a response with this status has content
// (RFC 9110 §6.4.1).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// writeNotModified answers a matched conditional request: RFC 9110 §15.4.5
// keeps the fields a cache needs to update and drops representation metadata.
func writeNotModified(w http.ResponseWriter) {
	hdr := w.Header()
	clearContentFields(hdr)
	if hdr.Get("Etag") != "" {
		hdr.Del("Last-Modified")
	}
	w.WriteHeader(http.StatusNotModified)
}

// clearContentFields removes the fields that describe a body, from the
// header of a response that sends none in its place (304, 412).
func clearContentFields(hdr http.Header) {
	for _, f := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range", "Content-Language", "Transfer-Encoding"} {
		delete(hdr, f)
	}
}
