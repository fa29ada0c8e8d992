package config

import (
	"log/slog"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"edged/edge"
	"edged/edge/compress"
	"edged/origin"
	"edged/storage"
)

// Roles a node can play.
const (
	// RoleEdge is a node that serves clients; misses go to shields or the origin.
	RoleEdge = "edge"
	// RoleShield is an origin shield: its clients are edge nodes.
	RoleShield = "shield"
)

// Config is an edged node's configuration. The yaml tags are the file's
// field names; docs/config.md describes each one.
type Config struct {
	// Name identifies the cache in Cache-Status and Via. Empty means
	// "edged" for an edge and "edged-shield" for a shield (see CacheName).
	Name string `yaml:"name"`
	// Role is RoleEdge, RoleShield or RoleForward.
	Role string `yaml:"role"`
	// Listen is the public address (host:port).
	Listen string `yaml:"listen"`
	// Admin is the address of metrics and health checks; empty disables it.
	Admin string `yaml:"admin"`
	// AdminTLS serves the admin listener over HTTPS (TLS 1.2 and up) with
	// this certificate and key, so that the purge, dashboard and debug
	// tokens never cross the network in the clear; empty: plain HTTP.
	AdminTLS Certificate `yaml:"admin_tls"`
	// Data is the directory that holds the disk tier's file.
	Data        string      `yaml:"data"`
	Log         Log         `yaml:"log"`
	Server      Server      `yaml:"server"`
	TLS         TLS         `yaml:"tls"`
	Upstream    Upstream    `yaml:"upstream"`
	Cache       Cache       `yaml:"cache"`
	Purge       Purge       `yaml:"purge"`
	Compression Compression `yaml:"compression"`
	Debug       Debug       `yaml:"debug"`
	// Forward configures the forward role (RoleForward).
	Forward Forward `yaml:"forward"`
	// Pools are named sets of origin servers that routes fetch from.
	Pools map[string]Pool `yaml:"pools"`
	// Sites map hostnames and path prefixes to pools. Without sites every
	// host is served through upstream.origin and upstream.shields.
	Sites []Site `yaml:"sites"`

	file     string          // name used in messages; "" for no file
	root     *yaml.Node      // the top-level mapping; nil when there was no file
	external map[string]bool // field paths set from outside the file
	logger   *slog.Logger    // for what logs on its own (SetLogger); nil: slog.Default()
	problems []*FieldError   // what Parse found wrong in the file
	users    *loadedUsers    // forward.auth.htpasswd as Check read it; nil before
}

// Log configures logging.
type Log struct {
	// Level of operational logs: debug, info, warn or error.
	Level string `yaml:"level"`
	// Access configures the access log; on by default.
	Access AccessLog `yaml:"access"`
}

// Server configures the public HTTP server.
type Server struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	MaxHeaderBytes    ByteSize `yaml:"max_header_bytes"`
	// MaxBodyBytes bounds a request body forwarded upstream (413 past it);
	// 0 means no limit.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// RequestBodyTimeout bounds each wait for request body bytes; a body
	// that stalls longer is answered 408 and its upstream request aborted.
	RequestBodyTimeout Duration `yaml:"request_body_timeout"`
	// RequestBodyMinRate is the slowest average, in bytes per second, a
	// request body may arrive at after its first RequestBodyTimeout; 0
	// means no minimum.
	RequestBodyMinRate ByteSize `yaml:"request_body_min_rate"`
	// MaxUploadsPerClient bounds the requests with a body one client
	// address may have under way upstream (429 past it); 0 means no limit.
	// A shield applies none: its clients are edges.
	MaxUploadsPerClient int `yaml:"max_uploads_per_client"`
	// ShutdownTimeout bounds the drain of open connections on SIGTERM.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// WriteTimeout is the time a client has to accept each 64 KiB of a
	// response body (edge.Options.WriteTimeout); 0 means no limit.
	WriteTimeout Duration `yaml:"write_timeout"`
	// TrustedProxies are the networks (CIDR or addresses) whose
	// X-Forwarded-For and PROXY protocol headers are believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ProxyProtocol makes connections from TrustedProxies begin with a
	// PROXY protocol header (v1 or v2) on the public and TLS listeners.
	ProxyProtocol bool `yaml:"proxy_protocol"`
	// MaxConnections caps the open client connections of the public and
	// TLS listeners together; 0 (unset) derives it from cache.memory
	// (Config.MaxConnections).
	MaxConnections int `yaml:"max_connections"`
	// StripRequestHeaders are the request fields removed from every
	// client request before it is keyed or forwarded (names, or prefixes
	// ending in "*"); the default is edge.DefaultStripRequestHeaders.
	StripRequestHeaders []string `yaml:"strip_request_headers"`
}

