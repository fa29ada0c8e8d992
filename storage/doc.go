// Package storage is the two-tier object store of the edged cache: a memory
// tier (ristretto, cost = bytes) over a disk tier (bbolt, size-bounded, LRU
// eviction, survives restarts).
//
// It knows nothing of HTTP caching rules: the caller decides keys and what to
// store. Its promises:
//
//   - Read your writes: an Entry passed to [Store.Set] is returned by
//     [Store.Get] from the moment Set returns, even before its disk write
//     lands and even if the memory tier declined it (unless the disk write
//     queue was full, which is counted; then only the memory tier may keep it).
//   - Purges are final: after [Store.Delete] or [Store.DeletePrefix] returns,
//     Get never returns the removed entries again (a Set that runs
//     concurrently with the purge may of course store a new one).
//   - Entries are immutable once stored: Get returns shared values; callers
//     must not modify them (nor their Header, Body, Vary or Tags).
//   - Damage is detected: every disk record carries a checksum (CRC-32C); a
//     damaged record is deleted, counted and reported as a miss.
//   - Opening a store reads running totals from a meta bucket instead of
//     scanning the entries, so a large store serves its first hit quickly.
//
// # Disk layout (bbolt, file Dir/edged.db)
//
//	entries  key                 -> Encode(entry)
//	lru      8-byte BE seq ++ key -> nil         (oldest first: eviction order)
//	seq      key                 -> 8-byte BE seq (finds the lru row of a key)
//	meta     "bytes", "count"    -> 8-byte BE totals, updated in the same
//	                                transaction as every change
//
// One writer goroutine applies queued sets and LRU touches, batched into one
// transaction per batch; after a batch that leaves the total above
// Options.DiskBytes it deletes least recently used entries until the total is
// under 90% of it. Deletes run synchronously in the caller's goroutine.
//
// # Memory tier
//
// ristretto decides admission and eviction (TinyLFU). Its Sets are applied
// asynchronously, which is why Set also keeps the entry in a small pending map
// until its disk write lands. ristretto cannot look keys up by prefix, so
// DeletePrefix walks the resident values (each Entry carries its Key): the
// cost is O(entries in memory) per prefix purge, paid only by purges, with no
// bookkeeping on the Get or Set path.
package storage
