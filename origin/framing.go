package origin

import (
	"bytes"
	"net/http"

	"edged/internal/ascii"
)

// respFramer follows the framing of the responses on one upstream
// connection byte by byte, the way net/http's client reads them (RFC 9112
// §6.3 as net/http applies it: transfer.go and internal/chunked.go), so
// that the connection knows where each response ends without holding its
// bytes. It only has to agree with net/http where net/http accepts a
// response and would keep the connection; elsewhere (net/http fails the
// exchange, or reads until close) the connection is never reused and the
// framer stops following (framingUnknown).
//
// Where the two could disagree the outcome is safe either way: ending a
// response early makes the rest look unsolicited and fails it; ending it
// late makes the connection refuse its next request (see upConn).
//
// One case net/http refuses is followed on purpose: a final response whose
// Transfer-Encoding does not end in chunked is read until the connection
// closes (RFC 9112 §6.3 item 4, see endHeader), with its framing fields
// hidden from net/http by upConn (hideFraming).
type respFramer struct {
	state framingState
	head  bool // the request being answered is HEAD

	// headLen is how many bytes of the last feed belonged to response heads
	// (status and field lines, interim responses included): always a
	// prefix of the bytes fed, since a head follows either the request or
	// another head.
	headLen int
	// interimEnd is where, in the last feed, the last interim (1xx)
	// response head ended; 0 if none did.
	interimEnd int
	// hideFraming is set at the end of a final response's head whose
	// Transfer-Encoding and Content-Length fields must be removed before
	// net/http reads it, so that net/http reads the body until close.
	hideFraming bool
	// markNoCacheControl is set at the end of a final response's head that
	// has a Pragma field and no Cache-Control field: upConn adds an empty
	// Cache-Control line to the head it hands to net/http, whose
	// http.ReadResponse would otherwise invent "Cache-Control: no-cache"
	// from "Pragma: no-cache" (fixPragmaCacheControl). RFC 9111 §5.4 gives
	// Pragma in a response no meaning; the Client removes the empty field
	// (dropEmptyCacheControl), so the header is the one the upstream sent.
	markNoCacheControl bool
	pragma             bool // the head being read has a Pragma field line
	cacheControl       bool // ... and a Cache-Control field line

	// The current line: its first maxFramingLine bytes, its length, and
	// whether its last byte was CR (dropped before LF, as bufio.ReadLine
	// does).
	line    []byte
	lineLen int
	lastCR  bool

	// What the header section said about the framing.
	status       int
	major, minor int
	firstField   bool // the next field line is the first of the section
	lastFraming  bool // the last field line was Content-Length or Transfer-Encoding
	contentLen   [maxLengthValue]byte
	lenLen       int // bytes of contentLen in use
	nContentLen  int
	lenConflict  bool
	chunked      bool // the only Transfer-Encoding so far is exactly "chunked"
	chunkedFinal bool // the last transfer coding listed is chunked
	nTransferEnc int

	// connNames are the field names the heads' Connection fields list
	// (RFC 9110 §7.6.1), kept because net/http deletes the whole
	// Connection field of a response that lists "close" beside them.
	connNames []string

	left uint64 // bytes left in a Content-Length body or in a chunk

	// The chunk-size line (RFC 9112 §7.1) as net/http's readChunkLine
	// parses it: hex digits, then optional whitespace or an extension,
	// then CRLF, with no other CR.
	chunkPart   chunkPart
	chunkDigits int
	chunkSize   uint64
	chunkLen    int
}

type framingState uint8

const (
	framingIdle    framingState = iota // between responses: nothing is expected
	framingStatus                      // reading a status line
	framingHeader                      // reading field lines
	framingBody                        // reading a Content-Length body
	framingChunkLn                     // reading a chunk-size line
	framingChunk                       // reading chunk data
	framingChunkCR                     // expecting the CR after chunk data
	framingChunkLF                     // expecting the LF after chunk data
	framingTrailer                     // reading trailer lines
	framingClose                       // reading a body that ends when the connection closes
	framingUnknown                     // no longer followed; the connection is not reused
)

type chunkPart uint8

const (
	chunkHex chunkPart = iota // hex digits
	chunkWS                   // whitespace after the digits
	chunkExt                  // an extension, after ';'
	chunkCR                   // CR seen: LF must follow
)

