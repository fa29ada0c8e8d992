package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// fetch answers the request through the shared flight for its storage key,
// validating x.found.entry when there is one: from the response the flight
// stored or shared, or from the stored one when the upstream fails and RFC
// 5861 lets it stand in. x.cs says why the fetch (RFC 9211 §2.2, §2.9). A
// request that cannot share the result (it is not storable, or varies on
// something the leader's request did not match) is forwarded on its own.
// again reports that nothing was done: a flight of the key ended after the
// lookup (flights.join), and the caller looks the store up again.
func (x *exchange) fetch() (again bool) {
	h, r, found := x.h, x.r, &x.found
	if found.entry == nil && firstValue(r.Header, "Range") != "" && h.tooLarge.marked(found.storageKey(r.Header), h.opts.Now()) {
		// Its last fill was too large to store: a fill would only stream
		// the whole object again, to a client that asked for a part.
		x.cs = policy.CacheStatus{Fwd: policy.FwdBypass, Detail: policy.DetailTooLarge}
		x.pass()
		return false
	}
	res, leader, answered := x.joinFlight()
	if answered {
		return false // served as the body arrived; the fetch goes on
	}
	if res == nil {
		return true
	}
	x.upstreamAddr, x.firstByte = res.upstream, res.firstByte
	cs := &x.cs
	cs.Collapsed = !leader
	switch {
	case res.err != nil || policy.StaleIfErrorStatus(res.status):
		if found.entry != nil && policy.StaleIfError(r.Header, responseOf(found.entry), h.opts.Now(), *x.rules()) {
			// RFC 5861 §4: the stored response stands in for the failure.
			res.release(leader)
			cs.FwdStatus, cs.Detail = res.failureStatus(), policy.DetailStaleIfError
			cs.HasTTL, cs.TTL = true, x.ttl(found.entry)
			x.serveEntry(found.entry, found.tier, ageNow, nil)
			return false
		}
		if res.err != nil {
			res.release(leader)
			x.respondUpstreamError(res.err)
			return false
		}
	}
	cs.FwdStatus = res.status
	if !leader && res.shared {
		if ok, detail := x.takesResult(res); !ok {
			// RFC 9111 §5.2.2.4, §4.2.4: the response the leader's
			// request fetched needs validation before it answers another
			// (no-cache, or stale as it arrived): this request asks on
			// its own, as a hit on it would have.
			res.release(leader)
			x.cs = policy.CacheStatus{Fwd: policy.FwdBypass, Collapsed: true, Detail: detail}
			x.pass()
			return false
		}
	}
	switch {
	case res.entry != nil && (res.shared || leader):
		if res.varyNames != nil && res.entry.Key != string(policy.Key(x.key()).Variant(res.varyNames, r.Header)) {
			// RFC 9111 §4.1: the leader's response was selected by request
			// fields this request does not match.
			x.cs = policy.CacheStatus{Fwd: policy.FwdVaryMiss, Collapsed: true}
			x.pass()
			return false
		}
		cs.Stored, cs.HasTTL, cs.TTL = res.stored, res.stored, res.ttl
		if !res.stored && res.reason != "" {
			cs.Detail = res.reason
		}
		var own http.Header
		if leader {
			own = res.own
		}
		x.serveEntry(res.entry, storage.TierNone, ageNow, own)
	case res.stream != nil && leader:
		x.streamFill(res)
	default:
		// Not shareable (private, too large, not storable): this request
		// goes upstream itself, as if it had arrived alone.
		res.release(leader)
		x.cs = policy.CacheStatus{Fwd: policy.FwdBypass, Detail: res.reason}
		x.pass()
	}
	return false
}

