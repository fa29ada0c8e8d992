package edge

import (
	"crypto/rand"
	"encoding/binary"
)

// wsFrames follows the frame boundaries of one direction of a WebSocket
// connection (RFC 6455 §5.2) without reading payloads, so that the relay
// can put a frame of its own between two of the peer's: a close frame when
// a connection reaches its route's MaxDuration. RFC 6455 §5.4 lets a
// control frame go between the fragments of a message, so a boundary is
// any frame's end. The bytes are the peer's: nothing here trusts a length
// beyond counting it down.
type wsFrames struct {
	head    [14]byte // the frame header read so far
	headLen int      // bytes of head filled
	left    uint64   // payload bytes of the current frame still to come
}

// atBoundary reports whether the bytes fed so far end a frame (or none
// came yet).
func (f *wsFrames) atBoundary() bool { return f.headLen == 0 && f.left == 0 }

// feed consumes p. With stop, it consumes only up to the first frame
// boundary it reaches (0 if it is at one already) and returns how many
// bytes it consumed, or -1 (all of p consumed) when p holds none.
func (f *wsFrames) feed(p []byte, stop bool) int {
	n := 0
	for {
		if stop && f.atBoundary() {
			return n
		}
		if n == len(p) {
			return -1
		}
		if f.left > 0 {
			k := uint64(len(p) - n)
			if k > f.left {
				k = f.left
			}
			f.left -= k
			n += int(k)
			continue
		}
		f.head[f.headLen] = p[n]
		f.headLen++
		n++
		if need := wsHeadLen(f.head[:f.headLen]); f.headLen == need {
			f.left = wsPayloadLen(f.head[:need])
			f.headLen = 0
		}
	}
}

// wsHeadLen is the length of a frame header that starts with b (at least
// one byte): 2, then 2 or 8 bytes of extended length, then a 4-byte
// masking key if the MASK bit is set (RFC 6455 §5.2). With one byte it is
// 2, which is all that can be known yet.
func wsHeadLen(b []byte) int {
	if len(b) < 2 {
		return 2
	}
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// wsPayloadLen is the payload length of the complete frame header h.
func wsPayloadLen(h []byte) uint64 {
	switch n := h[1] & 0x7f; n {
	case 126:
		return uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return binary.BigEndian.Uint64(h[2:10])
	default:
		return uint64(n)
	}
}

// wsStatusGoingAway is the close status a connection cut at its route's
// MaxDuration gets (RFC 6455 §7.4.1: "an endpoint is going away"), which
// clients commonly answer by connecting again.
const wsStatusGoingAway = 1001

// wsCloseFrame is a close frame (RFC 6455 §5.5.1) with status and reason
// (under 124 bytes), masked with a fresh key when masked: frames a client
// sends must be, frames a server sends must not be (§5.1).
func wsCloseFrame(status uint16, reason string, masked bool) []byte {
	payload := binary.BigEndian.AppendUint16(nil, status)
	payload = append(payload, reason...)
	b := []byte{0x88, byte(len(payload))} // FIN, opcode 0x8
	if !masked {
		return append(b, payload...)
	}
	b[1] |= 0x80
	var key [4]byte
	_, _ = rand.Read(key[:])
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}
