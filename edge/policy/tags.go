package policy

import (
	"net/http"
	"strings"
)

// MaxTags bounds the tags kept for one response, so that an origin cannot
// make one object cost unbounded index space.
const MaxTags = 256

// MaxTagLen bounds one tag's length in bytes; longer tags are dropped.
const MaxTagLen = 256

// Tags returns the purge tags (surrogate keys) an origin attached to a
// response: Surrogate-Key is space-separated (Fastly's convention) and
// Cache-Tag comma-separated (Cloudflare's). Tags are deduplicated in order
// of first appearance; empty, oversized or control-character tags are
// dropped, and at most MaxTags are kept. It returns nil when there are none.
func Tags(h http.Header) []string {
	var tags []string
	add := func(tag string) {
		if tag == "" || len(tag) > MaxTagLen || len(tags) >= MaxTags || !printable(tag) {
			return
		}
		for _, t := range tags {
			if t == tag {
				return
			}
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
	return tags
}

// printable reports whether s has only visible ASCII characters, the
// characters of a token or a surrogate key.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