// joinFlight runs, or waits for, the one upstream fetch for this request's
// storage key. answered reports that the request needs nothing more: its
// range was served as the body arrived. A nil res without answered: a
// flight of the key ended since x.since, and none was started
// (flights.join). A client that goes away meanwhile ends the request
// unanswered (clientLeft); the fetch goes on for the cache.
func (x *exchange) joinFlight() (res *fillResult, leader, answered bool) {
	h, r := x.h, x.r
	fetch := x.newFetch()
	release, ok := h.slots.acquire(r.Context(), h.client(r))
	if !ok {
		x.clientLeft() // while waiting for a slot: nothing was started
	}
	release = x.holdRoutes(release)
	if h.uncacheable.marked(fetch.storeKey, h.opts.Now()) {
		defer release()
		fetch.interim = x.sendInterim // run blocks this request: nothing else writes to it
		return fetch.run(nil), true, false
	}
	q := make(interimQueue, maxInterim)
	fetch.interim = q.send
	f, leader := h.flights.join(flightKey(fetch.storeKey, r.Header, x.identity), fetch.storeKey, x.since, func(p *progress) *fillResult {
		defer release() // the slot is the fetch's until it ends, client or not
		return fetch.run(p)
	})
	if f == nil {
		release()
		return nil, false, false
	}
	if !leader {
		release() // another request's fetch: this one started nothing
		h.metrics.coalesced.Inc()
	}
	if rng, isRange := parseSingleRange(r); isRange || x.streamsWhole() {
		// The head, once published, or the fill's end: progress.end
		// closes ready before the flight's done is closed.
		x.await(q, f.body.ready)
		if isRange && x.serveRangeInProgress(f.body, rng, !leader) || !isRange && x.serveWhileFilling(f, !leader) {
			return nil, leader, true
		}
	}
	x.await(q, f.done)
	return f.res, leader, false
}

// await waits until done is closed, meanwhile sending x's client the
// interim responses q brings (only the leader's fetch sends any), and
// then those sent before done was closed. A client that goes away ends
// the request (clientLeft).
func (x *exchange) await(q interimQueue, done <-chan struct{}) {
	for {
		select {
		case in := <-q:
			x.sendInterim(in.code, in.header)
		case <-done:
			q.drain(x)
			return
		case <-x.r.Context().Done():
			x.clientLeft()
		}
	}
}

// streamFill sends the leader a response the fill did not keep (too large
// to store, over the body budget, or not storable): the bytes the fill
// already read, then the rest as it arrives, for as long as the upstream
// sends (fetchContext: no total bound once it is streamed).
func (x *exchange) streamFill(res *fillResult) {
	if !res.claim() {
		x.respondError(http.StatusBadGateway, "upstream response was abandoned")
		return
	}
	defer res.stream.Body.Close()
	res.unbind()
	x.cs.Detail = res.reason
	x.writeUpstream(res.stream, res.prefix)
}

// refreshInBackground revalidates x.found.entry through the shared flight
// while the stale response is served (RFC 5861 §3). Concurrent requests
// join the running flight, so the object is refreshed once.
func (x *exchange) refreshInBackground() {
	h, r := x.h, x.r
	fetch := x.newFetch()
	release, ok := h.slots.tryAcquire(h.client(r))
	if !ok {
		return // the client has fetches enough under way; a later request refreshes
	}
	release = x.holdRoutes(release)
	f, leader := h.flights.join(flightKey(fetch.storeKey, r.Header, x.identity), fetch.storeKey, x.since, func(p *progress) *fillResult {
		defer release()
		return fetch.run(p)
	})
	if f == nil {
		// A flight of the key ended after the lookup: it has stored what
		// it got, and a request that finds that stale refreshes it.
		release()
		return
	}
	if !leader {
		release()
	}
	h.tasks.start(taskRefresh, fetch.storeKey, func() {
		<-f.done
		f.res.release(leader)
	})
}

// flightKey partitions flights by credentials: a response fetched with one
// client's Authorization (or for one authenticated identity) must not be
// handed to another client before Storable has checked that it may be
// shared (RFC 9111 §3.5).
func flightKey(storeKey string, req http.Header, identity string) string {
	return string(policy.Key(storeKey).Flight(req.Get("Authorization"), identity))
}

