package compress

import (
	"strings"

	"edged/internal/httpsyntax"
)

// VariantETag returns the entity-tag for the enc-coded variant of a
// representation whose identity entity-tag is etag: `"abc"` and `W/"abc"`
// both become `W/"abc-br"` for Brotli and `W/"abc-gzip"` for Gzip.
//
// It is weak because compressed bytes depend on the level and library, so
// two edges may send different bytes for the same tag (RFC 9110 §8.8.1: a
// strong tag promises identical bytes), and distinct because a validator
// must differ between content codings of one resource (RFC 9110 §8.8.3).
// The "-gzip"/"-br" suffix is the one Apache httpd uses.
//
// Identity returns etag unchanged. An empty or malformed etag (not
// `[W/]"opaque"`, RFC 9110 §8.8.3) yields "": send the variant with no
// validator rather than one that could falsely match.
func VariantETag(etag string, enc Encoding) string {
	if enc == Identity {
		return etag
	}
	opaque, ok := opaqueTag(etag)
	if !ok || enc == "" || !httpsyntax.IsToken(string(enc)) {
		return ""
	}
	return `W/"` + opaque + "-" + string(enc) + `"`
}

// StripVariantETag undoes VariantETag: for `W/"abc-br"` it returns
// (`W/"abc"`, Brotli), so a conditional request can be revalidated against
// the identity representation, for example upstream. The identity tag comes
// back weak because the variant tag no longer says whether it was strong;
// If-None-Match compares weakly (RFC 9110 §13.1.2), so this still matches a
// stored strong "abc". Any other etag, strong ones included (variant tags
// are always weak), is returned unchanged with Identity.
//
// An origin's own weak tag ending in "-br" or "-gzip" is indistinguishable
// from a variant tag; to judge a client's validator, prefer comparing it
// with VariantETag of the variant being served.
func StripVariantETag(etag string) (identity string, enc Encoding) {
	if !strings.HasPrefix(etag, `W/`) {
		return etag, Identity
	}
	opaque, ok := opaqueTag(etag)
	if !ok {
		return etag, Identity
	}
	for _, c := range [...]Encoding{Brotli, Gzip} {
		base, found := strings.CutSuffix(opaque, "-"+string(c))
		if found {
			return `W/"` + base + `"`, c
		}
	}
	return etag, Identity
}

// opaqueTag returns the characters between the quotes of an entity-tag
// `[W/] DQUOTE *etagc DQUOTE` (RFC 9110 §8.8.3).
func opaqueTag(etag string) (string, bool) {
	etag = strings.TrimPrefix(etag, "W/")
	if len(etag) < 2 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		return "", false
	}
	opaque := etag[1 : len(etag)-1]
	for i := 0; i < len(opaque); i++ {
		// RFC 9110 §8.8.3: etagc = %x21 / %x23-7E / obs-text.
		if c := opaque[i]; c < 0x21 || c == '"' || c == 0x7f {
			return "", false
		}
	}
	return opaque, true
}
