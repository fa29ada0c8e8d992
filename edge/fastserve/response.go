package fastserve

import (
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// response is the http.ResponseWriter of one request. It writes what
// net/http's response would (server.go's chunkWriter.writeHeader is the
// reference), for an HTTP/1.1 request without a body. Its conn reuses it
// from one request to the next.
type response struct {
	c      *conn
	isHead bool
	// wantsClose: the request said Connection: close.
	wantsClose bool

	// header is the handler's map; sent, once the head is written, is
	// the copy taken when the handler could still change it after
	// WriteHeader (as net/http snapshots it).
	header, sent  http.Header
	calledHeader  bool
	wroteHeader   bool // WriteHeader was called (logically)
	headWritten   bool // the head is in c.out or on the wire
	handlerDone   bool
	status        int
	contentLength int64 // -1: unknown
	written       int64
	chunking      bool
	closeAfter    bool
	// pending is the body written before the head was: up to
	// bufferBeforeChunking bytes decide Content-Length and Content-Type.
	pending []byte
	// trailers are the names the Trailer field declared.
	trailers []string
	// setDeadline: the handler moved the write deadline, which must not
	// outlive its request.
	setDeadline bool
	// held is how much of the body net/http's 2 KiB response buffer would
	// hold now, and passed whether it would have passed anything on (the
	// head with it), lastChunk the length of the last chunk emitted: what a
	// panic leaves the client, as net/http flushes only what got past that
	// buffer (abortedOutput).
	held   int
	passed bool
	// heldAt is where in the connection's output the bytes net/http would
	// hold begin, while out has not been emptied since (heldGen).
	heldAt, heldGen int
}

// bufferBeforeChunking is net/http's bufferBeforeChunkingSize: a body that
// ends within it is sent with a Content-Length.
const bufferBeforeChunking = 2048

// sniffLen is how much of a body http.DetectContentType reads.
const sniffLen = 512

func (w *response) reset(c *conn, isHead, wantsClose bool) {
	clear(w.header)
	*w = response{c: c, isHead: isHead, wantsClose: wantsClose, header: w.header,
		contentLength: -1, pending: w.pending[:0], trailers: w.trailers[:0]}
	if w.header == nil {
		w.header = make(http.Header, 16)
	}
}

func (w *response) Header() http.Header {
	if w.wroteHeader && !w.headWritten && w.sent == nil {
		w.sent = w.header.Clone() // what WriteHeader meant is what goes out
	}
	w.calledHeader = true
	return w.header
}

func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		w.c.srv.logf("http: superfluous response.WriteHeader call from %s", callerOutside())
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// RFC 9110 §15.2: an interim response goes out at once, with the
		// fields set so far (RFC 8297), the map kept for the final one.
		w.c.out = appendStatusLine(w.c.out, code)
		w.c.out = w.c.appendFields(w.c.out, w.header, excludeNoBody)
		w.c.out = append(w.c.out, "\r\n"...)
		_ = w.c.flushOut()
		return
	}
	w.wroteHeader = true
	w.status = code
	if cl := headerGet(w.header, "Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.c.srv.logf("http: invalid Content-Length of %q", cl)
			delete(w.header, "Content-Length")
		}
	}
	if w.headKnown() {
		// Nothing the body could change remains: the head is written
		// now, so no copy of the map is needed to keep it as it is.
		w.writeHead(nil)
		return
	}
	if w.calledHeader {
		w.sent = w.header.Clone()
	}
}

