package edge

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// ageNow asks serveEntry to compute the response's age itself.
const ageNow = time.Duration(-1)

// serveEntry answers r from e: the stored header fields with Age and
// Cache-Status, the client's preconditions and ranges evaluated here
// (RFC 9111 §4.3.2), and no body for HEAD. age is e's current age when the
// caller has it (a hit's Decide computed it: parsing Date again would
// double the hit's date work), else ageNow.
func (h *Handler) serveEntry(w *trackedWriter, r *http.Request, e *storage.Entry, cs policy.CacheStatus, tier storage.Tier, setCookie []string, age time.Duration) {
	e, eTier, varies := h.encoded(w, r, e, tier, tier != storage.TierNone || cs.Stored)
	hdr := w.Header()
	for k, v := range e.Header {
		// Clip capacity: e is shared, so an append must never write into
		// its backing array.
		hdr[k] = v[:len(v):len(v)]
	}
	if varies {
		addVary(hdr, "Accept-Encoding")
	}
	policy.ClientHeader(hdr, h.opts.Policy)
	stored := hitResponse(e, eTier)
	if age == ageNow {
		age = policy.Age(stored, h.opts.Now())
	}
	// RFC 9111 §5.1: a response generated from a stored one carries Age.
	// (A compressed variant has the times and fields that make e's age.)
	hdr["Age"] = h.ageValue(age)
	h.setCacheStatus(w, e.Header, cs)
	for _, c := range setCookie {
		hdr.Add("Set-Cookie", c)
	}
	h.metrics.served(tier, len(e.Body))

	switch policy.Precondition(r, stored) {
	case http.StatusNotModified:
		writeNotModified(w)
		return
	case http.StatusPreconditionFailed:
		clearContentFields(hdr)
		w.WriteHeader(http.StatusPreconditionFailed)
		return
	}
	if e.Status == http.StatusOK && firstValue(r.Header, "Range") != "" {
		if rr, ok := satisfiableRanges(r, int64(len(e.Body))); ok {
			// net/http's ServeContent implements RFC 9110 §14 (single and
			// multiple ranges, If-Range, 416) over the stored bytes, given
			// the ranges satisfiableRanges leaves it.
			hdr.Del("Content-Length")
			if _, ok := hdr["Content-Type"]; !ok {
				hdr["Content-Type"] = nil // never sniff a type the origin did not send
			}
			lastModified, _ := http.ParseTime(e.Header.Get("Last-Modified"))
			http.ServeContent(w, rr, "", lastModified, bytes.NewReader(e.Body))
			return
		}
	}
	if bodyAllowed(e.Status) && !lengthIs(e.Header, len(e.Body)) {
		hdr.Set("Content-Length", strconv.Itoa(len(e.Body)))
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead && bodyAllowed(e.Status) {
		_, _ = w.Write(e.Body)
	}
}

// maxRanges bounds the ranges one request may ask for. Many small or
// overlapping ranges cost far more to serve than the object (RFC 9110
// §14.2 lets a server ignore Range: the whole 200 is sent instead).
const maxRanges = 16

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
func lengthIs(h http.Header, n int) bool {
	v := h["Content-Length"]
	if len(v) != 1 {
		return false
	}
	got, err := strconv.Atoi(v[0])
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

func clearContentFields(hdr http.Header) {
	for _, f := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range", "Content-Language", "Transfer-Encoding"} {
		delete(hdr, f)
	}
}

// setCacheStatus adds this cache's member to the Cache-Status list after
// those of the caches closer to the origin (RFC 9211 §2), then the route's
// response rules: every response passes here last before its status line.
func (h *Handler) setCacheStatus(w *trackedWriter, upstream http.Header, cs policy.CacheStatus) {
	cs.Name = h.opts.Name
	w.cache = outcomeOf(cs)
	// Indexed, not Values: the name is canonical already.
	w.Header()["Cache-Status"] = h.cacheStatusValue(upstream["Cache-Status"], cs)
	w.x.finishHeader(w.Header())
}

// cacheStatusValue is the Cache-Status field value: prior members, then cs.
func (h *Handler) cacheStatusValue(prior []string, cs policy.CacheStatus) []string {
	plainHit := cs == policy.CacheStatus{Name: cs.Name, Hit: true, TTL: cs.TTL, HasTTL: true}
	if plainHit && (len(prior) == 0 || len(prior) == 1 && prior[0] != "") {
		// The value differs only by the TTL's seconds and the one line of
		// members the stored response carries from the caches upstream.
		ttl, upstream := int64(cs.TTL/time.Second), ""
		if len(prior) == 1 {
			upstream = prior[0]
		}
		if v := h.hitStatus.get(ttl, upstream); v != nil {
			return v
		}
		return h.hitStatus.put(ttl, upstream, joinStatus(prior, cs))
	}
	return []string{joinStatus(prior, cs)}
}

// joinStatus is the Cache-Status list: prior members, then cs.
func joinStatus(prior []string, cs policy.CacheStatus) string {
	if len(prior) == 0 {
		return cs.String()
	}
	return strings.Join(prior, ", ") + ", " + cs.String()
}

// outcomeOf is the outcome a Cache-Status member stands for.
func outcomeOf(cs policy.CacheStatus) outcome {
	switch {
	case cs.Hit && cs.HasTTL && cs.TTL < 0:
		return outcomeStale
	case cs.Hit:
		return outcomeHit
	case cs.Fwd == policy.FwdStale && cs.Detail == policy.DetailStaleIfError:
		return outcomeStaleIfError
	case cs.Fwd == policy.FwdStale:
		return outcomeRevalidated
	case cs.Fwd == "":
		return outcomeError
	case cs.Fwd == policy.FwdBypass || cs.Fwd == policy.FwdMethod:
		return outcomePass
	default:
		return outcomeMiss
	}
}

// respondError answers with a short plain-text reason generated by this node.
// It is marked no-store so that no cache downstream keeps it (an error
// cached under a URL would deny service to everyone who asks for it).
func (h *Handler) respondError(w *trackedWriter, r *http.Request, status int, reason string, cs policy.CacheStatus) {
	hdr := w.Header()
	for k := range hdr {
		if !errorFields[k] {
			delete(hdr, k) // nothing of a half-built response leaks into the error
		}
	}
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	h.setCacheStatus(w, nil, cs)
	w.cache = outcomeError
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, reason+"\n")
	}
}

