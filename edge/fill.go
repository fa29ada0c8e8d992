package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"edged/edge/policy"
	"edged/origin"
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
// the variant whose varied request fields match req's. A disk hit is
// decoded only if admit admits it.
func (h *Handler) lookup(x *exchange, req http.Header, admit storage.Admitter) lookupResult {
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
		return lookupResult{key: key, entry: e, tier: tier}
	}
	miss := lookupResult{key: key, varyNames: e.Vary, fwd: policy.FwdVaryMiss}
	v, tier, err := h.store.GetWithin(string(policy.Key(key).Variant(e.Vary, req)), admit)
	if errors.Is(err, storage.ErrOverBudget) {
		return lookupResult{key: key, overBudget: true}
	}
	if err != nil {
		h.storeError("get", key, err)
		return miss
	}
	// RFC 9111 §4.1: the variant's own Vary must select this request too
	// (the index may have changed since the variant was stored).
	names, star := policy.ParseVary(v.Header)
	if star || string(policy.Key(key).Variant(names, req)) != v.Key {
		return miss
	}
	miss.entry, miss.tier, miss.fwd = v, tier, ""
	return miss
}

func (h *Handler) storeError(op, key string, err error) {
	if !errors.Is(err, storage.ErrNotFound) {
		h.log.Warn("cache store", "op", op, "key", key, "err", err)
	}
}

// fillResult is the outcome of one shared upstream fetch.
type fillResult struct {
	entry     *storage.Entry // complete response (stored or not); nil on error or stream
	shared    bool           // entry may be served to every waiter
	stored    bool
	ttl       time.Duration // remaining freshness of a stored entry
	reason    string        // why it was not stored (Cache-Status detail)
	varyNames []string      // the stored response's Vary, for waiters to match
	setCookie []string      // only for the request that caused the fetch
	status    int           // upstream status; 0 when err is set
	err       error

	// stream is a response too large to store: its first bytes were read
	// into prefix. Only the leader may take it (claim).
	stream  *http.Response
	prefix  []byte
	claimed atomic.Bool
}

// claim hands the stream to its one reader; it reports false after the
// first call.
func (res *fillResult) claim() bool {
	return res.stream != nil && res.claimed.CompareAndSwap(false, true)
}

// release closes the stream when the leader will not read it.
func (res *fillResult) release(leader bool) {
	if leader && res.claim() {
		res.stream.Body.Close()
	}
}

// failureStatus is the status a failed fetch stands for.
func (res *fillResult) failureStatus() int {
	if res.err == nil {
		return res.status
	}
	return upstreamErrorStatus(res.err)
}

// joinFlight runs, or waits for, the one upstream fetch for this request's
// storage key. answered reports that the request needs nothing more: its
// client went away, or its range was served as the body arrived.
func (h *Handler) joinFlight(w *trackedWriter, r *http.Request, x *exchange, found lookupResult, cs policy.CacheStatus) (res *fillResult, leader, answered bool) {
	fetch := h.newFetch(r, x, found)
	release, ok := h.slots.acquire(r.Context(), h.client(r))
	if !ok {
		return nil, false, true // the client left while waiting: nothing was started
	}
	if h.uncacheable.marked(fetch.storeKey, h.opts.Now()) {
		defer release()
		return h.fill(fetch, nil), true, false
	}
	f, leader := h.flights.join(flightKey(fetch.storeKey, r.Header, x.identity), func(p *progress) *fillResult {
		defer release() // the slot is the fetch's until it ends, client or not
		return h.fill(fetch, p)
	})
	if !leader {
		release() // another request's fetch: this one started nothing
		h.metrics.coalesced.Inc()
	}
	if rng, ok := parseSingleRange(r); ok {
		select {
		case <-f.body.ready:
			cs.Collapsed = !leader
			if h.serveRangeInProgress(w, r, f.body, rng, cs) {
				return nil, leader, true
			}
		case <-f.done:
		case <-r.Context().Done():
			return nil, leader, true
		}
	}
	select {
	case <-f.done:
		return f.res, leader, false
	case <-r.Context().Done():
		return nil, leader, true
	}
}

// refreshInBackground revalidates found.entry through the shared flight
// while the stale response is served (RFC 5861 §3). Concurrent requests
// join the running flight, so the object is refreshed once.
func (h *Handler) refreshInBackground(r *http.Request, x *exchange, found lookupResult) {
	fetch := h.newFetch(r, x, found)
	release, ok := h.slots.tryAcquire(h.client(r))
	if !ok {
		return // the client has fetches enough under way; a later request refreshes
	}
	f, leader := h.flights.join(flightKey(fetch.storeKey, r.Header, x.identity), func(p *progress) *fillResult {
		defer release()
		return h.fill(fetch, p)
	})
	if !leader {
		release()
	}
	h.background.Add(1)
	go func() {
		defer h.background.Done()
		<-f.done
		f.res.release(leader)
	}()
}

// flightKey partitions flights by credentials: a response fetched with one
// client's Authorization (or for one authenticated identity) must not be
// handed to another client before Storable has checked that it may be
// shared (RFC 9111 §3.5).
func flightKey(storeKey string, req http.Header, identity string) string {
	return string(policy.Key(storeKey).Flight(req.Get("Authorization"), identity))
}

