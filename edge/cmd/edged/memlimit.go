package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"edged/edge/config"
)

// memoryOverhead is what the process needs beyond its memory tier: the
// indexes, connections, buffers of fills in flight and the runtime.
const memoryOverhead = 256 << 20

// setMemoryLimit gives the Go runtime a soft memory limit derived from the
// memory tier's budget, unless GOMEMLIMIT is set. Without one the heap grows
// to twice the live data, and a full 256 MiB tier (whose entries cost about
// 1.5 times their counted bytes in heap) drove RSS past 800 MiB in the soak
// (bench/soak). The bbolt file's mapped pages also count in RSS, but the
// kernel reclaims those under pressure.
func setMemoryLimit(cfg *config.Config, log *slog.Logger) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	mem := int64(cfg.Cache.Memory)
	limit := mem + mem/2 + memoryOverhead
	debug.SetMemoryLimit(limit)
	log.Info("memory limit", "bytes", limit, "memory_tier", mem)
	return limit
}
