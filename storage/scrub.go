package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/time/rate"
)

// The scrubber takes the CRC check of body files off the request path.
// Without it the first hit on each body file after a restart read the whole
// file before sending a byte (a 1 GiB object's first hit read 1 GiB). From
// Open, once the orphan sweep is done, one goroutine reads every body file
// a record names, paced to Options.ScrubBytesPerSecond so that it never
// competes with hits for the disk, and checks its size and CRC:
//
//   - an intact file is marked verified, like a file this process wrote:
//     its hits check its size alone;
//   - a damaged one has its record dropped, counted and logged, as a
//     damaged record is (the file goes with it): the next request is a miss
//     that fetches the object again.
//
// A hit that comes before the scrubber reached its file verifies the file
// itself, as before: no hit ever sends a body whose CRC has not matched in
// this process. The scrubber only shrinks the set of files whose first hit
// pays for that. It makes one pass; damage to a file after its check (bit
// rot while running) is not detected until the next restart.

// DefaultScrubBytesPerSecond is the pace of the body file scrubber.
const DefaultScrubBytesPerSecond = 32 << 20

const (
	// scrubList is how many records the scrubber lists per read
	// transaction (a transaction is never held while files are read).
	scrubList = 256
	// scrubBurst is the most the scrubber reads at once.
	scrubBurst = 256 << 10
)

// scrubItem is one body file to verify and the record that names it.
type scrubItem struct {
	key string
	raw []byte // the record as listed: dropped only if still the same
	ref *fileRef
}

// scrubBodyFiles verifies every body file not yet verified, at perSecond
// bytes a second, until done or ctx ends (Close).
func (s *Store) scrubBodyFiles(ctx context.Context, perSecond int64) {
	lim := rate.NewLimiter(rate.Limit(perSecond), scrubBurst)
	var after []byte
	for ctx.Err() == nil {
		items, next, err := s.listUnverifiedWithin(ctx, after)
		if err != nil {
			if !errors.Is(err, ErrClosed) {
				s.disk.report("scrub body files", err)
			}
			return
		}
		if len(items) == 0 {
			return
		}
		for _, it := range items {
			err := it.ref.scrub(ctx, lim)
			switch {
			case err == nil:
				s.scrubbed.Add(1)
			case errors.Is(err, ErrCorrupt):
				if !s.life.enter() {
					return
				}
				s.w.dropCorrupt(it.key, it.raw, err)
				s.life.leave()
			case ctx.Err() != nil:
				return
			default:
				// An I/O error: the file's first hit checks it again.
				s.disk.report("scrub body file", err)
			}
		}
		after = next
	}
}

// listUnverifiedWithin is listUnverified, given up when ctx ends (Close).
// A read transaction can block for good: a file damaged under the running
// node can panic inside bbolt's Begin while it holds the file's meta lock,
// and a transaction that loaded that file before it was set aside then
// waits on the lock forever. The listing therefore holds nothing of the
// store's (no lifecycle hold, which would stop Close), runs in a goroutine
// of its own, and is abandoned on Close: that goroutine, like the file's
// closeAside, is leaked once per damaged file. (TestDamagedFileWhileOpen
// hung in Close on the scrubber before.)
func (s *Store) listUnverifiedWithin(ctx context.Context, after []byte) ([]scrubItem, []byte, error) {
	type listing struct {
		items []scrubItem
		next  []byte
		err   error
	}
	done := make(chan listing, 1)
	go func() {
		items, next, err := s.listUnverified(after)
		done <- listing{items, next, err}
	}()
	select {
	case l := <-done:
		return l.items, l.next, l.err
	case <-ctx.Done():
		return nil, nil, ErrClosed
	}
}

// listUnverified lists up to scrubList records, after the files-bucket key
// after, whose body file is not verified yet; it returns the last key
// listed. Records that do not decode are left to Get, which drops them. A
// closed store's file answers ErrDatabaseNotOpen (or errNoDisk), which is
// ErrClosed here.
func (s *Store) listUnverified(after []byte) ([]scrubItem, []byte, error) {
	var (
		items []scrubItem
		next  []byte
	)
	files := s.disk.files
	err := s.disk.view(func(tx *bolt.Tx) error {
		items, next = items[:0], nil
		entries, c := tx.Bucket(bucketEntries), tx.Bucket(bucketFiles).Cursor()
		k, key := c.First()
		if after != nil {
			if k, key = c.Seek(after); k != nil && string(k) == string(after) {
				k, key = c.Next()
			}
		}
		for n := 0; k != nil && n < scrubList; k, key = c.Next() {
			n++
			next = append(next[:0], k...)
			if len(k) != 8 {
				continue
			}
			id := binary.BigEndian.Uint64(k)
			if _, ok := files.verified.Load(id); ok {
				continue
			}
			v := entries.Get(key)
			e, err := Decode(v)
			if err != nil || e.file == nil || e.file.id != id {
				continue
			}
			e.file.files = files
			items = append(items, scrubItem{key: e.Key, raw: append([]byte(nil), v...), ref: e.file})
		}
		return nil
	})
	if errors.Is(err, errDamaged) || errors.Is(err, errNoDisk) {
		return nil, nil, ErrClosed
	}
	return items, next, closedErr(err)
}

// scrub checks r's file against its size and CRC, reading it through lim,
// and marks it verified. A file removed since it was listed is no error.
func (r *fileRef) scrub(ctx context.Context, lim *rate.Limiter) error {
	p := r.files.path(r.id)
	f, err := openRegular(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("body file: %w", err)
	}
	defer f.Close()
	if err := r.checkSize(f, p); err != nil {
		return err
	}
	if err := r.checkCRC(&pacedReader{ctx: ctx, r: f, lim: lim}, p); err != nil {
		return err
	}
	r.files.verified.Store(r.id, struct{}{})
	return nil
}

// pacedReader reads from r no faster than lim allows.
type pacedReader struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if len(b) > scrubBurst {
		b = b[:scrubBurst]
	}
	if err := p.lim.WaitN(p.ctx, len(b)); err != nil {
		return 0, err
	}
	return p.r.Read(b)
}