// headKnown reports whether the head can be written before any body: the
// status allows none, or the length and type are set.
func (w *response) headKnown() bool {
	if !bodyAllowedForStatus(w.status) {
		return true
	}
	if w.contentLength < 0 || headerGet(w.header, "Transfer-Encoding") != "" || hasTrailers(w.header) {
		return false
	}
	_, haveType := w.header["Content-Type"]
	return haveType || headerGet(w.header, "Content-Encoding") != ""
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.track(len(p))
	if w.c.werr != nil {
		return 0, w.c.werr
	}
	if !w.headWritten {
		if len(w.pending)+len(p) <= bufferBeforeChunking {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.writeHead(w.sniffable(p))
		w.emit(w.pending)
		w.pending = w.pending[:0]
	}
	w.emit(p)
	w.markHeld(len(p))
	if w.c.werr != nil {
		return 0, w.c.werr
	}
	return len(p), nil
}

// markHeld notes where in the output the bytes net/http would hold begin,
// after a write of n bytes was emitted.
func (w *response) markHeld(n int) {
	c := w.c
	switch {
	case w.held == 0 || w.isHead:
	case w.held <= n: // they begin in this write
		w.heldAt, w.heldGen = 0, c.emptied
		if c.sentAt >= 0 {
			w.heldAt = c.sentAt + n - w.held
		}
	case w.heldGen != c.emptied: // in a write already sent
		w.heldAt, w.heldGen = 0, c.emptied
	}
}

// track follows n body bytes through net/http's response buffer (a
// bufio.Writer of bufferBeforeChunking bytes): a write too large for what
// is left fills it and flushes it, and one larger than the empty buffer
// goes straight through.
func (w *response) track(n int) {
	for n > bufferBeforeChunking-w.held {
		w.passed = true
		if w.held == 0 {
			return
		}
		n -= bufferBeforeChunking - w.held
		w.held = 0
	}
	w.held += n
}

// WriteString lets io.WriteString skip a copy.
func (w *response) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

// sniffable is the start of the body: pending, then p.
func (w *response) sniffable(p []byte) []byte {
	if len(w.pending) == 0 {
		return p
	}
	if len(w.pending) >= sniffLen {
		return w.pending
	}
	n := min(len(p), sniffLen-len(w.pending))
	return append(w.pending[:len(w.pending):len(w.pending)], p[:n]...)
}

// emit puts p on the connection as body bytes (framed when chunking). A
// HEAD's body is dropped once the head is decided, as net/http does.
func (w *response) emit(p []byte) {
	if len(p) == 0 || w.isHead || w.c.werr != nil {
		return
	}
	c := w.c
	if !w.chunking {
		c.send(p)
		return
	}
	c.out = strconv.AppendInt(c.out, int64(len(p)), 16)
	c.out = append(c.out, "\r\n"...)
	c.send(p)
	c.out = append(c.out, "\r\n"...)
}

// FlushError sends the head and everything written so far.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.held, w.passed = 0, true
	if !w.headWritten {
		w.writeHead(w.pending)
		w.emit(w.pending)
		w.pending = w.pending[:0]
	}
	return w.c.flushOut()
}

func (w *response) Flush() { _ = w.FlushError() }

// ReadFrom sends src's bytes as the body: a file over plain TCP goes with
// sendfile(2) once the head is out, as net/http's ReadFrom does.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	var n int64
	if !w.headWritten {
		// The first bytes through Write: they may decide the type.
		n0, err := io.Copy(writerOnly{w}, io.LimitReader(src, sniffLen))
		n += n0
		if err != nil || n0 < sniffLen {
			return n, err
		}
	}
	if err := w.FlushError(); err != nil {
		return n, err
	}
	rf, ok := w.c.rwc.(io.ReaderFrom)
	if ok && !w.chunking && bodyAllowedForStatus(w.status) && !w.isHead {
		n0, err := rf.ReadFrom(src)
		n += n0
		w.written += n0
		w.c.writeFailed(err)
		return n, err
	}
	n0, err := io.Copy(writerOnly{w}, src)
	return n + n0, err
}

// writerOnly hides ReadFrom, so io.Copy writes through Write.
type writerOnly struct{ io.Writer }

// SetReadDeadline and SetWriteDeadline serve http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.rwc.SetReadDeadline(t) }

func (w *response) SetWriteDeadline(t time.Time) error {
	w.setDeadline = true
	return w.c.rwc.SetWriteDeadline(t)
}

