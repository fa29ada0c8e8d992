package policy

// The values of the Cache-Status detail parameter (RFC 9211 §2.8) that edged
// sends, all of them: README.md's detail table documents each, and
// edge's TestCacheStatusDetailsDocumented fails when a value here is missing
// from the table, when the table lists one that is not here, or when code
// writes a detail as a string literal instead of one of these. To add a
// detail: a constant here, a row in the README table.
const (
	// Why a stored response was not served as it is (Decide).
	DetailNoCache                    = "no-cache"                      // the response's no-cache: validated first (RFC 9111 §5.2.2.4)
	DetailRequestNoCache             = "request no-cache"              // the client's no-cache (RFC 9111 §5.2.1.4)
	DetailPragmaNoCache              = "pragma no-cache"               // the client's Pragma: no-cache (RFC 9111 §5.4)
	DetailRequestMaxAge              = "request max-age"               // older than the client's max-age (RFC 9111 §5.2.1.1)
	DetailMinFresh                   = "min-fresh"                     // fresh, but not for the client's min-fresh (RFC 9111 §5.2.1.3)
	DetailMaxStale                   = "max-stale"                     // stale, served within the client's max-stale (RFC 9111 §5.2.1.2)
	DetailStaleWhileRevalidate       = "stale-while-revalidate"        // stale, served while one refresh runs (RFC 5861 §3)
	DetailStale                      = "stale"                         // stale: validated first
	DetailPurged                     = "purged"                        // purged: validated first
	DetailPurgedStaleWhileRevalidate = "purged stale-while-revalidate" // soft-purged, served while one refresh runs
	DetailStaleIfError               = "stale-if-error"                // the upstream failed; the stored response stood in (RFC 5861 §4)

	// Why a response was not stored (Storable, and the edge's own limits).
	DetailMethod          = "method"            // not a GET
	DetailStatus          = "status"            // 1xx, 206 or 304 (RFC 9111 §3)
	DetailMustUnderstand  = "must-understand"   // must-understand on a status not understood (RFC 9111 §5.2.2.3)
	DetailNoStore         = "no-store"          // the response's or the request's no-store (RFC 9111 §5.2.2.5, §5.2.1.5)
	DetailPrivate         = "private"           // RFC 9111 §5.2.2.7
	DetailVaryStar        = "vary-star"         // Vary: * (RFC 9111 §4.1)
	DetailAuthorization   = "authorization"     // a request with Authorization, not marked shareable (RFC 9111 §3.5)
	DetailCookie          = "cookie"            // a request with Cookie, answered without explicit freshness or public
	DetailSetCookie       = "set-cookie"        // Set-Cookie, not marked shareable
	DetailNoFreshness     = "no-freshness"      // no explicit freshness and not heuristically cacheable (RFC 9111 §4.2.2)
	DetailTooLarge        = "too-large"         // body over cache.max_object: streamed, not stored
	DetailMemoryBudget    = "memory-budget"     // past the budget for bodies held in memory: streamed or passed through, not stored
	DetailTooManyVariants = "too-many-variants" // past the Vary variants cap of its URL
	DetailTags            = "tags"              // a purge tag over MaxTagLen bytes or past MaxTags: a tag purge would miss it
	DetailSuperseded      = "superseded"        // a fill of the object that began later stored its response first
	DetailRequestNoStore  = "request no-store"  // the client's no-store: passed through (RFC 9111 §5.2.1.5)
	// A sliced route's slice without a strong validator: slices are not
	// combined (RFC 9111 §3.4), so the slice is not stored and a response
	// that needs more than it is passed through.
	DetailSliceNoValidator = "slice-no-validator"
	DetailSliceVary        = "slice-vary" // a sliced route's slice that varies on more than Accept-Encoding, or came content-coded: not stored

	// Responses the edge makes or passes through itself.
	DetailOnlyIfCached        = "only-if-cached"       // 504 to only-if-cached (RFC 9111 §5.2.1.7)
	DetailRangeWhileFilling   = "range-while-filling"  // a range served from a fill under way
	DetailBypassRoute         = "route"                // with fwd=bypass: the route bypasses the cache
	DetailPurge               = "purge"                // the answer to the PURGE method
	DetailHTTPSRedirect       = "https-redirect"       // 308 to https
	DetailCORSPreflight       = "cors-preflight"       // 204: a CORS preflight answered by the route's policy
	DetailMaxForwards         = "max-forwards"         // 200: an OPTIONS with Max-Forwards: 0 answered here (RFC 9110 §7.6.2)
	DetailWebSocket           = "websocket"            // with fwd=bypass: a WebSocket handshake (RFC 6455), or its refusal; never stored
	DetailAccessDenied        = "access-denied"        // 403 by an access rule
	DetailRateLimited         = "rate-limited"         // 429
	DetailUnauthenticated     = "unauthenticated"      // 401
	DetailInsufficientScope   = "insufficient-scope"   // 403: a valid token without a required scope or role
	DetailWAF                 = "waf"                  // 403 (413 for a body over its limit) by the route's WAF
	DetailBadRequest          = "bad-request"          // 400 to a hostile request
	DetailLoop                = "loop"                 // 508: Via names this cache
	DetailBadTarget           = "bad-target"           // 400: a request target that has no safe cache key
	DetailNoRoute             = "no-route"             // 421 unknown host, 404 no route
	DetailRouteSlash          = "route-slash"          // 308: a route's prefix without its trailing slash, sent to the route's own URL
	DetailNoHealthyUpstream   = "no-healthy-upstream"  // 503: no healthy server in the pool
	DetailUpstreamTimeout     = "upstream-timeout"     // 504
	DetailUpstreamUnreachable = "upstream-unreachable" // 502: no connection
	DetailTooManyUploads      = "too-many-uploads"     // 429: the client has its cap of request bodies under way upstream
	DetailRequestBodyTimeout  = "request-body-timeout" // 408: the client's request body stalled or was too slow
	DetailBadRequestBody      = "bad-request-body"     // 400: the client's request body was cut short, malformed or reset
	DetailRequestTooLarge     = "request-too-large"    // 413: the client's request body is over the body size limit
	DetailUpstreamError       = "upstream-error"       // 502: a broken or refused response
)
