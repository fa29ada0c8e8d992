package edge

import (
	"strconv"
	"testing"
	"time"
)

// TestUncacheableEvictsOldest checks that a full set forgets the mark set
// longest ago (re-marking refreshes a key), and that expired marks go first.
func TestUncacheableEvictsOldest(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	u := &uncacheable{max: 3}
	u.mark("a", now)
	u.mark("b", now.Add(time.Second))
	u.mark("c", now.Add(2*time.Second))
	u.mark("a", now.Add(3*time.Second)) // refreshed: b is now the oldest
	u.mark("d", now.Add(4*time.Second)) // full: b goes
	at := now.Add(5 * time.Second)
	for key, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := u.marked(key, at); got != want {
			t.Errorf("marked(%q) = %v, want %v", key, got, want)
		}
	}

	// c expired (set at +2s) by +12.5s, a (+3s) and d (+4s) have not.
	later := now.Add(2*time.Second + uncacheableFor + time.Second/2)
	u.mark("e", later)
	if got := len(u.keys); got != 3 {
		t.Fatalf("%d keys after an expired one was replaced, want 3", got)
	}
	for key, want := range map[string]bool{"a": true, "c": false, "d": true, "e": true} {
		if got := u.marked(key, later); got != want {
			t.Errorf("after expiry: marked(%q) = %v, want %v", key, got, want)
		}
	}
	u.clear("d")
	if u.marked("d", later) || len(u.keys) != u.order.Len() {
		t.Errorf("clear left d marked or the index (%d) and list (%d) apart", len(u.keys), u.order.Len())
	}
}

// TestUncacheableAtCapStaysBounded marks many more distinct keys than the
// cap: the set never grows past it and always holds the newest marks.
func TestUncacheableAtCapStaysBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	u := &uncacheable{max: 64}
	for i := range 1000 {
		u.mark(strconv.Itoa(i), now)
		if len(u.keys) > u.max || len(u.keys) != u.order.Len() {
			t.Fatalf("after %d marks: %d keys, %d listed, cap %d", i+1, len(u.keys), u.order.Len(), u.max)
		}
	}
	for i := 1000 - 64; i < 1000; i++ {
		if !u.marked(strconv.Itoa(i), now) {
			t.Fatalf("recent key %d was evicted", i)
		}
	}
	if u.marked(strconv.Itoa(1000-65), now) {
		t.Fatal("the key marked just before the newest 64 is still there")
	}
}

// BenchmarkUncacheableMark measures mark below and at the cap: the cost
// must not depend on how full the set is (it scanned every key once full).
func BenchmarkUncacheableMark(b *testing.B) {
	for _, full := range []bool{false, true} {
		b.Run("full="+strconv.FormatBool(full), func(b *testing.B) {
			now := time.Unix(1_000_000, 0)
			u := &uncacheable{}
			keys := make([]string, 2*maxUncacheable)
			for i := range keys {
				keys[i] = "http://example.com/u/" + strconv.Itoa(i)
			}
			if full {
				for _, k := range keys[:maxUncacheable] {
					u.mark(k, now)
				}
			}
			for i := 0; b.Loop(); i++ {
				if full {
					u.mark(keys[i%len(keys)], now)
				} else {
					k := keys[i%1024]
					u.mark(k, now)
					u.clear(k)
				}
			}
		})
	}
}
