package ratelimit

import (
	"errors"
	"net"
	"testing"
	"time"
)

type acceptResult struct {
	c   net.Conn
	err error
}

func acceptAsync(l net.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := l.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

func dial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func waitAccept(tb testing.TB, ch <-chan acceptResult) net.Conn {
	tb.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			tb.Fatalf("Accept: %v", r.err)
		}
		return r.c
	case <-time.After(10 * time.Second):
		tb.Fatal("Accept did not return")
		return nil
	}
}

func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(inner, 2)
	defer l.Close()
	addr := inner.Addr().String()

	var open []net.Conn
	for range 2 {
		dial(t, addr)
		open = append(open, waitAccept(t, acceptAsync(l)))
	}
	dial(t, addr) // connected in the backlog, not accepted
	third := acceptAsync(l)
	select {
	case r := <-third:
		t.Fatalf("third connection accepted (err %v) while 2 are open, limit 2", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	// Closing twice frees one slot, not two.
	_ = open[0].Close()
	_ = open[0].Close()
	c3 := waitAccept(t, third)
	defer c3.Close()

	dial(t, addr)
	fourth := acceptAsync(l)
	select {
	case r := <-fourth:
		t.Fatalf("fourth connection accepted (err %v): a double Close freed two slots", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	// Closing the listener unblocks the waiting Accept with an error.
	_ = l.Close()
	select {
	case r := <-fourth:
		if !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("Accept after Close: err = %v, want net.ErrClosed", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
	_ = open[1].Close()
}

// One ConnLimit over two listeners counts their connections together, and
// an Accept that finds no slot says so (onFull, Full) before it waits.
func TestConnLimitShared(t *testing.T) {
	full := make(chan int, 4) // each onFull call, with the connections open then
	var lim *ConnLimit
	lim = NewConnLimit(2, func() {
		select {
		case full <- lim.Open():
		default: // called again while the client waits
		}
	})
	var ls []net.Listener
	for range 2 {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l := lim.Listen(inner)
		defer l.Close()
		ls = append(ls, l)
	}
	dial(t, ls[0].Addr().String())
	a := waitAccept(t, acceptAsync(ls[0]))
	dial(t, ls[1].Addr().String())
	b := waitAccept(t, acceptAsync(ls[1]))
	if lim.Open() != 2 || lim.Full() != 0 {
		t.Fatalf("Open %d, Full %d; want 2, 0", lim.Open(), lim.Full())
	}
	dial(t, ls[1].Addr().String())
	third := acceptAsync(ls[1])
	select {
	case open := <-full:
		if open != 2 || lim.Full() != 1 {
			t.Errorf("onFull saw %d open, Full %d; want 2, 1", open, lim.Full())
		}
	case r := <-third:
		t.Fatalf("third connection accepted (err %v) while the other listener holds the second slot", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting Accept did not call onFull")
	}
	_ = a.Close() // a slot of the first listener frees the second's Accept
	c := waitAccept(t, third)
	_ = c.Close()
	_ = b.Close()
	if lim.Max() != 2 {
		t.Errorf("Max %d, want 2", lim.Max())
	}
}
