package purge

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/fielderr"
)

// Invalidator is what a cache offers the bus. Implementations must make
// Invalidate idempotent and atomic with the recording of seq.
type Invalidator interface {
	// Invalidate applies r and records seq as the last applied sequence in
	// the same transaction; it returns the number of objects affected.
	// seq is normally the previous one plus one, but after the stream was
	// recreated it may be lower than Applied(): record it as given. r may
	// be empty (no selector: an event the bus rejected); Invalidate then
	// only records seq.
	Invalidate(ctx context.Context, r Request, seq uint64) (int, error)
	// Applied returns the last sequence Invalidate recorded (0 if none).
	Applied() (uint64, error)
}

// Checker is what an Invalidator may also offer when it cannot apply every
// request Validate accepts (a URL whose query is not valid percent-encoding
// is a URL to Validate, but no cache key's spelling): Publish refuses a
// request Check fails, with ErrInvalid and Check's error, before anything
// is published, so the API answers 400 naming the selector. An Invalidator
// must still apply what Check would fail (an event from an older node or a
// raw publisher holding the key) without failing it: Invalidate is retried
// until it succeeds, so an event it always fails would hold up every later
// purge on every node.
type Checker interface {
	Check(r Request) error
}

// StreamRecorder is what an Invalidator may also offer so that a node
// moved to another purge stream (a new bus: the embedded server's stream
// replaced by a cluster's, or the stream deleted and made again) does not
// take the new stream's sequences for its old ones. A node knows its place
// in the stream only by the sequence it applied last; a new stream counts
// from 1 again, and one that had passed that sequence when the node joined
// it looked like the old stream with nothing missed, so the node skipped
// the new stream's purges up to it, silently. The bus records the stream's
// identity (its name and creation time) with the sequence; a node whose
// recorded stream is another marks its whole cache stale, as for a gap,
// and applies the new stream from its first event.
type StreamRecorder interface {
	// AppliedStream returns the stream recorded with Applied's sequence,
	// "" if none was.
	AppliedStream() (string, error)
	// InvalidateInStream is Invalidate that also records stream as the
	// one seq counts in, in the same transaction, and seq even when zero.
	InvalidateInStream(ctx context.Context, r Request, seq uint64, stream string) (int, error)
}

// Expander is what an Invalidator may also offer when the objects a
// request names may be stored under other URLs too, on this node or on
// another that cannot tell (a shield keys what an edge's route sends it,
// and knows nothing of that route). Expand returns what must be purged
// with r beyond r itself: more URLs and prefixes (it may repeat r's own
// or its own; Publish keeps each once, in the order given), and a warning
// for the caller when it knows the purge may miss copies it cannot map
// ("" when none). Publish publishes r with more in one event when they fit
// (MaxItems, the NATS max payload), else r itself and then more in as many
// further events as they need, all before it answers. An item of more
// that is no valid request's (Validate: a URL over MaxItemLen, say) is
// left out alone, logged and counted, and named in the answer's warning;
// never the others with it. Expand must not fail on a request Check
// accepts.
type Expander interface {
	Expand(r Request) (more Request, warning string)
}

