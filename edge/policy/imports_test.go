package policy

import (
	"testing"

	"edged/edge/internal/importcheck"
)

// TestImportsNothingOfOurs enforces docs/design.md: edge/policy is a leaf and
// imports no package of module edged.
func TestImportsNothingOfOurs(t *testing.T) {
	importcheck.NothingOfOurs(t, "edged/edge/policy")
}