// maxFramingLine is how much of a status or field line the framer keeps:
// enough for any status code and framing field net/http accepts in
// practice. A longer Content-Length or Transfer-Encoding line stops the
// following rather than being misread.
const maxFramingLine = 512

// maxLengthValue bounds a Content-Length value worth keeping: net/http
// parses it as an int63, at most 19 digits.
const maxLengthValue = 19

// maxChunkLine is net/http's limit on a chunk-size line (internal/chunked.go
// maxLineLength): a longer one fails the body.
const maxChunkLine = 4096

// begin starts a response to a request; the framer must be idle.
func (f *respFramer) begin(head bool) {
	*f = respFramer{state: framingStatus, head: head, line: f.line[:0]}
}

// inHead reports whether the framer is reading a response head.
func (f *respFramer) inHead() bool {
	return f.state == framingStatus || f.state == framingHeader
}

// feed follows b, the next bytes read from the connection, and returns how
// many of them belong to the responses expected: fewer than len(b) when a
// response ended (the framer is then idle) and bytes follow it.
func (f *respFramer) feed(b []byte) int {
	f.headLen, f.interimEnd = 0, 0
	for i := 0; i < len(b); {
		switch f.state {
		case framingIdle:
			return i
		case framingUnknown, framingClose:
			return len(b)
		case framingBody, framingChunk:
			n := uint64(len(b) - i)
			if n > f.left {
				n = f.left
			}
			f.left -= n
			i += int(n)
			if f.left == 0 {
				if f.state == framingBody {
					f.state = framingIdle
				} else {
					f.state = framingChunkCR
				}
			}
		case framingChunkCR, framingChunkLF:
			want := byte('\r')
			if f.state == framingChunkLF {
				want = '\n'
			}
			if b[i] != want {
				f.state = framingUnknown // net/http: "malformed chunked encoding"
				continue
			}
			f.state++
			if f.state > framingChunkLF {
				f.state = framingChunkLn
			}
			i++
		case framingChunkLn:
			f.chunkByte(b[i])
			i++
		default: // status, header and trailer lines
			c := b[i]
			i++
			if f.state != framingTrailer {
				f.headLen = i
			}
			if c != '\n' {
				if len(f.line) < maxFramingLine {
					f.line = append(f.line, c)
				}
				f.lineLen++
				f.lastCR = c == '\r'
				continue
			}
			line, whole := f.line, len(f.line) == f.lineLen
			if f.lastCR {
				if whole {
					line = line[:len(line)-1]
				}
			}
			empty := f.lineLen == 0 || f.lineLen == 1 && f.lastCR
			wasHeader := f.state == framingHeader
			f.endLine(line, whole, empty)
			if wasHeader && f.state == framingStatus {
				f.interimEnd = i // an interim response's head ended
			}
			f.line, f.lineLen, f.lastCR = f.line[:0], 0, false
		}
	}
	return len(b)
}

// endLine handles one complete status, field or trailer line. line is its
// content without CRLF when whole, else its first maxFramingLine bytes.
func (f *respFramer) endLine(line []byte, whole, empty bool) {
	switch f.state {
	case framingStatus:
		f.statusLine(line, whole)
	case framingHeader:
		if empty {
			f.endHeader()
			return
		}
		f.fieldLine(line, whole)
	case framingTrailer:
		// net/http reads the trailer section like a header section and
		// ignores it for framing; it ends at the first empty line.
		if empty {
			f.state = framingIdle
		}
	}
}

// statusLine parses the status line as http.ReadResponse does.
func (f *respFramer) statusLine(line []byte, whole bool) {
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		f.state = framingUnknown // net/http: malformed HTTP response
		return
	}
	rest = bytes.TrimLeft(rest, " ")
	code, _, codeEnds := bytes.Cut(rest, []byte(" "))
	if !whole && !codeEnds {
		f.state = framingUnknown // the code may go on past what was kept
		return
	}
	status, okStatus := atoi(code)
	major, minor, okVersion := parseVersion(proto)
	if len(code) != 3 || !okStatus || status < 0 || !okVersion {
		f.state = framingUnknown
		return
	}
	if major == 0 && minor == 0 {
		major, minor = 1, 1 // net/http's readTransfer defaults 0.0 to 1.1
	}
	f.status, f.major, f.minor = status, major, minor
	f.state, f.firstField = framingHeader, true
	f.lenLen, f.nContentLen, f.lenConflict = 0, 0, false
	f.chunked, f.chunkedFinal, f.nTransferEnc, f.lastFraming = false, false, 0, false
	f.hideFraming = false
	f.pragma, f.cacheControl, f.markNoCacheControl = false, false, false
}

