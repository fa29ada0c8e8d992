package strictconn

import "net"

// Release ends the framer's watch over c, a connection accepted
// from a WrapListener listener (or made by Wrap) and hijacked from
// net/http. It returns the bytes the framer read from the client but had
// not yet handed on, and the connection underneath, which the caller reads
// from after them. For any other connection it returns nil and c. c must
// not be read again.
//
// The forward proxy (edge/forward) needs it: a CONNECT tunnel carries bytes
// that are not HTTP/1 once the proxy has answered 200 (RFC 9110 §9.3.6), so
// the framer must stop reading them as requests, or it would hold the first
// bytes of a TLS handshake back as an unfinished header section.
func Release(c net.Conn) (held []byte, raw net.Conn) {
	var sc *strictConn
	switch v := c.(type) {
	case *strictConn:
		sc = v
	case *strictTLSConn:
		sc = v.strictConn
	default:
		return nil, c
	}
	f := &sc.f
	held = append(append(held, f.out[f.outPos:]...), f.in...)
	f.out, f.outPos, f.in, f.state = nil, 0, nil, stClosed
	return held, sc.hc.Conn // past halfclose: a relay reads its own way, and splice(2) needs the socket
}
