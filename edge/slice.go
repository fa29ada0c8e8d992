package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strconv"

	"edged/edge/policy"
	"edged/storage"
)

// A route with Route.Cache.Slice keeps each object in slices of that many
// bytes, as nginx's slice module and Varnish's slicer do: slice i holds
// bytes [i×size, (i+1)×size) of the object, is fetched with a Range request
// for exactly those bytes (slicefetch.go), and is stored as an entry of its
// own under policy.Key.Slice, beside the object's key, so that purges of
// the URL, its prefix, host or tags remove every slice. A range in the
// middle of a 4 GiB object then costs the upstream only the slices it
// covers, and concurrent requests for one slice share one fetch (flights).
//
// A response is stitched from the slices it covers, in order, each sent as
// it is got (a file's with sendfile): never the whole object in memory.
// Every slice must carry the strong validator and complete length of the
// first one sent (RFC 9111 §3.4: only parts of one representation are
// combined); a stored slice that does not is dropped and fetched again, and
// when the upstream's slice differs too, the object changed: its slices are
// dropped and the response, whose head is gone already, is cut, so the
// client sees it incomplete and never one made of two versions.
//
// An upstream that ignores Range sends the whole 200 (RFC 9110 §14.2): it
// is served and stored as any miss is, under the key of slice 0, where
// every request of the object looks first; one larger than max_object is
// streamed to its client and stored nowhere.

// The bounds of Route.Cache.Slice. Below MinSlice an object costs too many
// upstream requests and entries (and a slice under the store's file
// threshold is not sent with sendfile); above MaxSlice a range costs the
// upstream, and a fill the memory budget, too much beyond what it asked.
const (
	MinSlice = 64 << 10
	MaxSlice = 64 << 20
)

// slicer serves one request of a sliced route from its object's slices.
type slicer struct {
	x      *exchange
	size   int64
	object policy.Key // the object's storage key
	base   *fetch     // what each slice's fetch copies

	// Set from the first slice sent: what every other must match.
	total     int64
	validator string
	// stale is the Decision of the last slice found stored but not
	// usable as it is (RFC 9211 §2.2: fwd=stale, request...), and
	// staleSlice that slice, to validate.
	stale      *policy.Decision
	staleSlice *storage.Entry
	// cur is the last slice got after the first, kept for the next
	// piece in it: ranges in ascending order then cost each slice once.
	cur *slice
	// sending: the response's head is sent, so the slices still to get
	// must complete it (fetch).
	sending bool
	// sent counts the body bytes of the response written to the client,
	// which bound the bytes of a stream it may drop (copyStream,
	// maxStreamSkip).
	sent int64
}

// slice is one slice got for the request, from the store or upstream.
type slice struct {
	index      int64
	e          *storage.Entry
	file       *os.File // e's body, when the disk tier keeps it in a file
	held       *hold    // the budget a body decoded from bbolt holds
	start, end int64    // the object's bytes it holds
	total      int64    // the object's length
	validator  string   // its strong validator, "" if none
	hit        bool     // from the store
	tier       storage.Tier
	res        *fillResult // the fetch, when there was one
	leader     bool        // this request started that fetch
	// stream, when set, is the body of the object's whole 200, too large
	// to store, that stands in for the slice (fromWhole): read forward
	// only, pos bytes in, and closed by closer.
	stream io.Reader
	pos    int64
	closer io.Closer
}

// close gives back what s holds.
func (s *slice) close() {
	if s.file != nil {
		_ = s.file.Close()
		s.file = nil
	}
	if s.closer != nil {
		_ = s.closer.Close()
		s.closer = nil
	}
	s.held.release()
}

// holds reports whether s holds all of slice i (of slices of size bytes):
// it is slice i, or the object's whole 200 (fromWhole).
func (s *slice) holds(i, size int64) bool {
	first, last := sliceBounds(i, size)
	return s.start <= first && min(last, s.total-1) <= s.end
}

// sliceBounds is the first and last byte of slice i of slices of size
// bytes, inclusive.
func sliceBounds(i, size int64) (first, last int64) {
	first = i * size
	last = first + size - 1
	if last < first {
		last = math.MaxInt64 // a range near the int64 limit, where no object ends
	}
	return first, last
}

