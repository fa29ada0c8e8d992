// Package edge is the client-facing side of an edged node: an http.Handler
// that answers GET and HEAD from the two-tier cache, revalidates stale
// objects, collapses concurrent misses for one object into one upstream fetch
// that no client's disconnect can cancel, stores what RFC 9111 allows, and
// passes every other method through to the upstream, invalidating what an
// unsafe method changes (RFC 9111 §4.4).
//
// Every response carries a Cache-Status field (RFC 9211) naming this cache.
// The path of a request reads top to bottom in ServeHTTP; fill.go holds the
// shared upstream fetch, respond.go what is written to the client.
package edge

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"edged/edge/policy"
	"edged/internal/fielderr"
	"edged/storage"
)

// Handler serves client requests through the cache. It is safe for
// concurrent use; Close waits for the background work it started.
type Handler struct {
	opts    Options
	store   *storage.Store
	anyHost *Route // serves every host when there is no Router
	log     *slog.Logger
	metrics *metrics

	// flights collapses concurrent fetches of one storage key.
	flights flights
	// uncacheable lists keys fetched without coalescing for a while.
	uncacheable uncacheable
	// variants bounds the Vary variants stored per URL.
	variants variantCounter
	// slots bounds the fetches each client has under way.
	slots fillSlots
	// uploads bounds the requests with a body each client has under way.
	uploads fillSlots
	// strip are the request fields removed before anything reads them.
	strip fieldSet
	// bodies bounds the bodies held in memory by fills and disk hits.
	bodies bodyBudget
	// background counts revalidations still running after their response
	// was served (stale-while-revalidate).
	background sync.WaitGroup
	// writers recycles each request's trackedWriter and exchange, so a
	// hit allocates neither (see trackedWriter for what may keep them).
	writers sync.Pool
	// hitStatus and ages hold recent Cache-Status values of plain hits (by
	// TTL and the upstream caches' members) and Age values past the first
	// hour: the hits of an object within one second share them.
	hitStatus, ages valueCache
}

// New validates opts and returns a Handler.
func New(opts Options) (*Handler, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix("edge: option ", err)
	}
	log := opts.Logger
	strip, err := newFieldSet(opts.StripRequestHeaders)
	if err != nil {
		return nil, fmt.Errorf("edge: Options.%w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("edge: register metrics: %w", err)
	}
	h := &Handler{opts: opts, store: opts.Store, log: log, metrics: m, strip: strip}
	h.bodies.limit = opts.BodyMemory
	h.slots.perClient, h.uploads.perClient = opts.MaxFillsPerClient, opts.MaxUploadsPerClient
	if opts.NoFillLimit {
		h.slots.perClient = -1 // fillSlots: unlimited
	}
	if opts.NoUploadLimit {
		h.uploads.perClient = -1
	}
	if opts.Upstream != nil {
		h.anyHost = &Route{PathPrefix: "/", Upstream: opts.Upstream}
	}
	return h, nil
}

// Close waits for background revalidations to finish. The Handler must not
// serve requests after Close.
func (h *Handler) Close() { h.background.Wait() }

