package edge

import (
	"io"
	"net/http"
	"strconv"
	"sync"

	"edged/edge/compress"
	"edged/edge/policy"
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
// to range requests as it arrives: a whole 200 of known length within the
// object limit, the same for every request that shares the fetch (no Vary,
// no field for the leader alone, own: a cookie, or one a qualified
// private or no-cache names, RFC 9111 §5.2.2.7, §5.2.2.4; see
// policy.OwnHeader).
func (h *Handler) publishable(resp *http.Response, own http.Header) bool {
	names, star := policy.ParseVary(resp.Header)
	return resp.StatusCode == http.StatusOK && resp.ContentLength > 0 && resp.ContentLength <= h.opts.MaxObjectBytes &&
		len(names) == 0 && !star && own == nil
}

// readPublished reads a body of known size into a buffer published to p as
// it fills.
func readPublished(body io.Reader, size int64, p *progress, header http.Header) ([]byte, error) {
	buf := make([]byte, size)
	p.publish(header, buf)
	n := 0
	for n < len(buf) {
		m, err := body.Read(buf[n:])
		n += m
		p.grew(n)
		if err == io.EOF && n < len(buf) {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return nil, err
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
	h, w, r := x.h, &x.w, x.r
	header, size := p.streamable()
	if header == nil {
		return false
	}
	start, end, ok := rng.resolve(size)
	if !ok {
		return false
	}
	if enc := h.opts.Compression; enc != nil && enc.Worth(size) && compress.Eligible(header) {
		if coding, _ := compress.Negotiate(r.Header.Values("Accept-Encoding"), offered...); coding != compress.Identity {
			return false // the range is of the compressed variant, made once the body is whole
		}
	}
	hdr := w.Header()
	for k, v := range header {
		hdr[k] = v[:len(v):len(v)]
	}
	policy.ClientHeader(hdr, h.opts.Policy)
	now := h.opts.Now()
	hdr.Set("Age", strconv.FormatInt(int64(policy.Age(policy.Response{Status: http.StatusOK, Header: header, RequestTime: now, ResponseTime: now}, now).Seconds()), 10))
	x.cs.Collapsed = collapsed
	x.cs.FwdStatus, x.cs.Stored, x.cs.Detail = http.StatusOK, true, policy.DetailRangeWhileFilling
	x.setCacheStatus(header)
	hdr.Set("Content-Range", contentRange(start, end, size))
	hdr.Set("Content-Length", strconv.FormatInt(end-start+1, 10))
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

// progress is a fill's body as it arrives. Once ready, header is the
// response's stored header when the body is published here (a complete,
// storable 200 of known length), nil otherwise.
type progress struct {
	ready chan struct{} // closed once header, size and status are known, or the fill ended

	mu     sync.Mutex // guards the fields below
	cond   sync.Cond  // signalled when n grows or the fill ends
	header http.Header
	size   int64  // the body's length (Content-Length)
	buf    []byte // the body; buf[:n] is final
	n      int
	ended  bool
	failed bool // the body did not arrive whole
}

func newProgress() *progress {
	p := &progress{ready: make(chan struct{})}
	p.cond.L = &p.mu
	return p
}

// publish announces a body of size bytes that will be read into buf.
func (p *progress) publish(header http.Header, buf []byte) {
	p.mu.Lock()
	p.header, p.buf, p.size = header, buf, int64(cap(buf))
	p.mu.Unlock()
	close(p.ready)
}

// grew records that buf[:n] has arrived.
func (p *progress) grew(n int) {
	p.mu.Lock()
	p.n = n
	p.mu.Unlock()
	p.cond.Broadcast()
}

// end marks the fill over; failed says the body is not whole.
func (p *progress) end(failed bool) {
	p.mu.Lock()
	if !p.ended {
		p.ended, p.failed = true, failed && p.n < int(p.size)
	}
	published := p.header != nil
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

// streamable reports the published header, or nil when the body is not
// published here.
func (p *progress) streamable() (http.Header, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.header, p.size
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
