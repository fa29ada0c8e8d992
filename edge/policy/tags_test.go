package policy

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestTags(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   []string
	}{
		{"none", http.Header{}, nil},
		{"surrogate-key spaces", http.Header{"Surrogate-Key": {"  a b\tc  "}}, []string{"a", "b", "c"}},
		{"cache-tag commas", http.Header{"Cache-Tag": {"a, b ,c,,"}}, []string{"a", "b", "c"}},
		{"both, deduplicated", http.Header{"Surrogate-Key": {"a b"}, "Cache-Tag": {"b,c"}}, []string{"a", "b", "c"}},
		{"several lines", http.Header{"Surrogate-Key": {"a", "b"}}, []string{"a", "b"}},
		{"control characters dropped", http.Header{"Cache-Tag": {"ok,bad\x01tag,é"}}, []string{"ok"}},
		{"oversized dropped", http.Header{"Cache-Tag": {strings.Repeat("x", MaxTagLen+1) + ",ok"}}, []string{"ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Tags(tt.header); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Tags = %q, want %q", got, tt.want)
			}
		})
	}
	var many strings.Builder
	for i := 0; i < MaxTags+10; i++ {
		fmt.Fprintf(&many, "t%d ", i)
	}
	if got := Tags(http.Header{"Surrogate-Key": {many.String()}}); len(got) != MaxTags {
		t.Errorf("kept %d tags, want the cap %d", len(got), MaxTags)
	}
}

func TestClientHeaderStripsTags(t *testing.T) {
	h := http.Header{"Surrogate-Key": {"a"}, "Cache-Tag": {"b"}, "Cdn-Cache-Control": {"max-age=1"}}
	ClientHeader(h, Options{Shield: true})
	if len(h) != 3 {
		t.Errorf("a shield stripped fields meant for the edges behind it: %v", h)
	}
	ClientHeader(h, Options{})
	if len(h) != 0 {
		t.Errorf("an edge left fields meant for caches: %v", h)
	}
}

func FuzzTags(f *testing.F) {
	f.Add("a b c", "x, y")
	f.Add("", ",,,")
	f.Fuzz(func(t *testing.T, sk, ct string) {
		tags := Tags(http.Header{"Surrogate-Key": {sk}, "Cache-Tag": {ct}})
		if len(tags) > MaxTags {
			t.Fatalf("%d tags", len(tags))
		}
		seen := map[string]bool{}
		for _, tag := range tags {
			if tag == "" || !printable(tag) || seen[tag] || len(tag) > MaxTagLen {
				t.Fatalf("bad tag %q in %q", tag, tags)
			}
			seen[tag] = true
		}
	})
}
