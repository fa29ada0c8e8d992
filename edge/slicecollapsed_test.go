package edge

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCollapsedNotGivenWhatNeedsValidation on a route with cache.slice:
// a slice fetched for one request that needs validation before it answers
// another (no-cache, stale as it arrived) is not given to the requests
// waiting on its fetch; each fetches its own. Before, they were sent the
// leader's slice (Alice's page to Bob), whole or as a range.
func TestSliceCollapsedNotGivenWhatNeedsValidation(t *testing.T) {
	testCollapsedCases(t, edgeConfig{slice: 64 << 10}, func(w http.ResponseWriter, r *http.Request, cc string) {
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("ETag", `"v1-`+r.Header.Get("Cookie")+`"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("for "+r.Header.Get("Cookie")+strings.Repeat(".", 60<<10))) // one slice
	})
}
