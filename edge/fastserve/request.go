package fastserve

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"

	"golang.org/x/net/http/httpguts"
)

// plainRequest is what parseHead reads of a request head it serves.
type plainRequest struct {
	method, target, host string
	url                  *url.URL
	header               http.Header
	close                bool
	// wantsClose: the response must close the connection (Request's
	// wantsClose): Close, or "close" anywhere in the first Connection
	// value, even where it is no list element of its own ("0 close").
	wantsClose bool
}

// parseHead reads head, a request head ending in its blank line (CRLF
// CRLF), and reports whether it is a request this package serves (see
// the package contract). On false nothing of head is used: net/http reads
// it again, and answers it as it would have.
func parseHead(head []byte) (plainRequest, bool) {
	var p plainRequest
	line, rest, ok := cutLine(head)
	if !ok {
		return p, false
	}
	if p.method, p.target, p.url, ok = requestLine(line); !ok {
		return p, false
	}

	// One []string for the values, as textproto sizes it: the lines left
	// bound the number of fields. Capped as textproto caps it, or a head
	// of many fields of one name (up to MaxHeaderBytes) would cost a map
	// and a slice sized for all of them: twice net/http's memory.
	values := make([]string, 0, min(bytes.Count(rest, []byte("\r\n")), maxFieldsHint))
	p.header = make(http.Header, cap(values))
	hosts := 0
	for {
		if line, rest, ok = cutLine(rest); !ok {
			return p, false
		}
		if len(line) == 0 {
			break // the blank line: rest is empty, as head ends there
		}
		key, v, ok := fieldLine(line)
		if !ok {
			return p, false
		}
		switch key {
		case "Host":
			hosts++
			p.host = string(v)
			continue // net/http takes Host out of Header
		}
		value := string(v)
		vv := p.header[key]
		switch {
		case vv != nil:
			p.header[key] = append(vv, value)
		case len(values) < cap(values):
			// A slice of one, capped, so an append by the handler copies.
			values = append(values, value)
			p.header[key] = values[len(values)-1 : len(values) : len(values)]
		default:
			p.header[key] = []string{value}
		}
	}
	if hosts != 1 || !httpguts.ValidHostHeader(p.host) {
		return p, false // net/http answers 400 to none, two, or a bad one
	}
	if p.url.Host != "" {
		// RFC 9112 §3.2.2: an absolute-form target's authority wins over
		// Host, which net/http requires all the same.
		p.host = p.url.Host
	}
	// As net/http's readRequest does (RFC 9111 §5.4: Pragma: no-cache
	// where Cache-Control is absent).
	if pr := p.header["Pragma"]; len(pr) > 0 && pr[0] == "no-cache" {
		if _, ok := p.header["Cache-Control"]; !ok {
			p.header["Cache-Control"] = []string{"no-cache"}
		}
	}
	p.close = httpguts.HeaderValuesContainsToken(p.header["Connection"], "close")
	p.wantsClose = p.close || hasToken(headerGet(p.header, "Connection"), "close")
	return p, true
}

// requestLine reads the request line of a request served here: "GET" or
// "HEAD", a target in origin-form, or the absolute-form of an http URL a
// forward proxy's clients send (RFC 9112 §3.2.1-2), and "HTTP/1.1".
func requestLine(line []byte) (method, target string, u *url.URL, ok bool) {
	switch {
	case bytes.HasPrefix(line, []byte("GET ")):
		method, line = http.MethodGet, line[len("GET "):]
	case bytes.HasPrefix(line, []byte("HEAD ")):
		method, line = http.MethodHead, line[len("HEAD "):]
	default:
		return "", "", nil, false
	}
	t, ok := bytes.CutSuffix(line, []byte(" HTTP/1.1"))
	if !ok || !visibleASCII(t) || t[0] != '/' && !bytes.HasPrefix(t, []byte("http://")) {
		return "", "", nil, false
	}
	target = string(t)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return "", "", nil, false
	}
	return method, target, u, true
}

