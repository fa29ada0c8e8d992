// Package access decides whether a request may proceed, from the client's
// network, the request path, the User-Agent and the time of day.
//
// # Contract
//
// [Compile] checks a [Rules] value once (errors name the offending field) and
// returns an immutable [Policy], safe for concurrent use. [Policy.Check]
// applies, in order, and stops at the first refusal:
//
//  1. Deny networks: a client in any of them is refused. Deny wins over
//     Allow, so a narrow Deny can punch a hole in a wide Allow.
//  2. Allow networks: when the list is non-empty, only clients in it pass.
//  3. DenyPaths: path prefixes, matched on segment boundaries ("/admin"
//     matches "/admin" and "/admin/x" but not "/administrator"; "/admin/"
//     matches only below it), with ASCII letter case folded: RFC 3986
//     §6.2.2.1 leaves path case significant, but Windows servers and
//     Express serve "/ADMIN" as "/admin", and a refusal must hold for every
//     origin.
//  4. BlockUserAgents: case-insensitive (ASCII) substrings of the
//     User-Agent. Substrings rather than regular expressions: operators copy
//     bot names from logs, substrings cannot be mis-escaped, and a check
//     costs no allocation.
//  5. Windows: a "deny" window refuses its paths while the clock is inside
//     it; an "allow" window refuses its paths while the clock is outside it.
//
// Paths should be the normalized request path (the cache key's path). A
// rule applies when the path as given, or any reading of it an origin may
// serve ([Readings]: percent-decoded, "%2F", "%5C" and "\" as separators,
// ";params" removed from every segment, "//" merged, dot segments removed),
// matches it: "/admin;x", "/;x/admin", "/admin;jsessionid=1", "/%61dmin",
// "//admin", "/ADMIN" and "/admin%2Fx" are all refused by a rule for
// "/admin". Rules are read the same way when compiled. A path only a reading
// matches is refused, never forwarded: the origin would serve the denied
// resource for it.
//
// IPv4-mapped IPv6 clients are unmapped before matching, so IPv4 rules cover
// dual-stack sockets. The reason returned with a refusal is a short fixed
// phrase suitable for a 403 body; it never echoes request data.
package access
