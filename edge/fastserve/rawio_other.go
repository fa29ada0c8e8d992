//go:build !linux

package fastserve

import "net"

// rawIO is Linux's; elsewhere the connection's own methods are used.
type rawIO struct{}

func (r *rawIO) init(net.Conn) {}

func (c *conn) read(p []byte) (int, error)  { return c.rwc.Read(p) }
func (c *conn) write(p []byte) (int, error) { return c.rwc.Write(p) }

func (c *conn) writev(a, b []byte) error {
	c.iov = append(c.iov[:0], a, b)
	_, err := c.iov.WriteTo(c.rwc)
	return err
}
