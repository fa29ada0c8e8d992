// Package framingtest holds the HTTP/1 request-smuggling cases (RFC 9112
// §11.2) that every public listener is tested with: the plain listener
// (strictconn.WrapListener, as edge's tests and the binary serve it) and the
// binary's HTTPS listener (strictconn.Wrap after the TLS handshake). One
// table, so that the two listeners cannot drift apart.
package framingtest

// Smuggled follows each refused request on its connection: it is what a
// front proxy that read the framing the other way would have forwarded as
// the refused request's body. It must never reach the origin.
const Smuggled = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"

// Case is a request whose framing two parsers could read differently.
// Sent followed by Smuggled, it must be answered Status (0: any status, or
// none) and its connection closed after it; nothing of it reaches the
// origin unless HeadOK.
type Case struct {
	Name, Raw string
	Status    int
	// HeadOK: the header section is sound, so it may reach the origin, its
	// body cut short.
	HeadOK bool
}

// Refused returns the cases, a new slice on each call.
func Refused() []Case {
	return []Case{
		{"CL then TE", "POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false},
		{"TE then CL", "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, false},
		{"TE in HTTP/1.0", "POST /s HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, false},
		{"TE in HTTP/1.0 alone", "POST /s HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false},
		{"obs-fold hides TE", "POST /s HTTP/1.1\r\nHost: h\r\nX-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, false},
		{"bare LF", "POST /s HTTP/1.1\r\nHost: h\r\nX-A: b\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false},
		{"TE chunked, identity", "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501, false},
		{"TE identity, chunked", "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", 501, false},
		{"TE xchunked", "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, false},
		{"two TE fields", "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, false},
		{"space before colon", "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, false},
		{"two Content-Length", "POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nxxxxx", 400, false},
		{"Content-Length list", "POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 5\r\n\r\nxxxxx", 400, false},
		{"Content-Length sign", "POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: +0\r\n\r\n", 400, false},
		{"bare CR in value", "GET /s HTTP/1.1\r\nHost: h\r\nX-A: b\rTransfer-Encoding: chunked\r\n\r\n", 400, false},
		{"bare CR ends line", "GET /s HTTP/1.1\r\nHost: h\rX-A: b\r\n\r\n", 400, false},
		{"NUL in value", "GET /s HTTP/1.1\r\nHost: h\r\nX-A: b\x00c\r\n\r\n", 400, false},
		{"NUL in name", "GET /s HTTP/1.1\r\nHost: h\r\nX-\x00A: b\r\n\r\n", 400, false},
		{"chunk size bare LF", "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n", 0, true},
	}
}

// Request is what the origin must receive for one request of Allowed.
type Request struct {
	Method, Path string
	BodyLen      int
}

// Allowed is a pipeline of well-framed requests on one connection, with
// chunk extensions, trailers, optional whitespace around "chunked" (RFC
// 9110 §5.6.3) and an HTTP/1.0 keep-alive: each must be answered, in
// order, as the origin's answer to the matching AllowedRequests entry.
const Allowed = "POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" +
	"POST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  chunked\t\r\n\r\n5;ext=1\r\nhello\r\n3 \r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n" +
	"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n" +
	"POST /4 HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi" +
	"GET /5 HTTP/1.1\r\nHost: h\r\n\r\n"

// AllowedRequests returns the requests of Allowed, a new slice on each call.
func AllowedRequests() []Request {
	return []Request{{"POST", "/1", 5}, {"POST", "/2", 8}, {"GET", "/3", 0}, {"POST", "/4", 2}, {"GET", "/5", 0}}
}