// fetch is everything a fill needs, captured before the flight starts so that
// it never reads the leader's request or exchange after the leader has
// returned (the exchange is recycled then).
type fetch struct {
	h        *Handler
	upstream *origin.Client
	route    *Route
	rules    *policy.Options // the site's caching rules
	out      *origin.Outbound
	request  *http.Request // method GET and the leader's header, for Storable and Vary
	key      string
	storeKey string
	stale    *storage.Entry // the stored response to validate, if any
	// whole: the leader asked for the whole representation without
	// conditions (none of clientOnlyFields), so a response that is not
	// kept may be sent to it as it arrives, as the upstream sent it.
	whole bool
	// generation is the store's purge generation when the fetch began: a
	// purge after it means the response may predate the purge.
	generation uint64
	// order is the fetch's place among the fills of its object
	// (fillOrder): a fill that began later stores over it, never the
	// reverse.
	order uint64
	// admitted is the variant key admitVariant was last asked about, and
	// admittedOK its answer.
	admitted   string
	admittedOK bool

	// Set as the fetch runs.
	res    *fillResult
	p      *progress          // the body in progress for range waiters; nil: not published
	cancel context.CancelFunc // ends the fetch's context
	// interim takes the upstream's interim responses (103 Early Hints)
	// for the request that started the fetch; nil drops them.
	interim func(int, textproto.MIMEHeader)
}

func (x *exchange) newFetch() *fetch {
	found := &x.found
	out := x.outbound()
	out.Method = http.MethodGet // a HEAD miss is filled with GET so that GET and HEAD share the entry
	whole := true
	for _, f := range clientOnlyFields {
		if _, ok := out.Header[f]; ok {
			whole = false
			out.Header.Del(f)
		}
	}
	request := &http.Request{Method: http.MethodGet, Header: out.Header, Host: x.t.Host}
	cloned := false // request.Header is a copy of out.Header, no longer out.Header itself
	if x.route.Auth != nil && request.Header.Get("Authorization") == "" {
		// An API key authenticates like Authorization does: what it
		// fetched is shared only if the origin says so (RFC 9111 §3.5).
		request.Header, cloned = out.Header.Clone(), true
		request.Header.Set("Authorization", "edged route authentication")
	}
	if len(x.route.AuthKey) > 0 {
		// This node decides by the client's request (request.Header,
		// without the directives) and keeps its own partitioned copy.
		if !cloned {
			request.Header = out.Header.Clone()
		}
		x.partitionUpstream(out.Header)
	}
	return &fetch{
		h:        x.h,
		upstream: x.upstream,
		route:    x.route,
		rules:    x.rules(),
		out:      out,
		request:  request,
		key:      found.key,
		storeKey: found.storageKey(x.r.Header),
		stale:    found.entry,
		whole:    whole,
	}
}

