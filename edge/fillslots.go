package edge

import (
	"context"
	"net/netip"
	"sync"
)

// defaultFillsPerClient bounds the upstream fetches one client may have
// started and not finished. A fetch outlives its client (a disconnect must
// not cancel what others wait for), so without a bound one connection that
// opens and resets streams for distinct URLs (HTTP/2 rapid reset) could start
// thousands of origin fetches. A page load's burst of misses waits for a slot
// instead of failing.
const defaultFillsPerClient = 32

// fillSlots hands out the per-client fetch slots. Waiting happens in the
// client's own request, so a client that goes away stops waiting and starts
// nothing.
type fillSlots struct {
	perClient int // < 0: unlimited

	mu      sync.Mutex // guards clients
	clients map[netip.Addr]*clientSlots
}

type clientSlots struct {
	ch    chan struct{}
	users int // requests holding or waiting for a slot
}

// acquire waits for one of client's slots; release gives it back. ok is
// false when ctx ended first.
func (fs *fillSlots) acquire(ctx context.Context, client netip.Addr) (release func(), ok bool) {
	if fs.perClient < 0 {
		return func() {}, true
	}
	s := fs.join(client)
	select {
	case s.ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-s.ch; fs.leave(client, s) }) }, true
	case <-ctx.Done():
		fs.leave(client, s)
		return nil, false
	}
}

// tryAcquire takes a slot only if one is free at once (background work
// never waits).
func (fs *fillSlots) tryAcquire(client netip.Addr) (release func(), ok bool) {
	if fs.perClient < 0 {
		return func() {}, true
	}
	s := fs.join(client)
	select {
	case s.ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-s.ch; fs.leave(client, s) }) }, true
	default:
		fs.leave(client, s)
		return nil, false
	}
}

func (fs *fillSlots) join(client netip.Addr) *clientSlots {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.clients == nil {
		fs.clients = make(map[netip.Addr]*clientSlots)
	}
	s := fs.clients[client]
	if s == nil {
		s = &clientSlots{ch: make(chan struct{}, fs.perClient)}
		fs.clients[client] = s
	}
	s.users++
	return s
}

// leave forgets a client with nobody holding or waiting for its slots, so
// the map holds only clients with fetches under way.
func (fs *fillSlots) leave(client netip.Addr, s *clientSlots) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if s.users--; s.users == 0 {
		delete(fs.clients, client)
	}
}
