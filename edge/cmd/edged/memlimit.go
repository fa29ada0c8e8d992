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

// gcPercent is the GOGC edged runs with unless GOGC is set.
const gcPercent = 50

// minMemoryLimit is the least soft limit: the runtime, the purge bus and
// the listeners need some 30 MiB of their own.
const minMemoryLimit = 64 << 20

// setMemoryLimit gives the Go runtime a soft memory limit of cache.memory
// + 12.5%, unless GOMEMLIMIT is set: cache.memory bounds what the process
// holds (config.StorageOptions splits it; half is the memory tier) and the
// limit makes the garbage collector keep the heap near it. Without one the
// heap grows to twice the live data. The limit is soft: under a burst of
// large allocations the collector runs behind it, so it is set below the
// promised cache.memory + 25% (TestMemoryBounded measured up to 95 MiB
// for 64 MiB with the limit at +25%). The bbolt file's mapped pages also
// count in RSS, but they are file-backed and the kernel reclaims them
// under pressure.
func setMemoryLimit(cfg *config.Config, log *slog.Logger) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	mem := int64(cfg.Cache.Memory)
	limit := int64(noTierLimit)
	if mem > 0 {
		limit = max(mem+mem/8, minMemoryLimit)
	}
	debug.SetMemoryLimit(limit)
	if os.Getenv("GOGC") == "" {
		// The heap's goal is then 1.5 times the live data rather than
		// twice it: the collector starts early enough to stay near the
		// limit under bursts of large bodies, and bodies are pointer-free
		// byte slices, so a cycle costs little however often it runs.
		debug.SetGCPercent(gcPercent)
	}
	log.Info("memory limit", "bytes", limit, "memory_tier", mem)
	return limit
}
