// Package strictconn refuses, on the connection, HTTP/1 requests whose
// message framing two HTTP implementations could read two ways (request
// smuggling, RFC 9112 §11.2), before net/http parses them.
//
// # Contract
//
//   - A request with Content-Length beside Transfer-Encoding, Transfer-Encoding
//     in HTTP/1.0, a bare LF ending a header line, or obs-fold is never passed
//     on: net/http sees in its place a request line it answers with
//     "400 Bad Request" and Connection: close, and the connection's reads end
//     there. Nothing sent after it on the connection reaches net/http.
//     A request before it on the connection is still answered: the refusal
//     is not taken for its client's departure (its context is not
//     cancelled), as net/http alone answers a request followed by bytes it
//     will refuse; nothing more is read from the connection, so a reset
//     after the refused bytes is seen only when the answer's write fails.
//   - Every other byte passes unchanged and in order: header sections once
//     complete, bodies as they arrive. An unfinished header section that
//     is refused already (a bare LF, obs-fold; a request line or field line
//     net/http refuses as soon as it arrives) is refused then, not at its
//     end.
//   - Framing it cannot follow (a chunk line net/http would refuse too) cuts
//     the connection at that point: a body that cannot be framed is seen as
//     truncated, never forwarded as complete.
//   - A header section longer than the server's MaxHeaderBytes is passed
//     through for net/http to answer 431.
//   - A wrapped TLS connection keeps its ConnectionState, so net/http still
//     sets Request.TLS; a plain one never gets it.
//   - A client's end of stream (FIN) while net/http waits on its request is
//     not taken for a departure: a client that half-closes its side after
//     its request (printf ... | nc -N) is answered (RFC 9112 §9.6 makes a
//     half-close no sign the client lost interest). net/http's background
//     read, which would cancel the request's context on that EOF, is held
//     until net/http ends it (internal/halfclose); a reset or any other
//     error still reaches it at once, and a failed write still cancels.
//
// It imports nothing of module edged: the binary wraps its listeners with it,
// and package edge's tests use it to serve the handler as the binary does.
package strictconn

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"

	"edged/internal/halfclose"
)

// WrapListener wraps a plain-HTTP listener so that every HTTP/1 request is
// checked for ambiguous message framing before net/http parses it, and
// refused with 400 (and the connection closed) when its framing could be
// read two ways by two HTTP implementations (request smuggling, RFC 9112
// §11.2):
//
//   - Content-Length beside Transfer-Encoding (RFC 9112 §6.1: "ought to be
//     handled as an error"). net/http would silently prefer
//     Transfer-Encoding and delete Content-Length, which hides the conflict
//     from a handler; a proxy in front of edged that preferred Content-Length
//     would see a different next request than edged does.
//   - Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: the framing
//     MUST be treated as faulty; net/http ignores the field and uses
//     Content-Length).
//   - a bare LF ending a line of the header section (RFC 9112 §2.2 allows
//     either choice; net/http accepts it, other parsers do not);
//   - obs-fold, a header line continued on the next line (RFC 9112 §5.2
//     allows rejecting it with 400; net/http joins it, while other parsers
//     read the continuation as a new field, e.g. a hidden
//     " Transfer-Encoding: chunked").
//
// The wrapper follows each connection's requests with the same framing rules
// as net/http (Content-Length, or chunked in HTTP/1.1), so that it knows
// where each header section starts. It holds a header section back until it
// is complete, then passes it on unchanged or, when refused, replaces it
// with a request line net/http answers with "400 Bad Request" and
// Connection: close, after which the connection reads end; a section whose
// lines show it refused before it ends is refused then (refuseEarly). Bodies pass through as they arrive. On any framing
// it cannot follow (a chunk line net/http would refuse too) it cuts the
// connection at that point rather than guess, so a body that cannot be
// framed is seen as truncated and is never forwarded as complete.
//
// maxHeaderBytes is the http.Server's MaxHeaderBytes (0 means
// http.DefaultMaxHeaderBytes); a header section longer than net/http
// accepts is passed through for net/http to answer 431.
//
// A TLS listener cannot be wrapped this way: net/http must see the
// *tls.Conn itself to negotiate HTTP/2. A listener that does the handshake
// itself wraps each HTTP/1 connection with [Wrap] instead; HTTP/2
// framing has no such ambiguity.
func WrapListener(ln net.Listener, maxHeaderBytes int) net.Listener {
	return &strictListener{Listener: ln, maxHeaderBytes: maxHeaderBytes}
}

