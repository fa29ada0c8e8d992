package rawio

import "net"

// TCPOf unwraps c to its *net.TCPConn through wrappers that hold no bytes
// of their own (they say so by an Unwrap() net.Conn method, such as
// edge/ratelimit's cap on connections). A TLS connection has no such
// method.
func TCPOf(c net.Conn) (*net.TCPConn, bool) {
	for {
		switch v := c.(type) {
		case *net.TCPConn:
			return v, true
		case interface{ Unwrap() net.Conn }:
			c = v.Unwrap()
		default:
			return nil, false
		}
	}
}
