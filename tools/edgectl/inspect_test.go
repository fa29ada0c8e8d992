package main

import (
	"net/http"
	"testing"

	"edged/edge/policy"
)

// TestVariantLabel: inspect labels every derivation of a stored key, read
// with the key grammar's own parser (policy.Key.Parse).
func TestVariantLabel(t *testing.T) {
	const target = "http://h/p"
	k := policy.Key(target)
	lang := []string{"Accept-Language", "X-A"}
	tests := []struct {
		key  policy.Key
		want string
	}{
		{k, "-"},
		{"https://h/p", "https://"},
		{k.Encoding("br"), "ce=br"},
		{k.Variant(lang, http.Header{"Accept-Language": {"en"}}).Encoding("gzip"), "Accept-Language=en X-A=(absent) | ce=gzip"},
		{k.Split("canary").AuthPartition(`sub="x";`), `~canary | ~auth:sub="x";`},
		{policy.Key("https://h/p").Encoding("br"), "https:// ce=br"},
	}
	for _, tt := range tests {
		if got := variantLabel(target, string(tt.key)); got != tt.want {
			t.Errorf("variantLabel(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
