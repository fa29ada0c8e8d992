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
