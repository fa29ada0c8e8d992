// Package edge is the client-facing side of an edged node: an http.Handler
// that answers GET and HEAD from the two-tier cache, revalidates stale
// objects, collapses concurrent misses for one object into one upstream fetch
// that no client's disconnect can cancel, stores what RFC 9111 allows, and
// passes every other method through to the upstream, invalidating what an
// unsafe method changes (RFC 9111 §4.4).
//
// Every response carries a Cache-Status field (RFC 9211) naming this cache.
//
// The path of a request reads top to bottom in ServeHTTP (handler.go),
// through the methods of its exchange, the request object (exchange.go,
// with its Cache-Status and its writer in writer.go). By the path taken:
//   - hit.go looks the request up and serves a stored response;
//   - miss.go fetches a miss or a stale response through the one shared
//     fetch per object and stores the result; flight.go holds what shares
//     and bounds fetches (flights, per-client slots) and tracks the
//     goroutines Close waits for; streamrange.go answers a range while the
//     body arrives;
//   - slice.go serves a route that keeps objects in fixed-size slices,
//     each fetched with a Range request (slicefetch.go);
//   - pass.go forwards what the cache does not keep;
//   - respond.go writes errors and upstream bodies.
//
// The steps before the cache have a file each: sanitize.go, route.go (with
// routematch.go for routes chosen by header, cookie and query values),
// preflight.go (CORS preflights, edge/cors), guard.go, inspect.go (the
// WAF), purge.go.
package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edged/edge/cors"
	"edged/edge/policy"
	"edged/edge/waf"
	"edged/internal/ascii"
	"edged/internal/fielderr"
	"edged/internal/httpsyntax"
	"edged/origin"
	"edged/storage"
)

// Handler serves client requests through the cache. It is safe for
// concurrent use; Close waits for the background work it started.
type Handler struct {
	opts  Options
	store *storage.Store
	// routes are the current Router (or the route of every host); see
	// Reroute.
	routes  atomic.Pointer[routes]
	log     *slog.Logger
	metrics *metrics
	// wafMetrics counts what the routes' WAFs did (edge/waf).
	wafMetrics *waf.Metrics

	// flights collapses concurrent fetches of one storage key.
	flights flights
	// uncacheable lists keys fetched without coalescing for a while.
	uncacheable uncacheable
	// tooLarge lists keys whose last fill was past MaxObjectBytes: their
	// ranges go upstream as asked (see fetch).
	tooLarge uncacheable
	// variants bounds the Vary variants stored per URL.
	variants variantCounter
	// fills orders the stores of concurrent fills of one object.
	fills fillOrder
	// slots bounds the fetches each client has under way.
	slots fillSlots
	// uploads bounds the requests with a body each client has under way.
	uploads fillSlots
	// strip are the request fields removed before anything reads them.
	strip fieldSet
	// bodies bounds the bodies held in memory by fills and disk hits.
	bodies bodyBudget
	// tasks are the goroutines the Handler started that outlive a request
	// (upstream fetches, background revalidations) and the streams no
	// leader took yet: Close waits for them.
	tasks tasks
	// fetchCtx is the context every upstream fetch derives from;
	// cancelFetches ends it.
	fetchCtx      context.Context
	cancelFetches context.CancelFunc
	// exchanges recycles each request's exchange and its writer, so a hit
	// allocates neither (see exchange for what may keep them).
	exchanges sync.Pool
	// hitStatus and ages hold recent Cache-Status values of plain hits (by
	// TTL and the upstream caches' members) and Age values past the first
	// hour: the hits of an object within one second share them.
	hitStatus, ages valueCache
	// ids makes request ids (requestid.go).
	ids *requestIDs
	// realClock: Options.Now is time.Now (none was given), so the time a
	// request arrived may stand for the time its hit is decided.
	realClock bool
}