// Options configure a Bus. Zero values mean the documented defaults.
type Options struct {
	// Invalidator applies purges to the local cache. Required.
	Invalidator Invalidator
	// NATSURL points at an external NATS server or cluster (comma
	// separated URLs). Empty runs an embedded server.
	NATSURL string
	// NATSListen is the embedded server's client listener ("host:port",
	// port -1 for a random one) for other nodes. Empty: in-process only.
	NATSListen string
	// StoreDir is the embedded JetStream storage directory. Required when
	// NATSURL is empty.
	StoreDir string
	// Credentials is a NATS credentials file (user JWT and nkey seed) for
	// NATSURL. Optional.
	Credentials string
	// NKeySeed is a file holding a NATS user nkey seed, for a server that
	// authenticates users by nkey. Optional.
	NKeySeed string
	// NATSToken is a NATS authentication token. The bus sends it to
	// NATSURL, and the embedded server, when set, refuses every client
	// without it, and gives those with it no right to change or remove
	// its guarded streams (embeddedAuth); the bus's own, in-process
	// connection to it sends a secret of its own instead.
	NATSToken string
	// AllowUnauthenticatedNATS lets the embedded server listen
	// (NATSListen) without NATSToken, so that anyone who can reach the
	// address can connect. New refuses NATSListen without NATSToken
	// unless it is set.
	AllowUnauthenticatedNATS bool
	// TLS configures the connection to NATSURL. Optional.
	TLS *tls.Config
	// Token is the bearer token of the HTTP API. Empty: the API refuses
	// every purge with 503 (there is never an unauthenticated purge).
	Token string
	// SigningKey is the fleet's shared key: every event published is
	// signed with it (HMAC-SHA256, see SignatureHeader) and an event
	// without a valid signature is rejected: not applied, logged, counted
	// in edged_purge_rejected_total{reason}, and its sequence recorded as
	// done. Empty means Token (every node of a fleet is given it). With
	// neither, events are unsigned and every event is accepted: the bus is
	// then unauthenticated and Start logs a warning.
	SigningKey string
	// Now is this node's wall clock, read for the time signed in each
	// event and for the fast and early paths' freshness checks; nil means
	// time.Now. The bus corrects it by its measured offset to the NATS
	// server's clock (clock.go). Tests inject a skewed clock here.
	Now func() time.Time
	// Node names this node in logs and events. Default: the host name.
	Node string
	// Subject is the NATS subject of purge events. Default "edged.purge".
	Subject string
	// Stream is the JetStream stream name. Default "EDGED_PURGE".
	Stream string
	// GuardStreams are other streams of the embedded server that no
	// client but this node may create, change, delete or purge, nor
	// delete messages of (the ACME buckets' streams): other nodes only
	// read and write their messages. The purge stream is always guarded.
	GuardStreams []string
	// Replicas is the stream's replica count on a NATS cluster. Default 1.
	Replicas int
	// Retention is the stream's max age: a node down longer than this
	// invalidates its whole cache softly on return. Default 7 days.
	Retention time.Duration
	// ApplyTimeout bounds how long Publish waits for the local node to
	// apply a published purge. Default 10s.
	ApplyTimeout time.Duration
	// MaxLag is how long the node may trail the stream (events not yet
	// applied, or the stream out of reach) before Health reports it
	// Behind. Default 30s.
	MaxLag time.Duration
	// Logger receives connection and apply events; nil discards. The token
	// is never logged.
	Logger *slog.Logger
	// Registerer receives the bus metrics; nil registers none.
	Registerer prometheus.Registerer
}