// serveSliced answers a GET or HEAD on a sliced route: it gets the first
// slice the response needs, which tells the object's length and validator,
// evaluates the client's preconditions and ranges against them (RFC 9110
// §13, §14), and sends the bytes asked for from the slices that hold them.
func (x *exchange) serveSliced() {
	r := x.r
	if policy.RequestNoStore(r.Header) {
		// RFC 9111 §5.2.1.5: nothing of this exchange is stored.
		x.cs = policy.CacheStatus{Fwd: policy.FwdRequest, Detail: policy.DetailRequestNoStore}
		x.pass()
		return
	}
	if !policy.OnlyIfCached(r.Header) && x.h.uncacheable.marked(x.key(), x.h.opts.Now()) {
		// Its slices proved not storable a moment ago (readSlice): the
		// upstream answers the client's own Range, rather than a slice
		// per request that nobody else may share.
		x.cs = policy.CacheStatus{Fwd: policy.FwdBypass}
		x.pass()
		return
	}
	s := x.newSlicer()
	ranges, ranged := x.requestedRanges()
	first := int64(0)
	var (
		sl    *slice
		whole *wholeAnswer
		err   error
	)
	if ranged && len(ranges) == 1 && ranges[0].first >= 0 {
		first = ranges[0].first / s.size // a suffix needs the length: slice 0 tells it
		if first > 0 {
			// A stored slice answers at once, as get would. Only one
			// that would be fetched asks slice 0 whether the range
			// starts past the object's end: then slice 0 answers (416),
			// no upstream request for a slice that does not exist.
			sl, whole = s.stored(string(s.object.Slice(first)), first, false)
			if sl == nil && whole == nil && s.pastEnd(ranges[0].first) {
				first = 0
			}
		}
	}
	if sl == nil && whole == nil {
		sl, whole, err = s.get(first, true)
	}
	if err != nil {
		x.sliceFailed(err)
		return
	}
	if whole != nil {
		if sl = s.rangeOfStream(whole, ranged); sl == nil {
			x.serveWhole(whole)
			return
		}
	}
	defer sl.close()
	s.total, s.validator = sl.total, sl.validator
	x.sliceStatus(sl)
	if d := s.stale; d != nil && !sl.hit && d.Fwd != "" {
		// Why the stored slice was not used (RFC 9211 §2.2, §2.8).
		x.cs.Fwd = d.Fwd
		if x.cs.Detail == "" {
			x.cs.Detail = d.Detail
		}
	}
	stored := sliceResponse(sl.e)
	hdr := x.sliceHeader(sl, stored)
	switch policy.Precondition(r, stored) {
	case http.StatusNotModified:
		writeNotModified(&x.w)
		return
	case http.StatusPreconditionFailed:
		clearContentFields(hdr)
		x.w.WriteHeader(http.StatusPreconditionFailed)
		return
	}
	if ranged && !ifRangeHolds(r.Header, sl.e.Header) {
		ranged = false // RFC 9110 §13.1.5: the representation changed: the whole of it
	}
	var pieces []piece
	if ranged {
		for _, br := range ranges {
			if a, b, ok := br.resolve(s.total); ok {
				if n := len(pieces); n > 0 && a <= pieces[n-1].last {
					// Overlapping ranges, or ranges out of order, would
					// send bytes or visit slices again, each visit of an
					// unstored slice costing the upstream a whole slice:
					// RFC 9110 §14.2 lets a server ignore them.
					ranged = false
				}
				pieces = append(pieces, piece{a, b})
			}
		}
		if !ranged {
			pieces = nil
		}
		if ranged && len(pieces) == 0 {
			// RFC 9110 §15.5.17: none satisfiable.
			clearContentFields(hdr)
			hdr.Set("Content-Range", "bytes */"+strconv.FormatInt(s.total, 10))
			x.w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
	}
	if ranged && sl.stream != nil && skipsFar(pieces) {
		// A whole 200 read forward for a range far into it (an origin
		// that ignores Range there): its bytes before the range would be
		// read and dropped while the client waits, an origin transfer a
		// client's request could make of any length for a few bytes
		// sent. The whole 200 is sent instead, at the client's pace (RFC
		// 9110 §14.2 lets a server ignore Range), as it was before
		// ranges were taken from the stream.
		ranged, pieces = false, nil
	}
	if !ranged {
		pieces = []piece{{0, s.total - 1}}
	}
	if s.validator == "" && !within(pieces, sl) {
		// RFC 9111 §3.4: without a strong validator, no two fetches of
		// the object may be combined into one response.
		clear(hdr)
		x.cs = policy.CacheStatus{Fwd: policy.FwdBypass, Detail: policy.DetailSliceNoValidator}
		x.pass()
		return
	}
	if policy.OnlyIfCached(r.Header) && !s.storedAll(sl, pieces) {
		// RFC 9111 §5.2.1.7: a stored response or 504, not a response
		// cut where a slice it needs turns out not to be stored.
		clear(hdr)
		x.cs = policy.CacheStatus{Fwd: policy.FwdURIMiss, Detail: policy.DetailOnlyIfCached}
		x.respondError(http.StatusGatewayTimeout, "only-if-cached: not in cache")
		return
	}
	s.send(sl, hdr, pieces, ranged)
}

// storedAll reports whether every slice that pieces cover, besides first,
// is stored, usable, and of first's version (validator and length), as a
// slice or in the object's whole 200.
func (s *slicer) storedAll(first *slice, pieces []piece) bool {
	// wholeHolds: the object's whole 200, stored in slice 0's place, holds
	// every slice (fromWhole), as next would find it; looked up once, at
	// the first slice not stored on its own.
	var wholeChecked, wholeHolds bool
	for _, p := range pieces {
		for i := p.first / s.size; i <= p.last/s.size; i++ {
			if first.holds(i, s.size) {
				continue
			}
			sl, _ := s.stored(string(s.object.Slice(i)), i, false)
			if sl == nil {
				if !wholeChecked {
					wholeChecked = true
					if _, whole := s.stored(string(s.object.Slice(0)), 0, true); whole != nil {
						if sl, ok := s.fromWhole(whole); ok {
							sl.close()
							wholeHolds = true
						}
					}
				}
				if !wholeHolds {
					return false
				}
				continue
			}
			same := sl.total == s.total && sl.validator == s.validator
			sl.close()
			if !same {
				return false
			}
		}
	}
	return true
}

// pastEnd reports whether a stored, usable slice 0 says the object ends
// before offset, so that a range from there is answered 416 from it
// rather than by an upstream request for a slice that does not exist.
func (s *slicer) pastEnd(offset int64) bool {
	sl, _ := s.stored(string(s.object.Slice(0)), 0, false)
	if sl == nil {
		return false
	}
	defer sl.close()
	return offset >= sl.total
}

// piece is one range of the object's bytes to send, inclusive.
type piece struct{ first, last int64 }

// within reports whether sl holds every byte of pieces.
func within(pieces []piece, sl *slice) bool {
	for _, p := range pieces {
		if p.first < sl.start || p.last > sl.end {
			return false
		}
	}
	return true
}

// newSlicer prepares the fetches of x's object's slices. Each asks for
// identity: a slice is a range of the one representation every client can
// take (RFC 9110 §12.5.3), so that Vary: Accept-Encoding changes nothing.
func (x *exchange) newSlicer() *slicer {
	x.found = lookupResult{key: x.key()}
	base := x.newFetch()
	base.out.Header.Set("Accept-Encoding", "identity")
	base.request.Header.Set("Accept-Encoding", "identity") // the same map, or a copy with the route's credentials
	return &slicer{x: x, size: x.route.Cache.Slice, object: policy.Key(x.key()), base: base}
}

// requestedRanges reads a GET's Range field (RFC 9110 §14.2); ranged is
// false when the whole representation is to be sent.
func (x *exchange) requestedRanges() (ranges []byteRange, ranged bool) {
	v := firstValue(x.r.Header, "Range")
	if x.r.Method != http.MethodGet || v == "" {
		return nil, false
	}
	return parseRangeSet(v)
}

// sliceStatus sets x.cs from how the first slice was got.
func (x *exchange) sliceStatus(sl *slice) {
	if sl.hit {
		x.cs = policy.CacheStatus{Hit: true, HasTTL: true, TTL: x.ttl(sl.e)}
		return
	}
	x.fetchedStatus(sl.res, sl.leader)
}

// fetchedStatus sets x.cs for a response that res fetched.
func (x *exchange) fetchedStatus(res *fillResult, leader bool) {
	x.upstreamAddr, x.firstByte = res.upstream, res.firstByte
	x.cs = policy.CacheStatus{Fwd: policy.FwdURIMiss, FwdStatus: res.status, Collapsed: !leader,
		Stored: res.stored, HasTTL: res.stored, TTL: res.ttl}
	if !res.stored {
		x.cs.Detail = res.reason
	}
}

// sliceHeader puts the object's fields, from its first slice, on the
// response to the client.
func (x *exchange) sliceHeader(sl *slice, stored policy.Response) http.Header {
	h, hdr := x.h, x.w.Header()
	for k, v := range sl.e.Header {
		hdr[k] = v[:len(v):len(v)] // e is shared: an append must copy
	}
	delete(hdr, "Content-Range")
	delete(hdr, "Content-Length")
	hdr.Set("Accept-Ranges", "bytes")
	policy.ClientHeader(hdr, h.opts.Policy)
	// RFC 9111 §5.1: a response generated from stored ones carries Age.
	hdr["Age"] = h.ageValue(policy.Age(stored, h.opts.Now()))
	x.setCacheStatus(sl.e.Header)
	if sl.res != nil && sl.leader {
		// The fields kept from the stored slice (policy.OwnHeader: Set-Cookie,
		// private="..." and no-cache="..." names) go to the request that
		// fetched the slice whose fields head the response, as serveEntry
		// sends them to the one that fetched a whole response; slices
		// fetched after the head was sent cannot add theirs.
		addOwn(hdr, sl.res.own)
	}
	return hdr
}

// serveWhole answers from the object's own response: what an upstream
// that ignores Range, or answers with other than 206, sent.
func (x *exchange) serveWhole(w *wholeAnswer) {
	switch {
	case w.res != nil && w.res.stream != nil:
		// Larger than max_object: streamed to the request that fetched
		// it; any other asks the upstream itself.
		if w.leader {
			x.fetchedStatus(w.res, true)
			x.streamFill(w.res)
			return
		}
		x.cs = policy.CacheStatus{Fwd: policy.FwdBypass, Detail: w.res.reason}
		x.pass()
	case w.e.Status == http.StatusRequestedRangeNotSatisfiable && firstValue(x.r.Header, "Range") == "":
		// The upstream's 416 answered a slice's range: the object is
		// empty, or shrank; the client asked for all of it.
		x.cs = policy.CacheStatus{Fwd: policy.FwdBypass}
		x.pass()
	case w.res != nil:
		x.fetchedStatus(w.res, w.leader)
		var own http.Header
		if w.leader {
			own = w.res.own
		}
		x.serveEntry(w.e, storage.TierNone, ageNow, own)
	default:
		x.cs = policy.CacheStatus{Hit: true, HasTTL: true, TTL: x.ttl(w.e)}
		x.serveEntry(w.e, w.tier, ageNow, nil)
	}
}

// sliceFailed answers a request whose first slice could not be got.
func (x *exchange) sliceFailed(err error) {
	switch {
	case errors.Is(err, errClientGone):
		x.clientLeft()
	case errors.Is(err, errOnlyIfCached):
		// RFC 9111 §5.2.1.7: a stored response or 504.
		x.cs = policy.CacheStatus{Fwd: policy.FwdURIMiss, Detail: policy.DetailOnlyIfCached}
		x.respondError(http.StatusGatewayTimeout, "only-if-cached: not in cache")
	case errors.Is(err, errSliceBudget):
		// Past the budget for bodies in memory: the upstream answers the
		// client's own request, streamed through a small buffer and not
		// stored, as a whole fill past the budget is (fetch.read). A 503
		// here let one client's concurrent cold slices (a byte each,
		// each fetch holding a slice of the budget) refuse every other
		// client of every sliced route.
		x.h.metrics.overBudget.Inc()
		x.cs = policy.CacheStatus{Fwd: policy.FwdBypass, Detail: policy.DetailMemoryBudget}
		x.pass()
	default:
		x.cs = policy.CacheStatus{Fwd: policy.FwdURIMiss}
		x.respondUpstreamError(err)
	}
}

// send writes the response: pieces of the object from its slices, first
// among them; one piece as a 206 with Content-Range (RFC 9110 §14.4), more
// as multipart/byteranges (§14.6), the whole as a 200.
func (s *slicer) send(first *slice, hdr http.Header, pieces []piece, ranged bool) {
	x := s.x
	w := &x.w
	head := x.r.Method == http.MethodHead
	s.sending = true
	var err error
	defer func() {
		if s.cur != nil {
			s.cur.close()
		}
	}()
	switch {
	case !ranged:
		hdr.Set("Content-Length", strconv.FormatInt(s.total, 10))
		w.WriteHeader(http.StatusOK)
		if !head {
			err = s.copyRange(w, pieces[0], first)
		}
	case len(pieces) == 1:
		p := pieces[0]
		hdr.Set("Content-Range", contentRange(p.first, p.last, s.total))
		hdr.Set("Content-Length", strconv.FormatInt(p.last-p.first+1, 10))
		w.WriteHeader(http.StatusPartialContent)
		if !head {
			err = s.copyRange(w, p, first)
		}
	default:
		mw := multipart.NewWriter(w)
		ctype := hdr.Get("Content-Type")
		hdr.Set("Content-Type", "multipart/byteranges; boundary="+mw.Boundary())
		w.WriteHeader(http.StatusPartialContent)
		for _, p := range pieces {
			part := textproto.MIMEHeader{"Content-Range": {contentRange(p.first, p.last, s.total)}}
			if ctype != "" {
				part["Content-Type"] = []string{ctype}
			}
			var pw io.Writer
			if pw, err = mw.CreatePart(part); err == nil {
				err = s.copyRange(pw, p, first)
			}
			if err != nil {
				break
			}
		}
		if err == nil {
			err = mw.Close()
		}
	}
	if err != nil {
		if !errors.Is(err, errClientWrite) && !errors.Is(err, errClientGone) {
			x.h.log.Warn("sliced response cut", "host", x.r.Host, "path", x.r.URL.Path, "err", err)
		}
		// The head is gone: cut the response so the client sees it
		// incomplete, never a short or spliced one that looks whole.
		panic(http.ErrAbortHandler)
	}
}

// copyRange writes bytes p of the object to w from the slices that hold
// them, in order; first is a slice got already.
func (s *slicer) copyRange(w io.Writer, p piece, first *slice) error {
	for i := p.first / s.size; i <= p.last/s.size; i++ {
		sl := first
		if !first.holds(i, s.size) {
			if s.cur == nil || !s.cur.holds(i, s.size) {
				if s.cur != nil {
					s.cur.close() // one slice besides the first held at a time
					s.cur = nil
				}
				var err error
				if s.cur, err = s.next(i); err != nil {
					return err
				}
			}
			sl = s.cur
		}
		// Slice i's bytes of p: sl may hold more (the whole object).
		first, last := sliceBounds(i, s.size)
		from, to := max(p.first, sl.start, first), min(p.last, sl.end, last)
		err := s.write(w, sl, from-sl.start, to-from+1)
		if err != nil {
			return err
		}
		s.sent += to - from + 1
		s.x.h.metrics.served(sl.tier, int(to-from+1))
	}
	return nil
}

// write sends n bytes of sl from offset off.
func (s *slicer) write(w io.Writer, sl *slice, off, n int64) error {
	if sl.stream != nil {
		return sl.copyStream(w, off, n, max(maxStreamSkip, s.sent))
	}
	if sl.file == nil {
		if off+n > int64(len(sl.e.Body)) {
			return io.ErrUnexpectedEOF // never a short piece sent as whole
		}
		if _, err := w.Write(sl.e.Body[off : off+n]); err != nil {
			return errors.Join(errClientWrite, err)
		}
		return nil
	}
	if _, err := sl.file.Seek(off, io.SeekStart); err != nil {
		return err
	}
	src := &io.LimitedReader{R: sl.file, N: n}
	var sent int64
	var err error
	if rf, ok := w.(io.ReaderFrom); ok {
		// sendfile(2) where the connection allows. The count it returns
		// says what was sent: trackedWriter.ReadFrom takes the file out
		// of src to send it in chunks, so src.N is not moved.
		sent, err = rf.ReadFrom(src)
	} else {
		sent, err = io.Copy(w, src)
	}
	if err == nil && sent < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// copyStream writes n bytes of the stream sl holds from offset off, past
// the bytes read already: the pieces of a response ascend (serveSliced).
// It drops at most maxSkip bytes before off: more is errStreamSkip, with
// nothing read.
func (sl *slice) copyStream(w io.Writer, off, n, maxSkip int64) error {
	if off < sl.pos {
		return fmt.Errorf("bytes from %d of a stream read to %d: %w", off, sl.pos, errSliceRange)
	}
	if off-sl.pos > maxSkip {
		return fmt.Errorf("bytes from %d of a stream read to %d: %w", off, sl.pos, errStreamSkip)
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	for _, c := range []struct {
		w io.Writer
		n int64
	}{{io.Discard, off - sl.pos}, {writerOnly{w}, n}} {
		// writerOnly tells the client's write errors from the upstream's.
		copied, err := io.CopyBuffer(c.w, io.LimitReader(sl.stream, c.n), *buf)
		sl.pos += copied
		if err != nil {
			return err
		}
		if copied < c.n {
			// Never a short piece sent as whole.
			return fmt.Errorf("the whole object's body ended at %d: %w", sl.pos, io.ErrUnexpectedEOF)
		}
	}
	return nil
}

// next gets slice i for a response whose first slice set s.total and
// s.validator. A stored slice of another version is dropped and fetched
// again; a fetched one of another version means the object changed
// upstream: all its slices are dropped (errSliceChanged). The object's
// whole 200 where the slice was asked for (an origin that honours Range
// only at some offsets) serves the slice, and the rest, when it is of the
// response's version (fromWhole).
func (s *slicer) next(i int64) (*slice, error) {
	for _, lookup := range []bool{true, false} {
		sl, whole, err := s.get(i, lookup)
		if err != nil {
			return nil, err
		}
		if whole == nil && sl.total == s.total && sl.validator == s.validator && sl.validator != "" {
			return sl, nil
		}
		if whole != nil {
			if sl, ok := s.fromWhole(whole); ok {
				return sl, nil
			}
		}
		if sl != nil {
			sl.close()
		}
		if whole == nil && sl.hit {
			s.x.h.forget(sl.e.Key)
			continue
		}
		if whole != nil && whole.res == nil {
			s.x.h.forget(whole.e.Key) // a stored whole of another version
			continue
		}
		if whole != nil && whole.res != nil {
			whole.res.release(whole.leader) // a stream nobody will read
		}
		break
	}
	if _, err := s.x.h.store.DeletePrefix(s.object.SliceFamily()); err != nil {
		s.x.h.log.Warn("cache delete", "key", s.object.SliceFamily(), "err", err)
	}
	return nil, errSliceChanged
}

// fromWhole makes w, the object's own answer got where a slice after the
// first was asked for, a slice that holds every byte of the object, when
// it is the representation the response is being made of: a 200 with the
// response's strong validator and length (RFC 9111 §3.4). An origin, or a
// CDN before it, that honours bytes=0-N but answers a later range with
// the whole 200 (RFC 9110 §14.2 lets it), or honours ranges only below
// some offset, then still completes the response: its bytes are taken at
// the slices' offsets. A 200 too large to store is read forward from the
// stream, by the request that started its fetch alone (fetch gets the
// others their own). ok is false for any other answer (the object
// changed, an error status).
func (s *slicer) fromWhole(w *wholeAnswer) (*slice, bool) {
	var (
		status int
		hdr    http.Header
		length int64
	)
	stream := w.res != nil && w.res.stream != nil
	if stream {
		status, hdr, length = w.res.stream.StatusCode, w.res.stream.Header, w.res.stream.ContentLength
	} else {
		status, hdr, length = w.e.Status, w.e.Header, w.e.BodyLen()
	}
	v := sliceValidator(hdr)
	// The response's length, or a stream's of unknown length: one that
	// ends short cuts the response (copyStream), one that is longer gives
	// only the bytes asked for.
	lengthMatches := length == s.total || stream && length < 0
	if status != http.StatusOK || v == "" || v != s.validator || !lengthMatches {
		return nil, false
	}
	if stream {
		sl := s.streamSlice(w, s.total)
		return sl, sl != nil
	}
	sl := &slice{index: -1, e: w.e, start: 0, end: s.total - 1, total: s.total, validator: v,
		hit: w.res == nil, tier: w.tier, res: w.res, leader: w.leader}
	if !s.openBody(sl) {
		return nil, false
	}
	return sl, true
}

// rangeOfStream makes w, the object's whole 200 too large to store, got
// where the first slice of a range request was asked for, the slice that
// heads the response, so that the client gets the 206 of the bytes it
// asked for (RFC 9110 §14.2) rather than the whole object from byte 0
// (a player seeking in a large video, behind an origin that honours
// Range only at offset 0). Nil when w is not such a stream of known
// length for this request, the one that fetched it: serveWhole answers.
func (s *slicer) rangeOfStream(w *wholeAnswer, ranged bool) *slice {
	if !ranged || w.res == nil || w.res.stream == nil ||
		w.res.stream.StatusCode != http.StatusOK || w.res.stream.ContentLength < 0 {
		return nil
	}
	return s.streamSlice(w, w.res.stream.ContentLength) // nil unless this request is w's leader
}

// maxStreamSkip is the most bytes of a whole 200 read forward (a stream
// slice) that a response may read and drop before or between its ranges.
const maxStreamSkip = 64 << 20

// errStreamSkip: a whole 200 read forward answered a slice further into
// the object than a response may drop bytes to reach. It answers a slice
// after the response's head went out (next: an origin that gave a 206 for
// one slice and the whole 200 for a later one), so the response is cut
// (send): reading and dropping every byte before the slice, with no bound
// but the object's length, would cost the origin that much for the bytes
// of a small range. The bound is maxStreamSkip or the body bytes the
// response sent already, whichever is more: a whole GET, whose client
// takes every byte before the slice, is completed.
var errStreamSkip = errors.New("a whole 200 answered a slice too far into the object to drop the bytes before it")

// skipsFar reports whether pieces, ascending, leave more than
// maxStreamSkip bytes unsent before or between them.
func skipsFar(pieces []piece) bool {
	pos := int64(0)
	for _, p := range pieces {
		if p.first-pos > maxStreamSkip {
			return true
		}
		pos = p.last + 1
	}
	return false
}

// streamSlice claims w's stream, a 200 of total bytes, as a slice that
// holds the whole object, read forward only; nil when this request may
// not read it (another's, or taken already). Its entry carries the
// upstream's fields as they came, for this one request, as streamFill
// sends them.
func (s *slicer) streamSlice(w *wholeAnswer, total int64) *slice {
	res := w.res
	if !w.leader || !res.claim() {
		return nil
	}
	res.unbind() // as streamFill: the client's pace bounds it now
	// The bytes before a piece are read and dropped (copyStream), with no
	// client write to fail: the client's going away closes the stream.
	// Before, a client that asked for the last bytes of a huge object and
	// left had the edge read it all from the origin, with no deadline.
	body := res.stream.Body
	stop := context.AfterFunc(s.x.r.Context(), func() { _ = body.Close() })
	now := s.x.h.opts.Now()
	e := &storage.Entry{Key: string(s.object.Slice(0)), Status: http.StatusOK, Header: res.stream.Header, RequestTime: now, ResponseTime: now}
	return &slice{index: -1, e: e, start: 0, end: total - 1, total: total, validator: sliceValidator(res.stream.Header),
		tier: storage.TierNone, res: res, leader: true,
		stream: io.MultiReader(bytes.NewReader(res.prefix), body), closer: stopCloser{stop, body}}
}

// stopCloser closes c once stop reports that context.AfterFunc had not
// closed it already.
type stopCloser struct {
	stop func() bool
	c    io.Closer
}

func (s stopCloser) Close() error {
	if !s.stop() {
		return nil // closed by the AfterFunc
	}
	return s.c.Close()
}

// errClientGone: the client went away while a slice was being got.
var errClientGone = errors.New("client went away")

// errOnlyIfCached: a slice the response needs is not stored, and the
// client said only-if-cached.
var errOnlyIfCached = errors.New("slice not in cache")

// wholeAnswer is the object's own response where a slice was expected.
type wholeAnswer struct {
	e      *storage.Entry
	tier   storage.Tier
	res    *fillResult // the fetch that got it, if any
	leader bool
}

// get gets slice i: from the store when lookup is set and a usable one is
// stored, else through the one shared fetch of the slice. whole is set
// instead when the object's answer is not a slice (see slicefetch.go):
// for i > 0, a whole answer stored under slice 0 is also looked for. A
// lookup that a flight of the slice outran is done again (flights.join),
// maxLooks times in all at most.
func (s *slicer) get(i int64, lookup bool) (sl *slice, whole *wholeAnswer, err error) {
	x := s.x
	key := string(s.object.Slice(i))
	var res *fillResult
	leader := false
	for looks := 1; res == nil; looks++ {
		since := uint64(anyEnd)
		if lookup && looks < maxLooks {
			since = x.h.flights.seen()
		}
		if lookup {
			if sl, whole := s.stored(key, i, false); sl != nil || whole != nil {
				return sl, whole, nil
			}
			if i > 0 {
				if _, whole := s.stored(string(s.object.Slice(0)), 0, true); whole != nil {
					return nil, whole, nil
				}
			}
		}
		if policy.OnlyIfCached(x.r.Header) {
			return nil, nil, errOnlyIfCached
		}
		var stale *storage.Entry
		if e := s.staleSlice; e != nil && e.Key == key {
			stale = e
		}
		if res, leader, err = s.fetch(i, key, stale, since); err != nil {
			return nil, nil, err
		}
	}
	if res.err != nil {
		res.release(leader)
		return nil, nil, res.err
	}
	if res.stream != nil || res.entry.Status != http.StatusPartialContent {
		return nil, &wholeAnswer{e: res.entry, res: res, leader: leader}, nil
	}
	sl, ok := newSlice(i, res.entry)
	if !ok {
		return nil, nil, errSliceRange
	}
	sl.res, sl.leader, sl.tier = res, leader, storage.TierNone
	if !s.openBody(sl) {
		return nil, nil, fmt.Errorf("refreshed slice %d: body file gone: %w", i, storage.ErrNotFound)
	}
	return sl, nil, nil
}

// stored returns the usable entry stored under key, slice i: a slice
// (unless wholeOnly), or the object's whole answer. Usable means fresh for
// this request (RFC 9111 §4.2); a stale one is fetched again.
func (s *slicer) stored(key string, i int64, wholeOnly bool) (*slice, *wholeAnswer) {
	x := s.x
	held := &hold{b: &x.h.bodies}
	e, tier, err := x.h.store.GetWithin(key, held)
	if err != nil {
		x.h.storeError("get", key, err)
		held.release()
		return nil, nil
	}
	if wholeOnly && e.Status == http.StatusPartialContent {
		held.release()
		return nil, nil
	}
	d := policy.Decide(x.r.Header, sliceResponse(e), x.h.opts.Now(), *x.rules())
	if d.Action != policy.Serve && (d.Action != policy.ServeStale || d.Background) {
		held.release()
		s.stale = &d
		if _, ok := newSlice(i, e); ok && sliceValidator(e.Header) != "" {
			s.staleSlice = e
		}
		return nil, nil
	}
	if e.Status != http.StatusPartialContent {
		held.release() // serveEntry holds what a disk hit needs itself
		return nil, &wholeAnswer{e: e, tier: tier}
	}
	sl, ok := newSlice(i, e)
	if !ok {
		held.release()
		return nil, nil
	}
	sl.hit, sl.tier, sl.held = true, tier, held
	if !s.openBody(sl) {
		held.release()
		return nil, nil // fetched again
	}
	return sl, nil
}

// openBody opens sl's body file, when the disk tier keeps its body in one
// (a stored slice, or one a 304 refreshed). It reports false when the file
// is gone since the record was read, or damaged.
func (s *slicer) openBody(sl *slice) bool {
	if !sl.e.InFile() {
		return true
	}
	f, err := sl.e.OpenBody()
	if err != nil {
		s.x.h.storeError("open body", sl.e.Key, err)
		if errors.Is(err, storage.ErrCorrupt) {
			s.x.h.forget(sl.e.Key)
		}
		return false
	}
	sl.file = f
	return true
}

// newSlice reads what a slice entry holds; ok is false when it is not
// slice i.
func newSlice(i int64, e *storage.Entry) (*slice, bool) {
	start, end, total, ok := parseContentRange(e.Header.Get("Content-Range"))
	if !ok || total < 0 || start < 0 || e.BodyLen() != end-start+1 {
		return nil, false
	}
	return &slice{index: i, e: e, start: start, end: end, total: total, validator: sliceValidator(e.Header)}, true
}

// fetch runs, or joins, the one upstream fetch of slice i under key. A
// result that may not be shared (a private slice) is fetched again for a
// request that did not start it. since is flights.join's: a nil result
// without an error says that a flight of the slice ended after since, and
// nothing was fetched.
func (s *slicer) fetch(i int64, key string, stale *storage.Entry, since uint64) (*fillResult, bool, error) {
	x := s.x
	h, r := x.h, x.r
	if !h.uncacheable.marked(key, h.opts.Now()) {
		release, ok := h.slots.acquire(r.Context(), h.client(r))
		if !ok {
			return nil, false, errClientGone
		}
		fl, leader := s.join(i, key, stale, since, x.holdRoutes(release))
		if fl == nil {
			return nil, false, nil
		}
		if !leader {
			h.metrics.coalesced.Inc()
		}
		select {
		case <-fl.done:
		case <-r.Context().Done():
			return nil, false, errClientGone
		}
		// A stream goes to one reader, the leader: a request that sent its
		// head already (next) cannot pass instead, as serveWhole does.
		if res := fl.res; leader || res.err != nil || res.stream != nil && !s.sending || res.shared && s.matches(res) && s.reusableResult(res) {
			return res, leader, nil
		}
		// Not for sharing (private, or not storable as a slice), a whole
		// answer selected by fields this request does not match, or one
		// that needs validation before another request may use it: this
		// request fetches its own, as if it had arrived alone.
	}
	release, ok := h.slots.acquire(r.Context(), h.client(r))
	if !ok {
		return nil, false, errClientGone
	}
	defer x.holdRoutes(release)()
	return s.run(i, key, stale), true, nil
}

// reusableResult is exchange.takesResult for this request.
func (s *slicer) reusableResult(res *fillResult) bool {
	ok, _ := s.x.takesResult(res)
	return ok
}

// matches reports whether res, a shared fetch's result, answers this
// request: a whole answer stored as a variant (fetch.keep) was selected by
// the leader's request fields, which this one must match (RFC 9111 §4.1).
func (s *slicer) matches(res *fillResult) bool {
	return res.varyNames == nil || res.entry.Key == string(s.object.Variant(res.varyNames, s.x.r.Header))
}

// join runs, or joins, the one shared fetch of slice i under key; release
// gives back the fetch slot taken for it, when the fetch ends or at once
// when another request's fetch is joined or none is started (a nil flight:
// see flights.join for since).
func (s *slicer) join(i int64, key string, stale *storage.Entry, since uint64, release func()) (*flight, bool) {
	x := s.x
	fl, leader := x.h.flights.join(flightKey(key, x.r.Header, x.identity), key, since, func(*progress) *fillResult {
		defer release() // the slot is the fetch's until it ends, client or not
		return s.run(i, key, stale)
	})
	if !leader {
		release()
	}
	return fl, leader
}

// run fetches slice i, stored under key, validating stale if not nil, on
// a copy of the object's fetch (whose fields a fetch sets as it runs). It
// reads nothing of the request: a flight runs it after its leader may have
// gone.
func (s *slicer) run(i int64, key string, stale *storage.Entry) *fillResult {
	f := *s.base
	f.storeKey, f.stale = key, stale
	first, last := sliceBounds(i, s.size)
	return f.runSlice(first, last, string(s.object.Slice(0)))
}
