package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"edged/internal/httpsyntax"
)

// Validate checks every field and returns all problems at once, joined,
// sorted by line: those [Parse] found in the file (unknown fields, values
// of the wrong type) and those of the values. Each is a [*FieldError]
// naming the field path and, when the file set it, the line. It reads no
// file: [Config.Check] does.
func (c *Config) Validate() error {
	return joinSorted(c.withParseProblems(c.valueProblems()))
}

// valueProblems checks every field's value.
func (c *Config) valueProblems() []*FieldError {
	var errs []*FieldError
	add := func(e *FieldError) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	add(c.checkName())
	if c.Role != RoleEdge && c.Role != RoleShield && c.Role != RoleForward {
		add(c.fieldErr("role", "must be edge, shield or forward, got %q", c.Role))
	}
	add(c.checkAddr("listen", c.Listen, false))
	add(c.checkAddr("admin", c.Admin, true))
	if c.Admin != "" && c.Admin == c.Listen && !strings.HasSuffix(c.Admin, ":0") { // :0 picks a free port each
		add(c.fieldErr("admin", "must differ from listen (both are %q)", c.Admin))
	}
	if strings.TrimSpace(c.Data) == "" {
		add(c.fieldErr("data", "required: the directory that holds the disk cache"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(c.fieldErr("log.level", "must be debug, info, warn or error, got %q", c.Log.Level))
	}
	errs = append(errs, c.checkServer()...)
	errs = append(errs, c.checkTLS()...)
	errs = append(errs, c.checkUpstream()...)
	errs = append(errs, c.checkCache()...)
	errs = append(errs, c.checkPools()...)
	errs = append(errs, c.checkSites()...)
	errs = append(errs, c.checkPurge()...)
	errs = append(errs, c.checkForward()...)
	if c.Debug.Pprof && c.DebugToken() == "" {
		errs = append(errs, c.fieldErr("debug.pprof", "needs debug.token or %s: the profiles are never served without a token", debugTokenEnv))
	}
	if l := c.Compression.GzipLevel; l < 1 || l > 9 {
		errs = append(errs, c.fieldErr("compression.gzip_level", "must be 1 to 9, got %d", l))
	}
	if l := c.Compression.BrotliLevel; l < 1 || l > 11 {
		errs = append(errs, c.fieldErr("compression.brotli_level", "must be 1 to 11, got %d", l))
	}
	if c.Compression.MinSize < 0 {
		errs = append(errs, c.fieldErr("compression.min_size", "must not be negative"))
	}
	return errs
}

func (c *Config) checkPurge() []*FieldError {
	var errs []*FieldError
	p := c.Purge
	for i, network := range p.MethodFrom {
		if _, err := ParseNetwork(network); err != nil {
			errs = append(errs, c.fieldErr(fmt.Sprintf("purge.method_from[%d]", i), "%v", err))
		}
	}
	if p.ApplyTimeout < 0 {
		errs = append(errs, c.fieldErr("purge.apply_timeout", "must not be negative"))
	}
	if p.Retention < 0 {
		errs = append(errs, c.fieldErr("purge.retention", "must not be negative"))
	}
	if p.MaxLag < 0 {
		errs = append(errs, c.fieldErr("purge.max_lag", "must not be negative"))
	}
	return append(append(errs, c.checkPurgeNATS()...), c.checkPurgeAuth()...)
}

// checkPurgeNATS checks where the bus connects and how it authenticates
// there.
func (c *Config) checkPurgeNATS() []*FieldError {
	var errs []*FieldError
	n := c.Purge.NATS
	external := n.URL != "" || len(n.URLs) > 0
	if n.URL != "" && len(n.URLs) > 0 {
		errs = append(errs, c.fieldErr("purge.nats.urls", "set either purge.nats.url or purge.nats.urls, not both"))
	}
	if external && n.Listen != "" {
		errs = append(errs, c.fieldErr("purge.nats.listen", "only for the embedded server: not with purge.nats.url or purge.nats.urls"))
	}
	if n.URL != "" {
		for _, server := range strings.Split(n.URL, ",") {
			if msg := natsURLProblem(strings.TrimSpace(server)); msg != "" {
				errs = append(errs, c.fieldErr("purge.nats.url", "%s (comma-separated for several)", msg))
			}
		}
	}
	for i, server := range n.URLs {
		if msg := natsURLProblem(server); msg != "" {
			errs = append(errs, c.fieldErr(fmt.Sprintf("purge.nats.urls[%d]", i), "%s", msg))
		}
	}
	if e := c.checkAddr("purge.nats.listen", n.Listen, true); e != nil {
		errs = append(errs, e)
	}
	for _, f := range []struct{ field, v string }{{"purge.nats.credentials", n.Credentials}, {"purge.nats.nkey_seed", n.NKeySeed}} {
		if f.v != "" && !external {
			errs = append(errs, c.fieldErr(f.field, "only with purge.nats.url or purge.nats.urls (the embedded server authenticates by token)"))
		}
	}
	if n.Credentials != "" && n.NKeySeed != "" {
		errs = append(errs, c.fieldErr("purge.nats.nkey_seed", "not with purge.nats.credentials, which holds its own nkey seed: set one"))
	}
	// JetStream keeps at most 5 replicas of a stream.
	if n.Replicas < 1 || n.Replicas > 5 {
		errs = append(errs, c.fieldErr("purge.nats.replicas", "must be 1 to 5 (JetStream's limit), got %d", n.Replicas))
	}
	return errs
}

// natsURLProblem says what is wrong with one NATS server URL, "" if nothing.
func natsURLProblem(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") {
		return fmt.Sprintf("invalid NATS URL %q: want nats://host:port", server)
	}
	return ""
}

// checkPurgeAuth checks the secrets of the purge bus: the environment
// variables named must hold a value (an empty one would silently turn the
// protection off), and a listening embedded NATS server needs a token
// unless the operator explicitly accepts an open one.
func (c *Config) checkPurgeAuth() []*FieldError {
	var errs []*FieldError
	p := c.Purge
	if p.SigningKeyEnv != "" {
		if _, ok := envSecret(p.SigningKeyEnv); !ok {
			errs = append(errs, c.fieldErr("purge.signing_key_env", "environment variable %s is not set (it holds the purge event signing key)", p.SigningKeyEnv))
		}
	}
	if p.NATS.TokenEnv != "" {
		if _, ok := envSecret(p.NATS.TokenEnv); !ok {
			errs = append(errs, c.fieldErr("purge.nats.token_env", "environment variable %s is not set (it holds the NATS token)", p.NATS.TokenEnv))
		}
	}
	if _, ok := envSecret(NATSTokenEnv); p.NATS.Listen != "" && p.NATS.TokenEnv == "" && !ok && !p.NATS.AllowUnauthenticated {
		errs = append(errs, c.fieldErr("purge.nats.listen", "the embedded NATS server would accept any client, who could then purge: "+
			"set "+NATSTokenEnv+" to a NATS token (or name another variable in purge.nats.token_env), "+
			"or purge.nats.allow_unauthenticated: true to accept that"))
	}
	return errs
}

// ParseNetwork reads a CIDR prefix or a single address (a /32 or /128).
func ParseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid network %q: want a CIDR like 10.0.0.0/8 or an address", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (c *Config) checkName() *FieldError {
	if c.Name == "" {
		return nil
	}
	// RFC 9211 §2 and RFC 9110 §7.6.3: the cache name is a token in
	// Cache-Status and a pseudonym in Via.
	for i := 0; i < len(c.Name); i++ {
		if !httpsyntax.IsTchar(c.Name[i]) {
			return c.fieldErr("name", "must be an HTTP token (letters, digits, -._~ and similar; no spaces), got %q", c.Name)
		}
	}
	return nil
}