// fieldLine notes the framing fields of one field line.
func (f *respFramer) fieldLine(line []byte, whole bool) {
	first := f.firstField
	f.firstField = false
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold (RFC 9112 §5.2): net/http refuses it on the first line
		// and joins it to the previous field otherwise, which changes a
		// framing field's value.
		if first || f.lastFraming {
			f.state = framingUnknown
		}
		return
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if ok && whole && ascii.EqualFold(name, "Connection") {
		f.noteConnection(value)
	}
	if ok {
		f.pragma = f.pragma || ascii.EqualFold(name, "Pragma")
		f.cacheControl = f.cacheControl || ascii.EqualFold(name, "Cache-Control")
	}
	framing := ok && (ascii.EqualFold(name, "Content-Length") || ascii.EqualFold(name, "Transfer-Encoding"))
	f.lastFraming = framing
	switch {
	case !ok && whole:
		f.state = framingUnknown // net/http: missing colon
		return
	case !framing:
		return
	case !whole || !validFieldValue(value):
		f.state = framingUnknown
		return
	}
	v := trimOWS(value)
	if ascii.EqualFold(name, "Content-Length") {
		if len(v) > maxLengthValue {
			f.state = framingUnknown // net/http: bad Content-Length
			return
		}
		if f.nContentLen > 0 && string(v) != string(f.contentLen[:f.lenLen]) {
			f.lenConflict = true
		}
		f.lenLen = copy(f.contentLen[:], v)
		f.nContentLen++
		return
	}
	// A list of codings (RFC 9112 §6.1): what matters is whether chunked
	// is the only one (net/http's sole case) and whether it is the last.
	f.chunked = f.nTransferEnc == 0 && ascii.EqualFold(v, "chunked")
	f.chunkedFinal = ascii.EqualFold(lastListMember(v), "chunked")
	f.nTransferEnc++
}

// maxConnNames bounds the names kept from Connection fields: a response
// listing more keeps the rest (net/http's limitation), not the memory.
const maxConnNames = 32

// noteConnection keeps the names a Connection field value lists.
func (f *respFramer) noteConnection(value []byte) {
	for member := range bytes.SplitSeq(value, []byte(",")) {
		if name := trimOWS(member); len(name) > 0 && len(f.connNames) < maxConnNames {
			f.connNames = append(f.connNames, string(name))
		}
	}
}

// lastListMember returns the last non-empty member of a comma-separated
// field value (RFC 9110 §5.6.1), without its OWS.
func lastListMember(v []byte) []byte {
	for {
		i := bytes.LastIndexByte(v, ',')
		last := trimOWS(v[i+1:])
		if len(last) > 0 || i < 0 {
			return last
		}
		v = v[:i]
	}
}

// endHeader decides, at the end of a header section, how the body is framed
// (net/http's readTransfer and fixLength).
func (f *respFramer) endHeader() {
	interim := f.status >= 100 && f.status <= 199
	f.markNoCacheControl = !interim && f.pragma && !f.cacheControl
	switch {
	case f.status == http.StatusSwitchingProtocols:
		f.state = framingUnknown // the connection leaves HTTP
		return
	case f.status >= 100 && f.status <= 199:
		f.state = framingStatus // interim: the final response follows
		return
	case f.head || f.status == http.StatusNoContent || f.status == http.StatusNotModified:
		// No body whatever the framing fields say (RFC 9112 §6.3 item
		// 1); a Transfer-Encoding net/http would refuse is hidden from it.
		f.state, f.hideFraming = framingIdle, f.transferEncoded() && !f.onlyChunked()
		return
	}
	// Transfer-Encoding is ignored in HTTP/1.0 and overrides
	// Content-Length (RFC 9112 §6.3 item 3); net/http only accepts one
	// field, "chunked".
	if f.transferEncoded() {
		switch {
		case f.onlyChunked():
			f.state, f.chunkPart, f.chunkDigits, f.chunkSize, f.chunkLen = framingChunkLn, chunkHex, 0, 0, 0
		case !f.chunkedFinal:
			// RFC 9112 §6.3 item 4: chunked is not the final coding of
			// a response, so its body ends when the connection closes.
			// net/http refuses the response instead: upConn removes the
			// framing fields from the head it hands over, so net/http
			// reads until close too (and never reuses the connection).
			// The Content-Length goes with them: it does not frame the
			// body, and an intermediary must remove it (RFC 9112 §6.3
			// item 3).
			f.state, f.hideFraming = framingClose, true
		default:
			// chunked after other codings: the body's framing is clear,
			// but net/http refuses it and the codings could not be
			// removed; the response fails.
			f.state = framingUnknown
		}
		return
	}
	if f.nContentLen == 0 {
		f.state = framingUnknown // read until close: net/http never reuses the connection
		return
	}
	n, ok := parseLength(f.contentLen[:f.lenLen])
	if f.lenConflict || !ok {
		f.state = framingUnknown
		return
	}
	if n == 0 {
		f.state = framingIdle
		return
	}
	f.state, f.left = framingBody, n
}

