package edge

import (
	"net/http"
	"strconv"

	"edged/edge/compress"
	"edged/edge/policy"
	"edged/storage"
)

// Read-while-writer. A fill that will store a whole 200 of known length
// publishes its head and then its body as it arrives (progress): the
// request that started the fetch and those that joined it are sent the
// body from that buffer as it fills, each at its own pace, from its first
// byte whenever it joined, instead of once the whole body has arrived (a
// 50 MiB miss used to wait for all of it before its first byte). The fill
// reads the upstream into the buffer without waiting for any client, so a
// slow client stalls nobody, and the buffer is the one the fill held
// before: counted in the body budget (Options.BodyMemory), at most
// MaxObjectBytes, one per fill. The entry is stored only once the body is
// whole (fetch.keep, as before); a body that ends short cuts every client
// being sent it (http.ErrAbortHandler: a chunked response is never ended,
// a response of known length is closed short), so none takes it for
// whole, and nothing is stored.

// streamFromBytes is the shortest body of known length a client is sent
// as it arrives. A shorter one is answered from the fill's result once
// whole (it arrives with its head or a read after it: streaming it would
// save nothing), which knows whether it was stored (Cache-Status stored,
// RFC 9211 §2.6). A rule on the announced length, not on how much had
// arrived when the client looked, so the same response is always answered
// the same way, whatever the timing.
const streamFromBytes = 16 << 10

// streamsWhole reports whether x's request may be answered from a fill's
// published head and its body as it arrives: a GET or HEAD of the whole
// representation (no Range, If-Range or Request-Range: a single range is
// served while filling on its own, serveRangeInProgress, and the rest wait
// for the whole body), and no stored response that RFC 5861's
// stale-if-error could put in the fill's place if it fails (it could not
// once the new one is under way). Its conditions, if any, are evaluated
// against the published head (serveWhileFilling), which carries the
// validators the entry will be stored with: a client revalidating a miss
// gets its 304 at once, not once the whole body has arrived. A HEAD is
// answered from the head too: its client's next request may join the fill,
// and is then sent the body as it arrives.
func (x *exchange) streamsWhole() bool {
	r := x.r
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, f := range rangeFields {
		if _, ok := r.Header[f]; ok {
			return false
		}
	}
	if e := x.found.entry; e != nil && policy.StaleIfError(r.Header, responseOf(e), x.h.opts.Now(), *x.rules()) {
		return false
	}
	return true
}