// Wrap applies WrapListener's checks to one connection, for a
// listener that hands net/http connections it has prepared itself (the
// HTTPS listener, once the TLS handshake chose HTTP/1).
//
// When c has the ConnectionState method of a *tls.Conn, so does the
// result: net/http sets Request.TLS from it on a connection that is not a
// *tls.Conn, and the handler's scheme (the cache key, redirects to https,
// X-Forwarded-Proto) depends on Request.TLS. A plain connection must not
// get the method, or its requests would be taken for HTTPS.
func Wrap(c net.Conn, maxHeaderBytes int) net.Conn {
	hc := halfclose.Wrap(c)
	sc := &strictConn{Conn: hc, hc: hc, f: framer{limit: headLimit(maxHeaderBytes)}}
	if ts, ok := c.(tlsStater); ok {
		return &strictTLSConn{strictConn: sc, ts: ts}
	}
	return sc
}

// headLimit is the longest header section the framer holds back for a
// server whose MaxHeaderBytes is maxHeaderBytes (0 means
// http.DefaultMaxHeaderBytes).
func headLimit(maxHeaderBytes int) int {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	// net/http reads up to MaxHeaderBytes plus 4096 bytes of slack.
	return maxHeaderBytes + 4096 + 1
}

type strictListener struct {
	net.Listener
	maxHeaderBytes int
}

func (l *strictListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c, l.maxHeaderBytes), nil
}

// tlsStater is what net/http looks for to set Request.TLS.
type tlsStater interface {
	ConnectionState() tls.ConnectionState
}

// strictTLSConn is a strictConn over a TLS connection.
type strictTLSConn struct {
	*strictConn
	ts tlsStater
}

func (c *strictTLSConn) ConnectionState() tls.ConnectionState { return c.ts.ConnectionState() }

// strictConn runs a framer over the bytes read from its Conn. Like any
// net.Conn it is read by one goroutine at a time (net/http's), so the
// framer needs no lock.
type strictConn struct {
	net.Conn
	f   framer
	buf []byte // read buffer, allocated on the first Read
	// hc is Conn: it tracks the deadlines and the close that end a read
	// held at the client's end of stream (internal/halfclose).
	hc *halfclose.Conn
}

func (c *strictConn) Read(p []byte) (int, error) {
	f := &c.f
	if f.pending() == 0 && f.state == stBody && len(f.in) == 0 && len(p) > 0 {
		// The middle of a Content-Length body: no copy through the framer.
		// Past halfclose: a body cut short one byte from its end must
		// read as cut, not be held.
		n, err := c.hc.Conn.Read(p[:min(int64(len(p)), f.remain)])
		if f.remain -= int64(n); f.remain == 0 {
			f.state = stHead
		}
		return n, err
	}
	for f.pending() == 0 {
		if f.state == stClosed {
			if len(p) == 1 {
				// net/http's background read while a handler runs (it
				// reads one byte, as halfclose.BackgroundEOF knows it):
				// an error there cancels the request's context, so a
				// well-framed request followed by refused bytes lost its
				// answer (a POST done upstream, its client told nothing).
				// Nothing more comes from this connection, as if the
				// client sent nothing: net/http answers the request, then
				// reads the refused head it holds and closes. Its end of
				// the read (a past deadline, the close) ends this wait.
				return 0, c.hc.HoldEOF()
			}
			return 0, errRefusedFraming
		}
		if c.buf == nil {
			c.buf = make([]byte, 4096)
		}
		n, err := c.Conn.Read(c.buf)
		f.feed(c.buf[:n])
		if err != nil && f.pending() == 0 {
			if halfclose.BackgroundEOF(p, n, err) && f.state == stHead && len(f.in) == 0 {
				// Between requests: a half-close, no departure.
				return 0, c.hc.HoldEOF()
			}
			// Deadlines (net/http sets and clears them) and EOF go back
			// unchanged; held bytes of an unfinished header stay held.
			return 0, err
		}
	}
	n := copy(p, f.out[f.outPos:])
	if f.outPos += n; f.outPos == len(f.out) {
		f.out, f.outPos = f.out[:0], 0
	}
	return n, nil
}

