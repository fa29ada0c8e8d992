package edge

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"edged/edge/policy"
	"edged/origin"
)

// passMethod forwards a request whose method the cache does not serve. Unsafe
// methods invalidate the URIs they may have changed (RFC 9111 §4.4).
func (x *exchange) passMethod() {
	r := x.r
	x.cs = policy.CacheStatus{Fwd: policy.FwdMethod}
	switch r.Method {
	case http.MethodConnect, http.MethodTrace:
		// A cache in front of many sites never tunnels, and TRACE reflects
		// credentials back to scripts (cross-site tracing).
		x.w.Header().Set("Allow", allowedMethods)
		x.respondError(http.StatusMethodNotAllowed, r.Method+" is not allowed")
		return
	case http.MethodOptions:
		if !x.maxForwards() {
			return
		}
	}
	x.pass()
}

// allowedMethods is what a node forwards or serves (CONNECT and TRACE it
// refuses), for Allow.
const allowedMethods = "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"

// maxForwards applies RFC 9110 §7.6.2 to an OPTIONS request (TRACE, the
// other method it names, is refused above): a Max-Forwards of 0 is
// answered here as the final recipient, never forwarded (an edge or a
// forward proxy would otherwise let a client probe what lies behind it,
// the chain it was asked not to cross); a larger one is forwarded less
// one. It reports whether the request goes on upstream. A field that is
// not one run of digits is not a Max-Forwards (RFC 9110 §7.6.2: 1*DIGIT)
// and is passed unchanged.
func (x *exchange) maxForwards() bool {
	vals := x.r.Header.Values("Max-Forwards")
	if len(vals) != 1 {
		return true
	}
	n, err := strconv.ParseUint(strings.TrimSpace(vals[0]), 10, 63)
	if err != nil {
		return true
	}
	if n > 0 {
		x.r.Header.Set("Max-Forwards", strconv.FormatUint(n-1, 10))
		return true
	}
	hdr := x.w.Header()
	hdr.Set("Allow", allowedMethods)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", "0")
	x.cs = policy.CacheStatus{Detail: policy.DetailMaxForwards}
	x.setCacheStatus(nil)
	x.outcome = outcomeHit
	x.w.WriteHeader(http.StatusOK)
	return false
}

// pass forwards the request upstream on its own and streams the answer
// back, with x.cs; nothing is stored. Unsafe methods invalidate what they
// may have changed.
func (x *exchange) pass() {
	h, w, r, cs := x.h, &x.w, x.r, &x.cs
	out := x.outbound()
	x.partitionUpstream(out.Header)
	var upload *uploadBody
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Body != nil && r.Body != http.NoBody {
		limit := h.opts.MaxBodyBytes
		if limit > 0 && r.ContentLength > limit {
			x.passBodyFailed(http.StatusRequestEntityTooLarge, policy.DetailRequestTooLarge, "request body larger than "+strconv.FormatInt(limit, 10)+" bytes")
			return
		}
		release, ok := h.uploads.tryAcquire(h.client(r))
		if !ok {
			// RFC 6585 §4. Refused, not queued: each upload under way
			// holds an upstream connection (see upload.go).
			cs.Detail = policy.DetailTooManyUploads
			x.respondError(http.StatusTooManyRequests, "too many requests with a body under way from this client")
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
	ctx := r.Context()
	if upload == nil {
		// Nothing else writes to the client while Do runs (an upload's
		// body reads may: 100-continue), so the upstream's interim
		// responses go straight to it.
		ctx = withInterim(ctx, x.sendInterim)
	}
	start := time.Now()
	resp, err := x.upstream.Do(ctx, out)
	x.noteUpstream(resp, err, start)
	if err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			x.passBodyFailed(http.StatusRequestEntityTooLarge, policy.DetailRequestTooLarge, "request body larger than "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes")
			return
		}
		if status, detail, reason, ok := bodyFault(upload, err); ok {
			// The client's request body failed: its fault, held against
			// no upstream server (origin.ErrRequestBody). On HTTP/1 the
			// connection is closed: the rest of the body may still
			// arrive, or where the request ends is unknown. The upstream
			// request was abandoned with its connection.
			h.log.Info("request body failed", "host", r.Host, "path", r.URL.Path, "status", status, "err", err)
			if r.ProtoMajor == 1 {
				w.Header().Set("Connection", "close")
			}
			x.passBodyFailed(status, detail, reason)
			return
		}
		x.passUpstreamFailed(err)
		return
	}
	defer resp.Body.Close()
	if policy.IsUnsafe(r.Method) {
		// RFC 9111 §4.4: invalidate once the response shows the change happened.
		h.invalidate(policy.Invalidates(x.t, resp.StatusCode, resp.Header))
	}
	cs.FwdStatus = resp.StatusCode
	x.writeUpstream(resp, nil)
}

// passBodyFailed answers a pass-through that failed for its client's request
// body with status and reason: Cache-Status detail, the outcome the access
// log and edged_requests_total show (bad-request-body, never the error of
// an upstream's failure) and edged_pass_failures_total.
func (x *exchange) passBodyFailed(status int, detail, reason string) {
	x.cs.Detail = detail
	x.respondError(status, reason)
	x.outcome = outcomeBadRequestBody
	x.h.metrics.passFailed(detail)
}

// passUpstreamFailed answers a pass-through whose upstream exchange failed
// (respondUpstreamError) and counts it in edged_pass_failures_total, unless
// its client had left: then the failure is the cancelled request's.
func (x *exchange) passUpstreamFailed(err error) {
	x.respondUpstreamError(err)
	if x.r.Context().Err() == nil {
		x.h.metrics.passFailed(x.cs.Detail)
	}
}

// bodyFault maps a failed upstream exchange whose request body failed to
// the client's answer: 408 for a stalled body (RFC 9110 §15.5.9), 400 for
// one cut short, malformed or reset (§15.5.1). ok is false when the body
// did not fail.
func bodyFault(upload *uploadBody, err error) (status int, detail, reason string, ok bool) {
	switch {
	case upload != nil && upload.stalled.Load():
		return http.StatusRequestTimeout, policy.DetailRequestBodyTimeout, "request body too slow", true
	case errors.Is(err, origin.ErrRequestBody):
		return http.StatusBadRequest, policy.DetailBadRequestBody, "request body incomplete or malformed", true
	}
	return 0, "", "", false
}

// invalidate removes every stored response for each target, all variants
// included (RFC 9111 §4.4).
func (h *Handler) invalidate(targets []policy.Target) {
	for _, t := range targets {
		key := t.Key()
		h.forget(key)
		if _, err := h.store.DeletePrefix(policy.Key(key).Family()); err != nil {
			h.log.Warn("cache invalidate", "key", key, "err", err)
		}
	}
}
