package purge

import (
	"time"

	"edged/internal/fielderr"
)

// DefaultOptions returns the values New gives the fields of Options left
// zero (setDefaults, the one place that knows them); the Invalidator and
// where NATS lives are the caller's.
func DefaultOptions() Options {
	var o Options
	o.setDefaults()
	return o
}

// Validate reports every field of o that is out of range, each a
// [*fielderr.Error] naming the field, joined. It takes the fields as given,
// zero included: New fills zero fields with their defaults first.
func (o Options) Validate() error {
	var l fielderr.List
	l.Check(o.Invalidator != nil, "Invalidator", "required")
	l.Check(o.NATSURL != "" || o.StoreDir != "", "StoreDir", "required for the embedded NATS server (NATSURL is empty)")
	if o.NATSURL != "" {
		l.Check(o.NATSListen == "", "NATSListen", "only for the embedded server: not with NATSURL")
	} else {
		l.Check(o.NATSListen == "" || o.NATSToken != "" || o.AllowUnauthenticatedNATS, "NATSListen",
			"without NATSToken any client of the address could purge: set NATSToken (or AllowUnauthenticatedNATS)")
	}
	l.Check(o.Subject != "", "Subject", "required")
	l.Check(o.Stream != "", "Stream", "required")
	l.Check(o.Replicas >= 1, "Replicas", "must be at least 1, got %d", o.Replicas)
	positive(&l, "Retention", o.Retention)
	positive(&l, "ApplyTimeout", o.ApplyTimeout)
	positive(&l, "MaxLag", o.MaxLag)
	return l.Err()
}

// positive checks a duration that must be above zero.
func positive(l *fielderr.List, path string, d time.Duration) {
	if d < 0 {
		l.Addf(path, "must not be negative, got %v", d)
	} else {
		l.Check(d > 0, path, "must be positive, got 0s")
	}
}