func (o *Options) setDefaults() {
	if o.Node == "" {
		o.Node, _ = os.Hostname()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Subject == "" {
		o.Subject = "edged.purge"
	}
	if o.Stream == "" {
		o.Stream = "EDGED_PURGE"
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Retention == 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.ApplyTimeout == 0 {
		o.ApplyTimeout = 10 * time.Second
	}
	if o.MaxLag == 0 {
		o.MaxLag = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SigningKey == "" {
		o.SigningKey = o.Token
	}
}

// closeCallbacksTimeout bounds Close's wait for the connection's last
// callbacks (they only log and set a gauge).
const closeCallbacksTimeout = 5 * time.Second

// apiTimeout bounds a JetStream API request of a session (looking the
// stream up, creating the consumer). While a stream on a cluster elects a
// new leader (its old one's server died) such a request gets no answer;
// nats.go's default 5s would hold a reconnected node that long, where
// giving up sooner and starting the session again catches up as soon as
// the leader is there. Creating or updating the stream, rarer and heavier,
// keeps streamWriteTimeout.
const apiTimeout = time.Second

// streamWriteTimeout bounds the creation or update of the stream.
const streamWriteTimeout = 5 * time.Second

// reconnectWait is the pause between reconnect attempts (NATS adds jitter).
const reconnectWait = 250 * time.Millisecond

// Bus publishes purges to NATS and applies every purge of the stream to the
// local Invalidator. Create it with New, then Start; it is safe for
// concurrent use.
type Bus struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	signer  *signer // nil: no key, events unsigned and all accepted

	srv   *server.Server // embedded server, nil with NATSURL
	local string         // the in-process connection's secret (embeddedAuth)
	nc    *nats.Conn
	js    jetstream.JetStream

	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	ready     chan struct{} // closed once the first catch-up completed
	readyOnce sync.Once
	startErr  chan error    // first session error before ready, for Start
	reconnect chan struct{} // a reconnect happened: restart the session
	epoch     atomic.Uint64 // counts reconnects; a session ends when it changes

	// connClosed is closed by the NATS connection's last callback, so that
	// Close returns only once nothing more will be logged.
	connClosed chan struct{}

	// applyMu orders the applies of the stream's session and of the fast
	// path (fast.go): each checks and moves applied under it, so every
	// event is applied once, in order. streamSeq, under it too, is the
	// last sequence this session's consumer delivered.
	applyMu   sync.Mutex
	streamSeq uint64
	// fastApplied, under applyMu too, remembers the event ID the fast path
	// applied at each of its last sequences (fast.go, handle).
	fastApplied [fastRemembered]fastApply
	// streamSeen, under applyMu too, is the last sequence the stream
	// delivered here in any session (the applied one at Start): a session's
	// consumer starts after it (startAfter).
	streamSeen uint64
	// streamID, under applyMu too, is the identity of the stream the
	// last session read (streamIdentity), recorded with each apply.
	streamID string

	applied    atomic.Uint64 // last sequence applied locally; moved under applyMu
	reconnects atomic.Uint64
	closed     atomic.Bool
	health     *health

	outageLogged atomic.Bool // reconnectError logged this outage already
	authRefused  atomic.Bool // the last connection attempt was refused for its token

	instance string                 // random ID in hellos, to skip this bus's own
	problem  atomic.Pointer[string] // a peer's messages failed verification (Problem)

	// mu guards waiters (Publish calls waiting, by event ID, for the local
	// apply of their event) and mismatched (peers whose hellos failed
	// verification, logged once each).
	mu         sync.Mutex
	waiters    map[string]chan applyResult
	mismatched map[string]struct{}

	hides hides // the early path's (early.go)

	// replayWindow is replay.go's window (tests shorten it before Start);
	// dupWarned: the stream's short Duplicates window was logged.
	replayWindow time.Duration
	dupWarned    atomic.Bool

	// offset is the NATS server's clock minus this node's (opts.Now), in
	// nanoseconds, as last measured; clockProblem describes it while it
	// is over clockSkewAlarm (clock.go).
	offset       atomic.Int64
	clockProblem atomic.Pointer[string]
	// stream is the purge stream as this session found it, for reading
	// back a published event's stored time (verifyStored); nil before.
	stream atomic.Pointer[jetstream.Stream]

	// streamWrite ends the stream create or update in progress, if any,
	// with its cause (streamWriteContext); updateRefused: NATS refused
	// this node an update of the stream for permissions, which it then
	// does not ask again.
	streamWrite   atomic.Pointer[context.CancelCauseFunc]
	updateRefused atomic.Bool

	// sessionHook, when set (by tests, before Start), runs in every
	// session once it is ready, before its consumer is made.
	sessionHook func()
}

// New checks opts and returns a Bus that is not yet connected.
func New(opts Options) (*Bus, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix("purge: option ", err)
	}
	b := &Bus{
		opts:      opts,
		log:       opts.Logger.With("node", opts.Node),
		signer:    newSigner(opts.SigningKey),
		ready:     make(chan struct{}),
		startErr:  make(chan error, 1),
		reconnect: make(chan struct{}, 1),
		waiters:   make(map[string]chan applyResult),
		instance:  newID(),

		replayWindow: replayWindow,

		mismatched: make(map[string]struct{}),
		hides:      hides{byID: make(map[string]*heldHide), seen: make(map[string]time.Time)},

		connClosed: make(chan struct{}),
	}
	b.health = newHealth(opts.MaxLag, time.Now, &b.applied)
	m, err := newMetrics(opts.Registerer, b.Health)
	if err != nil {
		return nil, fmt.Errorf("purge: metrics: %w", err)
	}
	b.metrics = m
	return b, nil
}

// Start starts the embedded server (if any), connects, ensures the stream
// and applies every purge this node missed before returning, bounded by
// ctx. If NATS is unreachable, or reachable but every session fails for
// startGrace (5s), it returns an error wrapping ErrUnavailable but keeps
// trying in the background and catches up when it can; the caller decides
// whether to serve meanwhile (Ready tells when caught up).
// Call Close in every case once Start was called.
func (b *Bus) Start(ctx context.Context) error {
	applied, err := b.opts.Invalidator.Applied()
	if err != nil {
		return fmt.Errorf("purge: reading applied sequence: %w", err)
	}
	b.applied.Store(applied)
	b.streamSeen = applied // before any goroutine that reads it
	b.metrics.appliedSeq.Set(float64(applied))
	b.warnUnauthenticated()
	if b.opts.NATSURL == "" {
		if b.srv, b.local, err = startEmbedded(b.opts, b.log); err != nil {
			return err
		}
		if url := b.ClientURL(); url != "" {
			b.log.Info("embedded NATS server listening for other nodes", "url", url)
		}
	}
	if err := b.connect(); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { b.run(runCtx) })
	wg.Go(func() { b.probe(runCtx) })
	go func() { wg.Wait(); close(b.done) }()
	if !b.nc.IsConnected() {
		return fmt.Errorf("purge: connecting to NATS at %s: %w (reconnecting in the background)", b.opts.NATSURL, ErrUnavailable)
	}
	var failingSince time.Time
	for {
		select {
		case <-b.ready:
			return nil
		case err := <-b.startErr:
			// A session can fail for a moment (a request timing out on a
			// busy server, a stream electing its leader) and the next
			// succeed: give up only on failures that last startGrace, so
			// that a node serves before it has applied what it missed
			// only when the bus is really unusable.
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) >= startGrace {
				return fmt.Errorf("purge: catching up: %w (retrying in the background)", err)
			}
		case <-ctx.Done():
			return fmt.Errorf("purge: catching up: %w (continuing in the background)", ctx.Err())
		}
	}
}

