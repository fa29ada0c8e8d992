package policy

import (
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTags bounds the tags kept for one response, so that an origin cannot
// make one object cost unbounded index space.
const MaxTags = 256

// MaxTagLen bounds one tag's length in bytes.
const MaxTagLen = 256

// Tags returns the purge tags (surrogate keys) an origin attached to a
// response: Surrogate-Key is space-separated (Fastly's convention) and
// Cache-Tag comma-separated (Cloudflare's). Tags are deduplicated in order
// of first appearance; empty tags and tags no purge can name (not UTF-8,
// or holding a control character) are dropped, and at most MaxTags of at
// most MaxTagLen bytes are kept. It returns nil when there are none.
func Tags(h http.Header) []string {
	tags, _ := AllTags(h)
	return tags
}

// AllTags is Tags, and reports whether it kept every tag a purge can name:
// false when one was longer than MaxTagLen or came past MaxTags. A response
// for which it is false must not be stored (DetailTags): the purge API
// takes such a tag, and a purge of it would miss the object.
func AllTags(h http.Header) (tags []string, all bool) {
	all = true
	add := func(tag string) {
		if tag == "" || !nameable(tag) || slices.Contains(tags, tag) {
			return
		}
		if len(tag) > MaxTagLen || len(tags) >= MaxTags {
			all = false
			return
		}
		tags = append(tags, tag)
	}
	for _, line := range h.Values("Surrogate-Key") {
		for _, tag := range strings.Fields(line) {
			add(tag)
		}
	}
	for _, line := range h.Values("Cache-Tag") {
		for _, tag := range strings.Split(line, ",") {
			add(strings.TrimSpace(tag))
		}
	}
	return tags, all
}

// nameable reports whether a purge request can name tag (the purge API's
// rule): UTF-8 without white space or control characters. A tag outside it
// is dropped: no purge can ask for it, so losing it misses nothing.
func nameable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x80 && (c <= ' ' || c == 0x7f) {
			return false
		}
	}
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r >= 0x80 && (unicode.IsSpace(r) || unicode.IsControl(r)) {
			return false
		}
	}
	return true
}
