package edge

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/clientip"
	"edged/edge/compress"
	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// Options configure a Handler. Zero fields take the default named on them.
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
	// Policy tunes the RFC 9111 rules; Policy.Shield marks a shield node.
	Policy policy.Options
	// Compression compresses responses for clients that accept gzip or
	// brotli; compressed variants of stored responses are stored beside
	// them. Nil sends what the upstream sent.
	Compression *compress.Encoder
	// MaxObjectBytes is the largest body stored; larger responses are streamed
	// to the client and not stored. Zero means 64 MiB.
	MaxObjectBytes int64
	// BodyMemory bounds the bytes of response bodies held in memory outside
	// the store: bodies being read by fills, disk hits being sent (admitted
	// before the store decodes them), compressors and compressed variants
	// being made. A fill that does not fit is streamed to its client and
	// not stored; a disk hit that does not fit is passed through to the
	// upstream (both say detail=memory-budget in Cache-Status); a response
	// whose compressor does not fit is sent uncompressed. One body is always let in
	// when none is held, so the bound is this or one object of
	// MaxObjectBytes, whichever is larger. Zero means 64 MiB; negative
	// means no bound.
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
	// request, so a client that leaves starts nothing). Zero means 32;
	// negative means no bound (a shield, whose clients are edges).
	MaxFillsPerClient int
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
	// Zero means 30 seconds.
	RequestBodyTimeout time.Duration
	// RequestBodyMinRate is the slowest average a request body may arrive
	// at, in bytes per second, once RequestBodyTimeout has passed since its
	// first byte was awaited. Zero means no minimum.
	RequestBodyMinRate int64
	// MaxUploadsPerClient bounds the requests with a body one client
	// address may have under way upstream; more are refused with 429. Zero
	// means 16; negative means no bound (a shield, whose clients are edges).
	MaxUploadsPerClient int
	// FetchTimeout bounds one upstream fetch shared by coalesced requests,
	// body included. Zero means 5 minutes.
	FetchTimeout time.Duration
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// AccessLog receives one JSON line per request; nil disables access logs.
	AccessLog *slog.Logger
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

// Purger removes one URL, every variant included, from every node: the
// purge bus, wired in by the binary (edge never imports purge).
type Purger interface {
	PurgeURL(ctx context.Context, url string, soft bool) (int, error)
}
