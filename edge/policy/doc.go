// Package policy is the pure RFC 9111 logic of a shared HTTP cache: cache keys,
// whether a response may be stored, freshness and age, Vary matching, validators
// and conditional requests, the rules for serving stale responses, invalidation
// after unsafe methods, and Cache-Status (RFC 9211) values.
//
// Everything here is a function of its arguments (headers, statuses and times);
// the package does no I/O, keeps no state and never blocks, so every entry point
// can be fuzzed. Callers own the clock: every time-dependent function takes now.
//
// Directive parsing uses github.com/pquerna/cachecontrol where it fits. RFC 9111
// needs more than that library gives in several places, each marked in the code:
// targeted fields (CDN-Cache-Control, Surrogate-Control, RFC 9213), the
// stale-while-revalidate and stale-if-error extensions (RFC 5861), qualified
// no-cache/private field lists, the Authorization and Set-Cookie rules, and
// the selection of stored responses to freshen from a 304 (RFC 9111 §4.3.4).
package policy