// clientOnlyFields are request fields that would make a shared fetch answer
// one client instead of the cache: the cache fetches the whole, unconditional
// representation and evaluates the client's conditionals and ranges itself
// (RFC 9111 §4.3.2). Request-Range is Range's pre-standard spelling, which
// Apache httpd still honours when Range is absent: forwarded on a fill, it
// made the fill a 206, which is not stored, and sent every request collapsed
// onto it to the origin on its own.
var clientOnlyFields = slices.Concat([]string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"}, rangeFields)

// rangeFields are the clientOnlyFields that ask for part of the
// representation.
var rangeFields = []string{"If-Range", "Range", "Request-Range"}

// run performs one shared upstream fetch, publishing the body to p as it
// arrives when p is not nil. It runs detached from every client: a client
// that disconnects does not cancel it; FetchTimeout bounds it, and Close
// cancels it if it still runs when Close's wait ends.
func (f *fetch) run(p *progress) *fillResult {
	h := f.h
	ctx, cancel, unbind := h.fetchContext()
	if f.interim != nil {
		ctx = withInterim(ctx, f.interim)
	}
	res := &fillResult{unbind: unbind}
	f.res, f.p, f.cancel = res, p, cancel
	f.order = h.fills.begin(f.key) // before the generation: a later fill has a later one
	defer h.fills.end(f.key)
	f.generation = h.store.Generation()
	if f.stale != nil {
		// RFC 9111 §4.3.1: validate with the stored response's validators.
		for k, v := range policy.ValidationHeader(responseOf(f.stale)) {
			f.out.Header[k] = v
		}
	}
	requestTime := h.opts.Now()
	resp, err := h.fetchUpstream(ctx, f.upstream, f.out, res)
	if err == nil && resp.StatusCode == http.StatusNotModified && f.stale != nil {
		drain(resp)
		merged, ok := policy.Freshen(f.stale.Header, resp.Header)
		if ok {
			cancel()
			res.status = http.StatusNotModified
			// Tags: keep sets them from merged, the 304's Surrogate-Key or
			// Cache-Tag replacing the stored one (RFC 9111 §4.3.4); until
			// then (a response only this client gets), the stored ones.
			e := &storage.Entry{Key: f.stale.Key, Status: f.stale.Status, Header: merged,
				RequestTime: requestTime, ResponseTime: h.opts.Now(), Tags: f.stale.Tags,
				MustRevalidate: f.stale.MustRevalidate} // still the page it was stored for (markPerUser)
			e.ShareBody(f.stale) // in memory or in the disk tier's file
			// RFC 9111 §4.3.4: the response to the request that caused the
			// revalidation is the updated one plus the 304's fields that
			// are never stored (its Set-Cookie); for the leader alone.
			res.own = policy.NotModifiedOwnHeader(f.stale.Header, resp.Header)
			// What a 304 says about freshness is said to the request's
			// credentials: it refreshes the stored response for everyone
			// only if it says so itself (policy.CredentialsAllow). Else
			// this client alone gets the refreshed response; the stored one
			// stays as it was.
			if ok, reason := policy.CredentialsAllow(f.request.Header, resp.Header, *f.rules); !ok {
				res.entry, res.reason = e, reason
				return res
			}
			// The 304 may have made the response unstorable (RFC 9111 §4.3.4).
			if ok, reason := policy.Storable(f.request, e.Status, merged, *f.rules); !ok {
				res.entry, res.reason = e, reason
				if f.refusedByResponse(reason) {
					h.forget(f.stale.Key)
				}
				return res
			}
			f.keep(e, merged, nil)
			return res
		}
		// RFC 9111 §4.3.4: the 304 does not describe the stored response;
		// fetch the representation whole.
		for k := range policy.ValidationHeader(responseOf(f.stale)) {
			f.out.Header.Del(k)
		}
		requestTime = h.opts.Now()
		resp, err = h.fetchUpstream(ctx, f.upstream, f.out, res)
	}
	if err != nil {
		cancel()
		res.err = err
		return res
	}
	f.read(resp, requestTime)
	return res
}

// fetchUpstream is the one place a fill talks to the upstream, for metrics
// and for the access log of the requests that share res.
func (h *Handler) fetchUpstream(ctx context.Context, up *origin.Client, out *origin.Outbound, res *fillResult) (*http.Response, error) {
	start := time.Now()
	resp, err := up.Do(ctx, out)
	h.metrics.observeFetch(start, resp, err)
	res.upstream, res.firstByte = upstreamServer(resp, err), time.Since(start)
	return resp, err
}

// read reads resp's body (up to MaxObjectBytes) into f.res and stores it
// when RFC 9111 allows; a larger body is left for the leader to stream.
func (f *fetch) read(resp *http.Response, requestTime time.Time) {
	h, res, p, cancel := f.h, f.res, f.p, f.cancel
	responseTime := h.opts.Now()
	res.status = resp.StatusCode
	f.completeHeader(resp.StatusCode, resp.Header, responseTime)
	// Before publishable looks at Vary: an answer to one Origin must not
	// be served to another's range as it arrives either (keep adds the
	// same Vary again: it is added once).
	f.addImplicitVary(resp.Header)
	storable, reason := policy.Storable(f.request, resp.StatusCode, resp.Header, *f.rules)
	own := policy.OwnHeader(resp.Header) // for the leader alone
	held := &hold{b: &h.bodies}
	if !storable && f.whole && resp.StatusCode < http.StatusInternalServerError {
		// Nothing of it is kept and no waiter is given it (they ask on
		// their own, below): the leader is sent it as it arrives rather
		// than once it has all arrived, so a stream (server-sent events,
		// a long poll) reaches its client. Before, the whole body was read
		// first: an event stream never delivered an event. A leader with
		// a range or a condition is still answered from the whole body
		// (RFC 9111 §4.3.2: the cache evaluates them itself).
		f.notKept(resp, reason, responseTime)
		res.stream, res.reason = resp, reason
		resp.Body = cancelOnClose{resp.Body, cancel, held}
		res.holdForLeader(&h.tasks, f.storeKey)
		return
	}
	var body []byte
	var complete bool
	var err error
	var published http.Header // what clients sent the body as it arrives are given; keep stores it
	unknown := resp.ContentLength < 0
	if p != nil && storable && f.publishable(resp) && (unknown || held.grow(resp.ContentLength)) {
		// Sent as it arrives to the clients that share the fetch
		// (serveWhileFilling, serveRangeInProgress), stored once whole.
		published = policy.StoredHeader(resp.Header)
		head := f.head(resp, published, own, requestTime, responseTime)
		if unknown {
			body, complete, err = readUpTo(resp.Body, h.opts.MaxObjectBytes, -1, held, p, head)
		} else {
			body, err = readPublished(resp.Body, resp.ContentLength, p, head)
			complete = err == nil
		}
	} else {
		body, complete, err = readUpTo(resp.Body, h.opts.MaxObjectBytes, resp.ContentLength, held, nil, nil)
	}
	if err != nil {
		if published != nil {
			// Clients being sent it still hold the buffer until they see
			// the cut.
			held.releaseWhenUnreachable(body)
		} else {
			held.release()
		}
		resp.Body.Close()
		cancel()
		// A truncated body is never stored or passed on as complete.
		res.status, res.err = 0, fmt.Errorf("read upstream body: %w", err)
		return
	}
	if !complete {
		res.stream, res.prefix, res.reason = resp, body, policy.DetailTooLarge
		if held.refused {
			// Past the budget for bodies in memory: passed through.
			res.reason = policy.DetailMemoryBudget
			h.metrics.overBudget.Inc()
		} else {
			h.tooLarge.mark(f.storeKey, responseTime)
		}
		resp.Body = cancelOnClose{resp.Body, cancel, held} // the prefix is held until the stream ends
		// The leader may have left already: nobody else may read the body,
		// so it is closed if the leader does not take it soon.
		res.holdForLeader(&h.tasks, f.storeKey)
		return
	}
	// The body is now the entry: the memory tier and the disk write queue
	// bound it from here. One the memory tier will not hold stays in the
	// budget for as long as clients are being sent it.
	if !storable || int64(len(body)) > h.store.MemoryItemLimit() {
		held.releaseWhenUnreachable(body)
	} else {
		held.release()
	}
	resp.Body.Close()
	cancel()
	e := &storage.Entry{Key: f.storeKey, Status: resp.StatusCode, Body: body, RequestTime: requestTime, ResponseTime: responseTime}
	if !storable {
		res.reason = reason
		if resp.StatusCode >= 500 && !policy.Credentialed(f.request.Header) {
			// An upstream failure every waiter would only repeat: share
			// it, but without its cookies. Not one answered to a request
			// with credentials: error pages show the user's name, tokens,
			// traces; each waiter then asks on its own.
			e.Header, res.shared = policy.StoredHeader(resp.Header), true
			res.own = own
		} else {
			e.Header = resp.Header
		}
		res.entry = e
		return
	}
	res.own = own
	f.keep(e, resp.Header, published)
}

// notKept records a response below 500 that may not be stored, for
// reason: the key is marked uncacheable when the response itself said so,
// and the stale copy it came to replace is no longer served.
func (f *fetch) notKept(resp *http.Response, reason string, responseTime time.Time) {
	if !f.refusedByResponse(reason) {
		return
	}
	f.h.uncacheable.mark(f.storeKey, responseTime)
	if f.stale != nil {
		// The origin no longer lets this be stored: stop serving the
		// old copy.
		f.h.forget(f.stale.Key)
	}
}

// refusedByResponse reports whether the response itself, not this request,
// made a fetched response unstorable for reason: only then is the stored
// copy forgotten and the key marked uncacheable. An answer to one client's
// credentials says nothing of what others get, and a request's no-store
// only bars storing the answer to it (RFC 9111 §5.2.1.5): neither may take
// a stored response away from every other client.
func (f *fetch) refusedByResponse(reason string) bool {
	return reason != policy.DetailAuthorization && reason != policy.DetailCookie && !policy.RequestNoStore(f.request.Header)
}

// completeHeader adds to an upstream response's header what the cache
// records with it: a Date, and the route's default lifetime.
func (f *fetch) completeHeader(status int, hdr http.Header, responseTime time.Time) {
	if hdr.Get("Date") == "" {
		// RFC 9110 §6.6.1: a cache records the time it received a response
		// that has no Date.
		hdr.Set("Date", responseTime.UTC().Format(http.TimeFormat))
	}
	if ttl := f.route.Cache.DefaultTTL; ttl > 0 && policy.HeuristicStatus(status) && !hasFreshnessFields(hdr) && !policy.Credentialed(f.request.Header) {
		// The route forces a lifetime the origin did not give. As a
		// targeted field it binds this CDN's caches only and never reaches
		// a client (RFC 9213 §2.1). Never on an answer to credentials: it
		// may be one user's page (policy.CredentialsAllow). Only on the
		// statuses a cache may give a lifetime of its own (RFC 9110
		// §15.1): an origin's passing 500 or 503, or its 400 to one
		// client's oversized field, is not served for default_ttl to all.
		hdr.Set("Cdn-Cache-Control", "max-age="+strconv.FormatInt(int64(ttl/time.Second), 10))
	}
}

// hasFreshnessFields reports whether the origin said anything about caching.
func hasFreshnessFields(h http.Header) bool {
	for _, f := range []string{"Cache-Control", "Expires", "Cdn-Cache-Control", "Surrogate-Control"} {
		if _, ok := h[f]; ok {
			return true
		}
	}
	return false
}

// keep stores e, a response that policy.Storable allowed, built from one
// with header fields hdr; a Vary index goes under the primary key first.
// published, when not nil, is policy.StoredHeader(hdr) as read already
// (given to range waiters as the body arrived): it is stored as it is,
// not made again, and not changed, since those waiters may read it still.
func (f *fetch) keep(e *storage.Entry, hdr http.Header, published http.Header) {
	h, res := f.h, f.res
	f.addImplicitVary(hdr)
	e.Header = published
	if e.Header == nil {
		e.Header = policy.StoredHeader(hdr)
	}
	if bodyAllowed(e.Status) {
		// The stored body's length, whatever the upstream framing was.
		if cl := strconv.Itoa(len(e.Body)); !slices.Equal(e.Header["Content-Length"], []string{cl}) {
			if published != nil {
				e.Header = e.Header.Clone()
			}
			e.Header.Set("Content-Length", cl)
		}
	}
	var allTags bool
	if e.Tags, allTags = policy.AllTags(hdr); !allTags {
		// Stored without a tag it names, the object would outlive a
		// purge of that tag: served, not stored.
		res.entry, res.shared, res.reason = e, true, policy.DetailTags
		return
	}
	f.markPerUser(e, hdr)
	var (
		index *storage.Entry
		vary  string // the names, for fillOrder
	)
	if names, _ := policy.ParseVary(hdr); len(names) > 0 {
		e.Key = string(policy.Key(f.key).Variant(names, f.request.Header))
		res.varyNames = names
		if !f.admitVariant(e.Key) {
			res.entry, res.shared, res.reason = e, true, policy.DetailTooManyVariants
			return
		}
		index = &storage.Entry{Key: f.key, Status: e.Status, Header: http.Header{"Vary": hdr.Values("Vary")},
			RequestTime: e.RequestTime, ResponseTime: e.ResponseTime, Vary: names}
		vary = strings.Join(names, ",")
	}
	stored := h.fills.store(f.key, e.Key, vary, f.order, func(withIndex bool) {
		if index != nil && withIndex {
			h.store.Set(index)
		}
		// An object whose fetch began before a purge and ended after it
		// is stored stale, so the next request revalidates it; so is one
		// that an upstream cache made before a purge this node has
		// applied (a shield that has not applied it yet still serves the
		// old copy, with its Age).
		h.store.SetFetchedAt(e, f.generation, policy.Produced(responseOf(e)))
	})
	if !stored {
		// A fill that began after this one stored its response first.
		res.entry, res.shared, res.reason = e, true, policy.DetailSuperseded
		return
	}
	if index != nil && h.variants.replaced(f.key, e.Key) {
		// Replaced by another variant while this one filled (admitted as
		// its head arrived): the store must not keep it past the cap. An
		// admit after this check removes it itself (admitVariant).
		if _, err := h.store.Evict(e.Key); err != nil {
			h.log.Warn("cache evict variant", "key", e.Key, "err", err)
		}
		res.entry, res.shared, res.reason = e, true, policy.DetailTooManyVariants
		return
	}
	h.uncacheable.clear(f.storeKey)
	h.tooLarge.clear(f.storeKey)
	res.entry, res.shared, res.stored = e, true, true
	res.ttl = f.ttl(e)
}

// ttl is the freshness e has left, stored now.
func (f *fetch) ttl(e *storage.Entry) time.Duration {
	stored := responseOf(e)
	lifetime, _ := policy.Lifetime(stored, *f.rules)
	return lifetime - policy.Age(stored, f.h.opts.Now())
}

// head is what read publishes of resp, a response it will store with
// header published (policy.StoredHeader), before its body arrives: the
// entry as keep will store it, without its body. own is for the leader.
func (f *fetch) head(resp *http.Response, published, own http.Header, requestTime, responseTime time.Time) *fillHead {
	e := &storage.Entry{Key: f.storeKey, Status: resp.StatusCode, Header: published,
		RequestTime: requestTime, ResponseTime: responseTime}
	fh := &fillHead{entry: e, own: own, length: resp.ContentLength,
		upstream: f.res.upstream, firstByte: f.res.firstByte, unbind: f.res.unbind}
	if _, all := policy.AllTags(resp.Header); !all {
		fh.reason = policy.DetailTags // keep serves it, unstored
	}
	if names, _ := policy.ParseVary(resp.Header); len(names) > 0 {
		e.Key = string(policy.Key(f.key).Variant(names, f.request.Header)) // as keep keys it
		fh.varyNames = names
		// keep asks again, and is given the same answer: a variant
		// admitted stays admitted.
		if fh.reason == "" && !f.admitVariant(e.Key) {
			fh.reason = policy.DetailTooManyVariants
		}
	}
	f.markPerUser(e, resp.Header)
	fh.mayOutgrow = resp.ContentLength < 0 && f.h.tooLarge.marked(f.storeKey, responseTime)
	if fh.reason == "" {
		fh.storing, fh.ttl = true, f.ttl(e)
	}
	return fh
}

// admitVariant reports whether the variant stored under key may be stored
// (variantCounter.admit); the variant it replaces, if any, is removed from
// the store first, so a URL keeps at most maxVariants of them.
// A fill asks as its head arrives (head) and again once whole (keep): the
// second time it is given the first answer, and nothing is counted twice.
func (f *fetch) admitVariant(key string) bool {
	if f.admitted == key {
		return f.admittedOK
	}
	ok, evict := f.h.variants.admit(f.key, key, f.h.opts.Now())
	f.admitted, f.admittedOK = key, ok
	if evict != "" {
		if _, err := f.h.store.Evict(evict); err != nil {
			f.h.log.Warn("cache evict variant", "key", evict, "err", err)
		}
	}
	return ok
}

// markPerUser marks e, about to be stored with header fields hdr, when it
// is a page stored for one user's request (policy.PerUser): once stale it
// is then never served without validation (storage.Entry.MustRevalidate),
// so it is shared for the lifetime it gave itself and no longer. A mark e
// has already stays: a 304 that refreshes a marked entry still refreshes
// the page one user's request fetched. Every store of a fetched response
// (whole, slice, or one a 304 refreshed) goes through it.
func (f *fetch) markPerUser(e *storage.Entry, hdr http.Header) {
	if policy.PerUser(f.request.Header, hdr, *f.rules) {
		e.MustRevalidate = true
	}
}

// addImplicitVary adds to the Vary of hdr, a response about to be stored,
// the request fields it depends on whether or not the origin said so:
// Origin when it answers one Origin (policy.VaryOrigin), unless a route's
// CORS policy sets those fields per request as they are sent; and
// Accept-Encoding when it carries a content coding, one the forwarded
// Accept-Encoding chose (policy.VaryEncoding). Every store of a fetched
// response (whole, slice, or a slice a 304 refreshed) goes through it.
func (f *fetch) addImplicitVary(hdr http.Header) {
	if f.route == nil || f.route.CORS == nil {
		policy.VaryOrigin(hdr)
	}
	policy.VaryEncoding(hdr)
}

// forget removes a stored response that must no longer be served.
func (h *Handler) forget(key string) {
	if err := h.store.Delete(key); err != nil {
		h.log.Warn("cache delete", "key", key, "err", err)
	}
}

// readUpTo reads body while it fits in limit bytes and held can grow to
// cover the buffer. complete is false when the body is larger, or held was
// refused (held.refused); then buf holds what was read so far.
//
// With p, the body is published to p with head as it arrives (a body of
// unknown length sent to clients while it fills): the head with the first
// bytes (as readPublished), each larger copy of the buffer as it is made
// (a client keeps reading the copy it has until it asks for more), its
// end; and when the body outgrows the limit or held, p is told that it
// overflowed (the leader is sent the rest from the upstream, others cut).
func readUpTo(body io.Reader, limit, contentLength int64, held *hold, p *progress, head *fillHead) (buf []byte, complete bool, err error) {
	if contentLength > limit {
		return nil, false, nil
	}
	size := contentLength
	if size < 0 {
		size = 32 << 10
	}
	size++ // so a known length is confirmed by EOF without growing
	if !held.grow(size) {
		return nil, false, nil
	}
	buf = make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			// Grown by hand rather than by append, to reserve the new
			// capacity before allocating it.
			next := min(2*int64(cap(buf)), limit+1)
			if !held.grow(next) {
				p.overflow()
				return buf, false, nil
			}
			buf = append(make([]byte, 0, next), buf...)
			p.moved(buf)
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if head != nil && (len(buf) > 0 || err == io.EOF) {
			p.publish(head, buf, -1)
			head = nil
		}
		p.grew(len(buf))
		if int64(len(buf)) > limit {
			p.overflow()
			return buf, false, nil
		}
		if err == io.EOF {
			p.whole(len(buf))
			return buf, true, nil
		}
		if err != nil {
			if p != nil {
				return buf, false, err // clients may read it still (read's releaseWhenUnreachable)
			}
			return nil, false, err
		}
	}
}

