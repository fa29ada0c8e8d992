package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/http"
	"runtime"
	"testing"
	"time"
)

func codecCases() []struct {
	name string
	e    *Entry
} {
	return []struct {
		name string
		e    *Entry
	}{
		{"minimal", &Entry{Key: "k"}},
		{"empty key", &Entry{}},
		{"nil header and body", &Entry{Key: "http://h/", Status: 204}},
		{"empty header and body", &Entry{Key: "http://h/", Status: 200, Header: http.Header{}, Body: []byte{}}},
		{"full", newEntry("http://example.com/a?b=c", 1000)},
		{"vary stub", &Entry{Key: "http://h/v", Status: 200, Header: http.Header{"Vary": {"Accept-Encoding"}},
			Vary: []string{"Accept-Encoding", "Accept-Language"}}},
		{"empty vary stub", &Entry{Key: "http://h/v", Vary: []string{}}},
		{"tags only", &Entry{Key: "t", Tags: []string{"a", "", "b"}}},
		{"empty tags", &Entry{Key: "t", Tags: []string{}}},
		{"stale", &Entry{Key: "s", Status: 200, Stale: true, Body: []byte("old")}},
		{"stale since a soft purge", &Entry{Key: "s", Status: 200, Stale: true, StaleAt: time.Unix(1700000002, 5), Body: []byte("old")}},
		{"must revalidate", &Entry{Key: "p", Status: 200, MustRevalidate: true, Header: http.Header{"A": {"b"}}, Body: []byte("alice")}},
		{"must revalidate, stale", &Entry{Key: "p", Status: 200, MustRevalidate: true, Stale: true, Body: []byte("alice")}},
		{"must revalidate, stale since a soft purge", &Entry{Key: "p", Status: 200, MustRevalidate: true, Stale: true,
			StaleAt: time.Unix(1700000002, 5), RequestTime: time.Unix(1700000000, 0), Body: []byte("alice")}},
		{"negative status", &Entry{Key: "n", Status: -1}},
		{"times before 1970", &Entry{Key: "t", RequestTime: time.Unix(-5, 1), ResponseTime: time.Unix(0, 1)}},
		{"binary key and body", &Entry{Key: "\x00\xff\n", Body: []byte{0, 1, 2, 255}}},
		{"empty header values", &Entry{Key: "h", Header: http.Header{"A": {""}, "B": {"", "x"}}}},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(Encode(tc.e))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertSameEntry(t, got, tc.e)
		})
	}
}

// The writer encodes a batch's entries one after another into one buffer:
// each encoding, checksum included, must be what Encode makes alone.
func TestAppendEncodedAfterOthers(t *testing.T) {
	buf := []byte("bytes of the entries encoded before")
	for _, tc := range codecCases() {
		start := len(buf)
		buf = appendEncoded(buf, tc.e)
		if got, want := buf[start:], Encode(tc.e); !bytes.Equal(got, want) {
			t.Fatalf("%s: appended after %d bytes, the encoding differs from Encode's", tc.name, start)
		}
		got, err := Decode(buf[start:])
		if err != nil {
			t.Fatalf("%s: Decode: %v", tc.name, err)
		}
		assertSameEntry(t, got, tc.e)
	}
}

func TestEncodeIsDeterministic(t *testing.T) {
	e := newEntry("http://h/d", 10)
	for i := range 20 { // many header names: map order varies between runs
		e.Header.Set("X-H-"+string(rune('a'+i)), "v")
	}
	want := Encode(e)
	for range 20 {
		if got := Encode(e); !bytes.Equal(got, want) {
			t.Fatal("Encode of one entry differs between calls")
		}
	}
}

func TestDecodeDetectsEveryBitFlip(t *testing.T) {
	b := Encode(newEntry("http://h/bits", 64))
	for i := range len(b) * 8 {
		damaged := bytes.Clone(b)
		damaged[i/8] ^= 1 << (i % 8)
		if _, err := Decode(damaged); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit %d flipped: err = %v, want ErrCorrupt", i, err)
		}
	}
}

