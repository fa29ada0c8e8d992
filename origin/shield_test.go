package origin

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestShieldOrderStable(t *testing.T) {
	shields := []string{"http://s1.example", "http://s2.example", "http://s3.example"}
	a := newTestClient(t, Options{Shields: shields})
	// Another node configured with the shields in another order must agree.
	b := newTestClient(t, Options{Shields: []string{shields[2], shields[0], shields[1]}})
	for i := range 100 {
		key := fmt.Sprintf("https://site.example/obj/%d", i)
		got := a.ShieldOrder(key)
		if again := a.ShieldOrder(key); !reflect.DeepEqual(got, again) {
			t.Fatalf("key %q: order %v then %v", key, got, again)
		}
		if other := b.ShieldOrder(key); !reflect.DeepEqual(got, other) {
			t.Fatalf("key %q: node a orders %v, node b %v", key, got, other)
		}
		if len(got) != len(shields) {
			t.Fatalf("key %q: order %v has %d shields, want %d", key, got, len(got), len(shields))
		}
	}
}

// TestShieldOrderGolden pins the hash: every edged node, whatever its
// version, must send a key to the same shield.
func TestShieldOrderGolden(t *testing.T) {
	const s1, s2, s3 = "http://s1.example", "http://s2.example", "http://s3.example"
	c := newTestClient(t, Options{Shields: []string{s1, s2, s3}})
	tests := []struct {
		key  string
		want []string
	}{
		{"", []string{s1, s3, s2}},
		{"https://site.example/", []string{s1, s3, s2}},
		{"https://site.example/img/1.jpg", []string{s2, s1, s3}},
		{"https://other.example/a?b=c", []string{s3, s2, s1}},
	}
	for _, tt := range tests {
		if got := c.ShieldOrder(tt.key); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ShieldOrder(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestShieldSpread(t *testing.T) {
	shields := []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"}
	c := newTestClient(t, Options{Shields: shields})
	const keys = 1000
	first := map[string]int{}
	for i := range keys {
		first[c.ShieldOrder(fmt.Sprintf("https://site.example/img/%d.jpg", i))[0]]++
	}
	for _, s := range shields {
		if n := first[s]; n < keys*20/100 || n > keys*47/100 {
			t.Errorf("shield %s is first for %d of %d keys, want 20%%..47%%", s, n, keys)
		}
	}
}

// TestShieldRemovalMovesOnlyItsKeys checks the rendezvous property: removing
// a shield reassigns only the keys it held.
func TestShieldRemovalMovesOnlyItsKeys(t *testing.T) {
	three := newTestClient(t, Options{Shields: []string{"http://s1", "http://s2", "http://s3"}})
	two := newTestClient(t, Options{Shields: []string{"http://s1", "http://s2"}})
	for i := range 500 {
		key := fmt.Sprintf("k%d", i)
		before, after := three.ShieldOrder(key)[0], two.ShieldOrder(key)[0]
		if before != "http://s3" && before != after {
			t.Errorf("key %s moved from %s to %s though %s stayed", key, before, after, before)
		}
	}
}

// TestShieldFailover checks that the keys of a dead shield go to the next
// shield in their order, and the other keys are unaffected.
func TestShieldFailover(t *testing.T) {
	live1, live2 := newRecorder(t, "live1"), newRecorder(t, "live2")
	dead := deadURL(t)
	name := map[string]string{live1.URL: "live1", live2.URL: "live2"}
	c := newTestClient(t, Options{Shields: []string{live1.URL, dead, live2.URL}})
	movedKeys := 0
	for i := range 30 {
		key := fmt.Sprintf("key-%d", i)
		order := c.ShieldOrder(key)
		want := order[0]
		if want == dead {
			want = order[1]
			movedKeys++
		}
		resp, _, err := get(t, c, key, "/")
		if err != nil {
			t.Fatalf("key %s (order %v): %v", key, order, err)
		}
		if got := resp.Header.Get("X-Served-By"); got != name[want] {
			t.Errorf("key %s (order %v): served by %s, want %s", key, order, got, name[want])
		}
	}
	if movedKeys == 0 {
		t.Fatal("no key had the dead shield first; the test proves nothing")
	}
}

func TestShieldsAllDead(t *testing.T) {
	shields := []string{deadURL(t), deadURL(t)}
	t.Run("fallback to origin", func(t *testing.T) {
		origin := newRecorder(t, "origin")
		c := newTestClient(t, Options{Origin: origin.URL, Shields: shields, ShieldFallback: true})
		resp, _, err := get(t, c, "k", "/")
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("X-Served-By"); got != "origin" {
			t.Errorf("served by %q, want origin", got)
		}
	})
	t.Run("no fallback", func(t *testing.T) {
		origin := newRecorder(t, "origin")
		c := newTestClient(t, Options{Origin: origin.URL, Shields: shields})
		_, _, err := get(t, c, "k", "/")
		wantErrIs(t, err, ErrConnect)
		if origin.count() != 0 {
			t.Errorf("origin got %d requests, want 0 without ShieldFallback", origin.count())
		}
	})
}

// TestShieldBodyNotRetried checks that a request with a body goes to one
// upstream only: it cannot be replayed.
func TestShieldBodyNotRetried(t *testing.T) {
	live := newRecorder(t, "live")
	dead := deadURL(t)
	c := newTestClient(t, Options{Shields: []string{live.URL, dead}})
	key := keyWithFirst(t, c, dead)
	_, err := c.Do(context.Background(), &Outbound{
		Method: "POST", RequestURI: "/", Key: key,
		Body: strings.NewReader("data"), ContentLength: 4,
	})
	wantErrIs(t, err, ErrConnect)
	if live.count() != 0 {
		t.Errorf("live shield got %d requests, want 0", live.count())
	}
}

// keyWithFirst finds a key whose first shield is shield.
func keyWithFirst(tb testing.TB, c *Client, shield string) string {
	tb.Helper()
	for i := range 1000 {
		key := fmt.Sprintf("key-%d", i)
		if c.ShieldOrder(key)[0] == shield {
			return key
		}
	}
	tb.Fatalf("no key has %s first", shield)
	return ""
}

// TestShieldPoolHeader: a shield is told the pool (ShieldPool) and the
// client's own field is never passed on; the pool's servers, reached by
// the fallback, are told nothing.
func TestShieldPoolHeader(t *testing.T) {
	shield := newRecorder(t, "shield")
	origin := newRecorder(t, "origin")
	for _, tt := range []struct {
		name    string
		shields []string
		to      *recorder
		want    []string
	}{
		{"to the shield", []string{shield.URL}, shield, []string{"tenant-b"}},
		{"fallback to the pool", []string{deadURL(t)}, origin, nil},
		{"no shields", nil, origin, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, Options{Origin: origin.URL, Shields: tt.shields, ShieldFallback: tt.shields != nil, ShieldPool: "tenant-b"})
			resp, err := c.Do(context.Background(), &Outbound{Method: "GET", Host: "site.example", RequestURI: "/x", Key: "k",
				Header: http.Header{PoolHeader: {"forged"}}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := tt.to.last(t).header[PoolHeader]; !slices.Equal(got, tt.want) {
				t.Errorf("%s was sent %s %q, want %q", tt.name, PoolHeader, got, tt.want)
			}
		})
	}
}
