package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"edged/edge/config"
)

// noTierLimit is the soft memory limit without a memory tier
// (cache.memory 0): the bodies in flight and the write queue then have
// 64 MiB each, plus the disk writer's copies and the runtime.
const noTierLimit = 256 << 20

// minMemoryLimit is the least soft limit: the runtime, the purge bus and
// the listeners need some 30 MiB of their own.
const minMemoryLimit = 64 << 20

// setMemoryLimit gives the Go runtime a soft memory limit of cache.memory,
// unless GOMEMLIMIT is set: cache.memory bounds what the process holds
// (config.StorageOptions splits it; three eighths are the memory tier,
// one in role forward) and
// the limit makes the garbage collector keep the heap near it. Without one
// the heap grows to twice the live data. The limit is soft: under a burst
// of large allocations the collector runs behind it, so it is set below
// the promised cache.memory + 25% (TestMemoryBounded, 64 MiB: up to 95 MiB
// with the limit at +25%, up to 94 MiB at +12.5% on a busy machine, 61-64
// MiB at +0%). The bbolt file's mapped pages also
// count in RSS, but they are file-backed and the kernel reclaims them
// under pressure.
func setMemoryLimit(cfg *config.Config, log *slog.Logger) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	mem := int64(cfg.Cache.Memory)
	limit := int64(noTierLimit)
	if mem > 0 {
		limit = max(mem, minMemoryLimit)
	}
	// GOGC stays at the runtime's 100: the soft limit, not GOGC, is what
	// keeps the heap near cache.memory under bursts of large bodies (peak
	// anonymous RSS in TestMemoryBounded 41-43 MiB of 64 at 100, 36 at
	// 50), while with few cached objects the live heap is a few MB and
	// GOGC 50 ran a collection every ~430 hits: 1 KiB hits cost about 12%
	// more CPU at 50 than at 100 (31 against 36 µs per hit, alternating
	// wrk runs of one binary). Above 100 does not pay either (docs/design.md,
	// "The runtime's levers for the hit rows"): at 400 a quarter of the
	// collections and ~20 MiB more RSS, throughput and p99 within the
	// noise; off, the heap grows to the limit through fresh pages, ~30%
	// more CPU per 1 KiB hit in page faults.
	debug.SetMemoryLimit(limit)
	// memory_tier is what the tier gets of cache.memory (three eighths,
	// StorageOptions), not cache.memory itself: logged as the whole budget,
	// it told the operator the tier was 8/3 of its size.
	tier := int64(0)
	if so := cfg.StorageOptions(); !so.NoMemoryTier {
		tier = so.MemoryBytes
	}
	log.Info("memory limit", "bytes", limit, "cache_memory", mem, "memory_tier", tier)
	return limit
}
