package config

import (
	"gopkg.in/yaml.v3"

	"edged/origin"
)

// DefaultPool is the name of the pool that upstream.origin stands for when
// sites are configured.
const DefaultPool = "default"

// Pool is a named set of origin servers (the pools section; the name is the
// mapping key). Routes name pools; each pool is built once and shared.
type Pool struct {
	// Servers are the pool's origin servers; at least one.
	Servers []PoolServer `yaml:"servers"`
	// Algorithm is round_robin, weighted_round_robin, least_conn,
	// consistent_hash (on the cache key) or client_ip_hash (on the client's
	// address).
	Algorithm string `yaml:"algorithm"`
	// Health configures active health checks; an empty path disables them.
	Health Health `yaml:"health"`
	// Ejection configures passive health checks (outlier detection).
	Ejection Ejection `yaml:"ejection"`
	// Retries is how many other servers a failed idempotent request may be
	// retried on; 0 disables retries.
	Retries int `yaml:"retries"`
	// RetryTimeout: no retry starts this long after the first attempt; 0
	// means no bound but Retries and each try's timeouts.
	RetryTimeout Duration `yaml:"retry_timeout"`
	// MaxConnsPerHost caps connections per server; 0 means no limit.
	MaxConnsPerHost int `yaml:"max_conns_per_host"`
}

// PoolServer is one origin server of a pool.
type PoolServer struct {
	// URL is the server's base URL (http or https, optional path prefix).
	URL string `yaml:"url"`
	// Weight is the server's relative share; at least 1.
	Weight int `yaml:"weight"`
}

// Health configures a pool's active health checks.
type Health struct {
	// Path is checked with GET on every server; "" disables active checks.
	Path     string   `yaml:"path"`
	Interval Duration `yaml:"interval"`
	Timeout  Duration `yaml:"timeout"`
	// Expect is the status a healthy server answers.
	Expect int `yaml:"expect"`
	// Rise good checks in a row bring a server up, Fall bad ones take it down.
	Rise int `yaml:"rise"`
	Fall int `yaml:"fall"`
	// Host is the Host header of checks; "" means the server's own.
	Host string `yaml:"host"`
	// StartDown makes servers start down until Rise checks pass.
	StartDown bool `yaml:"start_down"`
}

