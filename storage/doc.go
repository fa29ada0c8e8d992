// Package storage is the two-tier object store of the edged cache: a memory
// tier (ristretto, cost = bytes) over a disk tier (bbolt, size-bounded, LRU
// eviction, survives restarts).
//
// It knows nothing of HTTP caching rules: the caller decides keys and what to
// store. Its promises:
//
//   - Read your writes: an Entry passed to [Store.Set] is returned by
//     [Store.Get] from the moment Set returns (or a newer one, never an
//     older one), even before its disk write lands, even if the memory tier
//     declined it and whatever ristretto still has queued (unless the disk
//     write queue was full, which is counted; then only the memory tier may
//     keep it, and for a body of Options.FileBodyMin or more, which the
//     memory tier only takes once it is in its file, nothing does; and
//     unless its file is set aside as damaged, see below).
//   - Purges are final: after [Store.Purge], [Store.Delete] or
//     [Store.DeletePrefix] returns, Get never returns the removed entries
//     again, nor a soft-purged one without Entry.Stale set, from either tier,
//     even after a restart; a Set queued before the purge cannot land after
//     it and bring one back (a Set that runs concurrently with the purge may
//     of course store a new one, and [Store.SetFetchedAt] stores it stale if
//     its fetch began before the purge).
//   - A purge (or Delete, DeletePrefix) whose disk step fails (a full or
//     unwritable disk) returns the error and still holds: disk hits it
//     covers are hidden (soft: returned stale) and not promoted until it is
//     applied on disk, which the store retries after its next successful
//     write or purge (see unapplied.go).
//   - A purge holds from before its disk step: [Store.Purge] purges the
//     memory tier and the pending writes first and hides the disk hits it
//     covers until its disk transaction (and its fsync) is done, so a
//     purge never waits for the disk to take effect (see unapplied.go).
//   - Purges are idempotent, and [Store.Purge] records the caller's purge
//     sequence (Purge.Seq, read back by [Store.AppliedSeq]) in the bbolt
//     transaction that completes its disk effect.
//   - Entries are immutable once stored: Get returns shared values; callers
//     must not modify them (nor their Header, Body, Vary or Tags).
//   - Looking is free: [Store.Family] lists what is held under a key and
//     its derivations (metadata and tiers, no bodies), and [Store.Holds]
//     tells whether an entry read earlier is still the one stored (its
//     record's head alone, checksum unchecked), without promoting an
//     entry or touching its LRU recency.
//   - Damage is detected: every disk record carries a checksum (CRC-32C); a
//     damaged record is deleted, counted and reported as a miss.
//   - A damaged file never stops the process (see damage.go): a file that
//     bbolt cannot read safely (no valid meta page, truncated, a bad
//     freelist page, and after a crash a damaged page on bbolt's freelist
//     rebuild walk: checked before bbolt opens it), and any
//     bbolt panic or memory fault at open or while running, sets the file
//     aside as Dir/edged.db.damaged-<time> (keeping only the latest one),
//     logged with the reason and counted (Stats.DamagedFiles,
//     edged_storage_damaged_files_total); the store goes on with an empty
//     file, and the operation that met the damage is a miss (Get) or runs
//     again on the new file (writes, deletes, purges). Entries of the old
//     file are lost, including writes that had landed on it: a cache
//     refetches them. There is no full consistency check at open (bbolt's
//     tx.Check reads every page, in a goroutine where a fault is fatal);
//     damage elsewhere in the file is met, and handled, when it is read.
//     Open windows: a write that fails without a panic (a full disk) is
//     rolled back, and bbolt's rollback walks the file unguarded: fatal if
//     the file is also damaged where nothing has read it yet; and damage
//     that forms a cycle of pages can exhaust a goroutine's stack in bbolt,
//     which nothing recovers.
//   - Open refuses a file that another process holds (bbolt's flock) with
//     [ErrLocked], naming the data directory, after waiting a second.
//   - Opening a store reads running totals from a meta bucket instead of
//     scanning the entries, so a large store serves its first hit quickly.
//
// # Disk layout (bbolt, file Dir/edged.db)
//
// Bodies of Options.FileBodyMin bytes or more live in files of their own
// under Dir/bodies, named by the record (see bodyfile.go for the layout,
// crash safety and checksums); [Entry.OpenBody] opens one, and hits send it
// with sendfile(2). Each file's size is checked at every open and its
// CRC-32C once per process: by the scrubber Open starts (scrub.go, paced
// to Options.ScrubBytesPerSecond), which drops the record of a damaged
// file before anything asks for it, or, for a file the scrubber has not
// reached yet, by its first open, which reads the whole file before
// returning it. A damaged file is never returned. Everything below is
// about the bbolt file.
//
// Commits do not write bbolt's freelist (NoFreelistSync: writing it costs a
// write of every free page id per commit); Close writes it. After a crash
// bbolt rebuilds it at Open by walking the file in a goroutine of its own,
// where a damaged page would be fatal, so the store first walks the same
// path itself with bounds-checked reads (walk.go); and a write transaction
// that panics is not rolled back, since the rollback walks the file too
// (see damage.go).
//
//	entries  key                 -> Encode(entry)
//	lru      8-byte BE seq ++ key -> nil         (oldest first: eviction order)
//	seq      key                 -> rowInfo: 8-byte BE lru seq (finds the lru
//	                                row of a key), 8-byte BE write sequence,
//	                                flags (stale), the soft purge's time, the
//	                                entry's tags
//	tags     tag ++ 0x00 ++ key  -> nil          (the tag index)
//	files    8-byte BE file id   -> key          (the body files records name)
//	meta     "bytes", "count"    -> 8-byte BE totals, updated in the same
//	                                transaction as every change
//	         "stale_below"       -> 8-byte BE write sequence: entries written
//	                                at or before it are stale (soft purge of all)
//	         "stale_below_at"    -> 8-byte BE Unix nanoseconds: that purge's time
//	         "stale_below_untimed" -> the same marker for a soft purge of all
//	                                that gives no time (Purge.NoStale)
//	         "purge_seq"         -> 8-byte BE Purge.Seq last applied
//	         "purge_stream"      -> Purge.Stream last named: the stream
//	                                purge_seq counts in
//	         "file_bytes"        -> 8-byte BE total size of the body files
//
// rowInfo keeps what deletes, eviction and purges need (the tags whose rows
// must go, the soft purge mark) beside the LRU sequence they already read,
// so none of them decodes an entry's value (which holds its body). The write
// sequence is the entries bucket's NextSequence at the entry's write: a soft
// purge of everything stores one marker instead of touching every entry, and
// a later Set gets a larger sequence, so it is fresh again. A soft purge of
// keys, prefixes or tags rewrites only each matching rowInfo (flag and time
// set), not the value; a Set of the key writes a new rowInfo without the
// flag. A disk Get reports Entry.Stale when the encoded entry, its flag or
// the marker says so, and Entry.StaleAt from the latest of their times (none
// if any of them has none). Tags that the index cannot hold (containing NUL, or making a row longer
// than bbolt's key limit) keep the entry off the disk, counted as a skipped
// write, so that a tag purge never misses one.
//
// A Get of a key the disk cannot hold reads no page: a Bloom filter of
// every key put since it was built (absent.go) proves the key was never
// written, so a miss costs no read transaction. A key enters the filter
// before the transaction that puts it commits and never leaves it (purges
// and eviction only make it answer "maybe" more often, and the disk is
// read then); it is built from the file's keys at Open, in the background
// (every Get reads the disk until it is), and rebuilt the same way once
// three times the keys it was built from were put since.
//
// One writer goroutine applies queued sets, batched into one transaction
// per batch, and the LRU touches of hits. A hit does not queue its touch:
// it adds the key to a striped set (each key once), so that a hot object's
// hits cost a map lookup under a stripe's lock, not a queue operation and
// a wake of the writer each. Touches alone wait up to a second for a
// transaction (disk hits would otherwise keep one running back to back);
// any other batch, and Flush, carries the waiting ones along. A touch moves
// only a key in the older half of the LRU order (a key in the newer half is
// evicted after all of the older half anyway, and is moved by a hit once it
// has drifted there), and touches that move nothing commit no transaction:
// the LRU is approximate, as a hint may be (BenchmarkTouchBatch: a third
// of the allocations). A batch with a
// Set waits up to 25 ms for more (ended early by 256 operations, or half a
// shorter queue, by entries that fill a transaction's bytes, by a Flush or
// Close), so that sets arriving one at a time share a transaction and its
// fsyncs (a transaction costs some 20 times the CPU of a 1 KiB Set:
// BenchmarkSetDisk); the Set is readable from the pending map meanwhile.
// The writer sleeps through the wait and takes the queue at its end, not
// each Set as it comes (a goroutine switch per miss:
// TestLingerLeavesSetsQueued). A crash (of the process or the machine)
// loses the Sets not yet committed, as a cache may; every commit is fsynced
// as bbolt does by default, so what a crash leaves is whole transactions,
// never part of an entry. After a batch that leaves the total above
// Options.DiskBytes it deletes least recently used entries until the total is
// under 90% of it. Deletes and purges run synchronously in the caller's
// goroutine, serialized with the writer's batches: a purge first drops (or,
// soft, replaces by stale copies) the matching pending writes, so the queued
// write of a purged entry never lands. A large purge lists the matching keys
// in one read transaction, then removes or marks them in transactions of
// 16384 keys, and records Purge.Seq in the last: after a crash in between the
// sequence is not recorded and the (idempotent) purge is applied again.
//
// # Purges and fetches
//
// Every purge (and Delete, DeletePrefix) increases [Store.Generation] as it
// begins and is remembered in a ring of the last 4096. [Store.SetFetchedAt]
// tests an entry whose fetch began at an older generation against the purges
// since (and, given when the response was produced, against those recorded
// after that), and stores a matching one stale (and any, if the ring no
// longer holds them all): since the latest matching soft purge, or with no
// Entry.StaleAt when a hard one matched (or the ring forgot which), since
// its content may predate a purge that must never be served around.
//
// # Stale times
//
// Entry.StaleAt is when the soft purge that marked an entry was applied (the
// Store's clock, Options.Now), so that the caller can count
// stale-while-revalidate and stale-if-error windows from it. A later soft
// purge moves it later: each says anew that the content is outdated as of
// its time. A mark without a time (a hard purge a fetch overlapped; marks
// written before times were recorded) wins over any time.
//
// # Memory tier
//
// ristretto decides admission and eviction (TinyLFU). It updates a resident
// key in place at once, but queues the Set of a key it does not hold and
// applies it later on its own goroutine, or drops or rejects it. That is why
// Set also keeps the entry in a small pending map until its disk write
// lands, and why a Set of a key whose older value is still in ristretto's
// queue (indexed but not resident) first waits for the queue to be applied:
// otherwise the older value could appear after the newer Set returned. ristretto cannot look keys up by prefix or tag,
// so the tier keeps an index beside it: an ordered set of keys (a B-tree:
// key families and prefixes are range scans) and a tag → key index. A value
// is indexed before it is handed to ristretto and leaves the index when
// ristretto reports its exit (OnExit: evicted, rejected by admission,
// replaced, deleted) or drops the Set, so every resident value is indexed.
// A purge by keys, prefixes or tags costs O(log n) per key, prefix or tag
// plus its matches; a purge of All walks the resident values (it touches
// them all anyway). Gets do not touch the index; Sets take its lock once. A
// soft purge replaces each match by a stale copy unless a Set replaced it
// meanwhile.
//
// # Parts
//
// [Store] is a façade over parts that each guard their own state, with the
// lock order written once, on Store:
//
//   - the tiers: memory (memory.go: ristretto, its key and tag index in
//     memindex.go, and the per-key ordering of its writes) and disk
//     (disk.go, purge_disk.go, damage.go: bbolt; decoded.go: the
//     entries its hits decoded, returned again while their record is
//     byte for byte unchanged);
//   - the writer (writer.go: the queue and the goroutine that batches it,
//     and the pending entries, pending.go);
//   - the purge log (purgelog.go: the recent invalidations SetFetchedAt
//     tests against, and the applied purge sequence) and the purges whose
//     disk step is in progress or failed (unapplied.go).
package storage
