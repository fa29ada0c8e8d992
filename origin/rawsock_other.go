//go:build !unix

package origin

import (
	"net"
	"sync"
)

// rawSockets reports whether upstream connections have a rawSocket.
const rawSockets = false

// rawSocket is not available on this platform: upstream connections read
// through net.Conn and cannot look at the kernel's receive queue, so bytes
// an upstream sends unasked are caught once read, not before the next
// request is written (see docs/security.md).
type rawSocket struct{}

func rawSocketOf(net.Conn, *sync.Mutex, func([]byte)) *rawSocket { return nil }

func (*rawSocket) read([]byte) (int, error) {
	panic("origin: no raw socket on this platform")
}

func (*rawSocket) pending([]byte) (int, bool) { return 0, false }
