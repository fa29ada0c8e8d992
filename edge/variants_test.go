package edge

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The counter's rules, below the edge: a spray replaces only variants used
// no more than once; counts halve with time, so a variant popular long ago
// gives way; and the bookkeeping stays within its bytes, forgetting the
// least recently used URLs (which then admit again, never refuse).
func TestVariantCounter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var v variantCounter
	const url = "http://h/p"
	key := func(s string) string { return url + "\x00User-Agent:+" + s + "\n" }
	admit := func(s string) (bool, string) { return v.admit(url, key(s), now) }
	for i := range maxVariants {
		if ok, evict := admit(fmt.Sprint("popular-", i)); !ok || evict != "" {
			t.Fatalf("variant %d within the cap: %v %q", i, ok, evict)
		}
		v.used(url, key(fmt.Sprint("popular-", i)), now)
	}
	for i := range 10 * maxVariants {
		if ok, evict := admit(fmt.Sprint("spray-", i)); ok || evict != "" {
			t.Fatalf("spray %d replaced %q among variants used twice", i, evict)
		}
	}
	// A value asked for twice is used as much as the least used variant
	// (the one used longest ago): it replaces it.
	if ok, _ := admit("browser"); ok {
		t.Fatal("browser's first request replaced a variant used twice")
	}
	if ok, evict := admit("browser"); !ok || evict != key("popular-0") {
		t.Fatalf("browser's second request: %v, evicts %q; want popular-0", ok, evict)
	}
	// An hour later every count has halved to nothing: a new value
	// replaces the variant used longest ago.
	now = now.Add(time.Hour)
	if ok, evict := admit("later"); !ok || !strings.HasPrefix(evict, url) {
		t.Fatalf("after an hour: %v %q", ok, evict)
	}
	set := v.shard(url).urls[url]
	if len(set.stored) != maxVariants || len(set.candidates) > maxVariantCandidates {
		t.Errorf("%d stored, %d candidates", len(set.stored), len(set.candidates))
	}
}

func TestVariantCounterBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var v variantCounter
	long := strings.Repeat("x", 8<<10) // a Cookie of 8 KiB
	for i := range 20_000 {
		url := fmt.Sprint("http://h/", i)
		if ok, _ := v.admit(url, url+"\x00Cookie:="+long+"\n", now); !ok {
			t.Fatalf("url %d refused its first variant", i)
		}
	}
	total := 0
	for i := range v.shards {
		s := &v.shards[i]
		total += s.bytes
		n := 0
		for set := s.head; set != nil; set = set.next {
			n++
		}
		if n != len(s.urls) {
			t.Fatalf("shard %d: %d on the recency list, %d in the map", i, n, len(s.urls))
		}
	}
	if total > maxVariantBytes {
		t.Errorf("bookkeeping holds %d bytes, over %d", total, maxVariantBytes)
	}
	// The latest URL is still known: its variant stays admitted.
	url := "http://h/19999"
	set := v.shard(url).urls[url]
	if set == nil || len(set.stored) != 1 {
		t.Errorf("the most recent URL was forgotten")
	}
}

// A hit on a stored variant counts a use: no allocation, one short lock
// of the URL's shard.
func TestVariantUsedAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation budget")
	}
	var v variantCounter
	now := time.Unix(1_700_000_000, 0)
	const url, key = "http://h/p", "http://h/p\x00User-Agent:+2:ua\n"
	v.admit(url, key, now)
	if got := testing.AllocsPerRun(100, func() { v.used(url, key, now) }); got != 0 {
		t.Errorf("used allocates %.1f times", got)
	}
}

func BenchmarkVariantUsed(b *testing.B) {
	var v variantCounter
	now := time.Unix(1_700_000_000, 0)
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("http://h/p\x00User-Agent:+%d:%s\n", len(fmt.Sprint(i)), fmt.Sprint(i))
		v.admit("http://h/p", keys[i], now)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			v.used("http://h/p", keys[i%len(keys)], now)
			i++
		}
	})
}