// serveWhileFilling answers x's request from the body p publishes as it
// arrives: the head at once, the body as it comes. It reports false,
// having written nothing, when it cannot or need not: nothing is
// published (the response is not stored, or the fill failed), the
// response varies and x's request selects another variant, or x's client
// is to be sent a compressed variant (made from the whole body, as on a
// hit). collapsed says another request's fetch fills the body. x's
// request is a GET or HEAD (streamsWhole). Its conditions are evaluated
// against the head, as serveEntry does against a stored entry (RFC 9110
// §13.2.2, RFC 9111 §4.3.2): a 304 or 412 goes out at once, and so does
// a HEAD's 200, whatever the body's length, known or not; but a waiter
// is never answered from a head that needs validation before it answers
// another request (exchange.takesShared). Otherwise a GET is sent the
// body as it arrives, unless the body is shorter than streamFromBytes, or
// of unknown length and only the leader may be sent it (a waiter of a
// body that outgrew the fill, or one whose key's last fill did,
// fillHead.mayOutgrow, asks on its own).
func (x *exchange) serveWhileFilling(f *flight, collapsed bool) bool {
	h, w, p := x.h, &x.w, f.body
	head, size, overflowed := p.streamable()
	if !head.selects(x) {
		return false
	}
	e := head.entry
	precondition := policy.Precondition(x.r, responseOf(e))
	noBody := x.r.Method == http.MethodHead
	bodiless := noBody || precondition != 0
	if collapsed && !x.takes(e) {
		// Before bodiless: a head that needs validation before it answers
		// another request (exchange.takesShared) must not answer a
		// waiter's HEAD or condition either; the waiter asks on its own
		// once the fill ends (fetch).
		return false
	}
	switch {
	case bodiless:
		// Answered from the head alone, which the fill will store as it
		// is (fetch.keep): waiting for the body would tell this client
		// nothing more.
	case collapsed && (overflowed || head.mayOutgrow):
		return false // a waiter of a body that outgrew the fill (or may) asks on its own
	case size >= 0 && size < streamFromBytes:
		// The fill's result answers, and says whether it was stored. The
		// client waits for the body as one being sent it would, so the
		// fetch's total bound is lifted as for one (a short body that
		// trickles is cut by body_timeout's pauses, not fetch_timeout).
		p.streaming()
		return false
	}
	identity, varies := x.identityWhileFilling(e.Header, size)
	if !identity {
		return false
	}
	// The age of what is sent: its upstream's Age, and the time since it
	// arrived (RFC 9111 §5.1).
	hdr := x.entryHeader(e, nil, varies, policy.Age(responseOf(e), h.opts.Now()))
	x.upstreamAddr, x.firstByte = head.upstream, head.firstByte
	cs := &x.cs
	cs.Collapsed, cs.FwdStatus = collapsed, e.Status
	switch {
	case !head.storing:
		cs.Detail = head.reason
	case size >= 0:
		// RFC 9211 §2.5: the freshness the cache gives the response,
		// whether or not it is stored in the end. A body of unknown
		// length may yet outgrow the fill (the object limit, the body
		// budget), and is not given one.
		cs.HasTTL, cs.TTL = true, head.ttl
	}
	// Not stored (RFC 9211 §2.6) in a head sent before the body is whole:
	// the fill means to store the response, but the store may still
	// refuse it, superseded by a later fill of the object (fillOrder) or
	// its variant replaced meanwhile (variantCounter.replaced); the head
	// cannot know, and Cache-Status says only what is so. A GET of a
	// short body is answered from the fill's result instead
	// (streamFromBytes), which knows; a HEAD or a met or failed
	// condition is answered from the head whatever the length, so it
	// never says stored.
	x.setCacheStatus(e.Header)
	if !collapsed {
		addOwn(hdr, head.own)
		if bodiless && size < 0 {
			x.h.renounceRest(f, e.Key)
		}
	}
	if bodiless && p.arrived() {
		// The fill stores the body and ends at once (as sendArriving
		// waits for it): this client's next request, a GET after its
		// HEAD, finds it stored rather than joining the fill as it ends.
		<-f.done
	}
	switch precondition {
	case http.StatusNotModified:
		writeNotModified(w)
		return true
	case http.StatusPreconditionFailed:
		clearContentFields(hdr)
		w.WriteHeader(http.StatusPreconditionFailed)
		return true
	}
	if size >= 0 && !lengthIs(e.Header, size) {
		hdr.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	if noBody {
		// Not p.streaming: nobody is sent the body for this request, and
		// the fill keeps its total bound unless a client is. A body of
		// unknown length gets no Content-Length (RFC 9110 §8.6: a HEAD
		// may omit it), as the GET, sent chunked, has none either.
		w.WriteHeader(e.Status)
		return true
	}
	p.streaming()
	w.WriteHeader(e.Status)
	x.sendArriving(f, collapsed)
	return true
}

// renounceRest closes the rest of f's body (of key), should it outgrow
// the fill, as soon as the fill ends: the leader, answered from the head,
// will not take it (sendRest), and it is not held for leaderWait with the
// upstream's connection.
func (h *Handler) renounceRest(f *flight, key string) {
	h.tasks.start(taskHeld, key, func() {
		<-f.done
		f.res.release(true)
	})
}

// identityWhileFilling reports whether x's client may be sent a fill's
// body (header, size bytes: -1 unknown) as it arrives, identity: not when
// it is to be sent a compressed variant, made once the body is whole, as
// on a hit (exchange.encoded). varies reports that the choice depended on
// Accept-Encoding, as encoded says of an identity response it could
// compress: the answer, whole or a range of it, must say so (RFC 9110
// §12.5.5), as a hit's does.
func (x *exchange) identityWhileFilling(header http.Header, size int64) (identity, varies bool) {
	enc := x.h.opts.Compression
	if enc == nil || !enc.Worth(size) || !compress.Eligible(header) {
		return true, false
	}
	coding, _ := compress.Negotiate(x.r.Header["Accept-Encoding"], offered...)
	return coding == compress.Identity, true
}

// sendArriving writes the body of f's fill to x's client as it arrives,
// from its first byte, and cuts the response when the fill ends without
// the whole body; but the leader (not collapsed) is sent the rest of a
// body that outgrew the fill from the upstream (sendRest).
func (x *exchange) sendArriving(f *flight, collapsed bool) {
	w := &x.w
	rc := http.NewResponseController(w)
	var sent int64
	defer func() { x.h.metrics.served(storage.TierNone, int(sent)) }()
	for {
		body, whole, cut, overflowed := f.body.awaitMore(sent)
		if whole {
			// The fill stores the body and ends at once: the last bytes
			// go out only then, so that no client has the whole body
			// before the entry is stored, and its next request (on any
			// connection) finds it stored (or stored stale, RFC 9111
			// §4.2.3) rather than joining the fill as it ends.
			<-f.done
		}
		if n := int64(len(body)); n > sent {
			if _, err := w.Write(body[sent:n]); err != nil {
				return // the client is gone; the fill goes on for the others
			}
			sent = n
			if !whole {
				_ = rc.Flush() // what arrived goes out now, not when more does
			}
		}
		switch {
		case whole:
			return
		case cut && overflowed && !collapsed:
			x.sendRest(f, sent)
			return
		case cut:
			// The upstream failed mid-body, or the body outgrew the fill
			// and nobody reads the upstream for this client: cut the
			// response so that the client sees it incomplete, never a
			// short body that looks whole. Once the flight has ended, as
			// for a whole body: a client that asks again at once starts a
			// fresh fetch rather than join this failed one.
			<-f.done
			x.h.log.Warn("response cut while streamed from a fill", "host", x.r.Host, "path", x.r.URL.Path, "sent", sent, "overflowed", overflowed)
			panic(http.ErrAbortHandler)
		}
	}
}

// sendRest sends the leader, sent bytes of whose body went out from the
// fill, the rest of a body that outgrew it (too large to store, or past
// the body budget): what the fill read beyond sent, then the upstream's
// rest as it arrives, as streamFill does for a leader that was sent
// nothing yet.
func (x *exchange) sendRest(f *flight, sent int64) {
	<-f.done // the fill ends as soon as the body outgrows it
	res := f.res
	if !res.claim() {
		panic(http.ErrAbortHandler) // nothing more to send: the client must not take it for whole
	}
	defer res.stream.Body.Close()
	x.sendUpstreamBody(&x.w, res.prefix[sent:], res.stream.Body)
}