// CloseWrite lets net/http half-close the connection after an error
// response, as it does on a bare *net.TCPConn.
func (c *strictConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom passes a response body sent from a file to the connection
// underneath, so that net/http's response.ReadFrom (which needs its
// connection to be an io.ReaderFrom) reaches the socket's sendfile(2).
// Only reads are framed: writes go through untouched either way.
func (c *strictConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r) // not back to this ReadFrom
}

// errRefusedFraming ends the reads of a connection whose framing was
// refused or could not be followed.
var errRefusedFraming = errors.New("strictconn: connection closed after ambiguous HTTP/1 framing")

// refusedHead replaces a refused header section: a request line net/http
// cannot parse, so that it answers "400 Bad Request", Connection: close.
var refusedHead = []byte("REFUSED-AMBIGUOUS-FRAMING\r\n\r\n")

type frameState int

const (
	stHead      frameState = iota // reading a header section
	stBody                        // remain bytes of a Content-Length body
	stChunkSize                   // a chunk-size line
	stChunkData                   // remain bytes of chunk data
	stChunkCRLF                   // the CRLF after chunk data
	stTrailer                     // trailer lines after the last chunk
	stRaw                         // pass everything through (net/http answers 431 and closes)
	stClosed                      // nothing more is passed on
)

// maxChunkLine is net/http's limit on a chunk-size line.
const maxChunkLine = 4096

// framer classifies the bytes of one connection. in holds bytes read but not
// classified yet; out holds bytes cleared for net/http.
type framer struct {
	state  frameState
	remain int64
	limit  int // the longest header section held back
	in     []byte
	out    []byte // out[outPos:] is still to be read by net/http
	outPos int
	// refused is why the last header section was refused ("" if none); for tests.
	refused string
	// checked is how much of an unfinished header section at the start of
	// in refuseEarly has passed: its complete lines.
	checked int
	// leading counts the empty lines' bytes dropped before this head.
	leading int
}

// maxLeadingCRLF bounds the empty lines dropped before one request line.
const maxLeadingCRLF = 64

// feed adds bytes read from the client and classifies what it can.
func (f *framer) feed(b []byte) {
	if f.state == stClosed {
		return
	}
	f.in = append(f.in, b...)
	base := f.in // starts at its array's start: see below
	for f.step() {
	}
	if f.state != stClosed {
		// Move what is left to the front, so the buffer does not creep.
		f.in = base[:copy(base, f.in)]
	}
}

// pending is the number of bytes cleared but not read yet.
func (f *framer) pending() int { return len(f.out) - f.outPos }

// pass clears n bytes of in for net/http.
func (f *framer) pass(n int) {
	f.out = append(f.out, f.in[:n]...)
	f.in = f.in[n:]
}

// cut ends the connection here: nothing from this point on reaches net/http.
func (f *framer) cut() bool {
	f.state, f.in = stClosed, nil
	return false
}

// step classifies one element; it reports whether it made progress.
func (f *framer) step() bool {
	switch f.state {
	case stHead:
		return f.stepHead()
	case stBody, stChunkData:
		n := int(min(int64(len(f.in)), f.remain))
		if n == 0 && f.remain > 0 {
			return false
		}
		f.pass(n)
		if f.remain -= int64(n); f.remain == 0 {
			if f.state == stBody {
				f.state = stHead
			} else {
				f.state = stChunkCRLF
			}
		}
		return true
	case stChunkCRLF:
		if len(f.in) < 2 {
			return false
		}
		if f.in[0] != '\r' || f.in[1] != '\n' {
			return f.cut() // net/http: "malformed chunked encoding"
		}
		f.pass(2)
		f.state = stChunkSize
		return true
	case stChunkSize:
		return f.stepChunkSize()
	case stTrailer:
		return f.stepTrailer()
	case stRaw:
		if len(f.in) == 0 {
			return false
		}
		f.pass(len(f.in))
		return true
	}
	return false
}

