package edge

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"edged/edge/policy"
	"edged/storage"
)

// byteRange is one range of a Range request (RFC 9110 §14.1.2): first-last,
// first- (open), or -suffix.
type byteRange struct {
	first, last int64 // -1 when absent; first is -1 for a suffix-range
	suffix      int64 // the suffix-length of a suffix-range
}

// parseSingleRange reads a GET's Range field when it asks for one byte
// range and nothing makes the answer conditional: such a request can be
// answered while the body arrives. Anything else waits for the whole body.
func parseSingleRange(r *http.Request) (byteRange, bool) {
	v := r.Header.Get("Range")
	if r.Method != http.MethodGet || v == "" {
		return byteRange{}, false
	}
	for _, f := range clientOnlyFields {
		if f != "Range" && r.Header.Get(f) != "" {
			return byteRange{}, false
		}
	}
	set, ok := parseRangeSet(v)
	if !ok || len(set) != 1 {
		return byteRange{}, false
	}
	return set[0], true
}

// resolve gives the range's inclusive bounds in a body of size bytes; ok is
// false when it is not satisfiable (RFC 9110 §14.1.2: a first-pos at or past
// the length, a suffix-length of 0, any range of an empty body).
func (br byteRange) resolve(size int64) (start, end int64, ok bool) {
	switch {
	case br.first < 0:
		if br.suffix == 0 {
			return 0, 0, false
		}
		start = max(size-br.suffix, 0)
		end = size - 1
	case br.last < 0 || br.last >= size:
		start, end = br.first, size-1
	default:
		start, end = br.first, br.last
	}
	return start, end, start <= end && start < size
}

// publishable reports whether a storable response's body may be published
// as it arrives, to the clients that share its fetch (a whole GET or HEAD,
// a single range once its length is known): a whole 200 within the object
// limit, or of unknown length (chunked; the clients being sent one that
// turns out larger are cut, the leader's excepted: readUpTo, so one
// whose key's last fill was past the limit is sent to the leader alone,
// fillHead.mayOutgrow). What only the leader may see
// (policy.OwnHeader) stays the leader's (fillHead.own), and a response
// that varies is given only to the requests its Vary selects
// (fillHead.selects); one with Vary: * to none.
func (f *fetch) publishable(resp *http.Response) bool {
	h := f.h
	if _, star := policy.ParseVary(resp.Header); star || resp.StatusCode != http.StatusOK {
		return false
	}
	if resp.ContentLength < 0 {
		return true
	}
	return resp.ContentLength > 0 && resp.ContentLength <= h.opts.MaxObjectBytes
}

// readPublished reads a body of known size into a buffer published to p,
// with head, as it fills. On an error it returns what arrived, in the
// buffer clients may still be reading. The head is published with the
// first bytes, not before: an upstream whose body fails at once is then
// answered with a clean 502 (the head is not sent yet), not a cut 200.
func readPublished(body io.Reader, size int64, p *progress, head *fillHead) ([]byte, error) {
	buf := make([]byte, size)
	n := 0
	for n < len(buf) {
		m, err := body.Read(buf[n:])
		n += m
		p.grew(n)
		if n > 0 && head != nil {
			p.publish(head, buf, size)
			head = nil
		}
		if err == io.EOF && n < len(buf) {
			return buf[:n], io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return buf[:n], err
		}
	}
	return buf, nil
}

