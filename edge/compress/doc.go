// Package compress chooses and produces the content coding an edge node
// sends: gzip or brotli, negotiated from Accept-Encoding (RFC 9110 §12.5.3).
//
// It promises:
//
//   - Negotiate never returns a coding the client did not clearly accept: a
//     coding with q=0, a coding whose element is malformed, and a coding the
//     client did not list (unless "*" covers it) are never chosen. Without an
//     acceptable coding the answer is Identity.
//   - Eligible and Compressible say which responses are worth compressing and
//     may be: compressible media types, no Content-Encoding from the origin
//     (never double-encoded), no Cache-Control: no-transform.
//   - Encoder compresses whole bodies (for cache fills, so a hit never
//     recompresses) and streams (for responses too large to store), with
//     pooled compressors; it is safe for concurrent use.
//   - VariantETag gives every compressed variant a weak, distinct entity-tag
//     (RFC 9110 §8.8.3: a validator must change with the content coding);
//     StripVariantETag recovers the identity tag to revalidate upstream.
//
// The package imports nothing of module edged but internal/; the edge handler owns the
// HTTP exchange (Vary: Accept-Encoding, Content-Encoding, 406 or not).
package compress