// errorFields are the fields set for an error response before respondError
// writes it: they belong to the error itself.
var errorFields = map[string]bool{"Allow": true, "Retry-After": true, "Www-Authenticate": true, "Location": true, "Connection": true}

// upstreamErrorStatus maps a fetch error to the status that stands for it:
// 503 when no upstream server is healthy, 504 when the upstream was too
// slow, 502 when it failed.
func upstreamErrorStatus(err error) int {
	switch {
	case errors.Is(err, origin.ErrNoHealthy):
		return http.StatusServiceUnavailable
	case errors.Is(err, origin.ErrTimeout):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

func (h *Handler) respondUpstreamError(w *trackedWriter, r *http.Request, err error, cs policy.CacheStatus) {
	status := upstreamErrorStatus(err)
	switch {
	case errors.Is(err, origin.ErrNoHealthy):
		cs.Detail = policy.DetailNoHealthyUpstream
	case errors.Is(err, origin.ErrTimeout):
		cs.Detail = policy.DetailUpstreamTimeout
	case errors.Is(err, origin.ErrConnect):
		cs.Detail = policy.DetailUpstreamUnreachable
	default:
		cs.Detail = policy.DetailUpstreamError
	}
	h.log.Warn("upstream fetch failed", "host", r.Host, "path", r.URL.Path, "status", status, "err", err)
	h.respondError(w, r, status, http.StatusText(status)+": "+cs.Detail, cs)
}

// pass forwards r upstream on its own and streams the answer back; nothing
// is stored. Unsafe methods invalidate what they may have changed.
func (h *Handler) pass(w *trackedWriter, r *http.Request, x *exchange, cs policy.CacheStatus) {
	out := h.outbound(r, x)
	var upload *uploadBody
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Body != nil && r.Body != http.NoBody {
		limit := h.opts.MaxBodyBytes
		if limit > 0 && r.ContentLength > limit {
			h.respondError(w, r, http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(limit, 10)+" bytes", cs)
			return
		}
		release, ok := h.uploads.tryAcquire(h.client(r))
		if !ok {
			// RFC 6585 §4. Refused, not queued: each upload under way
			// holds an upstream connection (see upload.go).
			cs.Detail = policy.DetailTooManyUploads
			h.respondError(w, r, http.StatusTooManyRequests, "too many requests with a body under way from this client", cs)
			return
		}
		defer release()
		upload = h.newUploadBody(w, r.Body)
		defer upload.finish()
		out.Body, out.ContentLength = upload, r.ContentLength
		if limit > 0 {
			out.Body = http.MaxBytesReader(w, io.NopCloser(upload), limit) // a chunked body has no length to check first
		}
	}
	resp, err := x.upstream.Do(r.Context(), out)
	if err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			h.respondError(w, r, http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes", cs)
			return
		}
		if upload != nil && upload.stalled.Load() {
			// RFC 9110 §15.5.9: 408, and the connection is closed (the
			// rest of the body may still arrive). The upstream request
			// was abandoned with its connection.
			h.log.Info("request body stalled", "host", r.Host, "path", r.URL.Path, "err", err)
			if r.ProtoMajor == 1 {
				w.Header().Set("Connection", "close")
			}
			cs.Detail = policy.DetailRequestBodyTimeout
			h.respondError(w, r, http.StatusRequestTimeout, "request body too slow", cs)
			return
		}
		h.respondUpstreamError(w, r, err, cs)
		return
	}
	defer resp.Body.Close()
	if policy.IsUnsafe(r.Method) {
		// RFC 9111 §4.4: invalidate once the response shows the change happened.
		h.invalidate(policy.Invalidates(x.t, resp.StatusCode, resp.Header))
	}
	cs.FwdStatus = resp.StatusCode
	h.writeUpstream(w, r, resp, nil, cs)
}

// streamFill sends the leader a response too large to store: the bytes the
// fill already read, then the rest as it arrives.
func (h *Handler) streamFill(w *trackedWriter, r *http.Request, res *fillResult, cs policy.CacheStatus) {
	if !res.claim() {
		h.respondError(w, r, http.StatusBadGateway, "upstream response was abandoned", cs)
		return
	}
	defer res.stream.Body.Close()
	cs.Detail = res.reason
	h.writeUpstream(w, r, res.stream, res.prefix, cs)
}

// writeUpstream copies an upstream response to the client.
func (h *Handler) writeUpstream(w *trackedWriter, r *http.Request, resp *http.Response, prefix []byte, cs policy.CacheStatus) {
	hdr := w.Header()
	for k, v := range resp.Header {
		hdr[k] = v
	}
	policy.ClientHeader(hdr, h.opts.Policy)
	dst, finish := h.compressStream(w, r, resp)
	defer finish()
	h.setCacheStatus(w, resp.Header, cs)
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := dst.Write(prefix); err != nil {
		return
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	n, err := io.CopyBuffer(writerOnly{dst}, resp.Body, *buf)
	h.metrics.served(storage.TierNone, int(n)+len(prefix))
	if err != nil && !errors.Is(err, errClientWrite) {
		// Headers are gone already: abort so the client sees a truncated
		// body rather than a complete-looking one (net/http resets the stream).
		h.log.Warn("upstream body failed mid-stream", "host", r.Host, "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

var errClientWrite = errors.New("client write failed")

// writerOnly hides ReadFrom so CopyBuffer uses the pooled buffer, and marks
// client-side write errors apart from upstream read errors.
type writerOnly struct{ w io.Writer }

func (wo writerOnly) Write(p []byte) (int, error) {
	n, err := wo.w.Write(p)
	if err != nil {
		return n, errClientWrite
	}
	return n, nil
}
