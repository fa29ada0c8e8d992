package edge

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestFillSlots(t *testing.T) {
	fs := fillSlots{perClient: 2}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	r1, ok1 := fs.acquire(context.Background(), a)
	r2, ok2 := fs.acquire(context.Background(), a)
	if !ok1 || !ok2 {
		t.Fatal("the first two slots were refused")
	}
	if _, ok := fs.tryAcquire(a); ok {
		t.Error("a third slot was handed out without waiting")
	}
	// Another client is not held up by a's full slots.
	rb, okb := fs.acquire(context.Background(), b)
	if !okb {
		t.Fatal("client b waited for client a's slots")
	}
	rb()
	// A client that leaves while waiting gets nothing and starts nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, ok := fs.acquire(ctx, a); ok {
		t.Error("a waiting request whose client left got a slot")
	}
	// A slot given back lets a waiter through.
	got := make(chan bool)
	go func() {
		_, ok := fs.acquire(context.Background(), a)
		got <- ok
	}()
	r1()
	r1() // releasing twice is harmless
	if !<-got {
		t.Error("a waiter did not get the released slot")
	}
	r2()
	fs.mu.Lock()
	n := len(fs.clients)
	fs.mu.Unlock()
	if n != 1 { // a still holds the waiter's slot
		t.Errorf("tracked clients = %d, want 1", n)
	}
}

// TestFillSlotsSpareNotShared: the slots a client no longer uses are kept
// for the next client, which gets them all free; a late second release
// by the first client gives back nothing of the second's, and the two
// never share slots while both hold some.
func TestFillSlotsSpareNotShared(t *testing.T) {
	fs := fillSlots{perClient: 1}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	ra, ok := fs.acquire(context.Background(), a)
	if !ok {
		t.Fatal("a's slot was refused")
	}
	ra() // a's slots are spare now
	rb, ok := fs.tryAcquire(b)
	if !ok {
		t.Fatal("b did not get the spare slots, all free")
	}
	ra() // a late second release: a holds nothing any more
	if _, ok := fs.tryAcquire(b); ok {
		t.Error("b got a second slot of one: a's late release freed b's")
	}
	ra2, ok := fs.tryAcquire(a)
	if !ok {
		t.Fatal("a waited for b's slots")
	}
	if _, ok := fs.tryAcquire(b); ok {
		t.Error("b got a second slot while a holds its own")
	}
	ra2()
	rb()
	if testing.AllocsPerRun(100, func() {
		r, _ := fs.tryAcquire(a)
		r()
	}) > 2 { // the release func and its once
		t.Error("a client's slots were made anew for each fetch")
	}
}
