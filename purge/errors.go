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

	// ErrClosed is returned by Publish after Close.
	ErrClosed = errors.New("purge bus closed")
)