func TestDecodeDetectsEveryTruncation(t *testing.T) {
	b := Encode(newEntry("http://h/trunc", 64))
	for n := range len(b) {
		if _, err := Decode(b[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: err = %v, want ErrCorrupt", n, len(b), err)
		}
	}
	if _, err := Decode(append(bytes.Clone(b), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: err = %v, want ErrCorrupt", err)
	}
}

// seal appends the checksum, so damage other than bit rot can be tested.
func seal(payload []byte) []byte {
	return binary.BigEndian.AppendUint32(payload, crc32.Checksum(payload, castagnoli))
}

func TestDecodeRejectsMalformed(t *testing.T) {
	huge := binary.AppendUvarint(nil, 1<<62)
	tests := []struct {
		name    string
		payload []byte
	}{
		{"unknown version", []byte{4, 0, 0, 0, 0}},
		{"stale time on an entry not stale", []byte{2, 0, 0, 2, 0, 0, 0}},
		{"version 3 without its ext byte", []byte{3, 0}},
		{"version 3 without must-revalidate", []byte{3, 0, 0, 0, 0, 0}},
		{"version 3 stale time on an entry not stale", []byte{3, 0, extMustRevalidate | extStaleAt, 0, 2, 0, 0}},
		{"unknown ext flag", []byte{3, 0, extMustRevalidate | 0x80, 0, 0, 0}},
		{"version zero", []byte{0, 0, 0, 0, 0}},
		{"unknown flag", []byte{1, 0x80, 0, 0, 0}},
		{"absurd body length", append([]byte{1, flagBody, 0}, huge...)},
		{"absurd key length", append([]byte{1, 0, 0, 0}, huge...)},
		{"absurd header count", append([]byte{1, flagHeader, 0, 0, 0}, huge...)},
		{"absurd value count", append([]byte{1, flagHeader, 0, 0, 0, 1, 1, 'A'}, huge...)},
		{"absurd vary count", append([]byte{1, flagVary, 0, 0, 0}, huge...)},
		{"header names out of order", []byte{1, flagHeader, 0, 0, 0, 2, 1, 'B', 0, 1, 'A', 0}},
		{"duplicate header names", []byte{1, flagHeader, 0, 0, 0, 2, 1, 'A', 0, 1, 'A', 0}},
		{"stray bytes before body", []byte{1, 0, 0, 0, 0, 'x'}},
		{"nil body with a length", []byte{1, 0, 0, 1, 0, 'x'}},
		{"bad varint", []byte{1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}},
		{"empty", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if e, err := Decode(seal(tc.payload)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %v, %v; want ErrCorrupt", e, err)
			}
		})
	}
}

// The decoded entry must not alias its input: bbolt values live in an mmap
// that is only valid during the transaction.
func TestDecodeCopiesInput(t *testing.T) {
	want := newEntry("http://h/alias", 100)
	b := Encode(want)
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xAA
	}
	assertSameEntry(t, got, want)
}

func TestDecodeAllocationsAreBounded(t *testing.T) {
	// Valid checksums over tiny inputs claiming huge counts must fail
	// without allocating for the count.
	inputs := [][]byte{
		seal(append([]byte{1, flagTags, 0, 0, 0}, binary.AppendUvarint(nil, 1<<40)...)),
		seal(append([]byte{1, flagHeader, 0, 0, 0}, binary.AppendUvarint(nil, 1<<40)...)),
		seal(append([]byte{1, flagBody, 0}, binary.AppendUvarint(nil, 1<<40)...)),
	}
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		for _, b := range inputs {
			_, _ = Decode(b)
		}
	}
	runtime.ReadMemStats(&after)
	if perCall := (after.TotalAlloc - before.TotalAlloc) / runs / uint64(len(inputs)); perCall > 4096 {
		t.Fatalf("Decode of a damaged count allocated %d bytes per call", perCall)
	}
}

// FuzzDecode feeds Decode both the raw input and the input resealed with a
// valid checksum, so that mutations reach the parser behind the checksum.
func FuzzDecode(f *testing.F) {
	for _, tc := range codecCases() {
		b := Encode(tc.e)
		f.Add(b)
		f.Add(b[:len(b)-checksumLen]) // resealed below
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeHead(b, "k") // never panics, whatever the bytes
		checkDecode(t, b)
		checkDecode(t, seal(bytes.Clone(b)))
	})
}

// checkDecode: Decode fails with ErrCorrupt, or what it decodes survives
// another round trip unchanged and decodeHead reads the same head.
func checkDecode(t *testing.T, b []byte) {
	e, err := Decode(b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Decode error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	head, err := decodeHead(b, e.Key)
	if err != nil {
		t.Fatalf("decodeHead of what Decode decodes: %v", err)
	}
	if !sameResponse(head, e) || head.Status != e.Status || head.MustRevalidate != e.MustRevalidate {
		t.Fatalf("decodeHead = %+v, Decode = %+v", head, e)
	}
	again, err := Decode(Encode(e))
	if err != nil {
		t.Fatalf("Decode(Encode(Decode(b))): %v", err)
	}
	assertSameEntry(t, again, e)
}