func (f *framer) stepHead() bool {
	// RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
	// received before a request line (some clients send one after a POST's
	// body). net/http skips them only after a POST, and then any mix of CR
	// and LF; here CRLF pairs before any request, up to maxLeadingCRLF
	// bytes a head, so a client cannot stream them forever past the
	// header limit. They are dropped, never passed on: net/http and every
	// parser behind it see the request line first.
	if f.checked == 0 {
		for f.leading < maxLeadingCRLF && len(f.in) >= 2 && f.in[0] == '\r' && f.in[1] == '\n' {
			f.in, f.leading = f.in[2:], f.leading+2
		}
		if f.leading < maxLeadingCRLF && len(f.in) == 1 && f.in[0] == '\r' {
			return false // the rest of a CRLF, or of a request line, is to come
		}
	}
	end := headEnd(f.in)
	if end < 0 {
		if len(f.in) > f.limit {
			f.state = stRaw // too large: net/http answers 431 and closes
			return true
		}
		if why := refuseEarly(f.in, &f.checked); why != "" {
			return f.refuse(why)
		}
		return false
	}
	f.checked, f.leading = 0, 0
	h := inspectHead(f.in[:end])
	if h.refuse != "" {
		return f.refuse(h.refuse)
	}
	f.pass(end)
	switch {
	case h.unframeable:
		// net/http refuses this request (501 or 400) and closes; nothing
		// after it may be read as another request.
		f.in, f.state = nil, stClosed
		return false
	case h.chunked:
		f.state = stChunkSize
	case h.length > 0:
		f.state, f.remain = stBody, h.length
	}
	return true
}

// stepChunkSize reads chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1) with
// net/http's rules: CRLF only, no other CR, trailing whitespace and
// extensions ignored, at most 16 hex digits.
func (f *framer) stepChunkSize() bool {
	i := bytes.IndexByte(f.in, '\n')
	if i < 0 {
		if len(f.in) >= maxChunkLine {
			return f.cut()
		}
		return false
	}
	line := f.in[:i+1]
	if i == 0 || bytes.IndexByte(line, '\r') != i-1 || i+1 > maxChunkLine {
		return f.cut()
	}
	sizeText, _, _ := bytes.Cut(line[:i-1], []byte(";"))
	sizeText = bytes.TrimRight(sizeText, " \t")
	if len(sizeText) == 0 || len(sizeText) > 16 {
		return f.cut()
	}
	size, err := strconv.ParseUint(string(sizeText), 16, 64)
	if err != nil || size > 1<<62 {
		return f.cut()
	}
	f.pass(i + 1)
	if size == 0 {
		f.state = stTrailer
	} else {
		f.state, f.remain = stChunkData, int64(size)
	}
	return true
}

// stepTrailer passes one trailer line; an empty line ends the message.
func (f *framer) stepTrailer() bool {
	i := bytes.IndexByte(f.in, '\n')
	if i < 0 {
		if len(f.in) > f.limit {
			return f.cut()
		}
		return false
	}
	empty := i == 0 || (i == 1 && f.in[0] == '\r')
	f.pass(i + 1)
	if empty {
		f.state = stHead
	}
	return true
}

// refuse replaces the header section at the start of in with refusedHead,
// and ends the connection there.
func (f *framer) refuse(why string) bool {
	f.refused, f.checked = why, 0
	f.out = append(f.out, refusedHead...)
	return f.cut()
}