func (c *Config) checkAddr(path, addr string, optional bool) *FieldError {
	if addr == "" {
		if optional {
			return nil
		}
		return c.fieldErr(path, "required: an address like 127.0.0.1:8080 or :8080")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return c.fieldErr(path, "invalid address %q: want host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return c.fieldErr(path, "invalid port in %q", addr)
	}
	return nil
}

func (c *Config) checkServer() []*FieldError {
	s := c.Server
	var errs []*FieldError
	for _, d := range []struct {
		path string
		v    Duration
	}{
		{"server.read_header_timeout", s.ReadHeaderTimeout},
		{"server.idle_timeout", s.IdleTimeout},
		{"server.shutdown_timeout", s.ShutdownTimeout},
		{"server.request_body_timeout", s.RequestBodyTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, c.fieldErr(d.path, "must be positive, got %s", d.v))
		}
	}
	if s.WriteTimeout < 0 {
		errs = append(errs, c.fieldErr("server.write_timeout", "must not be negative (0 means no limit), got %s", s.WriteTimeout))
	}
	if s.MaxBodyBytes < 0 {
		errs = append(errs, c.fieldErr("server.max_body_bytes", "must not be negative (0 means no limit)"))
	}
	if s.MaxHeaderBytes < 1<<10 || s.MaxHeaderBytes > 16<<20 {
		errs = append(errs, c.fieldErr("server.max_header_bytes", "must be between 1KiB and 16MiB, got %s", s.MaxHeaderBytes))
	}
	for i, network := range s.TrustedProxies {
		if _, err := ParseNetwork(network); err != nil {
			errs = append(errs, c.fieldErr(fmt.Sprintf("server.trusted_proxies[%d]", i), "%v", err))
		}
	}
	if s.ProxyProtocol && len(s.TrustedProxies) == 0 {
		errs = append(errs, c.fieldErr("server.proxy_protocol", "needs server.trusted_proxies: only trusted peers may send a PROXY header"))
	}
	if s.MaxUploadsPerClient < 0 {
		errs = append(errs, c.fieldErr("server.max_uploads_per_client", "must not be negative (0 means no limit), got %d", s.MaxUploadsPerClient))
	}
	for i, name := range s.StripRequestHeaders {
		if !httpsyntax.IsToken(strings.TrimSuffix(name, "*")) {
			errs = append(errs, c.fieldErr(fmt.Sprintf("server.strip_request_headers[%d]", i), "%q is not a field name (a name, or a prefix ending in *)", name))
		}
	}
	if s.MaxConnections < 0 {
		errs = append(errs, c.fieldErr("server.max_connections", "must not be negative (0 means no limit), got %d", s.MaxConnections))
	}
	return errs
}