// transferEncoded reports a Transfer-Encoding that counts: HTTP/1.0 ignores
// it (RFC 9112 §6.1, as net/http does).
func (f *respFramer) transferEncoded() bool {
	return f.nTransferEnc > 0 && (f.major > 1 || f.major == 1 && f.minor >= 1)
}

// onlyChunked reports one Transfer-Encoding field of exactly "chunked", the
// only form net/http accepts.
func (f *respFramer) onlyChunked() bool { return f.nTransferEnc == 1 && f.chunked }

// chunkByte follows one byte of a chunk-size line.
func (f *respFramer) chunkByte(c byte) {
	if f.chunkPart == chunkCR {
		if c != '\n' {
			f.state = framingUnknown // net/http: invalid CR in chunked line
			return
		}
		if f.chunkSize == 0 {
			f.state = framingTrailer
			return
		}
		f.state, f.left = framingChunk, f.chunkSize
		f.chunkPart, f.chunkDigits, f.chunkSize, f.chunkLen = chunkHex, 0, 0, 0
		return
	}
	if c == '\n' {
		f.state = framingUnknown // net/http: chunked line ends with bare LF
		return
	}
	if f.chunkLen++; f.chunkLen >= maxChunkLine+1 {
		f.state = framingUnknown // net/http: ErrLineTooLong
		return
	}
	if c == '\r' {
		if f.chunkDigits == 0 {
			f.state = framingUnknown // empty chunk size
			return
		}
		f.chunkPart = chunkCR
		return
	}
	switch f.chunkPart {
	case chunkHex:
		d, ok := hexDigit(c)
		switch {
		case ok && f.chunkDigits < 16:
			f.chunkSize = f.chunkSize<<4 | uint64(d)
			f.chunkDigits++
		case ok, f.chunkDigits == 0:
			f.state = framingUnknown // too large, or no digits
		case c == ';':
			f.chunkPart = chunkExt
		case c == ' ' || c == '\t':
			f.chunkPart = chunkWS
		default:
			f.state = framingUnknown
		}
	case chunkWS:
		// net/http trims trailing whitespace, then cuts the extension:
		// whitespace is only allowed at the end of the line.
		if c != ' ' && c != '\t' {
			f.state = framingUnknown
		}
	}
}

// atoi is strconv.Atoi for the three bytes of a status code (a sign is
// allowed, as Atoi allows it).
func atoi(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseVersion is http.ParseHTTPVersion on bytes.
func parseVersion(b []byte) (major, minor int, ok bool) {
	if len(b) != len("HTTP/X.Y") || string(b[:5]) != "HTTP/" || b[6] != '.' ||
		b[5] < '0' || b[5] > '9' || b[7] < '0' || b[7] > '9' {
		return 0, 0, false
	}
	return int(b[5] - '0'), int(b[7] - '0'), true
}

// parseLength is strconv.ParseUint(s, 10, 63), as net/http parses
// Content-Length.
func parseLength(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// validFieldValue reports whether net/http's textproto accepts every byte
// of a field value: VCHAR, obs-text, SP and HTAB.
func validFieldValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing SP and HTAB (RFC 9110 §5.5).
func trimOWS(b []byte) []byte {
	return bytes.Trim(b, " \t")
}
