package config

import (
	"path/filepath"

	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// StorageOptions returns the store's options. Logger and Registerer are left
// for the caller. A memory budget of 0 disables the memory tier.
func (c *Config) StorageOptions() storage.Options {
	mem := int64(c.Cache.Memory)
	if mem == 0 {
		mem = -1 // storage: <0 disables the memory tier, 0 would mean its default
	}
	return storage.Options{
		Dir:         filepath.Clean(c.Data),
		MemoryBytes: mem,
		DiskBytes:   int64(c.Cache.Disk),
		WriteQueue:  c.Cache.WriteQueue,
	}
}

// OriginOptions returns the upstream client's options; Logger is left for
// the caller. Via is the cache name.
func (c *Config) OriginOptions() origin.Options {
	u := c.Upstream
	return origin.Options{
		Origin:  u.Origin,
		Shields: append([]string(nil), u.Shields...),
		// origin.Options rejects a fallback without both ends.
		ShieldFallback: u.ShieldFallback && u.Origin != "" && len(u.Shields) > 0,
		Via:            c.CacheName(),
		ConnectTimeout: u.ConnectTimeout.Std(),
		HeaderTimeout:  u.HeaderTimeout.Std(),
		BodyTimeout:    u.BodyTimeout.Std(),
		MaxIdlePerHost: u.MaxIdlePerHost,
	}
}

// PolicyOptions returns the RFC 9111 policy options.
func (c *Config) PolicyOptions() policy.Options {
	return policy.Options{
		HeuristicFraction: c.Cache.HeuristicFraction,
		HeuristicMax:      c.Cache.HeuristicMax.Std(),
		Shield:            c.Role == RoleShield,
	}
}
