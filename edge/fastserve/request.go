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
	switch {
	case bytes.HasPrefix(line, []byte("GET ")):
		p.method, line = http.MethodGet, line[len("GET "):]
	case bytes.HasPrefix(line, []byte("HEAD ")):
		p.method, line = http.MethodHead, line[len("HEAD "):]
	default:
		return p, false
	}
	target, ok := bytes.CutSuffix(line, []byte(" HTTP/1.1"))
	// Origin-form, or the absolute-form of an http URL a forward proxy's
	// clients send (RFC 9112 §3.2.1-2).
	if !ok || !visibleASCII(target) || target[0] != '/' && !bytes.HasPrefix(target, []byte("http://")) {
		return p, false
	}
	p.target = string(target)
	u, err := url.ParseRequestURI(p.target)
	if err != nil {
		return p, false
	}
	p.url = u

	// One []string for every value, as textproto sizes it: the lines left
	// bound the number of fields.
	values := make([]string, 0, bytes.Count(rest, []byte("\r\n")))
	p.header = make(http.Header, cap(values))
	hosts := 0
	for {
		if line, rest, ok = cutLine(rest); !ok {
			return p, false
		}
		if len(line) == 0 {
			break // the blank line: rest is empty, as head ends there
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return p, false // also a leading space: obs-fold or a bad first line
		}
		v := trimOWS(line[colon+1:])
		if !fieldValue(v) {
			return p, false
		}
		key := canonicalKey(line[:colon])
		switch key {
		case "Content-Length", "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings":
			return p, false // a body, an expectation or a protocol switch: net/http's
		case "Host":
			hosts++
			p.host = string(v)
			continue // net/http takes Host out of Header
		}
		values = append(values, string(v))
		vv := p.header[key]
		if vv == nil {
			// A slice of one, capped, so an append by the handler copies.
			p.header[key] = values[len(values)-1 : len(values) : len(values)]
			continue
		}
		p.header[key] = append(vv, values[len(values)-1])
	}
	if hosts != 1 || !httpguts.ValidHostHeader(p.host) {
		return p, false // net/http answers 400 to none, two, or a bad one
	}
	if u.Host != "" {
		// RFC 9112 §3.2.2: an absolute-form target's authority wins over
		// Host, which net/http requires all the same.
		p.host = u.Host
	}
	// As net/http's readRequest does (RFC 9111 §5.4: Pragma: no-cache
	// where Cache-Control is absent).
	if pr := p.header["Pragma"]; len(pr) > 0 && pr[0] == "no-cache" {
		if _, ok := p.header["Cache-Control"]; !ok {
			p.header["Cache-Control"] = []string{"no-cache"}
		}
	}
	p.close = httpguts.HeaderValuesContainsToken(p.header["Connection"], "close")
	return p, true
}

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
