package edge

import (
	"net/http"

	"edged/edge/policy"
)

// preflight answers a CORS preflight (Fetch §3.2.2) for a route with a CORS
// policy at the edge, never forwarding it: 204 with the policy's fields
// for the request, set by finishHeader as on every response (none but Vary
// when the origin, method or headers are not allowed: the browser's CORS
// check then fails, Fetch §4.9). It runs before the route's guards: a
// preflight never carries credentials (Fetch §4.8), so authentication would
// refuse every one. Counted as a hit: answered without the upstream.
func (x *exchange) preflight() {
	x.cs = policy.CacheStatus{Detail: policy.DetailCORSPreflight}
	x.setCacheStatus(nil)
	x.outcome = outcomeHit
	x.w.WriteHeader(http.StatusNoContent)
}
