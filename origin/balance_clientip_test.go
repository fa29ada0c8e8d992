package origin

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// clientIPs are n distinct client addresses, IPv4 and IPv6 mixed.
func clientIPs(n int) []string {
	ips := make([]string, n)
	for i := range ips {
		if i%2 == 0 {
			ips[i] = fmt.Sprintf("198.51.%d.%d", i/256%256, i%256)
		} else {
			ips[i] = fmt.Sprintf("2001:db8::%x", i)
		}
	}
	return ips
}

// pickClient is the server a client_ip_hash pool picks for ip.
func pickClient(p *Pool, ip string, tried ...*upstream) *upstream {
	return p.pick(p.balanceKey(&Outbound{Key: "same-object", RealClientIP: ip}), tried)
}

// TestClientIPHashEven checks that clients spread evenly over equal servers
// whatever object they ask for (the cache key plays no part).
func TestClientIPHashEven(t *testing.T) {
	p := newTestPool(t, PoolOptions{Algorithm: ClientIPHash, Servers: servers(fakeURLs(4)...)})
	const n = 8000
	got := map[string]int{}
	for _, ip := range clientIPs(n) {
		got[pickClient(p, ip).base]++
	}
	for _, u := range fakeURLs(4) {
		if share := float64(got[u]) / n; share < 0.20 || share > 0.30 {
			t.Errorf("%s took %.3f of the clients, want 0.25±0.05 (%v)", u, share, got)
		}
	}
}

// TestClientIPHashAddServerMovesFew checks the consistency the algorithm is
// chosen for: adding a fifth server to four moves about 1/5 of the clients,
// at most 1.5 times that, and every moved client moves to the new server.
func TestClientIPHashAddServerMovesFew(t *testing.T) {
	urls := fakeURLs(5)
	four := newTestPool(t, PoolOptions{Algorithm: ClientIPHash, Servers: servers(urls[:4]...)})
	five := newTestPool(t, PoolOptions{Algorithm: ClientIPHash, Servers: servers(urls...)})
	const n = 5000
	moved := 0
	for _, ip := range clientIPs(n) {
		before, after := pickClient(four, ip).base, pickClient(five, ip).base
		if before == after {
			continue
		}
		moved++
		if after != urls[4] {
			t.Fatalf("client %s moved from %s to %s, not to the added server", ip, before, after)
		}
	}
	if limit := n * 3 / (2 * 5); moved > limit || moved < n/10 {
		t.Errorf("adding a 5th server moved %d of %d clients, want about %d and at most %d", moved, n, n/5, limit)
	}
}

// TestClientIPHashStableFallback checks health: a client whose server is
// ejected goes to the same other server every time, and back once its
// server returns; a retry excludes the server already tried.
func TestClientIPHashStableFallback(t *testing.T) {
	p := newTestPool(t, PoolOptions{Algorithm: ClientIPHash, Servers: servers(fakeURLs(4)...)})
	for _, ip := range clientIPs(200) {
		first := pickClient(p, ip)
		first.eject.until.Store(time.Now().Add(time.Hour).UnixNano())
		second := pickClient(p, ip)
		if second == nil || second == first {
			t.Fatalf("client %s: with %s ejected got %v", ip, first.base, second)
		}
		for range 3 {
			if again := pickClient(p, ip); again != second {
				t.Fatalf("client %s: fallback moved from %s to %s", ip, second.base, again.base)
			}
		}
		if third := pickClient(p, ip, second); third == nil || third == first || third == second {
			t.Fatalf("client %s: retry after %s picked %v", ip, second.base, third)
		}
		first.eject.until.Store(0)
		if back := pickClient(p, ip); back != first {
			t.Fatalf("client %s: server %s back, but pick = %s", ip, first.base, back.base)
		}
	}
}

// TestClientIPHashThroughListeners sends requests of several clients for
// different objects through real servers: each client always reaches the
// same server, the clients reach all of them, and without RealClientIP the
// socket address of ClientIP is hashed.
func TestClientIPHashThroughListeners(t *testing.T) {
	_, urls := recorders(t, 3)
	c := newTestClient(t, Options{Pool: newTestPool(t, PoolOptions{Algorithm: ClientIPHash, Servers: servers(urls...)})})
	served := func(out *Outbound) string {
		t.Helper()
		resp, err := c.Do(context.Background(), out)
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp.Header.Get("X-Served-By")
	}
	used := map[string]bool{}
	for _, ip := range clientIPs(24) {
		want := ""
		for i := range 4 {
			uri := fmt.Sprintf("/obj/%d", i)
			out := &Outbound{Method: http.MethodGet, Host: "site.example", RequestURI: uri, Key: "https://site.example" + uri,
				ClientIP: "127.0.0.1:4000", RealClientIP: ip}
			if i == 3 {
				// Without RealClientIP the ClientIP's address, port
				// ignored, is hashed.
				out.RealClientIP, out.ClientIP = "", "["+ip+"]:"+fmt.Sprint(5000+i)
				if ip[0] != '2' {
					out.ClientIP = ip + ":5003"
				}
			}
			got := served(out)
			if want == "" {
				want = got
			} else if got != want {
				t.Fatalf("client %s: %s served by %s, earlier ones by %s", ip, uri, got, want)
			}
		}
		used[want] = true
	}
	if len(used) != 3 {
		t.Errorf("24 clients used servers %v, want all 3", used)
	}
}
