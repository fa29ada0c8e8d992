package storage

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"edged/internal/benchcpu"
)

// BenchmarkDiskLookup is the store's share of a disk-tier hit with the
// memory tier off (the bench's "edged disk" target): one key hit over and
// over, its entry in bbolt with a head as an origin's response has one.
// "file" is a 100 KiB body in a body file (the hit's body goes out with
// sendfile; this is the lookup alone), "inline" a 1 KiB body kept in
// bbolt, among a few hundred other entries. cpu-µs/op is the whole process's CPU per Get (the writer's
// commits of the LRU touches and the garbage collector's work
// included); allocs/op is deterministic where ns/op is not on a shared
// machine.
func BenchmarkDiskLookup(b *testing.B) {
	for _, tc := range []struct {
		name string
		size int
	}{{"file", 100 << 10}, {"inline", 1 << 10}} {
		b.Run(tc.name, func(b *testing.B) {
			s := openStore(b, Options{NoMemoryTier: true})
			// Other entries make the buckets trees of pages, as in a
			// store in use: a bucket of a few rows is inline in its
			// parent's page, which bbolt reads differently.
			for i := range lookupNeighbours {
				s.Set(originEntry(fmt.Sprintf("http://www.example.com/other/%d", i), 1<<10))
			}
			e := originEntry("http://www.example.com/obj/"+tc.name, tc.size)
			s.Set(e)
			s.Flush()
			if got := mustGet(b, s, e.Key, TierDisk); got.InFile() != (tc.size >= DefaultFileBodyMin) {
				b.Fatalf("InFile = %v for a body of %d bytes", got.InFile(), tc.size)
			}
			b.ReportAllocs()
			report := benchcpu.Start(b)
			n := 0
			for b.Loop() {
				if _, tier, err := s.Get(e.Key); err != nil || tier != TierDisk {
					b.Fatal(tier, err)
				}
				n++
			}
			s.Flush() // the touches' commit is the hits' cost too
			report(n)
		})
	}
}

// lookupNeighbours is how many other entries BenchmarkDiskLookup's store
// holds.
const lookupNeighbours = 256

// originEntry is an entry as edge stores a response of n bytes from an
// origin server.
func originEntry(key string, n int) *Entry {
	now := time.Unix(1700000000, 0)
	return &Entry{
		Key:    key,
		Status: http.StatusOK,
		Header: http.Header{
			"Accept-Ranges":  {"bytes"},
			"Cache-Control":  {"public, max-age=3600"},
			"Content-Length": {strconv.Itoa(n)},
			"Content-Type":   {"application/octet-stream"},
			"Date":           {now.UTC().Format(http.TimeFormat)},
			"Etag":           {`"6553f100-19000"`},
			"Last-Modified":  {now.Add(-time.Hour).UTC().Format(http.TimeFormat)},
			"Server":         {"nginx"},
		},
		Body:         make([]byte, n),
		RequestTime:  now,
		ResponseTime: now.Add(time.Millisecond),
	}
}