func (c *Config) checkUpstream() []*FieldError {
	u := c.Upstream
	var errs []*FieldError
	// A forward proxy's upstream is whatever each request names.
	if u.Origin == "" && len(u.Shields) == 0 && len(c.Sites) == 0 && c.Role != RoleForward {
		errs = append(errs, c.fieldErr("upstream.origin", "required unless upstream.shields or sites are set"))
	}
	if u.Origin != "" {
		if err := checkURL(u.Origin); err != nil {
			errs = append(errs, c.fieldErr("upstream.origin", "%v", err))
		}
	}
	seen := make(map[string]bool)
	for i, s := range u.Shields {
		path := fmt.Sprintf("upstream.shields[%d]", i)
		if err := checkURL(s); err != nil {
			errs = append(errs, c.fieldErr(path, "%v", err))
		} else if seen[s] {
			errs = append(errs, c.fieldErr(path, "repeated shield %q", s))
		}
		seen[s] = true
	}
	for _, d := range []struct {
		path string
		v    Duration
	}{
		{"upstream.connect_timeout", u.ConnectTimeout},
		{"upstream.header_timeout", u.HeaderTimeout},
		{"upstream.body_timeout", u.BodyTimeout},
		{"upstream.fetch_timeout", u.FetchTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, c.fieldErr(d.path, "must be positive, got %s", d.v))
		}
	}
	if u.MaxIdlePerHost <= 0 {
		errs = append(errs, c.fieldErr("upstream.max_idle_per_host", "must be positive, got %d", u.MaxIdlePerHost))
	}
	return errs
}

// checkURL accepts an absolute http or https URL with a host and no query.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("invalid URL %q", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("invalid URL %q: scheme must be http or https", raw)
	case u.Host == "":
		return fmt.Errorf("invalid URL %q: no host", raw)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("invalid URL %q: no query, fragment or user info allowed", raw)
	}
	return nil
}

func (c *Config) checkCache() []*FieldError {
	k := c.Cache
	var errs []*FieldError
	if k.Disk <= 0 {
		errs = append(errs, c.fieldErr("cache.disk", "must be positive, got %s", k.Disk))
	}
	if k.MaxObject <= 0 {
		errs = append(errs, c.fieldErr("cache.max_object", "must be positive, got %s", k.MaxObject))
	} else if k.Disk > 0 && k.MaxObject > k.Disk {
		errs = append(errs, c.fieldErr("cache.max_object", "must not exceed cache.disk (%s), got %s", k.Disk, k.MaxObject))
	}
	if k.WriteQueue <= 0 {
		errs = append(errs, c.fieldErr("cache.write_queue", "must be positive, got %d", k.WriteQueue))
	}
	// RFC 9111 §4.2.2: a heuristic lifetime is a fraction of the time since
	// Last-Modified; 10% is typical, more than all of it is never sensible.
	if !(k.HeuristicFraction > 0 && k.HeuristicFraction <= 1) {
		errs = append(errs, c.fieldErr("cache.heuristic_fraction", "must be above 0 and at most 1, got %v", k.HeuristicFraction))
	}
	if k.HeuristicMax <= 0 {
		errs = append(errs, c.fieldErr("cache.heuristic_max", "must be positive, got %s", k.HeuristicMax))
	}
	if k.MaxStale < 0 {
		errs = append(errs, c.fieldErr("cache.max_stale", "must not be negative (0 honours no max-stale), got %s", k.MaxStale))
	}
	return errs
}

func joinSorted(fes []*FieldError) error {
	sort.SliceStable(fes, func(i, j int) bool { return fes[i].Line < fes[j].Line })
	errs := make([]error, len(fes))
	for i, e := range fes {
		errs[i] = e
	}
	return errors.Join(errs...)
}
