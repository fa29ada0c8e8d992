package access

import (
	"testing"

	"edged/edge/internal/importcheck"
)

// TestImportsNothingOfOurs keeps access a self-contained library: it imports
// no package of module edged, so edge and the binary can both use it.
func TestImportsNothingOfOurs(t *testing.T) {
	importcheck.NothingOfOurs(t, "edged/edge/access")
}
