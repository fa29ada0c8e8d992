// Package clientip finds the address of the client behind a request, trusting
// forwarding information only from configured proxies.
//
// # Contract
//
// Two places can carry a client address that is not the socket peer:
//
//   - An X-Forwarded-For style header (a comma-separated list of addresses,
//     appended to by each proxy). [Resolver.ClientIP] returns the socket peer
//     unless that peer is in the trusted-proxies list; only then is the header
//     read, right to left, and the first address that is not itself a trusted
//     proxy is the client. Entries to the left of it were written by parties
//     we cannot vouch for and are never used. A malformed entry stops the walk:
//     the result is then the last address that was vouched for (a trusted
//     proxy), never an unverifiable one. If every entry is trusted the leftmost
//     one is returned.
//   - The PROXY protocol (HAProxy, versions 1 and 2). [Listen] wraps a
//     listener so that connections from trusted peers must begin with a PROXY
//     header whose source address becomes the connection's RemoteAddr;
//     connections from other peers are served as they are, and one that
//     starts with a PROXY header is closed (it would be a spoof).
//
// A request served through [Listen] therefore arrives with RemoteAddr already
// set to the PROXY source; [Resolver.ClientIP] then trusts the header only if
// that source is itself a trusted proxy.
//
// [Network] is what a per-client bound counts an address as (an IPv6
// client's /64), so that one holder of a /64 cannot pass the bound by
// sending from many of its addresses.
//
// Addresses are returned unmapped (an IPv4-mapped IPv6 address becomes IPv4)
// and without zone. Nothing here logs or keeps mutable package state; a
// Resolver is safe for concurrent use.
package clientip
