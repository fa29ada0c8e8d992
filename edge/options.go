package edge

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"edged/edge/accesslog"
	"edged/edge/clientip"
	"edged/edge/compress"
	"edged/edge/policy"
	"edged/internal/fielderr"
	"edged/origin"
	"edged/storage"
)

// Options configure a Handler. New gives a zero field the default named on
// it ([DefaultOptions] holds them all); where zero is a setting of its own
// ("no limit") the field says so, and nothing is turned off with a negative
// number (NoFillLimit, NoUploadLimit say it).
type Options struct {
	// Name identifies this cache in Cache-Status and Via, and detects
	// forwarding loops (a request whose Via already names it is refused).
	// Required.
	Name string
	// Store holds cached objects. Required.
	Store *storage.Store
	// Upstream fetches misses for every host when Router is nil.
	Upstream *origin.Client
	// Router maps hosts to sites and paths to routes, each with its own
	// upstream. Nil serves every host through Upstream.
	Router *Router
	// Pools are a shield's upstreams by pool name: a request from a
	// trusted proxy (ClientIP) that names a pool in origin.PoolHeader, as
	// an edge does, is fetched through that pool's client and stored
	// apart from other pools' objects of the same URL (policy.Key.Pool).
	// Only with Policy.Shield; nil routes by Router or Upstream alone.
	Pools map[string]*origin.Client
	// Policy tunes the RFC 9111 rules; Policy.Shield marks a shield node.
	Policy policy.Options
	// Compression compresses responses for clients that accept gzip or
	// brotli; compressed variants of stored responses are stored beside
	// them. Nil sends what the upstream sent.
	Compression *compress.Encoder
	// MaxObjectBytes is the largest body stored; larger responses are streamed
	// to the client and not stored. Default 64 MiB.
	MaxObjectBytes int64
	// BodyMemory bounds the bytes of response bodies held in memory outside
	// the store: bodies being read by fills, disk hits being sent (admitted
	// before the store decodes them), compressors and compressed variants
	// being made. A fill that does not fit is streamed to its client and
	// not stored; a disk hit that does not fit is passed through to the
	// upstream (both say detail=memory-budget in Cache-Status); a response
	// whose compressor does not fit is sent uncompressed. One body is always let in
	// when none is held, so the bound is this or one object of
	// MaxObjectBytes, whichever is larger. Default 64 MiB.
	BodyMemory int64
	// WriteTimeout is the time a client has to accept each 64 KiB of a
	// response body: the deadline moves as the body goes out, so a large
	// download at any reasonable rate is never cut, while a client that
	// stops reading (or reads slower than 64 KiB per WriteTimeout) is
	// disconnected and releases what its response held. Zero means no
	// limit.
	WriteTimeout time.Duration
	// MaxFillsPerClient bounds the upstream fetches one client address may
	// have under way; more requests from it wait for a slot (in their own
	// request, so a client that leaves starts nothing). Default 32.
	MaxFillsPerClient int
	// NoFillLimit lifts MaxFillsPerClient: a shield's clients are edges,
	// each asking for many objects at once on behalf of many users.
	NoFillLimit bool
	// StripRequestHeaders are the request fields removed before anything
	// reads the request (key, access rules, upstream): names, or prefixes
	// ending in "*" ("X-Forwarded-*", which never matches X-Forwarded-For).
	// Nil means DefaultStripRequestHeaders(); empty removes none.
	StripRequestHeaders []string
	// MaxBodyBytes bounds a request body forwarded upstream; a larger one
	// is refused with 413. Zero means no limit.
	MaxBodyBytes int64
	// RequestBodyTimeout bounds each wait for request body bytes; a body
	// that stalls longer fails its upstream request and is answered 408.
	// Default 30 seconds.
	RequestBodyTimeout time.Duration
	// RequestBodyMinRate is the slowest average a request body may arrive
	// at, in bytes per second, once RequestBodyTimeout has passed since its
	// first byte was awaited. Zero means no minimum.
	RequestBodyMinRate int64
	// MaxUploadsPerClient bounds the requests with a body one client
	// address may have under way upstream; more are refused with 429.
	// Default 16.
	MaxUploadsPerClient int
	// NoUploadLimit lifts MaxUploadsPerClient (a shield, whose clients are
	// edges each forwarding the uploads of many users).
	NoUploadLimit bool
	// FetchTimeout bounds one upstream fetch shared by coalesced requests,
	// body included, until a client is sent its body as it arrives (then
	// the origin client's body timeout bounds each pause, and nothing the
	// whole: fetchContext). Default 5 minutes.
	FetchTimeout time.Duration
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// AccessLog receives one line per request (an *accesslog.Writer,
	// which never makes a request wait); nil disables access logs.
	AccessLog AccessLogger
	// NoRequestID makes no request id: X-Request-Id is neither added to
	// the request sent upstream nor to the response (one a client sent
	// goes on as any other field). The forward role's upstreams are other
	// people's servers: they are told nothing about its clients.
	NoRequestID bool
	// Observer, when set, is called once per finished request on its
	// goroutine (the admin listener's analytics); it must be quick.
	Observer func(Observed)
	// Registerer receives the handler's Prometheus metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
	// ClientIP finds a request's client address for access rules and rate
	// limits, believing forwarding headers only from trusted proxies; nil
	// uses the socket peer.
	ClientIP *clientip.Resolver
	// Purger serves the PURGE method (Varnish style) for clients in
	// PurgeFrom; nil answers PURGE with 405.
	Purger Purger
	// PurgeFrom are the client networks allowed to send PURGE. Empty means
	// nobody: PURGE is refused with 403.
	PurgeFrom []netip.Prefix
}

