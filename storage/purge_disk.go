package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// defaultPurgeChunk is how many keys one purge transaction removes or marks
// (disk.purgeChunk; tests lower it); a purge of more keys takes several transactions and records its Seq in the
// last one (a crash between them leaves a partly applied purge whose Seq is
// not recorded, so it is applied again: purges are idempotent).
const defaultPurgeChunk = 16384

// purgeResult is what a purge did on disk.
type purgeResult struct {
	keys []string // the stored keys it removed or marked (nil for all)
	n    int      // for all: entries on disk plus the others not on disk
}

// purge applies m to the disk tier: removes (or, soft, marks stale) every
// stored key it matches and records seq (when non-zero) in the transaction
// that completes it. others, for an all purge, are keys found in the pending
// map or memory; those not on disk are added to the count.
func (d *disk) purge(m *matcher, soft bool, seq appliedMark, others []string) (purgeResult, error) {
	if m.all {
		return d.purgeAll(soft, m.staleAt(), seq, others)
	}
	var keys []string
	var staleRows [][]byte
	if !m.empty() {
		var err error
		if keys, staleRows, err = d.matchingKeys(m); err != nil {
			return purgeResult{}, err
		}
	}
	var res purgeResult
	if len(keys) == 0 && len(staleRows) == 0 && !seq.recorded() {
		return res, nil
	}
	for first := true; first || len(keys) > 0; first = false {
		chunk := keys[:min(len(keys), d.purgeChunk)]
		keys = keys[len(chunk):]
		last := len(keys) == 0
		var done []string
		err := d.update(func(t *txn) error {
			var err error
			if done, err = t.purgeKeys(chunk, soft, m.staleAt()); err != nil || !last {
				return err
			}
			for _, row := range staleRows {
				if err := t.tags.Delete(row); err != nil {
					return err
				}
			}
			return t.recordSeq(seq)
		})
		if err != nil {
			return res, err
		}
		res.keys = append(res.keys, done...)
	}
	return res, nil
}

// purgeKeys removes or marks keys (stale since at); it returns those that
// were stored.
func (t *txn) purgeKeys(keys []string, soft bool, at time.Time) ([]string, error) {
	var done []string
	for _, k := range keys {
		var ok bool
		var err error
		if soft {
			ok, err = t.markStale([]byte(k), at)
		} else {
			ok, err = t.remove([]byte(k))
		}
		if err != nil {
			return nil, err
		}
		if ok {
			done = append(done, k)
		}
	}
	return done, nil
}

func (t *txn) recordSeq(m appliedMark) error {
	if !m.recorded() {
		return nil
	}
	if m.stream != "" {
		if err := t.meta.Put(metaPurgeStream, []byte(m.stream)); err != nil {
			return err
		}
	}
	return t.meta.Put(metaPurgeSeq, binary.BigEndian.AppendUint64(nil, m.seq))
}

// matchingKeys lists, in one read transaction, the stored keys m matches in
// byte order, and the tag rows that name a key no longer carrying the tag
// (none are expected: deleting an entry deletes its rows; they are dropped
// if found). The caller holds writer.txMu, so the list stays true until it
// is applied.
func (d *disk) matchingKeys(m *matcher) (keys []string, staleRows [][]byte, err error) {
	set := make(map[string]struct{})
	err = d.view(func(tx *bolt.Tx) error {
		clear(set)
		staleRows = staleRows[:0]
		entries := tx.Bucket(bucketEntries)
		for k := range m.exact {
			if entries.Get([]byte(k)) != nil {
				set[k] = struct{}{}
			}
		}
		for k := range m.families {
			scanFamily(entries.Cursor(), k, set)
		}
		for _, p := range m.prefixes {
			scanPrefix(entries.Cursor(), []byte(p), set)
		}
		for tag := range m.tags {
			staleRows = append(staleRows, scanTag(tx, []byte(tag), set)...)
		}
		return nil
	})
	if errors.Is(err, errNoDisk) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, closedErr(err)
	}
	keys = make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys) // bbolt writes in key order touch each page once
	return keys, staleRows, nil
}