// Upstream configures where misses are fetched.
type Upstream struct {
	// Origin is the origin's base URL. Required unless Shields is set.
	Origin string `yaml:"origin"`
	// Shields are base URLs of shield nodes that misses go through.
	Shields []string `yaml:"shields"`
	// ShieldFallback sends a request to Origin when no shield answers; it
	// applies only when both Origin and Shields are set.
	ShieldFallback bool     `yaml:"shield_fallback"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	HeaderTimeout  Duration `yaml:"header_timeout"`
	BodyTimeout    Duration `yaml:"body_timeout"`
	// FetchTimeout bounds one shared upstream fetch, body included, until
	// a client is sent its body as it arrives.
	FetchTimeout   Duration `yaml:"fetch_timeout"`
	MaxIdlePerHost int      `yaml:"max_idle_per_host"`
	// SurrogateCapability sends `Surrogate-Capability: NAME="Surrogate/1.0"`
	// upstream (NAME: the cache name), telling the origin that a cache that
	// obeys Surrogate-Control is on the path (W3C Edge Architecture 1.0).
	// The edge and forward roles remove a client's own Surrogate-Capability
	// whatever this says; a shield keeps its edges'. Default true; the
	// forward role never sends one.
	SurrogateCapability bool `yaml:"surrogate_capability"`
	// TLS configures connections to https upstreams (origin, pools, shields).
	TLS UpstreamTLS `yaml:"tls"`
}

// Cache configures the store and the freshness rules.
type Cache struct {
	// Memory is the memory tier's budget; 0 disables the memory tier.
	Memory ByteSize `yaml:"memory"`
	// Disk is the disk tier's budget.
	Disk ByteSize `yaml:"disk"`
	// MaxObject is the largest body stored.
	MaxObject ByteSize `yaml:"max_object"`
	// FileBodyMin is the body size from which the disk tier keeps a body
	// in a file of its own; 0 keeps every body in bbolt.
	FileBodyMin ByteSize `yaml:"file_body_min"`
	// ScrubRate is the bytes per second at which the body files are read
	// once after start to check their checksums; 0 turns it off.
	ScrubRate ByteSize `yaml:"scrub_rate"`
	// WriteQueue is the number of disk writes that may wait.
	WriteQueue        int      `yaml:"write_queue"`
	HeuristicFraction float64  `yaml:"heuristic_fraction"`
	HeuristicMax      Duration `yaml:"heuristic_max"`
	// MaxStale caps the staleness a client may accept with max-stale;
	// 0 honours no max-stale. Sites may set their own.
	MaxStale Duration `yaml:"max_stale"`
	// IgnoreClientNoCache serves fresh stored responses whatever the
	// client's no-cache, Pragma, max-age or min-fresh. Sites may set their own.
	IgnoreClientNoCache bool `yaml:"ignore_client_no_cache"`
}

// Compression configures gzip and brotli for clients that accept them.
type Compression struct {
	// Enabled compresses compressible responses; compressed variants of
	// stored responses are stored beside them, so a hit never compresses.
	Enabled bool `yaml:"enabled"`
	// GzipLevel is 1 (fastest) to 9 (smallest).
	GzipLevel int `yaml:"gzip_level"`
	// BrotliLevel is 1 (fastest) to 11 (smallest).
	BrotliLevel int `yaml:"brotli_level"`
	// MinSize: smaller bodies are sent as they are.
	MinSize ByteSize `yaml:"min_size"`
}

// Debug configures the Go profiles on the admin listener.
type Debug struct {
	// Pprof serves /debug/pprof/ on the admin listener, to requests that
	// carry the debug token. Off by default.
	Pprof bool `yaml:"pprof"`
	// Token is the bearer token /debug/pprof/ requires. Empty means the
	// EDGED_DEBUG_TOKEN environment variable; Pprof needs one of them.
	Token string `yaml:"token"`
}

// DebugToken is debug.token, or EDGED_DEBUG_TOKEN when it is empty.
func (c *Config) DebugToken() string {
	if c.Debug.Token != "" {
		return c.Debug.Token
	}
	v, _ := envSecret(debugTokenEnv)
	return v
}

// debugTokenEnv holds the debug token when debug.token is empty.
const debugTokenEnv = "EDGED_DEBUG_TOKEN"

// Purge configures the purge API and the bus that spreads purges to every node.
type Purge struct {
	// Token authenticates POST /purge on the admin listener (bearer). Empty
	// means the EDGED_PURGE_TOKEN environment variable; with neither, the
	// API refuses every purge.
	Token string `yaml:"token"`
	// MethodFrom are the client networks (CIDR or single addresses) allowed
	// to send the PURGE method to the public listener; empty refuses it.
	MethodFrom []string `yaml:"method_from"`
	// ApplyTimeout is how long POST /purge waits for this node to apply a
	// purge before answering 504 (it is still applied).
	ApplyTimeout Duration `yaml:"apply_timeout"`
	// Retention is how long the bus keeps purge events for nodes that were
	// down; a node away longer treats its whole cache as stale.
	Retention Duration `yaml:"retention"`
	// SigningKeyEnv names the environment variable holding the fleet's key
	// that signs every purge event (HMAC-SHA256); events without a valid
	// signature are not applied. Empty: the purge token is the key.
	SigningKeyEnv string `yaml:"signing_key_env"`
	// MaxLag is how long this node may trail the purge stream (events
	// published that it has not applied, or the stream out of reach)
	// before /healthz and edged_purge_behind say it has fallen behind.
	MaxLag Duration  `yaml:"max_lag"`
	NATS   PurgeNATS `yaml:"nats"`
}

// NATSTokenEnv is the environment variable read for the NATS token when
// purge.nats.token_env names none, so that a fleet started with flags alone
// (-nats-listen, -nats) can share an authenticated bus.
const NATSTokenEnv = "EDGED_NATS_TOKEN"

// PurgeNATS says where the purge bus lives.
type PurgeNATS struct {
	// URL of an existing NATS cluster (comma-separated servers); empty runs
	// an embedded NATS server with JetStream inside this process.
	URL string `yaml:"url"`
	// URLs lists the servers of an existing NATS cluster, one an item: the
	// list form of URL (set one or the other). The client connects to any
	// of them and moves to another when its server goes away.
	URLs []string `yaml:"urls"`
	// Listen lets the embedded server accept other nodes at this address;
	// empty keeps it in-process only. Not with URL.
	Listen string `yaml:"listen"`
	// Credentials is a NATS credentials file (a user JWT and its nkey
	// seed, as nsc writes it) for URL. Not with NKeySeed.
	Credentials string `yaml:"credentials"`
	// NKeySeed is a file holding a NATS user nkey seed ("SU..."), for a
	// server that authenticates users by nkey. Not with Credentials.
	NKeySeed string `yaml:"nkey_seed"`
	// Replicas is the purge stream's replica count when a node creates or
	// updates it: 3 on a NATS cluster of three or more servers, so the
	// stream outlives the loss of one. Every node must set the same value.
	Replicas int `yaml:"replicas"`
	// TokenEnv names the environment variable holding a NATS
	// authentication token: sent on every connection, and required by the
	// embedded server from every client. Empty: NATSTokenEnv, when set.
	TokenEnv string `yaml:"token_env"`
	// AllowUnauthenticated lets the embedded server listen without
	// TokenEnv, open to anyone who can reach Listen.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
}

// Servers is the list of NATS servers the bus connects to, from URL
// (comma-separated) or URLs; empty for the embedded server.
func (n PurgeNATS) Servers() []string {
	out := append([]string(nil), n.URLs...)
	if n.URL == "" {
		return out
	}
	for _, u := range strings.Split(n.URL, ",") {
		out = append(out, strings.TrimSpace(u))
	}
	return out
}

// Default returns the configuration used when a field is not set. Values
// that a library also has take the library's default (origin, storage,
// edge, policy, compress), so each default is written once; the rest are
// the file's own.
func Default() *Config {
	oo, eo, so := origin.DefaultOptions(), edge.DefaultOptions(), storage.DefaultOptions()
	return &Config{
		Role:   RoleEdge,
		Listen: "127.0.0.1:8080",
		Admin:  "127.0.0.1:8081",
		Data:   "./data",
		Log:    Log{Level: "info", Access: defaultAccessLog()},
		Server: Server{
			ReadHeaderTimeout:   Duration(10 * time.Second),
			IdleTimeout:         Duration(120 * time.Second),
			MaxHeaderBytes:      64 << 10,
			MaxBodyBytes:        100 << 20,
			RequestBodyTimeout:  Duration(eo.RequestBodyTimeout),
			RequestBodyMinRate:  500,
			MaxUploadsPerClient: eo.MaxUploadsPerClient,
			StripRequestHeaders: edge.DefaultStripRequestHeaders(),
			ShutdownTimeout:     Duration(30 * time.Second),
			WriteTimeout:        Duration(30 * time.Second),
		},
		Upstream: Upstream{
			ShieldFallback: true,
			ConnectTimeout: Duration(oo.ConnectTimeout),
			HeaderTimeout:  Duration(oo.HeaderTimeout),
			BodyTimeout:    Duration(oo.BodyTimeout),
			FetchTimeout:   Duration(eo.FetchTimeout),
			MaxIdlePerHost: oo.MaxIdlePerHost,
			// A surrogate announces itself (W3C Edge Architecture 1.0).
			SurrogateCapability: true,
		},
		Cache: Cache{
			Memory:            256 << 20,
			Disk:              ByteSize(so.DiskBytes),
			MaxObject:         ByteSize(eo.MaxObjectBytes),
			FileBodyMin:       ByteSize(so.FileBodyMin),
			ScrubRate:         ByteSize(so.ScrubBytesPerSecond),
			WriteQueue:        so.WriteQueue,
			HeuristicFraction: eo.Policy.HeuristicFraction,
			HeuristicMax:      Duration(eo.Policy.HeuristicMax),
			MaxStale:          Duration(eo.Policy.MaxStale),
		},
		Compression: Compression{Enabled: true, GzipLevel: compress.DefaultGzipLevel, BrotliLevel: compress.DefaultBrotliLevel, MinSize: compress.DefaultMinSize},
		Forward:     defaultForward(),
		Purge: Purge{
			ApplyTimeout: Duration(10 * time.Second),
			Retention:    Duration(7 * 24 * time.Hour),
			MaxLag:       Duration(30 * time.Second),
			NATS:         PurgeNATS{Replicas: 1},
		},
	}
}

// CacheName is Name, or the role's default name when Name is empty:
// "edged", "edged-shield" or "edged-forward".
func (c *Config) CacheName() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.Role == RoleShield:
		return "edged-shield"
	case c.Role == RoleForward:
		return "edged-forward"
	default:
		return "edged"
	}
}

// File is the name of the file the configuration came from, or "".
func (c *Config) File() string { return c.file }

// Override records that the field at path (dotted, as in error messages:
// "upstream.origin") was set from outside the file, e.g. by a command-line
// flag, so errors about it no longer point at a line of the file.
func (c *Config) Override(path string) {
	if c.external == nil {
		c.external = make(map[string]bool)
	}
	c.external[path] = true
}
