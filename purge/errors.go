package purge

import "errors"

// Sentinel errors. Callers test them with errors.Is; every error this
// package returns wraps at most one of them with context.
var (
	// ErrInvalid marks a purge request that is malformed or breaks a limit
	// (bad JSON, unknown field, empty purge, relative URL, ...). The HTTP
	// API answers 400.
	ErrInvalid = errors.New("invalid purge request")

	// ErrTooLarge marks a request body over MaxBodySize. The HTTP API
	// answers 413.
	ErrTooLarge = errors.New("purge request body too large")

	// ErrUnavailable means the bus cannot publish now: NATS is unreachable
	// or the stream cannot be reached. Nothing was published; the caller
	// may retry. The HTTP API answers 503. Start returns it (wrapped) when
	// NATS is unreachable; the bus keeps reconnecting in the background.
	ErrUnavailable = errors.New("purge bus unavailable")

	// ErrNotApplied means the purge was published (acknowledged by
	// JetStream, so every node will apply it) but the local node did not
	// apply it within ApplyTimeout. The HTTP API answers 504.
	ErrNotApplied = errors.New("purge published but not yet applied locally")

	// ErrClockSkew means the purge was stored but every node rejects it
	// as a replay (replay.go): the stream stored it over 30 s from the time
	// signed in it, because this node's clock is that far off the NATS
	// server's and moved since the bus measured it (clock.go). No node
	// applied it; the bus measured again and published it anew once before
	// giving up. The HTTP API answers 503; sending it again is safe.
	ErrClockSkew = errors.New("purge stored but rejected by every node: this node's clock is off the NATS server's")

	// ErrIncomplete means the purge as given was published and applied on
	// this node, but not every further event carrying what the
	// Invalidator's Expander added to it (Publish): copies stored under
	// those URLs (a shield's, say) may remain. The HTTP API answers 503
	// with the purge's id and seq; sending it again is safe.
	ErrIncomplete = errors.New("purge published, but not all that this node's routes map it to")

	// ErrClosed is returned by Publish after Close.
	ErrClosed = errors.New("purge bus closed")
)

// errUnacknowledged marks an ErrUnavailable whose event JetStream may
// have stored without its acknowledgement reaching this node: then every
// node applies it after all. Sending the purge again is safe (purges are
// idempotent); the API says so rather than "nothing was purged".
var errUnacknowledged = errors.New("no acknowledgement from the purge stream: the purge may still have been stored, and then every node applies it")
