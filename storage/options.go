package storage

import (
	"cmp"
	"log/slog"
	"time"

	"edged/internal/fielderr"
)

// DefaultOptions returns the values Open gives the fields of Options left
// zero (Dir is the caller's): a caller that validates before Open
// (edge/config) starts from them, since [Options.Validate] takes every
// field as given.
func DefaultOptions() Options { return Options{}.withDefaults() }

// withDefaults returns opts with zero fields replaced by their defaults:
// the one place that knows them.
func (opts Options) withDefaults() Options {
	opts.MemoryBytes = cmp.Or(opts.MemoryBytes, DefaultMemoryBytes)
	opts.DiskBytes = cmp.Or(opts.DiskBytes, DefaultDiskBytes)
	opts.WriteQueue = cmp.Or(opts.WriteQueue, DefaultWriteQueue)
	opts.WriteQueueBytes = cmp.Or(opts.WriteQueueBytes, DefaultWriteQueueBytes)
	opts.FileBodyMin = cmp.Or(opts.FileBodyMin, DefaultFileBodyMin)
	opts.ScrubBytesPerSecond = cmp.Or(opts.ScrubBytesPerSecond, DefaultScrubBytesPerSecond)
	opts.Logger = cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return opts
}

// Validate reports every field of opts that is out of range, each a
// [*fielderr.Error] naming the field, joined. It takes the fields as given,
// zero included: start from [DefaultOptions] (Open fills zero fields
// first). MemoryBytes is checked also with NoMemoryTier, so that turning
// the tier on is a change of one field.
func (opts Options) Validate() error {
	var l fielderr.List
	l.Check(opts.Dir != "", "Dir", "required: the directory that holds the disk cache")
	l.Check(opts.MemoryBytes > 0, "MemoryBytes", "must be positive (NoMemoryTier turns the tier off), got %d", opts.MemoryBytes)
	l.Check(opts.DiskBytes > 0, "DiskBytes", "must be positive, got %d", opts.DiskBytes)
	l.Check(opts.WriteQueue > 0, "WriteQueue", "must be positive, got %d", opts.WriteQueue)
	l.Check(opts.WriteQueueBytes > 0, "WriteQueueBytes", "must be positive, got %d", opts.WriteQueueBytes)
	l.Check(opts.FileBodyMin > 0, "FileBodyMin", "must be positive (NoFileBodies keeps every body in bbolt), got %d", opts.FileBodyMin)
	l.Check(opts.ScrubBytesPerSecond > 0, "ScrubBytesPerSecond", "must be positive (NoScrub turns the scrubber off), got %d", opts.ScrubBytesPerSecond)
	return l.Err()
}