// scanFamily adds key and every key+"\x00"... (the keys derived from it,
// policy.Key): NUL is the smallest byte, so they directly follow key in byte
// order.
func scanFamily(c *bolt.Cursor, key string, set map[string]struct{}) {
	k := []byte(key)
	variant := append(bytes.Clone(k), 0)
	for ck, _ := c.Seek(k); ck != nil && (bytes.Equal(ck, k) || bytes.HasPrefix(ck, variant)); ck, _ = c.Next() {
		set[string(ck)] = struct{}{}
	}
}

func scanPrefix(c *bolt.Cursor, p []byte, set map[string]struct{}) {
	for ck, _ := c.Seek(p); ck != nil && bytes.HasPrefix(ck, p); ck, _ = c.Next() {
		set[string(ck)] = struct{}{}
	}
}

// scanTag adds the keys whose tag rows name tag and returns the rows that no
// stored entry backs.
func scanTag(tx *bolt.Tx, tag []byte, set map[string]struct{}) (stale [][]byte) {
	entries, seq := tx.Bucket(bucketEntries), tx.Bucket(bucketSeq)
	p := append(bytes.Clone(tag), 0)
	c := tx.Bucket(bucketTags).Cursor()
	for row, _ := c.Seek(p); row != nil && bytes.HasPrefix(row, p); row, _ = c.Next() {
		k := row[len(p):]
		ri, _ := parseInfo(seq.Get(k))
		if entries.Get(k) == nil || !hasTag(ri.tags, tag) {
			stale = append(stale, bytes.Clone(row))
			continue
		}
		set[string(k)] = struct{}{}
	}
	return stale
}

// purgeAll removes every entry (dropping and recreating the buckets, so the
// cost does not grow with the entries) or marks them all stale through the
// stale_below marker (and stale_below_at, the time it counts from; or
// stale_below_untimed for a purge that gives no time), in one transaction
// that records seq.
func (d *disk) purgeAll(soft bool, at time.Time, seq appliedMark, others []string) (purgeResult, error) {
	var res purgeResult
	err := d.update(func(t *txn) error {
		res.n = int(t.count)
		for k := range toSet(others) {
			if t.entries.Get([]byte(k)) == nil {
				res.n++
			}
		}
		if soft {
			// Every entry written so far has write <= marker; later ones
			// get larger sequences.
			marker, err := t.entries.NextSequence()
			if err != nil {
				return err
			}
			if at.IsZero() {
				// A mark without a time has its own marker: a later timed
				// purge of everything must not give those entries a time.
				if err := t.meta.Put(metaStaleBelowUntimed, binary.BigEndian.AppendUint64(nil, marker)); err != nil {
					return err
				}
				return t.recordSeq(seq)
			}
			if err := t.meta.Put(metaStaleBelow, binary.BigEndian.AppendUint64(nil, marker)); err != nil {
				return err
			}
			if err := t.meta.Put(metaStaleBelowAt, binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))); err != nil {
				return err
			}
			return t.recordSeq(seq)
		}
		if err := t.dropAll(); err != nil {
			return err
		}
		return t.recordSeq(seq)
	})
	return res, err
}

// dropAll deletes and recreates the entry buckets, keeping their sequences
// (the write sequence must keep growing: see metaStaleBelow).
func (t *txn) dropAll() error {
	for _, name := range [][]byte{bucketEntries, bucketLRU, bucketSeq, bucketTags, bucketFiles} {
		seq := t.tx.Bucket(name).Sequence()
		if err := t.tx.DeleteBucket(name); err != nil {
			return err
		}
		b, err := t.tx.CreateBucket(name)
		if err != nil {
			return err
		}
		if err := b.SetSequence(seq); err != nil {
			return err
		}
	}
	t.buckets()
	t.bytes, t.count, t.fileBytes = 0, 0, 0
	t.doomed, t.droppedAll = nil, true // every file goes once this commits
	return nil
}
