package rules

import (
	"testing"

	"edged/edge/internal/importcheck"
)

// TestImportsNothingOfOurs keeps rules a self-contained library that the
// proxy and the config loader both use.
func TestImportsNothingOfOurs(t *testing.T) {
	importcheck.NothingOfOurs(t, "edged/edge/forward/rules")
}
