package edge

import (
	"io"
	"log/slog"
	"net/http"

	"edged/edge/policy"
	"edged/edge/waf"
)

// inspect runs the route's WAF (edge/waf) over the request, after the
// guards and before the cache lookup: a blocking WAF must see the requests
// that would be cache hits too (an attack rides in a query string as well
// as in a miss), and a route without a WAF pays one nil check. A request
// the WAF blocks gets 403 (413 for a body over the WAF's limit) with its
// request id in the body, and a log line naming the rules that matched;
// detect mode logs and lets it through. It reports false once it has
// answered the request itself.
//
// A body is read here up to the WAF's limit through uploadBody, so a
// client that stalls it is cut off as pass would cut it off, under one of
// the client's upload slots; what was read is put back in front of the
// rest for the upstream. The bytes read are held until the request ends:
// the caller releases held (nil without a body).
func (x *exchange) inspect() (held *hold, ok bool) {
	wf := x.route.WAF
	if wf == nil {
		return nil, true
	}
	h, r := x.h, x.r
	id, client := x.wafRequestID(), h.client(r)
	var body io.Reader
	var upload *uploadBody
	if r.Body != nil && r.Body != http.NoBody {
		// The body held for inspection counts as one of the client's
		// uploads under way (server.max_uploads_per_client), as its
		// forwarding does in pass: one client cannot make the node hold
		// more than that many request_body_limit buffers.
		release, ok := h.uploads.tryAcquire(client)
		if !ok {
			x.refuse(http.StatusTooManyRequests, "too many requests with a body under way from this client", policy.DetailTooManyUploads)
			return nil, false
		}
		defer release()
		// And in the bodies' budget, as the WAF's copy and Coraza's: many
		// clients, each within its own slots, held any number of them.
		held = &hold{b: &h.bodies}
		if !held.grow(inspectedBytes(r.ContentLength, wf.Options().RequestBodyLimit)) {
			x.w.Header().Set("Retry-After", "1")
			x.refuse(http.StatusServiceUnavailable, "too many request bodies held for inspection; try again", policy.DetailMemoryBudget)
			return nil, false
		}
		upload = h.newUploadBody(&x.w, r.Body)
		defer upload.finish()
		body = upload
	}
	v := wf.Inspect(r, id, client, body)
	site := ""
	if x.site != nil {
		site = x.site.Name
	}
	h.wafMetrics.Count(site, x.route.PathPrefix, v.Action)
	if v.Action == waf.Pass {
		return held, true
	}
	if upload != nil && upload.stalled.Load() {
		// No verdict on the rules: the body never came. As pass answers a
		// stalled body: RFC 9110 §15.5.9, 408, and the connection closed
		// (the rest of the body may still arrive).
		h.log.Info("request body stalled", "host", r.Host, "path", r.URL.Path, "request_id", id, "err", v.Err)
		if r.ProtoMajor == 1 {
			x.w.Header().Set("Connection", "close")
		}
		x.refuse(http.StatusRequestTimeout, "request body too slow (request id "+id+")", policy.DetailRequestBodyTimeout)
		held.release()
		return nil, false
	}
	msg := "waf detected an attack"
	if v.Action == waf.Blocked {
		msg = "waf blocked a request"
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, msg, slog.String("request_id", id), slog.String("site", site),
		slog.String("route", x.route.PathPrefix), slog.String("method", r.Method), slog.String("uri", r.RequestURI),
		slog.String("client", client.String()), slog.Any("waf", v))
	if v.Action == waf.Detected {
		return held, true
	}
	reason := "forbidden by the web application firewall"
	switch v.Status {
	case http.StatusRequestEntityTooLarge:
		reason = "request body larger than the web application firewall inspects"
	case http.StatusBadRequest:
		reason = "bad request body"
	}
	x.refuse(v.Status, reason+" (request id "+id+")", policy.DetailWAF)
	held.release()
	return nil, false
}

// inspectedBytes is what inspecting a body of length n (-1: unknown) holds
// in memory at most: the bytes read up to the WAF's limit, and Coraza's
// copy of them.
func inspectedBytes(n, limit int64) int64 {
	if n < 0 || n > limit {
		n = limit + 1
	}
	return 2 * n
}

// wafRequestID is the id the answer and the log line name: the request's
// (setRequestID), or, with Options.NoRequestID (the forward role), one made
// for them alone.
func (x *exchange) wafRequestID() string {
	if len(x.requestID) > 0 {
		return x.requestID[0]
	}
	return x.ids.take(x.h.ids)[0]
}