// fetch is everything a fill needs, captured before the flight starts so that
// it never reads the leader's request after the leader has returned.
type fetch struct {
	x        *exchange
	out      *origin.Outbound
	request  *http.Request // method GET and the leader's header, for Storable and Vary
	key      string
	storeKey string
	stale    *storage.Entry // the stored response to validate, if any
	// generation is the store's purge generation when the fetch began: a
	// purge after it means the response may predate the purge.
	generation uint64
}

func (h *Handler) newFetch(r *http.Request, x *exchange, found lookupResult) *fetch {
	out := h.outbound(r, x)
	out.Method = http.MethodGet // a HEAD miss is filled with GET so that GET and HEAD share the entry
	for _, f := range clientOnlyFields {
		out.Header.Del(f)
	}
	request := &http.Request{Method: http.MethodGet, Header: out.Header, Host: x.t.Host}
	if x.route.Auth != nil && request.Header.Get("Authorization") == "" {
		// An API key authenticates like Authorization does: what it
		// fetched is shared only if the origin says so (RFC 9111 §3.5).
		request.Header = out.Header.Clone()
		request.Header.Set("Authorization", "edged route authentication")
	}
	return &fetch{
		x:        x.detached(), // the fill may outlive the request and its exchange
		out:      out,
		request:  request,
		key:      found.key,
		storeKey: found.storageKey(r.Header),
		stale:    found.entry,
	}
}

// clientOnlyFields are request fields that would make a shared fetch answer
// one client instead of the cache: the cache fetches the whole, unconditional
// representation and evaluates the client's conditionals and ranges itself
// (RFC 9111 §4.3.2).
var clientOnlyFields = []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"}

