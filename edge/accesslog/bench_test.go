package accesslog

import (
	"io"
	"testing"
)

// benchRecord is a typical hit's record.
func benchRecord() *Record {
	r := testRecord("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "https://www.example.com/")
	r.Upstream, r.Cache = "", "hit"
	return r
}

// BenchmarkEncode is the cost of one line in each format, without I/O.
func BenchmarkEncode(b *testing.B) {
	r := benchRecord()
	for _, tc := range []struct {
		name string
		enc  func([]byte) []byte
	}{{"json", r.AppendJSON}, {"combined", r.AppendCombined}} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = tc.enc(buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkLog is one line logged through a Writer to io.Discard, from
// parallel goroutines as requests log. Each goroutine flushes every 64
// lines, so that the lines are written rather than dropped (a Writer
// drops what comes faster than its goroutine, which the benchmark's
// goroutines would starve, writes: a dropped line costs next to
// nothing); dropped/op says how many were dropped all the same.
func BenchmarkLog(b *testing.B) {
	for _, f := range []Format{JSON, Combined} {
		b.Run([]string{"json", "combined"}[f], func(b *testing.B) {
			w := newWriter(b, Options{Output: io.Discard, Format: f})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := benchRecord()
				for i := 1; pb.Next(); i++ {
					w.Log(r)
					if i%64 == 0 {
						w.Flush()
					}
				}
			})
			b.ReportMetric(float64(w.Dropped())/float64(b.N), "dropped/op")
		})
	}
}

// TestLogAllocations holds logging a line to no allocation once the
// Writer's pools are warm.
func TestLogAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation budget (the race detector makes sync.Pool drop items)")
	}
	for _, f := range []Format{JSON, Combined} {
		w := newWriter(t, Options{Output: io.Discard, Format: f})
		r := benchRecord()
		w.Log(r)
		if got := testing.AllocsPerRun(1000, func() { w.Log(r) }); got != 0 {
			t.Errorf("format %d: Log allocates %.1f times per line, want 0", f, got)
		}
	}
}
