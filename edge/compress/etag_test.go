package compress

import "testing"

func TestVariantETag(t *testing.T) { // RFC 9110 §8.8.3
	tests := []struct {
		etag string
		enc  Encoding
		want string
	}{
		{`"abc"`, Brotli, `W/"abc-br"`},
		{`"abc"`, Gzip, `W/"abc-gzip"`},
		{`W/"abc"`, Gzip, `W/"abc-gzip"`},
		{`W/"abc"`, Brotli, `W/"abc-br"`},
		{`""`, Brotli, `W/"-br"`},
		{`"abc"`, Identity, `"abc"`},
		{"", Brotli, ""},
		{"", Identity, ""},
		{`abc`, Gzip, ""},           // unquoted: not an entity-tag.
		{`"ab"c"`, Gzip, ""},        // DQUOTE inside.
		{`"a b"`, Gzip, ""},         // SP is not etagc.
		{`w/"abc"`, Gzip, ""},       // RFC 9110 §8.8.3: "W/" is case-sensitive.
		{`"abc`, Gzip, ""},          // unterminated.
		{`"abc"`, "bad coding", ""}, // not a token.
	}
	for _, tt := range tests {
		if got := VariantETag(tt.etag, tt.enc); got != tt.want {
			t.Errorf("VariantETag(%q, %q) = %q, want %q", tt.etag, tt.enc, got, tt.want)
		}
	}
}

func TestStripVariantETag(t *testing.T) {
	tests := []struct {
		etag    string
		wantTag string
		wantEnc Encoding
	}{
		{`W/"abc-br"`, `W/"abc"`, Brotli},
		{`W/"abc-gzip"`, `W/"abc"`, Gzip},
		{`W/"a-b-gzip"`, `W/"a-b"`, Gzip},
		{`"abc-br"`, `"abc-br"`, Identity}, // strong tags are never ours.
		{`W/"abc"`, `W/"abc"`, Identity},
		{`W/"-br"`, `W/""`, Brotli}, // the variant of the empty tag `""`.
		{`W/"abc-zstd"`, `W/"abc-zstd"`, Identity},
		{`W/abc-br`, `W/abc-br`, Identity},
		{"", "", Identity},
		{"*", "*", Identity},
	}
	for _, tt := range tests {
		tag, enc := StripVariantETag(tt.etag)
		if tag != tt.wantTag || enc != tt.wantEnc {
			t.Errorf("StripVariantETag(%q) = %q, %q; want %q, %q", tt.etag, tag, enc, tt.wantTag, tt.wantEnc)
		}
	}
}

// TestVariantETagRoundTrip: a client's If-None-Match with a variant tag
// matches the stored identity tag by weak comparison (RFC 9110 §8.8.3.2,
// §13.1.2).
func TestVariantETagRoundTrip(t *testing.T) {
	for _, stored := range []string{`"abc"`, `W/"abc"`, `"5f3a-17"`, `""`} {
		for _, enc := range []Encoding{Gzip, Brotli} {
			v := VariantETag(stored, enc)
			if v == stored {
				t.Errorf("VariantETag(%q, %s) = %q, not distinct", stored, enc, v)
			}
			tag, gotEnc := StripVariantETag(v)
			if gotEnc != enc || !weakMatch(tag, stored) {
				t.Errorf("StripVariantETag(%q) = %q, %s; want a weak match of %q, %s", v, tag, gotEnc, stored, enc)
			}
		}
	}
}

// weakMatch is RFC 9110 §8.8.3.2 weak comparison.
func weakMatch(a, b string) bool {
	oa, okA := opaqueTag(a)
	ob, okB := opaqueTag(b)
	return okA && okB && oa == ob
}