// startGrace is how long Start lets sessions fail (the run loop trying
// again with back-off) before it returns their error.
const startGrace = 5 * time.Second

// Ready is closed once the bus has applied every purge that was in the
// stream when it first reached NATS.
func (b *Bus) Ready() <-chan struct{} { return b.ready }

// connect dials NATS (in process for the embedded server without
// listener); with RetryOnFailedConnect an unreachable server leaves a
// connection that keeps reconnecting.
func (b *Bus) connect() error {
	opts := []nats.Option{
		nats.Name("edged " + b.opts.Node),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(reconnectWait),
		// No buffering while disconnected: a purge is either acknowledged
		// by JetStream or refused (503), never queued silently.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.metrics.connected.Set(0)
			b.metrics.server.Reset()
			if err == nil || b.closed.Load() {
				// Close ends the connection itself (nats.go reports that
				// with a nil error): no outage to warn about.
				b.log.Debug("purge bus connection closed", "err", err)
				return
			}
			b.log.Warn("purge bus disconnected from NATS", "err", err)
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { b.reconnectError(err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.outageLogged.Store(false)
			b.authRefused.Store(false)
			b.reconnects.Add(1)
			b.metrics.reconnects.Inc()
			b.connectedTo(nc)
			b.log.Info("purge bus reconnected to NATS", "server", b.serverName(nc))
			b.signalReconnect()
		}),
		// nats.go runs its callbacks in order on one goroutine: the
		// closed callback comes after the last disconnect callback.
		nats.ClosedHandler(func(*nats.Conn) { close(b.connClosed) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { b.asyncError(err) }),
		nats.ConnectHandler(func(nc *nats.Conn) {
			// The run loop notices the first connection itself; only a
			// reconnect must restart its session.
			b.outageLogged.Store(false)
			b.authRefused.Store(false)
			b.connectedTo(nc)
			b.log.Info("purge bus connected to NATS", "server", b.serverName(nc))
		}),
	}
	if b.opts.Credentials != "" {
		opts = append(opts, nats.UserCredentials(b.opts.Credentials))
	}
	if b.opts.NKeySeed != "" {
		o, err := nats.NkeyOptionFromSeed(b.opts.NKeySeed)
		if err != nil {
			return fmt.Errorf("purge: NATS nkey seed: %w", err)
		}
		opts = append(opts, o)
	}
	switch {
	case b.srv != nil:
		// The embedded server knows this node by a secret of its own,
		// which lets it set the streams' settings (embeddedAuth).
		opts = append(opts, nats.Token(b.local))
	case b.opts.NATSToken != "":
		opts = append(opts, nats.Token(b.opts.NATSToken))
	}
	if b.opts.TLS != nil {
		opts = append(opts, nats.Secure(b.opts.TLS))
	}
	url := b.opts.NATSURL
	if b.srv != nil {
		// Even with a listener for other nodes, this node talks to its own
		// server in process.
		opts = append(opts, nats.InProcessServer(b.srv))
		url = "in-process"
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("purge: connecting to NATS at %s: %w: %v", url, ErrUnavailable, err)
	}
	if nc.IsConnected() {
		b.connectedTo(nc)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(apiTimeout))
	if err != nil {
		nc.Close()
		return fmt.Errorf("purge: jetstream: %w", err)
	}
	if err := b.subscribeHello(nc); err != nil {
		nc.Close()
		return err
	}
	if err := b.subscribeFast(nc); err != nil {
		nc.Close()
		return err
	}
	if err := b.subscribeEarly(nc); err != nil {
		nc.Close()
		return err
	}
	b.nc, b.js = nc, js
	return nil
}

// warnUnauthenticated logs, once per Start, each protection of the bus that
// is off, so an operator sees it (the keys themselves are never logged).
func (b *Bus) warnUnauthenticated() {
	for _, w := range b.opts.Warnings() {
		b.log.Warn(w)
	}
}

// Warnings are the protections of the bus that o turns off, in the words
// Start logs them with (a configuration test can show them without
// starting a bus): events that are not signed, and an embedded server that
// listens without a token. The keys themselves are never named.
func (o Options) Warnings() []string {
	o.setDefaults()
	var out []string
	if o.SigningKey == "" {
		out = append(out, "purge bus unauthenticated: events are not signed (no signing key and no purge token), so any client of the bus can purge")
	}
	if o.NATSURL == "" && o.NATSListen != "" && o.NATSToken == "" {
		out = append(out, "embedded NATS server listens without authentication: anyone who can reach it can connect (listen "+o.NATSListen+")")
	}
	return out
}

// connectedTo records the server nc is connected to in Health and the
// metrics.
func (b *Bus) connectedTo(nc *nats.Conn) {
	name := b.serverName(nc)
	b.health.setServer(name)
	b.metrics.connected.Set(1)
	b.metrics.server.Reset()
	b.metrics.server.WithLabelValues(name).Set(1)
}

func (b *Bus) signalReconnect() {
	b.epoch.Add(1)
	select {
	case b.reconnect <- struct{}{}:
	default:
	}
}

// Conn is the bus's NATS connection, nil before Start: the node shares it
// for its other fleet-wide messages (rate-limit use) on subjects outside
// the purge stream's. The caller must not close it.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// ClientURL is the embedded server's client URL when NATSListen is set, for
// other nodes' NATSURL; "" otherwise.
func (b *Bus) ClientURL() string {
	if b.srv == nil || b.opts.NATSListen == "" {
		return ""
	}
	return b.srv.ClientURL()
}

// Close stops applying purges, closes the NATS connection and shuts the
// embedded server down. It waits for an Invalidate in progress to return.
func (b *Bus) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	if b.cancel != nil {
		b.cancel()
		<-b.done
	}
	// A fast-path apply in progress ends before Close returns; later ones
	// see closed.
	b.applyMu.Lock()
	b.applyMu.Unlock() //lint:ignore SA2001 waiting for the holder is the point
	b.dropHides()

	if b.nc != nil {
		b.nc.Close()
		select {
		case <-b.connClosed:
		case <-time.After(closeCallbacksTimeout):
		}
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	b.metrics.connected.Set(0)
	b.metrics.server.Reset()
	return nil
}