// serveRangeInProgress answers a single-range request from a body still
// arriving: the 206 goes out as soon as the range's bytes are in, not when
// the whole object is. It reports false, having written nothing, when the
// body is not published or the range must be answered otherwise. collapsed
// says another request's fetch is filling the body.
func (x *exchange) serveRangeInProgress(p *progress, rng byteRange, collapsed bool) bool {
	h, w := x.h, &x.w
	head, size, _ := p.streamable()
	if !head.selects(x) || collapsed && (head.mayOutgrow || !x.takes(head.entry)) {
		return false
	}
	if size < 0 {
		return false // not known yet: the range waits for the fill's end
	}
	if size < streamFromBytes {
		p.streaming() // short: answered at the fill's end, unbound as when streamed (serveWhileFilling)
		return false
	}
	header := head.entry.Header
	start, end, ok := rng.resolve(size)
	if !ok {
		return false
	}
	identity, varies := x.identityWhileFilling(header, size)
	if !identity {
		return false // the range is of the compressed variant, made once the body is whole
	}
	now := h.opts.Now()
	// A per-user page is marked must-revalidate, as on a hit (entryHeader).
	hdr := x.entryHeader(head.entry, nil, varies, policy.Age(policy.Response{Status: http.StatusOK, Header: header, RequestTime: now, ResponseTime: now}, now))
	x.cs.Collapsed = collapsed
	x.cs.FwdStatus, x.cs.Detail = http.StatusOK, policy.DetailRangeWhileFilling
	if head.storing {
		x.cs.HasTTL, x.cs.TTL = true, head.ttl // not stored: see serveWhileFilling
	}
	x.upstreamAddr, x.firstByte = head.upstream, head.firstByte
	x.setCacheStatus(header)
	if !collapsed {
		addOwn(hdr, head.own)
	}
	p.streaming()
	hdr.Set("Content-Range", contentRange(start, end, size))
	hdr.Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	// As a hit's 206 says it (http.ServeContent sets it): the fields of
	// one range do not depend on when it was asked for (RFC 9110 §14.3).
	hdr.Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusPartialContent)
	rc := http.NewResponseController(w)
	for sent := start; sent <= end; {
		body, whole := p.await(min(sent+64<<10, end+1))
		if avail := min(int64(len(body)), end+1); avail > sent {
			if _, err := w.Write(body[sent:avail]); err != nil {
				return true
			}
			_ = rc.Flush()
			sent = avail
		}
		if !whole && sent <= end {
			// The upstream failed mid-body: cut the response so the client
			// sees it incomplete, never a short 206 that looks whole.
			panic(http.ErrAbortHandler)
		}
	}
	return true
}

// progress is a fill's body as it arrives. Once ready, head is what the
// fill published of its response when the body is published here (a
// complete, storable 200 of known length, publishable), nil otherwise.
type progress struct {
	ready chan struct{} // closed once header, size and status are known, or the fill ended

	mu       sync.Mutex // guards the fields below
	cond     sync.Cond  // signalled when n grows or the fill ends
	head     *fillHead
	size     int64  // the body's length (Content-Length); -1 until known
	buf      []byte // the body; buf[:n] is final
	n        int
	ended    bool
	failed   bool // the body did not arrive whole
	streamed bool // a client is being sent the body as it arrives
	// overflowed: the body outgrew what the fill may hold; the fill's
	// result streams the rest to the leader (fillResult.stream).
	overflowed bool
}

// fillHead is what a fill publishes of its response once the head has
// arrived and the fill has decided to store it: what a client that is
// sent the body as it arrives is told (serveWhileFilling,
// serveRangeInProgress).
type fillHead struct {
	// entry is the response as it will be stored, without its body: the
	// key (its variant's, when it varies), status, stored header, times
	// and per-user mark (fetch.markPerUser).
	entry *storage.Entry
	// own: the fields for the leader alone (policy.OwnHeader).
	own http.Header
	// varyNames is the response's Vary: a request that joined the fetch
	// is sent the body only if they select the same variant (RFC 9111
	// §4.1), as fetch checks for the whole response.
	varyNames []string
	// storing: the fill means to store the response (it names all its
	// tags, policy.AllTags), with ttl of freshness left; else reason says
	// why not (a Cache-Status detail). The store may still refuse it (too
	// many variants, superseded), or the fill fail: a head sent with the
	// body still arriving never says stored.
	storing bool
	ttl     time.Duration
	reason  string
	// upstream and firstByte are the fetch's, for access logs.
	upstream  string
	firstByte time.Duration
	// unbind lifts the fetch's total bound once a client is sent the body
	// as it arrives (fetchContext).
	unbind func()
	// length is the body's announced length (Content-Length), -1 when
	// unknown (chunked).
	length int64
	// mayOutgrow: the body's length is unknown and its key's last fill
	// outgrew the object limit (Handler.tooLarge), so a waiter sent the
	// body as it arrives would be cut if this one did too: only the leader
	// is sent it; a waiter that wants the body waits for the fill's end
	// (and asks on its own if it did outgrow). A HEAD or a condition needs
	// no body and may still be answered from the head.
	mayOutgrow bool
}