// New validates opts and returns a Handler.
func New(opts Options) (*Handler, error) {
	realClock := opts.Now == nil
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix("edge: option ", err)
	}
	log := opts.Logger
	strip, err := newFieldSet(opts.StripRequestHeaders)
	if err != nil {
		return nil, fmt.Errorf("edge: Options.%w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("edge: register metrics: %w", err)
	}
	wm, err := waf.NewMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("edge: register metrics: %w", err)
	}
	h := &Handler{opts: opts, store: opts.Store, log: log, metrics: m, wafMetrics: wm, strip: strip, ids: newRequestIDs(), realClock: realClock}
	// Fetches run detached from clients; Close cancels those still running
	// past its deadline.
	h.fetchCtx, h.cancelFetches = context.WithCancel(context.Background())
	h.flights.tasks = &h.tasks
	h.flights.generation = h.store.Generation   // a purge ends joining the flights before it
	h.flights.purgedSince = h.store.PurgedSince // ... if it may cover their object
	h.bodies.init(opts.BodyMemory)
	h.tooLarge.lasts = tooLargeFor
	h.slots.perClient, h.uploads.perClient = opts.MaxFillsPerClient, opts.MaxUploadsPerClient
	if opts.NoFillLimit {
		h.slots.perClient = -1 // fillSlots: unlimited
	}
	if opts.NoUploadLimit {
		h.uploads.perClient = -1
	}
	h.routes.Store(newRoutes(opts.Router, opts.Upstream, opts.Pools))
	return h, nil
}

// Close waits for every goroutine the Handler started to end: upstream
// fetches (which no client's disconnect cancels), background revalidations
// (stale-while-revalidate), and the wait for a leader to take a response too
// large to store, which it ends at once by closing that response. If ctx
// ends first, it returns an error naming each task that had not finished.
// Either way it then cancels the fetches still running, and any that a late
// request would start: the Handler must not serve requests after Close.
func (h *Handler) Close(ctx context.Context) error {
	err := h.tasks.wait(ctx)
	h.cancelFetches() // those still running, and any a late request would start
	h.tasks.retire()
	return err
}

// ServeHTTP answers one client request. The steps, in order:
//  1. refuse hostile shapes, forwarding loops and malformed targets;
//  2. route by host and path (421 for a host no site serves); send a
//     PURGE to the purge bus (purge.go: Options.PurgeFrom admits it, not
//     the route's guards); answer a CORS preflight of a route with a CORS
//     policy; then the site's and route's guards: HTTPS redirect, access
//     rules, rate limit, authentication; then the route's WAF, if any
//     (inspect.go);
//  3. hand a WebSocket upgrade to its route (upgrade.go), never cached;
//     wrap the writer in the route's JSON-to-XML transform, if any
//     (transform.go); pass methods other than GET and HEAD through,
//     invalidating on unsafe ones, and so every request of a route that
//     bypasses the cache (pass.go); serve a route that keeps objects in
//     slices (slice.go);
//  4. look the target up (primary key, then the Vary variant);
//  5. serve a usable stored response (hit.go), or serve it stale and
//     refresh in the background, or revalidate it, or fetch a miss, each
//     through one shared upstream fetch per object (miss.go); what may not
//     be stored or shared goes upstream on its own (pass.go).
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	x := h.newExchange(rw, r)
	defer x.done()

	if r.ProtoMajor == 1 && r.ContentLength != 0 && h.opts.RequestBodyTimeout > 0 {
		// net/http reads what a handler left of a request body before it
		// writes the response head, and again as it closes the body, to
		// keep the connection; with no deadline, a client that announces a
		// body and stalls would hold the connection, and its answer, for
		// good. This deadline bounds those reads (a stalled body then
		// closes the connection); pass moves it as it forwards the body
		// (uploadBody), and the server sets its own for the next request.
		_ = http.NewResponseController(rw).SetReadDeadline(time.Now().Add(h.opts.RequestBodyTimeout))
	}
	// Read before refuseHostile drops the Upgrade field Connection names.
	upgrade := len(r.Header["Upgrade"]) > 0 && wantsWebSocket(r.Header) || r.Method == http.MethodConnect && isExtendedConnect(r)
	// Read before refuseHostile drops X-Forwarded-Proto (a shield's edges
	// send it).
	sch := h.scheme(r)
	status, reason := h.refuseHostile(r)
	// After refuseHostile: a configured strip of X-Request-Id removes
	// what a client sent, never the id given here.
	x.setRequestID()
	if status != 0 {
		x.refuse(status, reason, policy.DetailBadRequest)
		return
	}
	if h.viaNamesMe(r.Header) {
		// RFC 9110 §7.6.3: Via lets a proxy detect a loop; 508 is RFC 5842's status for it.
		x.refuse(http.StatusLoopDetected, "forwarding loop: Via already names "+h.opts.Name, policy.DetailLoop)
		return
	}
	// The routes are taken first: whether the path chooses a route decides
	// how strictly it is read, and a reload in between must not change it.
	x.routes = h.currentRoutes()
	parse := policy.ParseTarget
	if x.routes.router == nil {
		parse = policy.ParseUnroutedTarget // no route or access rule reads the path
	}
	t, err := parse(sch, r.Host, r.URL)
	if err != nil {
		x.refuse(http.StatusBadRequest, "bad request target: "+err.Error(), policy.DetailBadTarget)
		return
	}
	if status, reason := x.routeTo(t); status != 0 {
		detail := policy.DetailNoRoute
		if status == http.StatusPermanentRedirect {
			detail = policy.DetailRouteSlash
		}
		x.refuse(status, reason, detail)
		return
	}
	if r.Method == methodPurge {
		x.purge()
		return
	}
	if x.route.CORS != nil && cors.IsPreflight(r) {
		x.preflight() // before the guards: a preflight carries no credentials
		return
	}
	if !x.guard() {
		return
	}
	inspected, ok := x.inspect()
	if !ok {
		return
	}
	defer inspected.release()
	if upgrade && x.route.WebSocket != nil {
		x.webSocket(x.route.WebSocket) // after the guards, never cached
		return
	}
	if tf := x.route.Transform; tf != nil && tf.JSONToXML {
		x.transform(tf)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		x.passMethod()
		return
	}
	if x.route.Cache.Bypass {
		x.cs = policy.CacheStatus{Fwd: policy.FwdBypass, Detail: policy.DetailBypassRoute}
		x.pass()
		return
	}
	if x.route.Cache.Slice > 0 {
		x.serveSliced() // the object is kept in slices (slice.go)
		return
	}

	// A flight of the key that ended after this request's lookup may
	// have stored what answers it, so the request looks again rather than
	// start another (flights.join). The last look starts a flight whatever
	// ended (anyEnd): a key whose flights keep ending cannot hold a
	// request in this loop.
	for looks := 1; ; looks++ {
		x.since = anyEnd
		if looks < maxLooks {
			x.since = h.flights.seen()
		}
		if !x.serveStored() {
			return
		}
		x.found.closeBody()
		// Nothing was answered: what the lookup decoded of a disk hit
		// (x.w.held, all it holds then) is decoded anew by the next.
		x.w.held.release()
	}
}