// finish ends the response after the handler returned, and reports
// whether the connection may carry another request.
func (w *response) finish() bool {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headWritten {
		w.writeHead(w.pending)
		w.emit(w.pending)
	}
	if w.chunking && !w.isHead {
		c := w.c
		c.out = append(c.out, "0\r\n"...)
		c.out = c.appendTrailers(c.out, w)
		c.out = append(c.out, "\r\n"...)
	}
	if w.c.flushOut() != nil || w.closeAfter {
		return false
	}
	// Fewer bytes than the Content-Length said: the client would read the
	// next response as the rest of this one.
	return w.isHead || w.contentLength == -1 || !bodyAllowedForStatus(w.status) || w.contentLength == w.written
}

// abortedOutput says what of the output not yet written goes out when the
// handler panics (http.ErrAbortHandler: an upstream body broke
// mid-stream): what net/http would flush, the head and the body that got
// past its response buffer (drop: the bytes at the end of the output it
// would still hold, with the chunk framing among them), and only if the
// client can tell the response is cut short (a chunked body without its
// last chunk, a body short of its Content-Length). A head alone (HEAD, a
// status without a body) or a body at its full length would read as
// whole: nothing goes out.
func (w *response) abortedOutput() (drop int, send bool) {
	if !w.passed || !w.headWritten || w.isHead || !bodyAllowedForStatus(w.status) {
		return 0, false
	}
	if w.held > 0 {
		drop = len(w.c.out) // what was sent already cannot be taken back
		if w.heldGen == w.c.emptied {
			drop -= w.heldAt
		}
	}
	return drop, w.chunking || w.contentLength >= 0 && w.written-int64(w.held) < w.contentLength
}

// writeHead decides the head net/http would send and appends it to the
// connection's output. p is the start of the body, for sniffing and, when
// the handler is done, its length.
func (w *response) writeHead(p []byte) {
	w.headWritten = true
	c := w.c
	header := w.sent
	if header == nil {
		header = w.header
	}
	// TrailerPrefix keys ("Trailer:X-Sum") are not valid field names:
	// appendFields drops them from the head, as net/http does.
	exclude := c.exclude[:0]
	var extra struct{ contentLength, contentType, connection, transferEncoding string }
	for _, v := range header["Trailer"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				if k := http.CanonicalHeaderKey(f); httpguts.ValidTrailerHeader(k) {
					w.trailers = append(w.trailers, k)
				}
			}
		}
	}
	te := headerGet(header, "Transfer-Encoding")
	hasTE := te != ""
	bodyAllowed := bodyAllowedForStatus(w.status)
	if w.handlerDone && !hasTE && bodyAllowed && !has(header, "Content-Length") && (!w.isHead || len(p) > 0) && !hasTrailers(header) {
		w.contentLength = int64(len(p))
		extra.contentLength = strconv.Itoa(len(p))
	}
	hasCL := w.contentLength != -1
	if w.wantsClose || headerGet(header, "Connection") == "close" || c.srv.shuttingDown() {
		w.closeAfter = true
	}
	if bodyAllowed {
		_, haveType := header["Content-Type"]
		if headerGet(header, "Content-Encoding") == "" && !haveType && !hasTE && len(p) > 0 {
			extra.contentType = http.DetectContentType(p)
		}
	} else {
		exclude = append(exclude, "Content-Length", "Transfer-Encoding")
		if w.status == http.StatusNotModified {
			exclude = append(exclude, "Content-Type")
		}
	}
	date := !has(header, "Date")
	if hasCL && hasTE && te != "identity" {
		c.srv.logf("http: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d", te, w.contentLength)
		exclude = append(exclude, "Content-Length")
		hasCL = false
	}
	switch {
	case w.isHead || !bodyAllowed || w.status == http.StatusNoContent:
		exclude = append(exclude, "Transfer-Encoding")
	case hasCL:
		exclude = append(exclude, "Transfer-Encoding")
	case hasTE && te == "identity":
		w.closeAfter = true // the end of the body is the end of the connection
		exclude = append(exclude, "Transfer-Encoding")
	default:
		w.chunking = true
		extra.transferEncoding = "chunked"
		if hasTE && te == "chunked" {
			exclude = append(exclude, "Transfer-Encoding")
		}
	}
	if w.chunking {
		exclude = append(exclude, "Content-Length")
	}
	if w.closeAfter && (c.srv.shuttingDown() || !hasToken(headerGet(header, "Connection"), "close")) {
		exclude = append(exclude, "Connection")
		extra.connection = "close"
	}
	c.exclude = exclude

	c.out = appendStatusLine(c.out, w.status)
	c.out = c.appendFields(c.out, header, exclude)
	if date {
		c.out = append(c.out, "Date: "...)
		c.out = c.srv.dates.append(c.out)
		c.out = append(c.out, "\r\n"...)
	}
	for _, f := range [...]struct{ name, value string }{
		{"Content-Length", extra.contentLength}, {"Content-Type", extra.contentType},
		{"Connection", extra.connection}, {"Transfer-Encoding", extra.transferEncoding},
	} {
		if f.value != "" {
			c.out = append(c.out, f.name...)
			c.out = append(c.out, ": "...)
			c.out = append(c.out, f.value...)
			c.out = append(c.out, "\r\n"...)
		}
	}
	c.out = append(c.out, "\r\n"...)
}

