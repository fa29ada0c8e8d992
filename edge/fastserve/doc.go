// Package fastserve serves the plainest HTTP/1.1 requests (GET and HEAD,
// no body) on a connection loop of its own, and hands every connection it
// does not fully understand to net/http.
//
// A cache's hits are small, bodiless requests answered from memory: at
// tens of thousands a second, net/http's per-request machinery (a
// goroutine watching each connection, a context and a buffered writer per
// request, a header map cloned per response) costs more CPU than the
// handler. This loop does the same job for those requests with less, and
// leaves every other shape of HTTP to net/http, whose behaviour it
// reproduces rather than extends.
//
// # Contract
//
//   - A request is served here only if its head is, byte for byte, one this
//     package reads exactly as net/http would: request line "GET" or "HEAD",
//     a target in origin-form or the absolute-form of an http URL (a forward
//     proxy's requests) that url.ParseRequestURI accepts, "HTTP/1.1";
//     every line ending in CRLF; field names of token characters; values of
//     visible ASCII, space and tab; exactly one valid Host; and no
//     Content-Length, Transfer-Encoding, Expect, Upgrade or HTTP2-Settings
//     field. The handler then sees the *http.Request net/http would build:
//     Host taken out of Header (and Request.Host the absolute-form target's
//     authority, when it has one), a lone "Pragma: no-cache" read as
//     "Cache-Control: no-cache", Close from "Connection: close", an empty Body.
//   - On the first request that is not such a request, the connection, with
//     every byte of that request and the ones after it, goes to the listener
//     Handoffs returns: an http.Server serving it sees exactly the bytes the
//     client sent from there on, and serves the rest of the connection. A
//     head longer than MaxHeaderBytes is handed on too (net/http answers 431).
//     A head is handed on as soon as a line of it shows it is not such a
//     request (net/http answers a bad line without waiting for the rest; a
//     head whose lines end in bare LF never ends in CRLF CRLF), not when it
//     ends.
//   - Responses are those net/http writes for the same handler calls: status
//     line, header fields sorted, Date added, Content-Length worked out for a
//     short body the handler finished, Content-Type sniffed when none is set,
//     chunked coding otherwise, the fields a 1xx, 204 or 304 may not carry
//     dropped, interim 1xx responses sent at once. The writer supports
//     Flush, io.ReaderFrom (sendfile(2) from a file over plain TCP) and
//     http.ResponseController's deadlines; it does not support Hijack (no
//     request that could upgrade is served here).
//   - Request.Context is cancelled when the handler returns or panics, and
//     while it runs once the client resets the connection (a pipelined
//     request's too) or a write to it fails; a client sending more
//     requests is no disconnect, and neither is its end of stream (FIN):
//     a client that half-closes its side after its request (nc -N) is
//     answered, where net/http alone cancels (edge/strictconn holds that
//     EOF from net/http for the same answer). The requests read before a
//     client's reset are still answered, with their contexts cancelled. The watch on the connection starts only when
//     something waits on the context (calls Done), since a hit never does,
//     and then 2 ms later (most misses are answered sooner): Err reports a
//     disconnect seen by no write only after Done was called, and a
//     disconnect is noticed up to 2 ms later than net/http notices it.
//   - The timeouts are net/http's: ReadHeaderTimeout from a request's first
//     byte (and from the connection's start), IdleTimeout between requests.
//     Shutdown stops accepting, closes idle connections, lets requests under
//     way finish (their responses say "Connection: close"), and waits for
//     them; Close cuts every connection. Neither reaches connections handed
//     to net/http: the http.Server serving Handoffs owns those.
//   - A handler's panic is logged with its stack and closes the connection,
//     but for http.ErrAbortHandler, which closes it silently. What net/http
//     would flush goes out first (the head and the body that got past its
//     2 KiB response buffer; up to 2 KiB more when a write of over 8 KiB
//     of output had to go out with them), when the client can tell it is
//     cut short (a chunked body without its last chunk, a body short of its
//     Content-Length); otherwise nothing does, where net/http sends a HEAD
//     response's head whole.
//
// It imports nothing of module edged: the binary puts it outermost on the
// public listener, in front of edge/strictconn and net/http.
package fastserve