// ServeHTTP answers one client request. The steps, in order:
//  1. refuse hostile shapes, forwarding loops and malformed targets;
//  2. route by host and path (421 for a host no site serves), then the
//     site's and route's guards: HTTPS redirect, access rules, rate limit,
//     authentication;
//  3. pass methods other than GET and HEAD through, invalidating on unsafe
//     ones (PURGE goes to the purge bus);
//  4. look the target up (primary key, then the Vary variant);
//  5. serve a usable stored response, or serve it stale and refresh in the
//     background, or revalidate it, or fetch a miss, each through one shared
//     upstream fetch per object.
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := h.track(rw, r)
	defer w.done()

	if r.ProtoMajor == 1 && r.ContentLength != 0 && h.opts.RequestBodyTimeout > 0 {
		// net/http reads what a handler left of a request body before it
		// writes the response head, and again as it closes the body, to
		// keep the connection; with no deadline, a client that announces a
		// body and stalls would hold the connection, and its answer, for
		// good. This deadline bounds those reads (a stalled body then
		// closes the connection); pass moves it as it forwards the body
		// (uploadBody), and the server sets its own for the next request.
		_ = http.NewResponseController(rw).SetReadDeadline(time.Now().Add(h.opts.RequestBodyTimeout))
	}
	if status, reason := h.refuseHostile(r); status != 0 {
		h.respondError(w, r, status, reason, policy.CacheStatus{Detail: policy.DetailBadRequest})
		return
	}
	if h.viaNamesMe(r.Header) {
		// RFC 9110 §7.6.3: Via lets a proxy detect a loop; 508 is RFC 5842's status for it.
		h.respondError(w, r, http.StatusLoopDetected, "forwarding loop: Via already names "+h.opts.Name, policy.CacheStatus{Detail: policy.DetailLoop})
		return
	}
	t, err := policy.ParseTarget(scheme(r), r.Host, r.URL)
	if err != nil {
		h.respondError(w, r, http.StatusBadRequest, "bad request target: "+err.Error(), policy.CacheStatus{Detail: policy.DetailBadTarget})
		return
	}
	x := &w.xv
	if status, reason := h.newExchange(x, r, t); status != 0 {
		h.respondError(w, r, status, reason, policy.CacheStatus{Detail: policy.DetailNoRoute})
		return
	}
	w.x = x
	if r.Method == methodPurge {
		h.purge(w, r, x.t)
		return
	}
	if !h.guard(w, r, x) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.passMethod(w, r, x)
		return
	}
	if x.route.Cache.Bypass {
		h.pass(w, r, x, policy.CacheStatus{Fwd: policy.FwdBypass, Detail: policy.DetailBypassRoute})
		return
	}

	// A disk hit's body is decoded whole for this request: it counts
	// against the body budget (w.held) until the response is sent.
	found := h.lookup(x, r.Header, &w.held)
	if found.overBudget {
		h.metrics.overBudget.Inc()
		h.pass(w, r, x, policy.CacheStatus{Fwd: policy.FwdBypass, Detail: policy.DetailMemoryBudget})
		return
	}
	if e := found.entry; e != nil {
		stored := hitResponse(e, found.tier)
		d := policy.Decide(r.Header, stored, h.opts.Now(), *h.rules(x))
		switch d.Action {
		case policy.Serve:
			h.serveEntry(w, r, e, policy.CacheStatus{Hit: true, TTL: d.TTL, HasTTL: true}, found.tier, nil, d.Age)
			return
		case policy.ServeStale:
			if d.Background {
				h.refreshInBackground(r, x, found)
			}
			h.serveEntry(w, r, e, policy.CacheStatus{Hit: true, TTL: d.TTL, HasTTL: true, Detail: d.Detail}, found.tier, nil, d.Age)
			return
		}
		if policy.OnlyIfCached(r.Header) {
			// RFC 9111 §5.2.1.7: a stored response or 504, never a forward.
			h.respondError(w, r, http.StatusGatewayTimeout, "only-if-cached: stored response needs validation", policy.CacheStatus{TTL: d.TTL, HasTTL: true, Detail: policy.DetailOnlyIfCached})
			return
		}
		h.fetchAndServe(w, r, x, found, d.Fwd, d.Detail)
		return
	}
	if policy.OnlyIfCached(r.Header) {
		h.respondError(w, r, http.StatusGatewayTimeout, "only-if-cached: not in cache", policy.CacheStatus{Fwd: found.fwd, Detail: policy.DetailOnlyIfCached})
		return
	}
	if policy.RequestNoStore(r.Header) {
		// RFC 9111 §5.2.1.5: nothing of this exchange is stored, so it
		// shares no fetch either.
		h.pass(w, r, x, policy.CacheStatus{Fwd: found.fwd, Detail: policy.DetailRequestNoStore})
		return
	}
	h.fetchAndServe(w, r, x, found, found.fwd, "")
}

// fetchAndServe fetches the object through the shared flight for its key,
// validating found.entry when there is one, and answers the client from the
// result. fwd and detail say why the fetch (RFC 9211 §2.2, §2.9). A request
// that cannot share the result (it is not storable, or varies on something
// the leader's request did not match) is forwarded on its own.
func (h *Handler) fetchAndServe(w *trackedWriter, r *http.Request, x *exchange, found lookupResult, fwd, detail string) {
	cs := policy.CacheStatus{Fwd: fwd, Detail: detail}
	res, leader, answered := h.joinFlight(w, r, x, found, cs)
	if answered {
		return // served as the body arrived, or the client went away; the fetch goes on
	}
	cs.Collapsed = !leader
	switch {
	case res.err != nil || policy.StaleIfErrorStatus(res.status):
		if found.entry != nil && policy.StaleIfError(r.Header, responseOf(found.entry), h.opts.Now(), *h.rules(x)) {
			// RFC 5861 §4: the stored response stands in for the failure.
			res.release(leader)
			cs.FwdStatus, cs.Detail = res.failureStatus(), policy.DetailStaleIfError
			cs.HasTTL, cs.TTL = true, h.ttl(r, x, found.entry)
			h.serveEntry(w, r, found.entry, cs, found.tier, nil, ageNow)
			return
		}
		if res.err != nil {
			res.release(leader)
			h.respondUpstreamError(w, r, res.err, cs)
			return
		}
	}
	cs.FwdStatus = res.status
	switch {
	case res.entry != nil && (res.shared || leader):
		if res.varyNames != nil && res.entry.Key != string(policy.Key(x.key()).Variant(res.varyNames, r.Header)) {
			// RFC 9111 §4.1: the leader's response was selected by request
			// fields this request does not match.
			h.pass(w, r, x, policy.CacheStatus{Fwd: policy.FwdVaryMiss, Collapsed: true})
			return
		}
		cs.Stored, cs.HasTTL, cs.TTL = res.stored, res.stored, res.ttl
		if !res.stored && res.reason != "" {
			cs.Detail = res.reason
		}
		var setCookie []string
		if leader {
			setCookie = res.setCookie
		}
		h.serveEntry(w, r, res.entry, cs, storage.TierNone, setCookie, ageNow)
	case res.stream != nil && leader:
		h.streamFill(w, r, res, cs)
	default:
		// Not shareable (private, too large, not storable): this request
		// goes upstream itself, as if it had arrived alone.
		res.release(leader)
		h.pass(w, r, x, policy.CacheStatus{Fwd: policy.FwdBypass, Detail: res.reason})
	}
}