// drain reads what is left of a response whose body is not used (a 304,
// a 416, a range that cannot be stitched in), up to 64 KiB so that its
// connection may serve another request, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// cancelOnClose ends a fill's context, and gives back the budget its
// prefix held, when its streamed body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
	held   *hold
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	c.held.release()
	return err
}

// takesShared reports whether e, a response another request's fetch
// brought (whole, its head while the body arrives, or a slice), may answer
// x's request without validation, as a hit on it could, and if not, why (a
// Cache-Status detail). A fresh response may (RFC 9111 §4.2.4), whatever
// x's own directives: it comes from the origin now. One that needs
// validation before it answers another request may not (§5.2.2.4:
// no-cache; §4.2.4: stale as it arrived): before, a waiter was given a
// "public, no-cache" page fetched with the leader's cookie, which the
// origin had asked to validate before any reuse (an origin that answers
// each user by their cookie on revalidation), and one with max-age=0. One
// stale as it arrived that stale-while-revalidate lets a hit serve while
// it revalidates (a shared "max-age=0, stale-while-revalidate=60") is what
// a hit a moment later would serve x, the fetch it came from being that
// revalidation, so it may when x's request would let a hit serve it
// stale: not with min-fresh or no-cache (policy.Decide with x's fields). A
// per-user page never may: its mark rules out stale-while-revalidate
// (policy.PerUser).
func (x *exchange) takesShared(e *storage.Entry) (bool, string) {
	rules := x.rules()
	resp, now := hitResponse(e, storage.TierNone, rules.Surrogate), x.h.opts.Now()
	d := policy.Decide(http.Header{}, resp, now, *rules)
	if d.Action == policy.ServeStale && d.Background {
		d = policy.Decide(x.r.Header, resp, now, *rules)
	}
	return d.Action == policy.Serve || d.Action == policy.ServeStale && d.Background, d.Detail
}

// takes is takesShared without the why.
func (x *exchange) takes(e *storage.Entry) bool {
	ok, _ := x.takesShared(e)
	return ok
}

// takesResult is takesShared for res, a shared fetch's result given to a
// request that did not start the fetch (fetch, slicer.fetch); a shared
// upstream failure, or a result with no entry, may answer it.
func (x *exchange) takesResult(res *fillResult) (bool, string) {
	if res.entry == nil || res.status >= http.StatusInternalServerError {
		return true, ""
	}
	return x.takesShared(res.entry)
}
