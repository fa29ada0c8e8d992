package edge

import (
	"bytes"
	"testing"
)

// wsBoundaries is an independent reading of RFC 6455 §5.2 framing: the
// offsets in b at which a frame ends (0 included).
func wsBoundaries(b []byte) map[int]bool {
	at := map[int]bool{0: true}
	for i := 0; i < len(b); {
		if len(b)-i < 2 {
			break
		}
		n := 2
		plen := uint64(b[i+1] & 0x7f)
		switch plen {
		case 126:
			n += 2
		case 127:
			n += 8
		}
		if b[i+1]&0x80 != 0 {
			n += 4
		}
		if len(b)-i < n {
			break
		}
		switch plen {
		case 126:
			plen = uint64(b[i+2])<<8 | uint64(b[i+3])
		case 127:
			plen = 0
			for _, c := range b[i+2 : i+10] {
				plen = plen<<8 | uint64(c)
			}
		}
		if plen > uint64(len(b)-i-n) {
			break
		}
		i += n + int(plen)
		at[i] = true
	}
	return at
}

func TestWSFrames(t *testing.T) {
	var stream []byte
	stream = append(stream, 0x81, 0x02, 'h', 'i')                             // short, unmasked
	stream = append(stream, 0x82, 0x80|3, 1, 2, 3, 4, 9, 9, 9)                // masked
	stream = append(stream, 0x02, 126, 0x01, 0x00)                            // 16-bit length
	stream = append(stream, make([]byte, 256)...)                             //
	stream = append(stream, 0x80, 127, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5) // 64-bit length
	stream = append(stream, 0x89, 0x00)                                       // empty ping
	stream = append(stream, wsCloseFrame(1001, "x", true)...)
	checkWSFrames(t, stream, []byte{1, 7, 3})
}

func FuzzWSFrames(f *testing.F) {
	f.Add([]byte{0x81, 0x02, 'h', 'i', 0x88, 0x80, 1, 2, 3, 4}, []byte{1})
	f.Add(append([]byte{0x02, 126, 0x00, 0x03, 1, 2, 3}, wsCloseFrame(1001, "bye", false)...), []byte{2, 5})
	f.Add([]byte{0x80, 127, 0xff, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{3})
	f.Fuzz(checkWSFrames)
}

// checkWSFrames feeds stream to wsFrames in chunks of the sizes splits
// gives (cycled) and checks every boundary it reports, byte by byte and by
// stopping at boundaries, against wsBoundaries.
func checkWSFrames(t *testing.T, stream, splits []byte) {
	want := wsBoundaries(stream)
	var f wsFrames
	for i := range stream {
		if f.atBoundary() != want[i] {
			t.Fatalf("at %d: atBoundary %v, want %v", i, f.atBoundary(), want[i])
		}
		f.feed(stream[i:i+1], false)
	}
	if f.atBoundary() != want[len(stream)] {
		t.Fatalf("at the end (%d): atBoundary %v, want %v", len(stream), f.atBoundary(), want[len(stream)])
	}
	var g wsFrames
	var got bytes.Buffer
	pos := 0
	for k := 0; pos < len(stream); k++ {
		size := 1
		if len(splits) > 0 {
			size = int(splits[k%len(splits)]) + 1
		}
		chunk := stream[pos:min(pos+size, len(stream))]
		for len(chunk) > 0 {
			n := g.feed(chunk, true)
			if n < 0 {
				n = len(chunk)
				for j := 1; j <= n; j++ { // none in the chunk, nor at its end
					if want[pos+j] {
						t.Fatalf("boundary at %d missed", pos+j)
					}
				}
			} else {
				if !want[pos+n] {
					t.Fatalf("stopped at %d, not a boundary", pos+n)
				}
				if n == 0 { // at a boundary: step past one byte
					g.feed(chunk[:1], false)
					n = 1
				}
			}
			got.Write(chunk[:n])
			pos += n
			chunk = chunk[n:]
		}
	}
	if !bytes.Equal(got.Bytes(), stream) {
		t.Fatal("chunks lost bytes")
	}
}