// maxLooks bounds the store lookups of one request (see ServeHTTP).
const maxLooks = 3

// serveStored looks the request up in the store and answers it: a usable
// stored response, or one served stale while it is refreshed, or a
// revalidation or a fetch through the key's flight. again reports that
// nothing was answered: a flight of the key ended after the lookup, and
// what it stored may serve the request (flights.join).
func (x *exchange) serveStored() (again bool) {
	h, r := x.h, x.r
	// A disk hit's body is decoded whole for this request: it counts
	// against the body budget (x.w.held) until the response is sent.
	x.found = x.lookup(&x.w.held)
	found := &x.found
	if found.overBudget {
		h.metrics.overBudget.Inc()
		x.cs = policy.CacheStatus{Fwd: policy.FwdBypass, Detail: policy.DetailMemoryBudget}
		x.pass()
		return false
	}
	if e := found.entry; e != nil {
		stored := hitResponse(e, found.tier, x.rules().Surrogate)
		d := policy.Decide(r.Header, stored, x.now(), *x.rules())
		switch d.Action {
		case policy.Serve:
			x.cs = policy.CacheStatus{Hit: true, TTL: d.TTL, HasTTL: true}
			x.serveEntry(e, found.tier, d.Age, nil)
			return false
		case policy.ServeStale:
			if d.Background {
				x.refreshInBackground()
			}
			x.cs = policy.CacheStatus{Hit: true, TTL: d.TTL, HasTTL: true, Detail: d.Detail}
			x.serveEntry(e, found.tier, d.Age, nil)
			return false
		}
		if policy.OnlyIfCached(r.Header) {
			// RFC 9111 §5.2.1.7: a stored response or 504, never a forward.
			x.cs = policy.CacheStatus{TTL: d.TTL, HasTTL: true, Detail: policy.DetailOnlyIfCached}
			x.respondError(http.StatusGatewayTimeout, "only-if-cached: stored response needs validation")
			return false
		}
		x.cs = policy.CacheStatus{Fwd: d.Fwd, Detail: d.Detail}
		return x.fetch()
	}
	if policy.OnlyIfCached(r.Header) {
		x.cs = policy.CacheStatus{Fwd: found.fwd, Detail: policy.DetailOnlyIfCached}
		x.respondError(http.StatusGatewayTimeout, "only-if-cached: not in cache")
		return false
	}
	if policy.RequestNoStore(r.Header) {
		// RFC 9111 §5.2.1.5: nothing of this exchange is stored, so it
		// shares no fetch either.
		x.cs = policy.CacheStatus{Fwd: found.fwd, Detail: policy.DetailRequestNoStore}
		x.pass()
		return false
	}
	x.cs = policy.CacheStatus{Fwd: found.fwd}
	return x.fetch()
}

