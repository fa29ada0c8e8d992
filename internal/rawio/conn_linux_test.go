package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	t.Cleanup(func() { c.Close(); a.c.Close() })
	return c.(*net.TCPConn), a.c.(*net.TCPConn)
}

func TestNewOnlyForTCP(t *testing.T) {
	c, _ := pair(t)
	if New(c) == nil {
		t.Fatal("no raw path for a *net.TCPConn")
	}
	type wrapped struct{ net.Conn }
	if New(wrapped{c}) != nil {
		t.Fatal("a wrapper of a connection was bypassed")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if New(a) != nil {
		t.Fatal("a raw path for a pipe")
	}
}

// TestReadWrite moves more bytes than the sockets' buffers hold, so that
// writes wait for room and reads for bytes, through the netpoller.
func TestReadWrite(t *testing.T) {
	c, s := pair(t)
	rc, rs := New(c), New(s)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	errc := make(chan error, 1)
	go func() {
		n, err := rc.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		errc <- err
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 7000)
	for len(got) < len(want) {
		time.Sleep(time.Microsecond) // let the writer fill the buffers
		n, err := rs.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-errc; err != nil {
		t.Fatal("write:", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
	if n, err := rs.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
}

func TestWriteBuffers(t *testing.T) {
	c, s := pair(t)
	rc := New(c)
	big := bytes.Repeat([]byte("x"), 3<<20) // more than one writev takes
	bufs := [][]byte{[]byte("head "), nil, big, []byte(" tail")}
	want := bytes.Join(bufs, nil)
	errc := make(chan error, 1)
	go func() {
		n, err := rc.WriteBuffers(bufs)
		if err == nil && n != int64(len(want)) {
			err = io.ErrShortWrite
		}
		errc <- err
		c.CloseWrite()
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal("writev:", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
}

func TestReadEndOfStream(t *testing.T) {
	c, s := pair(t)
	if _, err := c.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	r := New(s)
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "last" {
		t.Fatalf("got %q, %v", got, err)
	}
	if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("after the end: %d, %v; want 0, io.EOF", n, err)
	}
}

// TestDeadlines: a deadline set on the connection bounds the raw reads and
// writes, and they fail as net.Conn's do.
func TestDeadlines(t *testing.T) {
	c, s := pair(t)
	r := New(s)
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := r.Read(make([]byte, 8))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past its deadline: %v", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("read error %#v, want a *net.OpError of op read", err)
	}
	// A write that cannot finish (nobody reads c) ends at its deadline.
	big := make([]byte, 64<<20)
	s.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := r.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n == 64<<20 {
		t.Fatalf("write past its deadline: %d bytes, %v", n, err)
	}
	_ = c
}

// TestCloseEndsRead: closing the connection ends a read waiting on it.
func TestCloseEndsRead(t *testing.T) {
	_, s := pair(t)
	r := New(s)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond) // let it wait; it fails either way
	s.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read of a closed connection: %v", err)
	}
}

// TestReset: a reset by the peer is an error, not an end of stream.
func TestReset(t *testing.T) {
	c, s := pair(t)
	c.SetLinger(0)
	c.Close() // RST
	r := New(s)
	_, err := r.Read(make([]byte, 8))
	if err == nil || err == io.EOF {
		t.Fatalf("read after a reset: %v", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("error %#v, want a *net.OpError", err)
	}
}

func TestPeek(t *testing.T) {
	c, s := pair(t)
	rc, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	peek := func() (int, error) {
		var n int
		var perr error
		if err := rc.Control(func(fd uintptr) { n, perr = Peek(fd, make([]byte, 4)) }); err != nil {
			t.Fatal(err)
		}
		return n, perr
	}
	if n, err := peek(); n != 0 || err == nil {
		t.Fatalf("peek of an empty socket: %d, %v", n, err)
	}
	c.Write([]byte("abcdef"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := peek()
		if err == nil && n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peek: %d, %v", n, err)
		}
		time.Sleep(time.Millisecond)
	}
	got, _ := io.ReadAll(io.LimitReader(New(s), 6))
	if string(got) != "abcdef" {
		t.Fatalf("after the peek read %q", got)
	}
}

// TestConcurrentWriters: like a net.Conn, a Conn is written by several
// goroutines at once (an upgraded upstream connection: the transport's
// write of the request, then a WebSocket relay and its close frames), and
// each write arrives whole. Blocks larger than a socket buffer make the
// writes wait for room in the middle, where a second writer would clobber
// the first one's progress if they shared it.
func TestConcurrentWriters(t *testing.T) {
	c, s := pair(t)
	rc := New(c)
	const writers, blocks, size = 4, 16, 256 << 10
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			block := bytes.Repeat([]byte{byte('a' + w)}, size)
			for i := range blocks {
				var err error
				if i%2 == 0 {
					_, err = rc.Write(block)
				} else {
					_, err = rc.WriteBuffers([][]byte{block[:size/2], block[size/2:]})
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	go func() {
		for range writers {
			if err := <-errc; err != nil {
				t.Error("write:", err)
			}
		}
		c.CloseWrite()
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*blocks*size {
		t.Fatalf("read %d bytes, want %d", len(got), writers*blocks*size)
	}
	for off := 0; off < len(got); off += size {
		b := got[off : off+size]
		if n := bytes.Count(b, b[:1]); n != size {
			t.Fatalf("block at %d mixes writers: %d of %d bytes are %q", off, n, size, b[:1])
		}
	}
}

// TestWriteBuffersKeepsNoBody: once WriteBuffers returns, the Conn holds
// nothing of what it wrote. The edge counts a body against its memory
// budget until the body is garbage; an iovec left pointing at it kept it
// counted for as long as the client's connection stayed open.
func TestWriteBuffersKeepsNoBody(t *testing.T) {
	c, s := pair(t)
	rc := New(c)
	go io.Copy(io.Discard, s)
	freed := make(chan struct{})
	func() {
		body := make([]byte, 64<<10)
		runtime.AddCleanup(&body[0], func(ch chan struct{}) { close(ch) }, freed)
		if _, err := rc.WriteBuffers([][]byte{[]byte("head"), body}); err != nil {
			t.Fatal(err)
		}
	}()
	for i := 0; ; i++ {
		runtime.GC()
		select {
		case <-freed:
			runtime.KeepAlive(rc)
			return
		case <-time.After(10 * time.Millisecond):
		}
		if i == 500 {
			t.Fatal("the written body is still reachable from the Conn")
		}
	}
}
