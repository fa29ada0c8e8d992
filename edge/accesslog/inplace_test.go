package accesslog

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"edged/internal/logtest"
)

// Log encodes a Record straight into a shard's buffer: what it writes is,
// byte for byte, what AppendJSON and AppendCombined make, in the order
// logged, for hostile values, for times across seconds and zones (the
// shard's time cache), with buffers a line fills at once (the lines that
// take the encoded-apart path) and for a line longer than a buffer.
func TestLogRecordAsEncoded(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	var recs []*Record
	for i, s := range hostile {
		r := testRecord(s, s+"ref")
		r.Target, r.User = "/"+s, s
		r.Time = r.Time.Add(time.Duration(i) * 700 * time.Millisecond)
		if i%3 == 0 {
			r.Time = r.Time.In(paris)
		}
		if i%2 == 0 {
			r.Upstream = ""
		}
		recs = append(recs, r)
	}
	huge := testRecord(strings.Repeat("\x00", 70<<10), "")
	recs = append(recs, huge)
	for _, f := range []Format{JSON, Combined} {
		for _, size := range []int{0, 300, 2000} {
			out := &logtest.Buffer{}
			w, err := New(Options{Output: out, Format: f, BufferBytes: size, Buffers: 2 * len(recs), FlushInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for _, r := range recs {
				w.Log(r)
				if f == JSON {
					want = r.AppendJSON(want)
				} else {
					want = r.AppendCombined(want)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Dropped() != 0 {
				t.Fatalf("format %d, buffer %d: %d lines dropped", f, size, w.Dropped())
			}
			if got := out.String(); got != string(want) {
				t.Errorf("format %d, buffer %d: Log wrote\n%.2000q\nwant\n%.2000q", f, size, got, want)
			}
		}
	}
}

// FuzzLineBound holds jsonBound and combinedBound above the length of any
// line: a Record encoded in place must never outgrow its buffer's room.
func FuzzLineBound(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, s, int64(200), int64(1234), int64(12345678))
	}
	f.Add("", "", int64(math.MinInt64), int64(math.MinInt64), int64(math.MinInt64))
	f.Add("", "", int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, s, zone string, status, bytes, d int64) {
		client := netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").WithZone(zone)
		empty := &Record{Client: client, Status: int(status), Bytes: bytes, Duration: time.Duration(d), Upstream: "", Time: time.Unix(253402300799, 999e6)}
		full := &Record{Client: client, User: s, Method: s, Host: s, Target: s, Proto: s, Status: int(status), Bytes: bytes,
			Duration: time.Duration(d), Upstream: s + "x", UpstreamFirstByte: time.Duration(d), Cache: s, Site: s, Route: s,
			RequestID: s, UserAgent: s, Referer: s, Time: time.Unix(-62135596800, 0)}
		for _, r := range []*Record{empty, full} {
			if n, bound := len(r.AppendJSON(nil)), r.jsonBound(); n > bound {
				t.Fatalf("JSON line of %d bytes, bound %d", n, bound)
			}
			if n, bound := len(r.AppendCombined(nil)), r.combinedBound(); n > bound {
				t.Fatalf("combined line of %d bytes, bound %d", n, bound)
			}
		}
	})
}
