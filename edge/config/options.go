package config

import (
	"cmp"
	"net/netip"
	"path/filepath"

	"edged/edge"
	"edged/edge/clientip"
	"edged/edge/compress"
	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// StorageOptions returns the store's options. Logger and Registerer are left
// for the caller. A memory budget of 0 turns the memory tier off.
//
// cache.memory bounds the memory the process holds (edged sets the Go
// runtime's soft limit to it; RSS stays within it + 25%): the memory tier gets three eighths
// of it (one in role forward: memoryTierEighths), the disk write queue an eighth, the bodies in flight (BodyMemory)
// an eighth; the last three eighths are for the disk writer's copies of
// what it commits, the runtime, and the garbage between collections (with
// half for the tier, TestMemoryBounded peaked at 71-92 MiB for 64 MiB;
// with three eighths, 68-70). With a memory tier of
// cache.memory's whole size, everything else came on top of it, unbounded.
func (c *Config) StorageOptions() storage.Options {
	so := storage.DefaultOptions()
	so.Logger, so.Now = nil, nil
	so.Dir = filepath.Clean(c.Data)
	so.DiskBytes, so.WriteQueue = int64(c.Cache.Disk), c.Cache.WriteQueue
	if c.Cache.FileBodyMin > 0 {
		so.FileBodyMin = int64(c.Cache.FileBodyMin)
	} else {
		so.NoFileBodies = true
	}
	if c.Cache.ScrubRate > 0 {
		so.ScrubBytesPerSecond = int64(c.Cache.ScrubRate)
	} else {
		so.NoScrub = true
	}
	if mem := int64(c.Cache.Memory); mem > 0 {
		// A budget too small to split (under 8 bytes) leaves the shares
		// at the store's defaults, as it always has.
		so.MemoryBytes = cmp.Or(mem/8*c.memoryTierEighths(), so.MemoryBytes)
		so.WriteQueueBytes = cmp.Or(c.BodyMemory(), so.WriteQueueBytes)
	} else {
		so.NoMemoryTier = true
	}
	return so
}

// BodyMemory is the share of cache.memory for response bodies in flight
// (edge.Options.BodyMemory), and also the byte bound of the disk write
// queue: an eighth. Without a memory tier (cache.memory 0) it is 0 and the
// packages keep their own defaults (64 MiB each).
func (c *Config) BodyMemory() int64 {
	return int64(c.Cache.Memory) / 8
}

// ConnectionMemory is what each open client connection counts against
// cache.memory when server.max_connections is derived from it: a
// connection and what it may hold (its goroutine, buffers and TLS state,
// a request head of up to max_header_bytes read slowly; measured at 12-14
// KiB idle over HTTP/1.1, 22-36 KiB over TLS, 62-99 KiB holding a 63 KiB
// head), 2.6 times the worst so that connections take at most about two
// fifths of cache.memory even then.
const ConnectionMemory = 256 << 10

// MinConnections is the least max_connections derived from a small
// cache.memory.
const MinConnections = 64

// ForwardConnectionMemory is what each open client connection counts
// against cache.memory in role forward, where most connections are
// CONNECT tunnels (a browser holds one per site it talks to over HTTPS,
// up to 32 to one proxy; an office behind it thousands), when tunnels are
// relayed by splice(2): without a bandwidth limit (forward.rules.limits).
// Measured through the binary (bench/cmd/connflood -kind connect,
// docs/security.md "Connections"): 36-39 KiB per spliced tunnel, idle or
// moving data. Under a bandwidth limit a tunnel is relayed through two 32
// KiB buffers: 36 KiB idle, 68 KiB moving 16 KiB at a time, 99 KiB moving
// full buffers; ForwardLimitedConnectionMemory counts that. Each is about
// 1.6 times the worst, so that tunnels take at most about 60% of
// cache.memory; the memory tier gives up two of its three eighths for
// them (memoryTierEighths).
const (
	ForwardConnectionMemory        = 64 << 10
	ForwardLimitedConnectionMemory = 160 << 10
)

// connectionMemory is what each connection counts against cache.memory
// in the node's role and, in role forward, how its tunnels are relayed.
// A reload that adds a bandwidth limit keeps the cap made at start.
func (c *Config) connectionMemory() int64 {
	if c.Role != RoleForward {
		return ConnectionMemory
	}
	if bw := c.Forward.Rules.Limits.Bandwidth; bw != "" && bw != "0" {
		return ForwardLimitedConnectionMemory
	}
	return ForwardConnectionMemory
}

// memoryTierEighths is the memory tier's share of cache.memory, in
// eighths: three, but one in role forward, whose cache sees only plain
// http:// (HTTPS passes through tunnels it cannot read) and whose
// connections get the two eighths instead (ForwardConnectionMemory).
func (c *Config) memoryTierEighths() int64 {
	if c.Role == RoleForward {
		return 1
	}
	return 3
}

// MaxConnections is the cap on open client connections over the public
// and TLS listeners together (server.max_connections): the value set, or
// derived from cache.memory when it is not set (0): one connection per
// ConnectionMemory of it (ForwardConnectionMemory in role forward), at
// least MinConnections. Without a memory tier (cache.memory 0) it is
// derived from the default cache.memory.
func (c *Config) MaxConnections() int {
	if c.Server.MaxConnections > 0 {
		return c.Server.MaxConnections
	}
	mem := int64(cmp.Or(c.Cache.Memory, Default().Cache.Memory))
	return int(max(MinConnections, mem/c.connectionMemory()))
}

// OriginOptions returns the upstream client's options; Logger is left for
// the caller. Via is the cache name.
func (c *Config) OriginOptions() origin.Options {
	u := c.Upstream
	oo := c.ClientOptions(UpstreamRef{Shields: u.Shields})
	oo.Origin = u.Origin
	// origin.Options rejects a fallback without both ends.
	oo.ShieldFallback = u.ShieldFallback && u.Origin != "" && len(u.Shields) > 0
	return oo
}

// PolicyOptions returns the RFC 9111 policy options.
func (c *Config) PolicyOptions() policy.Options {
	return policy.Options{
		HeuristicFraction:   c.Cache.HeuristicFraction,
		HeuristicMax:        c.Cache.HeuristicMax.Std(),
		MaxStale:            c.Cache.MaxStale.Std(),
		NoMaxStale:          c.Cache.MaxStale == 0, // the file's 0 honours no max-stale
		IgnoreClientNoCache: c.Cache.IgnoreClientNoCache,
		Shield:              c.Role == RoleShield,
		Surrogate:           c.surrogateName(),
	}
}

// sitePolicy is PolicyOptions with the site's own settings.
func (c *Config) sitePolicy(s Site) *policy.Options {
	p := c.PolicyOptions()
	if s.MaxStale != nil {
		p.MaxStale, p.NoMaxStale = s.MaxStale.Std(), *s.MaxStale == 0
	}
	if s.IgnoreClientNoCache != nil {
		p.IgnoreClientNoCache = *s.IgnoreClientNoCache
	}
	return &p
}

// EdgeOptions returns the edge handler's options, without what the binary
// wires: Store, Upstream, Router, Compression, Purger, the loggers and
// Registerer. A shield bounds no client's fetches or uploads: its clients
// are edges, each asking on behalf of many users.
func (c *Config) EdgeOptions() edge.Options {
	s := c.Server
	eo := edge.DefaultOptions()
	eo.Logger, eo.Now = nil, nil
	eo.Name = c.CacheName()
	eo.Policy = c.PolicyOptions()
	eo.MaxObjectBytes = int64(c.Cache.MaxObject)
	if mem := c.BodyMemory(); mem > 0 {
		eo.BodyMemory = mem
	}
	eo.MaxBodyBytes, eo.WriteTimeout = int64(s.MaxBodyBytes), s.WriteTimeout.Std()
	eo.MaxUploadsPerClient = s.MaxUploadsPerClient
	eo.NoUploadLimit = s.MaxUploadsPerClient == 0 || c.Role == RoleShield // the file's 0: no limit
	eo.NoFillLimit = c.Role == RoleShield
	eo.RequestBodyTimeout, eo.RequestBodyMinRate = s.RequestBodyTimeout.Std(), int64(s.RequestBodyMinRate)
	eo.StripRequestHeaders = s.StripRequestHeaders
	eo.FetchTimeout = c.Upstream.FetchTimeout.Std()
	eo.PurgeFrom = parseNetworks(c.Purge.MethodFrom)
	eo.ClientIP = c.ClientIP()
	return eo
}

// CompressOptions returns the options of the response compressor.
func (c *Config) CompressOptions() compress.Options {
	cc := c.Compression
	return compress.Options{
		GzipLevel: cc.GzipLevel, BrotliLevel: cc.BrotliLevel,
		MinSize: int(cc.MinSize), NoMinSize: cc.MinSize == 0, // the file's 0: no minimum
	}
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