// excludeNoBody are the fields an interim response never carries.
var excludeNoBody = []string{"Content-Length", "Transfer-Encoding"}

// appendFields appends header's fields but those in exclude, sorted by
// name, as http.Header.WriteSubset writes them: an invalid name is
// dropped, CR and LF in a value become spaces.
func (c *conn) appendFields(b []byte, header http.Header, exclude []string) []byte {
	keys := c.keys[:0]
	for k := range header {
		if !slices.Contains(exclude, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	c.keys = keys
	for _, k := range keys {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range header[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendFieldValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// appendFieldValue appends v with CR and LF made spaces and the result
// trimmed of ASCII space, as net/http's header writer does.
func appendFieldValue(b []byte, v string) []byte {
	start := len(b)
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	end := len(b)
	s := start
	for s < end && isASCIISpace(b[s]) {
		s++
	}
	for end > s && isASCIISpace(b[end-1]) {
		end--
	}
	n := copy(b[start:], b[s:end])
	return b[:start+n]
}

func isASCIISpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// appendTrailers appends the trailer fields of w as net/http's
// finalTrailers gathers them: the names Trailer declared, and the
// TrailerPrefix ones.
func (c *conn) appendTrailers(b []byte, w *response) []byte {
	var t http.Header
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if t == nil {
				t = make(http.Header)
			}
			t[name] = vv
		}
	}
	for _, k := range w.trailers {
		if t == nil {
			t = make(http.Header)
		}
		for _, v := range w.header[k] {
			t.Add(k, v)
		}
	}
	return c.appendFields(b, t, nil)
}

func appendStatusLine(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	if text := http.StatusText(code); text != "" {
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
		b = append(b, text...)
		return append(b, "\r\n"...)
	}
	return fmt.Appendf(b, "%03d status code %d\r\n", code, code)
}

// bodyAllowedForStatus is net/http's: RFC 9110 §6.4.1.
func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

// hasTrailers reports whether h declares trailers, as net/http's
// chunkWriter decides it: a Trailer value, or a TrailerPrefix key.
func hasTrailers(h http.Header) bool {
	if len(h["Trailer"]) > 0 {
		return true
	}
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// headerGet is Header.Get for a canonical key, without canonicalizing.
func headerGet(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// has reports whether h has key with a value, as net/http's Header.has.
func has(h http.Header, key string) bool {
	_, ok := h[key]
	return ok
}

// hasToken is net/http's: whether v contains token, case-insensitively,
// bounded by non-token bytes.
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !isTokenBoundary(v[end]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// callerOutside names the first caller outside this package and the
// runtime, for a superfluous WriteHeader's log line.
func callerOutside() string {
	pc := make([]uintptr, 16)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if !strings.Contains(f.Function, "fastserve.") {
			return fmt.Sprintf("%s (%s:%d)", f.Function, f.File, f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}