// refuseEarly checks the complete lines of an unfinished header section,
// those after (*checked), and moves *checked past the ones that pass. It
// returns why the section is refused already: a line that inspectHead
// would refuse once the section ended (a bare LF, obs-fold), or one that
// net/http refuses as soon as it arrives (a request line without its two
// spaces, a field line without a colon). Holding such a section until its
// end, a client that sent it and waited for the answer with its side open
// got none until read_header_timeout ended the connection, where net/http
// alone answers 400 at once.
func refuseEarly(in []byte, checked *int) string {
	for {
		i := bytes.IndexByte(in[*checked:], '\n')
		if i < 0 {
			return ""
		}
		line, ok := bytes.CutSuffix(in[*checked:*checked+i], []byte("\r"))
		switch {
		case !ok:
			return "bare LF line ending"
		case *checked == 0:
			if bytes.Count(line, []byte(" ")) < 2 {
				return "malformed request line"
			}
		case line[0] == ' ' || line[0] == '\t':
			return "obsolete line folding"
		case bytes.IndexByte(line, ':') < 0:
			return "field line without a colon"
		}
		*checked += i + 1
	}
}

// headEnd returns the length of the header section at the start of b, up to
// and including the empty line that ends it (CRLF or bare LF, which net/http
// accepts in a header, RFC 9112 §2.2), or -1 when it is not complete.
func headEnd(b []byte) int {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1
		}
		line := b[start : start+i]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return start + i + 1
		}
		start += i + 1
	}
}

// headFacts is what the framing of one request depends on.
type headFacts struct {
	refuse      string // why the request is refused; "" when it is not
	chunked     bool
	length      int64
	unframeable bool // net/http will refuse it and close the connection
}

// inspectHead reads a complete header section: the request line, then the
// field lines. It runs on every request, so it walks head in place rather
// than splitting a string copy of it.
func inspectHead(head []byte) headFacts {
	for i, c := range head {
		if c == '\n' && (i == 0 || head[i-1] != '\r') {
			// RFC 9112 §2.2 lets a recipient accept a bare LF, and net/http
			// does; a proxy in front that does not would read
			// "X: a\nTransfer-Encoding: chunked" as one field, so the framing
			// two parsers see would differ (RFC 9112 §11.2).
			return headFacts{refuse: "bare LF line ending"}
		}
	}
	var (
		version     []byte
		te0, cl0    []byte // the first Transfer-Encoding and Content-Length values
		teN, clN    int
		clDiffering bool // a later Content-Length differs from the first
	)
	rest := bytes.TrimRight(head, "\r\n")
	for i := 0; ; i++ {
		line, tail, more := bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case i == 0:
			if sp := bytes.LastIndexByte(line, ' '); sp >= 0 {
				version = line[sp+1:]
			}
		case len(line) > 0 && (line[0] == ' ' || line[0] == '\t'):
			// RFC 9112 §5.2: a server MUST reject obs-fold with 400 or
			// replace it; the rejection is the one every parser agrees on.
			return headFacts{refuse: "obsolete line folding"}
		default:
			name, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.Trim(value, " \t")
			switch {
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				if teN == 0 {
					te0 = value
				}
				teN++
			case bytes.EqualFold(name, []byte("Content-Length")):
				if clN == 0 {
					cl0 = value
				} else if !bytes.Equal(value, cl0) {
					clDiffering = true
				}
				clN++
			}
		}
		if !more {
			break
		}
		rest = tail
	}
	switch {
	case teN > 0 && clN > 0:
		// RFC 9112 §6.1: both present "ought to be handled as an error".
		return headFacts{refuse: "Content-Length with Transfer-Encoding"}
	case teN > 0 && string(version) == "HTTP/1.0":
		// RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing.
		return headFacts{refuse: "Transfer-Encoding in HTTP/1.0"}
	case teN > 0:
		// net/http accepts exactly one field, exactly "chunked"
		// (RFC 9112 §6.3: chunked must be the final coding); anything else
		// is answered 501 and the connection closed.
		if teN == 1 && bytes.EqualFold(te0, []byte("chunked")) {
			return headFacts{chunked: true}
		}
		return headFacts{unframeable: true}
	case clN > 0:
		// net/http allows several fields only when they are identical
		// (RFC 9110 §8.6).
		n, ok := contentLength(cl0)
		if clDiffering || !ok {
			return headFacts{unframeable: true} // net/http answers 400
		}
		return headFacts{length: n}
	}
	return headFacts{} // RFC 9112 §6.3: no body
}

// contentLength parses a Content-Length value the way net/http does:
// 1*DIGIT.
func contentLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}
