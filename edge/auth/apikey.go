package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

type apiKeyVerifier struct {
	name   string     // as configured, for the challenge
	header string     // canonical MIME form, for lookups
	hashes [][32]byte // SHA-256 of each key, so comparisons have one length
	ids    []string   // APIKeyID of each key
}

// APIKeyID is the identity (Identity.Subject) of an API key: "apikey#"
// and 16 hex digits of a hash of the key. It is the key's own, never its
// place in the list: the identity keys cache partitions (key_claims) and
// rate-limit budgets, which must not pass to another key when the list
// changes (a revoked first key made the second "apikey#0", and its holder
// was served the revoked holder's stored pages). The hash is
// domain-separated and cut to 64 bits, so the access log's user field
// names a key without holding a verifier of it.
func APIKeyID(key string) string {
	sum := sha256.Sum256([]byte("edged api key identity\x00" + key))
	return "apikey#" + hex.EncodeToString(sum[:8])
}

// newAPIKeyVerifier builds the verifier of validated options.
func newAPIKeyVerifier(o APIKeyOptions) *apiKeyVerifier {
	v := &apiKeyVerifier{name: o.Header, header: canonicalHeader(o.Header)}
	for _, k := range o.Keys {
		v.hashes = append(v.hashes, sha256.Sum256([]byte(k)))
		v.ids = append(v.ids, APIKeyID(k))
	}
	return v
}

// verify compares the presented key with every configured key in constant
// time: hashing first hides the length, and the loop never exits early, so
// timing reveals neither which key matched nor how much of one did.
func (v *apiKeyVerifier) verify(vals []string) (Identity, error) {
	if len(vals) != 1 {
		return Identity{}, fmt.Errorf("%w: %d %s fields", ErrInvalidRequest, len(vals), v.name)
	}
	got := sha256.Sum256([]byte(vals[0]))
	match := -1
	for i := range v.hashes {
		eq := subtle.ConstantTimeCompare(got[:], v.hashes[i][:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return Identity{}, ErrInvalidAPIKey
	}
	return Identity{Method: MethodAPIKey, Subject: v.ids[match]}, nil
}