// outbound is the upstream request for r, before any fill-specific change.
func (h *Handler) outbound(r *http.Request, x *exchange) *origin.Outbound {
	header := r.Header.Clone()
	x.route.RequestHeaders.apply(header)
	return &origin.Outbound{
		Method:     r.Method,
		Host:       x.t.Host,
		RequestURI: x.upstreamURI(),
		Header:     header,
		ClientIP:   clientIP(r),
		Proto:      x.t.Scheme,
		Key:        x.key(),
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// fill performs one shared upstream fetch. It runs detached from every
// client: a client that disconnects does not cancel it, FetchTimeout bounds it.
func (h *Handler) fill(f *fetch, p *progress) *fillResult {
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.FetchTimeout)
	res := &fillResult{}
	f.generation = h.store.Generation()
	if f.stale != nil {
		// RFC 9111 §4.3.1: validate with the stored response's validators.
		for k, v := range policy.ValidationHeader(responseOf(f.stale)) {
			f.out.Header[k] = v
		}
	}
	requestTime := h.opts.Now()
	resp, err := h.fetchUpstream(ctx, f.x.upstream, f.out)
	if err == nil && resp.StatusCode == http.StatusNotModified && f.stale != nil {
		drain(resp)
		merged, ok := policy.Freshen(f.stale.Header, resp.Header)
		if ok {
			cancel()
			res.status = http.StatusNotModified
			e := &storage.Entry{Key: f.stale.Key, Status: f.stale.Status, Header: merged, Body: f.stale.Body,
				RequestTime: requestTime, ResponseTime: h.opts.Now(), Tags: f.stale.Tags}
			// What a 304 says about freshness is said to the request's
			// credentials: it refreshes the stored response for everyone
			// only if it says so itself (policy.CredentialsAllow). Else
			// this client alone gets the refreshed response; the stored one
			// stays as it was.
			if ok, reason := policy.CredentialsAllow(f.request.Header, resp.Header); !ok {
				res.entry, res.reason = e, reason
				return res
			}
			// The 304 may have made the response unstorable (RFC 9111 §4.3.4).
			if ok, reason := policy.Storable(f.request, e.Status, merged, *h.rules(f.x)); !ok {
				res.entry, res.reason = e, reason
				h.forget(f.stale.Key)
				return res
			}
			h.keep(res, f, e, merged)
			return res
		}
		// RFC 9111 §4.3.4: the 304 does not describe the stored response;
		// fetch the representation whole.
		for k := range policy.ValidationHeader(responseOf(f.stale)) {
			f.out.Header.Del(k)
		}
		requestTime = h.opts.Now()
		resp, err = h.fetchUpstream(ctx, f.x.upstream, f.out)
	}
	if err != nil {
		cancel()
		res.err = err
		return res
	}
	h.fillFromResponse(res, f, resp, requestTime, cancel, p)
	return res
}

// fetchUpstream is the one place a fill talks to the upstream, for metrics.
func (h *Handler) fetchUpstream(ctx context.Context, up *origin.Client, out *origin.Outbound) (*http.Response, error) {
	start := time.Now()
	resp, err := up.Do(ctx, out)
	h.metrics.observeFetch(start, resp, err)
	return resp, err
}

// fillFromResponse reads resp's body (up to MaxObjectBytes) and stores it
// when RFC 9111 allows; a larger body is left for the leader to stream.
func (h *Handler) fillFromResponse(res *fillResult, f *fetch, resp *http.Response, requestTime time.Time, cancel context.CancelFunc, p *progress) {
	responseTime := h.opts.Now()
	res.status = resp.StatusCode
	if resp.Header.Get("Date") == "" {
		// RFC 9110 §6.6.1: a cache records the time it received a response
		// that has no Date.
		resp.Header.Set("Date", responseTime.UTC().Format(http.TimeFormat))
	}
	if ttl := f.x.route.Cache.DefaultTTL; ttl > 0 && !hasFreshnessFields(resp.Header) && !policy.Credentialed(f.request.Header) {
		// The route forces a lifetime the origin did not give. As a
		// targeted field it binds this CDN's caches only and never reaches
		// a client (RFC 9213 §2.1). Never on an answer to credentials: it
		// may be one user's page (policy.CredentialsAllow).
		resp.Header.Set("Cdn-Cache-Control", "max-age="+strconv.FormatInt(int64(ttl/time.Second), 10))
	}
	storable, reason := policy.Storable(f.request, resp.StatusCode, resp.Header, *h.rules(f.x))
	held := &hold{b: &h.bodies}
	var body []byte
	var complete bool
	var err error
	if p != nil && storable && h.publishable(resp) && held.grow(resp.ContentLength) {
		body, err = readPublished(resp.Body, resp.ContentLength, p, policy.StoredHeader(resp.Header))
		complete = err == nil
	} else {
		body, complete, err = readUpTo(resp.Body, h.opts.MaxObjectBytes, resp.ContentLength, held)
	}
	if err != nil {
		held.release()
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
		}
		resp.Body = cancelOnClose{resp.Body, cancel, held} // the prefix is held until the stream ends
		// The leader may have left already: nobody else may read the body,
		// so close it if the leader has not taken it soon.
		time.AfterFunc(10*time.Second, func() { res.release(true) })
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
			res.setCookie = resp.Header.Values("Set-Cookie")
		} else {
			e.Header = resp.Header
		}
		res.entry = e
		byCredentials := reason == policy.DetailAuthorization || reason == policy.DetailCookie
		if !byCredentials && resp.StatusCode < 500 && !policy.RequestNoStore(f.request.Header) {
			// The response, not this request, made it unstorable.
			h.uncacheable.mark(f.storeKey, responseTime)
		}
		if f.stale != nil && resp.StatusCode < 500 && !byCredentials {
			// The origin no longer lets this be stored: stop serving the
			// old copy. (An answer to one client's credentials says
			// nothing of what others get.)
			h.forget(f.stale.Key)
		}
		return
	}
	res.setCookie = resp.Header.Values("Set-Cookie")
	h.keep(res, f, e, resp.Header)
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
func (h *Handler) keep(res *fillResult, f *fetch, e *storage.Entry, hdr http.Header) {
	e.Header = policy.StoredHeader(hdr)
	if bodyAllowed(e.Status) {
		e.Header.Set("Content-Length", strconv.Itoa(len(e.Body))) // the stored body's, whatever the upstream framing was
	}
	e.Tags = policy.Tags(hdr)
	if names, _ := policy.ParseVary(hdr); len(names) > 0 {
		e.Key = string(policy.Key(f.key).Variant(names, f.request.Header))
		res.varyNames = names
		if !h.variants.admit(f.key, e.Key, h.opts.Now()) {
			res.entry, res.shared, res.reason = e, true, policy.DetailTooManyVariants
			return
		}
		h.store.Set(&storage.Entry{Key: f.key, Status: e.Status, Header: http.Header{"Vary": hdr.Values("Vary")},
			RequestTime: e.RequestTime, ResponseTime: e.ResponseTime, Vary: names})
	}
	// An object whose fetch began before a purge and ended after it is
	// stored stale, so the next request revalidates it; so is one that an
	// upstream cache made before a purge this node has applied (a shield
	// that has not applied it yet still serves the old copy, with its Age).
	h.store.SetFetchedAt(e, f.generation, policy.Produced(responseOf(e)))
	h.uncacheable.clear(f.storeKey)
	res.entry, res.shared, res.stored = e, true, true
	stored := responseOf(e)
	lifetime, _ := policy.Lifetime(stored, *h.rules(f.x))
	res.ttl = lifetime - policy.Age(stored, h.opts.Now())
}

// forget removes a stored response that must no longer be served.
func (h *Handler) forget(key string) {
	if err := h.store.Delete(key); err != nil {
		h.log.Warn("cache delete", "key", key, "err", err)
	}
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

// readUpTo reads body while it fits in limit bytes and held can grow to
// cover the buffer. complete is false when the body is larger, or held was
// refused (held.refused); then buf holds what was read so far.
func readUpTo(body io.Reader, limit, contentLength int64, held *hold) (buf []byte, complete bool, err error) {
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
				return buf, false, nil
			}
			buf = append(make([]byte, 0, next), buf...)
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, false, nil
		}
		if err == io.EOF {
			return buf, true, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

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
