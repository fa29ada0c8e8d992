//go:build !linux

package rawio

import "net"

// Conn is the raw path of a TCP connection; on this platform there is
// none, and New returns nil.
type Conn struct{}

// New returns nil: this platform reads and writes through net.Conn.
func New(net.Conn) *Conn { return nil }

// Read is never called: New returns no Conn.
func (*Conn) Read([]byte) (int, error) { panic("rawio: no raw path on this platform") }

// Write is never called: New returns no Conn.
func (*Conn) Write([]byte) (int, error) { panic("rawio: no raw path on this platform") }

// WriteBuffers is never called: New returns no Conn.
func (*Conn) WriteBuffers([][]byte) (int64, error) { panic("rawio: no raw path on this platform") }
