package access

import (
	"errors"
	"fmt"
	"net/netip"

	"edged/internal/prefixset"
)

// newPrefixSet builds the set of a rule's networks (prefixset: masked,
// unmapped, scanned linearly, as per-site lists are short). An invalid
// network is reported by the field and index it was given at.
func newPrefixSet(field string, ps []netip.Prefix) (prefixset.Set, error) {
	s, err := prefixset.New(ps)
	if inv := (*prefixset.InvalidError)(nil); errors.As(err, &inv) {
		return nil, fieldErr(fmt.Sprintf("%s[%d]", field, inv.Index), "invalid network %q", inv.Prefix)
	}
	return s, nil
}
