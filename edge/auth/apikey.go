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

func newAPIKeyVerifier(o APIKeyOptions) (*apiKeyVerifier, error) {
	if len(o.Keys) == 0 {
		return nil, fmt.Errorf("%w: APIKeys.Keys: no keys", ErrInvalidOptions)
	}
	h := o.Header
	if h == "" {
		h = DefaultAPIKeyHeader
	}
	if !isQuotedStringSafe(h) {
		return nil, fmt.Errorf("%w: APIKeys.Header: %q is not a field name", ErrInvalidOptions, h)
	}
	v := &apiKeyVerifier{name: h, header: canonicalHeader(h)}
	for i, k := range o.Keys {
		if k == "" {
			return nil, fmt.Errorf("%w: APIKeys.Keys[%d]: empty key", ErrInvalidOptions, i)
		}
		v.hashes = append(v.hashes, sha256.Sum256([]byte(k)))
	}
	return v, nil
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