// selects reports whether the published response may answer x's request:
// a response that varies answers only the requests whose fields select
// the leader's variant. A nil head selects nothing.
func (fh *fillHead) selects(x *exchange) bool {
	if fh == nil {
		return false
	}
	return fh.varyNames == nil || fh.entry.Key == string(policy.Key(x.key()).Variant(fh.varyNames, x.r.Header))
}

func newProgress() *progress {
	p := &progress{ready: make(chan struct{})}
	p.cond.L = &p.mu
	return p
}

// publish announces a body of size bytes (-1: unknown) that will be read
// into buf.
func (p *progress) publish(head *fillHead, buf []byte, size int64) {
	p.mu.Lock()
	p.head, p.buf, p.size = head, buf, size
	p.mu.Unlock()
	close(p.ready)
}

// moved records that the body is now read into buf, a larger copy. Like
// grew, whole and overflow, it does nothing on a nil p (a body that is
// not published: readUpTo).
func (p *progress) moved(buf []byte) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.buf = buf
	p.mu.Unlock()
}

// whole records that a body of unknown length ended at n bytes.
func (p *progress) whole(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.size = int64(n)
	p.mu.Unlock()
	p.cond.Broadcast()
}

// overflow records that the body outgrew the fill: it will not be whole.
func (p *progress) overflow() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.overflowed = true
	p.mu.Unlock()
}

// grew records that buf[:n] has arrived.
func (p *progress) grew(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.n = n
	p.mu.Unlock()
	p.cond.Broadcast()
}

// end marks the fill over; failed says the body is not whole.
func (p *progress) end(failed bool) {
	p.mu.Lock()
	if !p.ended {
		p.ended, p.failed = true, failed && (p.size < 0 || int64(p.n) < p.size)
	}
	published := p.head != nil
	p.mu.Unlock()
	p.cond.Broadcast()
	if !published {
		select {
		case <-p.ready:
		default:
			close(p.ready)
		}
	}
}

// streamable reports the published head and the length it announced (-1:
// unknown, even if the body has ended since: a client is answered alike
// whenever it looked), or nil when the body is not published here or the
// fill failed already (it has nothing whole to give a client that has
// been sent nothing yet); overflowed says the body outgrew the fill (the
// leader is then sent the rest from the upstream, whenever it looked).
func (p *progress) streamable() (head *fillHead, size int64, overflowed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == nil || p.failed && !p.overflowed {
		return nil, 0, false
	}
	return p.head, p.head.length, p.overflowed
}

// streaming records that a client is being sent the body as it arrives,
// or waits for a short one (streamFromBytes): the first lifts the fetch's
// total bound (fillHead.unbind).
func (p *progress) streaming() {
	p.mu.Lock()
	first := !p.streamed && p.head != nil && !p.ended
	p.streamed = true
	p.mu.Unlock()
	if first && p.head.unbind != nil {
		p.head.unbind()
	}
}

// arrived reports whether the whole body has arrived: its length is
// known and reached.
func (p *progress) arrived() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(p.n) == p.size
}

// await blocks until at least upTo bytes have arrived and returns them; ok
// is false when the body ended short of that.
func (p *progress) await(upTo int64) (body []byte, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for int64(p.n) < upTo && !p.ended {
		p.cond.Wait()
	}
	return p.buf[:p.n], int64(p.n) >= upTo
}

// awaitMore blocks until more than have bytes have arrived, or the body
// is whole, or the fill ended, and returns what has arrived; whole reports
// that it is the whole body, cut that the fill ended without it, and
// overflowed then that the rest goes to the leader from the upstream.
func (p *progress) awaitMore(have int64) (body []byte, whole, cut, overflowed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for int64(p.n) <= have && int64(p.n) != p.size && !p.ended {
		p.cond.Wait()
	}
	whole = int64(p.n) == p.size
	return p.buf[:p.n], whole, !whole && p.ended, p.overflowed
}