// Ejection configures passive health checks of a pool's servers.
type Ejection struct {
	// Failures in a row eject a server; 0 disables ejection.
	Failures   int      `yaml:"failures"`
	Backoff    Duration `yaml:"backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
}

// Site is a set of hostnames served with the same routes.
type Site struct {
	// Name identifies the site in logs and errors; unique.
	Name string `yaml:"name"`
	// Hosts are exact ("www.example.com") or one-level wildcard
	// ("*.example.com") hostnames, without port; no two sites share one.
	Hosts []string `yaml:"hosts"`
	// Shields are the site's shield nodes. Left out (nil), the site uses
	// upstream.shields; an empty list sends its misses to its pools directly.
	Shields []string `yaml:"shields"`
	// ShieldFallback goes to the route's pool when no shield answers. Left
	// out (nil), it is upstream.shield_fallback.
	ShieldFallback *bool `yaml:"shield_fallback"`
	// Routes are matched by the longest path prefix, then by their match
	// conditions; at least one.
	Routes []Route `yaml:"routes"`
	// HTTPSRedirect answers plain-HTTP requests with a 308 to https; it
	// needs tls.listen.
	HTTPSRedirect bool `yaml:"https_redirect"`
	// HSTS is the Strict-Transport-Security value sent on HTTPS responses
	// ("max-age=31536000; includeSubDomains"); empty sends none.
	HSTS string `yaml:"hsts"`
	// ResponseHeaders apply to every response of the site, before the
	// route's own (security headers).
	ResponseHeaders Headers `yaml:"response_headers"`
	// HideBackend removes Server and X-Powered-By from responses.
	HideBackend bool `yaml:"hide_backend"`
	// MaxStale caps the staleness the site's clients may accept with
	// max-stale. Left out (nil), it is cache.max_stale.
	MaxStale *Duration `yaml:"max_stale"`
	// IgnoreClientNoCache serves the site's fresh stored responses
	// whatever the client's no-cache. Left out (nil), it is
	// cache.ignore_client_no_cache.
	IgnoreClientNoCache *bool `yaml:"ignore_client_no_cache"`
}

// Route serves one path prefix of a site from a pool.
type Route struct {
	// Path is the path prefix ("/api/"); "/" matches every path.
	Path string `yaml:"path"`
	// Pool names the pool of this route's misses; "" means the default pool
	// (upstream.origin), or none when the site fetches only through shields.
	Pool string `yaml:"pool"`
	// StripPrefix removes Path from the path sent upstream.
	StripPrefix bool `yaml:"strip_prefix"`
	// Splits send a weighted share of requests to other pools.
	Splits []Split `yaml:"splits"`
	// PrimaryWeight is Pool's weight against Splits; 0 means 100 minus the
	// splits' weights.
	PrimaryWeight int `yaml:"primary_weight"`
	// StickyCookie pins a client to its first upstream with this cookie.
	StickyCookie    string     `yaml:"sticky_cookie"`
	RequestHeaders  Headers    `yaml:"request_headers"`
	ResponseHeaders Headers    `yaml:"response_headers"`
	Cache           RouteCache `yaml:"cache"`
	// Access allows or denies clients by network, path, user agent and
	// time of day; the zero value admits everyone.
	Access Access `yaml:"access"`
	// RateLimit bounds each client's request rate; off when left out.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Auth requires a bearer JWT, an API key or Basic credentials; off
	// when left out.
	Auth Auth `yaml:"auth"`

	// Protocols (sites_protocols.go). Path may hold {captures} that
	// UpstreamPath and the header rules' values use.
	WebSocket    WebSocket `yaml:"websocket"`
	Transform    Transform `yaml:"transform"`
	UpstreamPath string    `yaml:"upstream_path"`
	// WAF inspects requests with the OWASP CRS; off when left out.
	WAF WAF `yaml:"waf"`

	// Match adds conditions on header, cookie and query values; a site's
	// routes with one path are tried by most conditions first.
	Match Match `yaml:"match"`
	// CORS answers preflights at the edge and sets CORS fields per request;
	// off while allowed_origins is empty.
	CORS CORS `yaml:"cors"`
}

// Split is a weighted alternative pool of a route (canary, blue/green).
type Split struct {
	// Name is the sticky cookie's value and keeps the split's cached
	// objects apart from the primary's.
	Name   string `yaml:"name"`
	Pool   string `yaml:"pool"`
	Weight int    `yaml:"weight"`
}

// Headers sets and removes header fields.
type Headers struct {
	Set    map[string]string `yaml:"set"`
	Remove []string          `yaml:"remove"`
}

// RouteCache overrides caching on a route.
type RouteCache struct {
	// Bypass forwards every request and stores nothing.
	Bypass bool `yaml:"bypass"`
	// DefaultTTL is the lifetime of a storable response without freshness
	// information; 0 keeps RFC 9111's heuristics.
	DefaultTTL Duration `yaml:"default_ttl"`
	// IgnoreQuery drops the query from the key and the forwarded URL.
	IgnoreQuery bool `yaml:"ignore_query"`
	// KeepQuery keeps only these query parameters.
	KeepQuery []string `yaml:"keep_query"`
	// Slice keeps objects in slices of this size, each fetched with a
	// Range request; 0 (the default) fetches and stores objects whole.
	Slice ByteSize `yaml:"slice"`
}

// DefaultPoolConfig returns the values a pool's fields take when the file
// leaves them out: origin's (origin.DefaultPoolOptions).
func DefaultPoolConfig() Pool {
	d := origin.DefaultPoolOptions()
	return Pool{
		Algorithm: d.Algorithm,
		Health: Health{
			Interval: Duration(d.Health.Interval),
			Timeout:  Duration(d.Health.Timeout),
			Expect:   d.Health.Expect,
			Rise:     d.Health.Rise,
			Fall:     d.Health.Fall,
		},
		Ejection: Ejection{
			Failures:   d.Ejection.Failures,
			Backoff:    Duration(d.Ejection.Backoff),
			MaxBackoff: Duration(d.Ejection.MaxBackoff),
		},
		Retries: d.Retries,
	}
}

// UnmarshalYAML decodes a pool over DefaultPoolConfig, so that fields left
// out keep their defaults (a map value would otherwise start from zero).
func (p *Pool) UnmarshalYAML(n *yaml.Node) error {
	type plain Pool // without the method, so Decode does not recurse
	v := plain(DefaultPoolConfig())
	if err := n.Decode(&v); err != nil {
		return err
	}
	*p = Pool(v)
	return nil
}

// UnmarshalYAML decodes a server over the default weight 1.
func (s *PoolServer) UnmarshalYAML(n *yaml.Node) error {
	type plain PoolServer
	v := plain{Weight: 1}
	if err := n.Decode(&v); err != nil {
		return err
	}
	*s = PoolServer(v)
	return nil
}
