package main

import "net/http"

// limitHeader answers 431 (RFC 6585 §5) to a request whose header section
// is longer than max bytes (server.max_header_bytes), before next sees it.
//
// net/http reads up to MaxHeaderBytes plus 4096 bytes of slack before it
// answers 431 itself, so a head up to 4 KiB over the configured limit used
// to be served and forwarded (an 8 KiB limit let a 12 KiB head through).
// edge/fastserve serves only heads within max, and hands longer ones to
// net/http: this check, on the handler of net/http's servers only (a hit
// that fastserve serves does not pay for it), is what holds them to it.
// The size is that of the
// request's HTTP/1.1 head in its usual spelling, counted from the parsed
// request: request line, a Host line, each field line as "Name: value"
// and CRLF, the blank line. A head spelled otherwise differs by its
// optional whitespace (a client that leaves out the space after a colon
// may be refused a byte per field early). Over HTTP/2 the same count
// applies to the decoded fields (net/http's own HTTP/2 bound is looser:
// MaxHeaderBytes plus 320 in RFC 9113's octets).
func limitHeader(next http.Handler, max int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headSize(r) > max {
			h := w.Header()
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Cache-Control", "no-store")
			h.Set("Connection", "close")
			w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
			_, _ = w.Write([]byte("431 Request Header Fields Too Large"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headSize is the size limitHeader compares with its limit.
func headSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2 + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2 // net/http takes it out of Header
	}
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n
}