// defaultMaxObject is the default of Options.MaxObjectBytes.
const defaultMaxObject = 64 << 20

// defaultFetchTimeout is the default of Options.FetchTimeout.
const defaultFetchTimeout = 5 * time.Minute

// DefaultOptions returns the values New gives the fields of Options left
// zero (Store, Upstream and Router are the caller's): a caller that
// validates before New (edge/config) starts from them, since
// [Options.Validate] takes every field as given.
func DefaultOptions() Options { return Options{}.withDefaults() }

// withDefaults returns opts with zero fields replaced by their defaults:
// the one place that knows them.
func (opts Options) withDefaults() Options {
	opts.MaxObjectBytes = cmp.Or(opts.MaxObjectBytes, defaultMaxObject)
	opts.BodyMemory = cmp.Or(opts.BodyMemory, defaultBodyMemory)
	opts.MaxFillsPerClient = cmp.Or(opts.MaxFillsPerClient, defaultFillsPerClient)
	opts.MaxUploadsPerClient = cmp.Or(opts.MaxUploadsPerClient, defaultUploadsPerClient)
	opts.RequestBodyTimeout = cmp.Or(opts.RequestBodyTimeout, defaultBodyIdle)
	opts.FetchTimeout = cmp.Or(opts.FetchTimeout, defaultFetchTimeout)
	opts.Logger = cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StripRequestHeaders == nil {
		opts.StripRequestHeaders = DefaultStripRequestHeaders()
	}
	opts.Policy = opts.Policy.WithDefaults()
	return opts
}

// Validate reports every field of opts that is out of range, each a
// [*fielderr.Error] naming the field ("Policy.MaxStale",
// "StripRequestHeaders[2]"), joined. It takes the fields as given, zero
// included: start from [DefaultOptions] (New fills zero fields first).
func (opts Options) Validate() error {
	var l fielderr.List
	// RFC 9211 §2 and RFC 9110 §7.6.3: the name is a token in Cache-Status
	// and a pseudonym in Via.
	if opts.Name == "" {
		l.Addf("Name", "required")
	} else {
		// A token is what a field name is (RFC 9110 §5.1, §5.6.2).
		l.Check(httpguts.ValidHeaderFieldName(opts.Name), "Name", "must be an HTTP token (RFC 9110 §5.6.2), got %q", opts.Name)
	}
	l.Check(opts.Store != nil, "Store", "required")
	l.Check(opts.Upstream != nil || opts.Router != nil, "Upstream", "required unless Router is set")
	l.Check(opts.MaxObjectBytes > 0, "MaxObjectBytes", "must be positive, got %d", opts.MaxObjectBytes)
	l.Check(opts.BodyMemory > 0, "BodyMemory", "must be positive, got %d", opts.BodyMemory)
	l.Check(opts.WriteTimeout >= 0, "WriteTimeout", "must not be negative (0 means no limit), got %v", opts.WriteTimeout)
	perClient(&l, "MaxFillsPerClient", opts.MaxFillsPerClient, opts.NoFillLimit, "NoFillLimit")
	perClient(&l, "MaxUploadsPerClient", opts.MaxUploadsPerClient, opts.NoUploadLimit, "NoUploadLimit")
	l.Check(opts.MaxBodyBytes >= 0, "MaxBodyBytes", "must not be negative (0 means no limit), got %d", opts.MaxBodyBytes)
	l.Check(opts.RequestBodyTimeout > 0, "RequestBodyTimeout", "must be positive, got %v", opts.RequestBodyTimeout)
	l.Check(opts.RequestBodyMinRate >= 0, "RequestBodyMinRate", "must not be negative (0 means no minimum), got %d", opts.RequestBodyMinRate)
	l.Check(opts.FetchTimeout > 0, "FetchTimeout", "must be positive, got %v", opts.FetchTimeout)
	for i, p := range opts.StripRequestHeaders {
		l.Check(httpguts.ValidHeaderFieldName(strings.TrimSuffix(p, "*")), fmt.Sprintf("StripRequestHeaders[%d]", i),
			"%q is not a field name (a name, or a prefix ending in *)", p)
	}
	l.Nest("Policy", opts.Policy.Validate())
	return l.Err()
}

// perClient checks a per-client bound that the flag named off lifts.
func perClient(l *fielderr.List, path string, n int, lifted bool, off string) {
	if n < 0 {
		l.Addf(path, "must not be negative, got %d", n)
		return
	}
	l.Check(n > 0 || lifted, path, "must be positive (%s lifts the bound), got 0", off)
}

// AccessLogger writes access log lines: *accesslog.Writer.
type AccessLogger interface {
	Log(e accesslog.Entry)
}

// Purger removes one URL, every variant included, from every node: the
// purge bus, wired in by the binary (edge never imports purge).
type Purger interface {
	PurgeURL(ctx context.Context, url string, soft bool) (int, error)
}
