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
		{"control characters and non-UTF-8 dropped", http.Header{"Cache-Tag": {"ok,bad\x01tag,\xff,a\u00a0b"}}, []string{"ok"}},
		{"UTF-8 kept: a purge can name it", http.Header{"Cache-Tag": {"ok,café"}}, []string{"ok", "café"}},
		{"oversized dropped, not all", http.Header{"Cache-Tag": {strings.Repeat("x", MaxTagLen+1) + ",ok"}}, []string{"ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, all := AllTags(tt.header)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AllTags = %q, want %q", got, tt.want)
			}
			if wantAll := !strings.Contains(tt.name, "not all"); all != wantAll {
				t.Errorf("AllTags reports all = %v, want %v", all, wantAll)
			}
		})
	}
	var many strings.Builder
	for i := 0; i < MaxTags+10; i++ {
		fmt.Fprintf(&many, "t%d ", i)
	}
	if got, all := AllTags(http.Header{"Surrogate-Key": {many.String()}}); len(got) != MaxTags || all {
		t.Errorf("kept %d tags (all %v), want the cap %d and not all", len(got), all, MaxTags)
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
			if tag == "" || !nameable(tag) || strings.ContainsRune(tag, 0) || seen[tag] || len(tag) > MaxTagLen {
				t.Fatalf("bad tag %q in %q", tag, tags)
			}
			seen[tag] = true
		}
	})
}
