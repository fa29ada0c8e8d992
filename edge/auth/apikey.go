package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

type apiKeyVerifier struct {
	name   string     // as configured, for the challenge
	header string     // canonical MIME form, for lookups
	hashes [][32]byte // SHA-256 of each key, so comparisons have one length
}

// newAPIKeyVerifier builds the verifier of validated options.
func newAPIKeyVerifier(o APIKeyOptions) *apiKeyVerifier {
	v := &apiKeyVerifier{name: o.Header, header: canonicalHeader(o.Header)}
	for _, k := range o.Keys {
		v.hashes = append(v.hashes, sha256.Sum256([]byte(k)))
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
	return Identity{Method: "apikey", Subject: fmt.Sprintf("apikey#%d", match)}, nil
}
