package storage

import (
	"slices"
	"testing"
)

func TestRowInfoRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		tags     []string
		want     []string
		indexOK  bool
		infoLen  int
		wantFlag bool
	}{
		{"no tags", nil, nil, true, infoFixedLen, false},
		{"empty tag ignored", []string{""}, nil, true, infoFixedLen, false},
		{"duplicates once", []string{"a", "b", "a"}, []string{"a", "b"}, true, infoFixedLen + 5, true},
		{"NUL cannot be indexed", []string{"a\x00b"}, nil, false, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tags, ok := encodeTags("k", tc.tags)
			if ok != tc.indexOK {
				t.Fatalf("encodeTags ok = %v, want %v", ok, tc.indexOK)
			}
			if !ok {
				return
			}
			raw := rowInfo{lru: 7, write: 9, stale: tc.wantFlag, tags: tags}.encode()
			if len(raw) != tc.infoLen {
				t.Errorf("len = %d, want %d", len(raw), tc.infoLen)
			}
			ri, ok := parseInfo(raw)
			if !ok || ri.lru != 7 || ri.write != 9 || ri.stale != tc.wantFlag {
				t.Fatalf("parseInfo = %+v, %v", ri, ok)
			}
			var got []string
			_ = forEachTag(ri.tags, func(tag []byte) error { got = append(got, string(tag)); return nil })
			if !slices.Equal(got, tc.want) {
				t.Errorf("tags = %q, want %q", got, tc.want)
			}
		})
	}
}

// A soft purge's time sits between the flags and the tags.
func TestRowInfoStaleAt(t *testing.T) {
	tags, _ := encodeTags("k", []string{"a"})
	raw := rowInfo{lru: 7, write: 9, stale: true, staleAt: 1700000000123456789, tags: tags}.encode()
	if len(raw) != infoFixedLen+8+len(tags) {
		t.Errorf("len = %d, want %d", len(raw), infoFixedLen+8+len(tags))
	}
	ri, ok := parseInfo(raw)
	if !ok || !ri.stale || ri.staleAt != 1700000000123456789 || string(ri.tags) != string(tags) {
		t.Fatalf("parseInfo = %+v, %v", ri, ok)
	}
	// A time on an entry that is not stale is damage.
	raw[16] = infoStaleAt
	if _, ok := parseInfo(raw); ok {
		t.Error("parseInfo accepted a stale time without the stale flag")
	}
}

// A legacy 8-byte rowInfo (before purges existed) is an LRU sequence alone.
func TestParseLegacyInfo(t *testing.T) {
	ri, ok := parseInfo([]byte{0, 0, 0, 0, 0, 0, 0, 42})
	if !ok || ri.lru != 42 || ri.write != 0 || ri.stale || ri.tags != nil {
		t.Fatalf("parseInfo = %+v, %v", ri, ok)
	}
}

// rowInfo is read from a file that may be damaged: parsing never panics and
// accepts only what re-encodes to the same bytes.
func FuzzParseInfo(f *testing.F) {
	tags, _ := encodeTags("k", []string{"a", "bb"})
	f.Add(rowInfo{lru: 1, write: 2, stale: true, tags: tags}.encode())
	f.Add(rowInfo{lru: 1, write: 2, stale: true, staleAt: 5, tags: tags}.encode())
	f.Add(rowInfo{lru: 1, write: 2, stale: true, staleAt: 5, fileID: 7, fileSize: 9, tags: tags}.encode())
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(make([]byte, infoFixedLen))
	f.Add(append(make([]byte, infoFixedLen), 0xff, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		ri, ok := parseInfo(b)
		if !ok || len(b) == 8 || b[16]&^(infoStale|infoStaleAt|infoFile) != 0 {
			return // legacy layout, or unknown flag bits (dropped on re-encode)
		}
		if got := ri.encode(); string(got) != string(b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
		infoCost(1, b, ri.tags)
		hasTag(ri.tags, []byte("a"))
	})
}
