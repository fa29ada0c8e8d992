package config

import (
	"net/netip"
	"path/filepath"
	"time"

	"edged/edge/clientip"
	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// StorageOptions returns the store's options. Logger and Registerer are left
// for the caller. A memory budget of 0 disables the memory tier.
//
// cache.memory bounds the memory the process holds (edged sets the Go
// runtime's soft limit to it + 12.5%): the memory tier gets three eighths
// of it, the disk write queue an eighth, the bodies in flight (BodyMemory)
// an eighth; the last three eighths are for the disk writer's copies of
// what it commits, the runtime, and the garbage between collections (with
// half for the tier, TestMemoryBounded peaked at 71-92 MiB for 64 MiB;
// with three eighths, 68-70). With a memory tier of
// cache.memory's whole size, everything else came on top of it, unbounded.
func (c *Config) StorageOptions() storage.Options {
	mem := int64(c.Cache.Memory)
	if mem == 0 {
		mem = -1 // storage: <0 disables the memory tier, 0 would mean its default
	} else {
		mem = mem / 8 * 3
	}
	return storage.Options{
		Dir:             filepath.Clean(c.Data),
		MemoryBytes:     mem,
		DiskBytes:       int64(c.Cache.Disk),
		WriteQueue:      c.Cache.WriteQueue,
		WriteQueueBytes: c.BodyMemory(),
	}
}

// BodyMemory is the share of cache.memory for response bodies in flight
// (edge.Options.BodyMemory), and also the byte bound of the disk write
// queue: an eighth. Without a memory tier (cache.memory 0) it is 0, the
// packages' own defaults (64 MiB each).
func (c *Config) BodyMemory() int64 {
	return int64(c.Cache.Memory) / 8
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
		HeuristicFraction:   c.Cache.HeuristicFraction,
		HeuristicMax:        c.Cache.HeuristicMax.Std(),
		MaxStale:            maxStale(c.Cache.MaxStale),
		IgnoreClientNoCache: c.Cache.IgnoreClientNoCache,
		Shield:              c.Role == RoleShield,
	}
}

// sitePolicy is PolicyOptions with the site's own settings.
func (c *Config) sitePolicy(s Site) *policy.Options {
	p := c.PolicyOptions()
	if s.MaxStale != nil {
		p.MaxStale = maxStale(*s.MaxStale)
	}
	if s.IgnoreClientNoCache != nil {
		p.IgnoreClientNoCache = *s.IgnoreClientNoCache
	}
	return &p
}

// maxStale converts a max_stale field: in the file 0 turns max-stale off,
// in policy.Options a negative value does (zero is its default).
func maxStale(d Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d.Std()
}

// TrustedProxies returns server.trusted_proxies as prefixes (a single
// address is a /32 or /128). Call it on a validated Config.
func (c *Config) TrustedProxies() []netip.Prefix {
	return parseNetworks(c.Server.TrustedProxies)
}

// ClientIP returns the resolver of client addresses for
// edge.Options.ClientIP: X-Forwarded-For is believed only from
// server.trusted_proxies. Nil when no proxy is trusted (the socket peer is
// the client).
func (c *Config) ClientIP() *clientip.Resolver {
	if len(c.Server.TrustedProxies) == 0 {
		return nil
	}
	return clientip.New(clientip.Options{TrustedProxies: c.TrustedProxies()})
}

// parseNetworks parses validated networks, skipping invalid ones.
func parseNetworks(networks []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(networks))
	for _, s := range networks {
		if p, err := ParseNetwork(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}
