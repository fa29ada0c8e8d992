package main

import (
	"log/slog"
	"math"
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
		limit := debug.SetMemoryLimit(-1)
		log.Info("memory limit from GOMEMLIMIT", "bytes", limit, "gc_floor", gcFloor(limit))
		return limit
	}
	mem := int64(cfg.Cache.Memory)
	limit := int64(noTierLimit)
	if mem > 0 {
		limit = max(mem, minMemoryLimit)
	}
	// GOGC stays at the runtime's 100 above a floor (gcFloor): the soft
	// limit, not GOGC, is what keeps the heap near cache.memory under bursts
	// of large bodies (peak anonymous RSS in TestMemoryBounded 41-43 MiB of
	// 64 at 100, 36 at 50). Lower does not pay: with few cached objects the
	// live heap is a few MB and GOGC 50 ran a collection every ~430 hits,
	// 1 KiB hits costing about 12% more CPU (31 against 36 µs per hit,
	// alternating wrk runs of one binary); off, the heap grows to the limit
	// through fresh pages, ~30% more CPU per 1 KiB hit in page faults.
	debug.SetMemoryLimit(limit)
	// memory_tier is what the tier gets of cache.memory (three eighths,
	// StorageOptions), not cache.memory itself: logged as the whole budget,
	// it told the operator the tier was 8/3 of its size.
	tier := int64(0)
	if so := cfg.StorageOptions(); !so.NoMemoryTier {
		tier = so.MemoryBytes
	}
	log.Info("memory limit", "bytes", limit, "cache_memory", mem, "memory_tier", tier, "gc_floor", gcFloor(limit))
	return limit
}

// maxGCFloor bounds gcFloor: past it a collection every second or more at
// tens of thousands of hits a second, and little left to gain.
const maxGCFloor = 64 << 20

// gcFloor is the heap goal below which the collector does not run
// (internal/gcfloor): an eighth of the soft limit, at most maxGCFloor. A
// node whose memory tier holds little has a live heap of a few MB and,
// at GOGC 100, collected every ~4,000 hits, ten times a second at the
// bench's load, each mark phase a few ms in which requests wait (the
// 1 KiB hit's p99, docs/design.md). The eighth is within the share of
// cache.memory left to the runtime and garbage (three eighths, docs/security.md
// "Memory"); once the live heap passes half the floor, GOGC is 100 again.
// With GOGC set there is none (gcfloor.Start leaves it alone), and the
// log says so.
func gcFloor(limit int64) uint64 {
	if limit <= 0 || limit == math.MaxInt64 || os.Getenv("GOGC") != "" {
		return 0
	}
	return uint64(min(limit/8, maxGCFloor))
}