// passMethod forwards a request whose method the cache does not serve. Unsafe
// methods invalidate the URIs they may have changed (RFC 9111 §4.4).
func (h *Handler) passMethod(w *trackedWriter, r *http.Request, x *exchange) {
	switch r.Method {
	case http.MethodConnect, http.MethodTrace:
		// A cache in front of many sites never tunnels, and TRACE reflects
		// credentials back to scripts (cross-site tracing).
		w.Header().Set("Allow", "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE")
		h.respondError(w, r, http.StatusMethodNotAllowed, r.Method+" is not allowed", policy.CacheStatus{Fwd: policy.FwdMethod})
		return
	}
	h.pass(w, r, x, policy.CacheStatus{Fwd: policy.FwdMethod})
}

// viaNamesMe reports whether this node already forwarded the request.
func (h *Handler) viaNamesMe(header http.Header) bool {
	for _, line := range header["Via"] { // a canonical name: Values would canonicalize it again
		for hop := range strings.SplitSeq(line, ",") {
			// RFC 9110 §7.6.3: received-protocol SP received-by [ comment ].
			if receivedBy(hop) == h.opts.Name {
				return true
			}
		}
	}
	return false
}

// receivedBy is the second whitespace-separated field of a Via hop, "" if
// none. It splits as strings.Fields does, without building the slice: a
// shield sees Via on every request.
func receivedBy(hop string) string {
	i := 0
	for field := range strings.FieldsSeq(hop) {
		if i == 1 {
			return field
		}
		i++
	}
	return ""
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// responseOf is what the caching rules need of a stored entry. A soft purge
// makes it stale since the purge (stale-while-revalidate may still serve
// it while it is refreshed); an entry fetched across a hard purge has no
// purge time and is validated before any use.
func responseOf(e *storage.Entry) policy.Response {
	return policy.Response{Status: e.Status, Header: e.Header, RequestTime: e.RequestTime, ResponseTime: e.ResponseTime,
		Purged: e.Stale, PurgedAt: e.StaleAt}
}

// hitResponse is responseOf for an entry found in the store. One the
// memory tier holds is shared, immutable and used by many requests, so its
// header fields are parsed once (policy.Facts) and kept on it; the first
// hit parses them. Other entries (a disk hit decoded for this request, a
// fetch's result) are parsed per use, as responseOf does: caching would only
// cost allocations.
func hitResponse(e *storage.Entry, tier storage.Tier) policy.Response {
	r := responseOf(e)
	if tier == storage.TierMemory {
		r.Facts = factsOf(e, r)
	}
	return r
}

// factsOf returns the Facts cached on e, parsing and caching them first if
// need be. r is responseOf(e).
func factsOf(e *storage.Entry, r policy.Response) *policy.Facts {
	if f, ok := e.Derived().(*policy.Facts); ok {
		return f
	}
	f, _ := e.SetDerived(policy.ParseFacts(r)).(*policy.Facts)
	return f // nil (parse per use) if something else is cached on e
}

// ttl is the remaining freshness of e for r's Cache-Status (negative: stale).
func (h *Handler) ttl(r *http.Request, x *exchange, e *storage.Entry) time.Duration {
	return policy.Decide(r.Header, responseOf(e), h.opts.Now(), *h.rules(x)).TTL
}

// rules are the caching rules of x's site: its own Policy, or the node's.
func (h *Handler) rules(x *exchange) *policy.Options {
	if x.site != nil && x.site.Policy != nil {
		return x.site.Policy
	}
	return &h.opts.Policy
}
