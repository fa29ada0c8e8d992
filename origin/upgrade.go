package origin

import (
	"fmt"
	"io"
	"net/http"
	"sync"
)

// upgradeHeader asks for the protocol switch out names (RFC 9110 §7.8):
// Upgrade is hop-by-hop, so forwardHeader removed the client's; the proxy
// sends its own, with the Connection option that names it (RFC 9110
// §7.6.1).
func upgradeHeader(h http.Header, out *Outbound) {
	if out.Upgrade == "" {
		return
	}
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", out.Upgrade)
}

// upgraded turns the body of a 101 (Switching Protocols) answer to an
// upgrade request into the connection itself, which the caller owns from
// then on: net/http hands a writable body over only for a protocol switch
// and never reuses the connection. Closing it ends the exchange (done).
func upgraded(resp *http.Response, base string, done func()) error {
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		done()
		return fmt.Errorf("%w: %s answered 101 without switching the connection's protocol", ErrProtocol, base)
	}
	resp.Body = &upgradedConn{ReadWriteCloser: rwc, done: done}
	return nil
}

// upgradedConn is an upstream connection after a protocol switch.
type upgradedConn struct {
	io.ReadWriteCloser
	once sync.Once
	done func()
}

func (c *upgradedConn) Close() error {
	err := c.ReadWriteCloser.Close()
	c.once.Do(c.done)
	return err
}