// viaNamesMe reports whether this node already forwarded the request.
func (h *Handler) viaNamesMe(header http.Header) bool {
	for _, line := range header["Via"] { // a canonical name: Values would canonicalize it again
		for hop := range strings.SplitSeq(line, ",") {
			// RFC 9110 §7.6.3: received-protocol SP received-by [ comment ].
			if receivedBy(hop) == h.opts.Name {
				return true
			}
		}
	}
	return false
}

// receivedBy is the second whitespace-separated field of a Via hop, "" if
// none. It splits as strings.Fields does, without building the slice: a
// shield sees Via on every request.
func receivedBy(hop string) string {
	i := 0
	for field := range strings.FieldsSeq(hop) {
		if i == 1 {
			return field
		}
		i++
	}
	return ""
}

// namedPool is the pool an edge named in origin.PoolHeader, on a shield,
// from a proxy in Options.ClientIP's trusted list only: one line, an HTTP
// token. An edge's two routes to different pools may send its shield the
// same URL (strip_prefix, upstream_path); the shield keeps their objects
// apart by the name and fetches from its own pool of that name
// (Options.Pools), else by its own route. A client that is no trusted
// proxy could otherwise pick a pool the shield's route does not send it
// to: its field is ignored, and origin.Client never passes it on.
func (h *Handler) namedPool(r *http.Request) (string, bool) {
	if !h.opts.Policy.Shield {
		return "", false // an edge's every request: no header lookup
	}
	v := r.Header[origin.PoolHeader]
	if len(v) != 1 || !httpsyntax.IsToken(v[0]) || !h.fromTrustedProxy(r) {
		return "", false
	}
	return v[0], true
}

// scheme is the scheme of the URL the client asked for, which the cache key
// holds and the upstream is told in X-Forwarded-Proto: the connection's,
// except on a shield. A shield's clients are edges, and an edge reaches it
// over one scheme whatever its own client used; the edge says which in
// X-Forwarded-Proto (origin.Outbound.Proto, its own key's scheme, never a
// client's field: the edge removes that). Keyed by its connection alone, a
// shield kept one entry for a URL's http and https requests and told the
// origin "http" for both, so an origin that redirects plain HTTP to HTTPS
// (or writes the scheme into its pages) answered every HTTPS client of the
// fleet with its redirect, stored, a loop. One X-Forwarded-Proto line of
// exactly "http" or "https" is taken; anything else is ignored. A client
// that reaches a shield directly (keep shields private) can thus choose
// either key, which it could already fill through a plain connection.
//
// The same field is believed from a proxy in Options.ClientIP's trusted
// list, as its X-Forwarded-For is: a load balancer that terminates TLS
// reaches the node over plain HTTP, and keyed by the connection every
// HTTPS request was an http one, the origin told "http" (the redirect loop
// above). Any other client's field is ignored (and removed before the
// request goes upstream), so no client can choose the scheme of a key.
func (h *Handler) scheme(r *http.Request) string {
	// The field first: most requests carry none, and the peer check
	// parses RemoteAddr.
	if v := r.Header["X-Forwarded-Proto"]; len(v) == 1 &&
		(h.opts.Policy.Shield || h.fromTrustedProxy(r)) {
		if ascii.EqualFold(v[0], "https") {
			return "https"
		}
		if ascii.EqualFold(v[0], "http") {
			return "http"
		}
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
