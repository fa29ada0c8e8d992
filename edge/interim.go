package edge

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"net/textproto"

	"edged/internal/httpsyntax"
	"edged/origin"
)

// maxInterim bounds the interim responses passed on for one request: an
// upstream cannot make the edge write to a client without end.
const maxInterim = 8

// interimSkipped are the fields of an upstream's interim response that are
// not passed on: hop-by-hop (RFC 9110 §7.6.1) and framing fields, which
// belong to the upstream connection, and Set-Cookie, which a 1xx does not
// carry to clients (RFC 8297 §2: hints about the final response only).
var interimSkipped = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Transfer-Encoding": true,
	"Upgrade": true, "Content-Length": true, "Trailer": true, "Set-Cookie": true,
}

// withInterim returns ctx carrying a trace that hands each interim (1xx)
// response of the upstream exchange to send. 100 (Continue) is the
// transport's own business and 101 is final (RFC 9110 §15.2.2). One of
// more field lines than origin.MaxResponseFields is dropped, as a final
// response of that many is refused: the bound holds for every upstream
// head, and a hint is only a hint (the final response still comes).
func withInterim(ctx context.Context, send func(int, textproto.MIMEHeader)) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
			if code != http.StatusContinue && httpsyntax.FieldLines(http.Header(header)) <= origin.MaxResponseFields {
				send(code, header)
			}
			return nil
		},
	})
}

// sendInterim passes an upstream's interim response (103 Early Hints, RFC
// 8297; 102 Processing) on to the client before the final one. It is
// never stored: only the final response is (RFC 9111 §3). The caller makes
// sure nothing else writes to the client meanwhile.
func (x *exchange) sendInterim(code int, fields textproto.MIMEHeader) {
	r := x.r
	if x.interim >= maxInterim || r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		// RFC 9110 §15.2: no 1xx to an HTTP/1.0 client.
		return
	}
	x.interim++
	// net/http sends the handler's header map with a 1xx and keeps it for
	// the final response (RFC 8297 §2): the fields go in for the 1xx only.
	hdr := x.w.Header()
	prior := make(map[string][]string, len(fields))
	for name, v := range fields {
		if interimSkipped[name] {
			continue
		}
		old, had := hdr[name]
		if had {
			prior[name] = old
		} else {
			prior[name] = nil
		}
		hdr[name] = v
	}
	x.w.ResponseWriter.WriteHeader(code) // not the tracked status: the final one is
	for name, old := range prior {
		if old == nil {
			delete(hdr, name)
		} else {
			hdr[name] = old
		}
	}
}

// interim is an upstream's interim response on its way to a leader.
type interim struct {
	code   int
	header textproto.MIMEHeader
}

// interimQueue carries the interim responses of a shared fetch, which runs
// in its own goroutine, to the request that started it; the request writes
// them while it waits, since its writer is not safe to share. Waiters that
// joined the fetch get none. Full, it drops the rest.
type interimQueue chan interim

func (q interimQueue) send(code int, h textproto.MIMEHeader) {
	select {
	case q <- interim{code, h}:
	default:
	}
}

// drain writes what q holds to x's client.
func (q interimQueue) drain(x *exchange) {
	for {
		select {
		case in := <-q:
			x.sendInterim(in.code, in.header)
		default:
			return
		}
	}
}