// fieldLine reads a field line of a request served here: its name
// canonical, its value without the optional whitespace around it. A field
// that announces a body, an expectation or a protocol switch is not one:
// net/http answers those.
func fieldLine(line []byte) (key string, v []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return "", nil, false // also a leading space: obs-fold or a bad first line
	}
	v = trimOWS(line[colon+1:])
	if !fieldValue(v) {
		return "", nil, false
	}
	key = canonicalKey(line[:colon])
	switch key {
	case "Content-Length", "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings":
		return "", nil, false
	}
	return key, v, true
}

// servablePrefix reports whether the lines of b, the start of a head whose
// end has not arrived, may still begin a head served here; lines before
// b[*checked:] passed already, and *checked moves past each line that
// passes. net/http answers a bad request line, or a bad field line, as
// soon as the line has arrived, without waiting for the end of the head
// (nor does it need CRLF to end a line): a head that cannot be served here
// goes to it then, and the client gets net/http's answer as soon as it
// would have. Waiting for the end of the head instead left a client that
// ended a line with a bare LF (whose head then never ends in CRLF CRLF)
// unanswered until read_header_timeout closed the connection.
func servablePrefix(b []byte, checked *int) bool {
	for {
		i := bytes.IndexByte(b[*checked:], '\n')
		if i < 0 {
			return true // the line is not complete: net/http waits too
		}
		line, ok := bytes.CutSuffix(b[*checked:*checked+i+1], []byte("\r\n"))
		if !ok || bytes.IndexByte(line, '\r') >= 0 {
			return false
		}
		if *checked == 0 {
			_, _, _, ok = requestLine(line)
		} else {
			_, _, ok = fieldLine(line)
		}
		if !ok {
			return false
		}
		*checked += i + 1
	}
}

// maxFieldsHint is textproto's cap on the fields it allocates for ahead.
const maxFieldsHint = 1000

// cutLine splits b at its first CRLF. A lone LF or CR in the line (which
// a tolerant reader might take for an end of line) makes it no line at all.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return nil, nil, false
	}
	line = b[:i]
	if bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, false
	}
	return line, b[i+2:], true
}

// visibleASCII reports whether b is VCHARs only (no space, control or
// non-ASCII byte): a target net/http and this package read alike.
func visibleASCII(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return len(b) > 0
}

func isToken(b []byte) bool {
	for _, c := range b {
		if !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return true
}

// fieldValue reports whether v is visible ASCII, spaces and tabs: the
// values net/http accepts, less obs-text, which this package leaves to it.
func fieldValue(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// trimOWS trims the optional whitespace around a field value (RFC 9112
// §5.1), as textproto does.
func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey of a token, without
// allocating for the fields clients send most.
func canonicalKey(name []byte) string {
	switch string(name) { // compiled to comparisons: no allocation
	case "Host", "host":
		return "Host"
	case "User-Agent", "user-agent":
		return "User-Agent"
	case "Accept", "accept":
		return "Accept"
	case "Accept-Encoding", "accept-encoding":
		return "Accept-Encoding"
	case "Accept-Language", "accept-language":
		return "Accept-Language"
	case "Connection", "connection":
		return "Connection"
	case "Cookie", "cookie":
		return "Cookie"
	case "Referer", "referer":
		return "Referer"
	case "Cache-Control", "cache-control":
		return "Cache-Control"
	case "If-None-Match", "if-none-match":
		return "If-None-Match"
	case "If-Modified-Since", "if-modified-since":
		return "If-Modified-Since"
	case "Range", "range":
		return "Range"
	case "Origin", "origin":
		return "Origin"
	case "X-Forwarded-For", "x-forwarded-for":
		return "X-Forwarded-For"
	case "Authorization", "authorization":
		return "Authorization"
	case "Pragma", "pragma":
		return "Pragma"
	case "Via", "via":
		return "Via"
	}
	return textproto.CanonicalMIMEHeaderKey(string(name))
}
