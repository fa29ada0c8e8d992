package ratelimit

import (
	"crypto/sha256"
	"net/netip"
)

// Kind says what a named client key is; names of different kinds never
// share a bucket, nor do they share one with an address.
type Kind byte

// The kinds of named keys.
const (
	KindSubject Kind = 's' // a verified JWT subject
	KindAPIKey  Kind = 'k' // a verified API key's identity
	KindHeader  Kind = 'h' // a request header's value
	KindBasic   Kind = 'b' // a verified HTTP Basic user name
)

// kindAddr marks an address key: the zero Kind.
const kindAddr Kind = 0

// maxNameLen is the longest name kept as is; longer ones are replaced by
// their SHA-256, so a bucket costs the same whatever a client sends, and
// no one can pick a name that lands in another's bucket.
const maxNameLen = 64

// bucketKey is what one bucket is kept for: an address (kind 0) or a
// name. Comparable, so address keys cost no allocation.
type bucketKey struct {
	kind Kind
	addr netip.Addr
	name string
}

func nameKey(kind Kind, name string) bucketKey {
	if len(name) > maxNameLen {
		sum := sha256.Sum256([]byte(name))
		name = "#" + string(sum[:])
	}
	return bucketKey{kind: kind, name: name}
}

// encode renders k for other nodes: the kind byte, then the 16 bytes of
// the address or the name.
func (k bucketKey) encode() string {
	if k.kind == kindAddr {
		a := k.addr.As16()
		return string(append([]byte{byte(kindAddr)}, a[:]...))
	}
	return string(k.kind) + k.name
}

// decodeKey reverses encode; ok is false for anything else.
func decodeKey(s string) (bucketKey, bool) {
	if s == "" {
		return bucketKey{}, false
	}
	switch kind, rest := Kind(s[0]), s[1:]; kind {
	case kindAddr:
		if len(rest) != 16 {
			return bucketKey{}, false
		}
		return bucketKey{addr: netip.AddrFrom16([16]byte([]byte(rest))).Unmap()}, true
	case KindSubject, KindAPIKey, KindHeader, KindBasic:
		if len(rest) > maxNameLen { // never more than nameKey keeps
			return bucketKey{}, false
		}
		return bucketKey{kind: kind, name: rest}, true
	}
	return bucketKey{}, false
}
