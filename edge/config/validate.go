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
	errs = append(errs, c.checkAccessLog()...)
	errs = append(errs, c.checkServer()...)
	errs = append(errs, c.checkTLS()...)
	errs = append(errs, c.checkUpstream()...)
	errs = append(errs, c.checkCache()...)
	errs = append(errs, c.checkPools()...)
	errs = append(errs, c.checkSites()...)
	errs = append(errs, c.routerProblems()...)
	errs = append(errs, c.checkPurge()...)
	errs = append(errs, c.libraryProblems()...)
	errs = append(errs, c.checkForward()...)
	if c.Debug.Pprof && c.DebugToken() == "" {
		errs = append(errs, c.fieldErr("debug.pprof", "needs debug.token or %s: the profiles are never served without a token", debugTokenEnv))
	}
	return withoutRepeats(errs)
}

func (c *Config) checkPurge() []*FieldError {
	var errs []*FieldError
	p := c.Purge
	for i, network := range p.MethodFrom {
		if _, err := ParseNetwork(network); err != nil {
			errs = append(errs, c.fieldErr(fmt.Sprintf("purge.method_from[%d]", i), "%v", err))
		}
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
	} else if n.Listen != "" && !strings.HasSuffix(n.Listen, ":0") && (n.Listen == c.Listen || n.Listen == c.Admin || n.Listen == c.TLS.Listen) {
		// Caught here rather than at start, where the bus came up after
		// the listeners and reported only "address already in use".
		errs = append(errs, c.fieldErr("purge.nats.listen", "must differ from listen, admin and tls.listen, got %q", n.Listen))
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
	} {
		if d.v <= 0 {
			errs = append(errs, c.fieldErr(d.path, "must be positive, got %s", d.v))
		}
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
	if s.MaxConnections < 0 {
		errs = append(errs, c.fieldErr("server.max_connections", "must not be negative (0 derives it from cache.memory: one per %s), got %d", ByteSize(c.connectionMemory()), s.MaxConnections))
	}
	return errs
}

// checkUpstream checks the rule of the file between upstream and sites;
// origin.Options.Validate checks the values (libraryProblems).
func (c *Config) checkUpstream() []*FieldError {
	u := c.Upstream
	if u.Origin == "" && len(u.Shields) == 0 && len(c.Sites) == 0 && c.Role != RoleForward { // a forward proxy's upstream is whatever each request names
		// Said in the words of both ways to set it: plain "edged" is the
		// first command many type, and its only hint was a file's field.
		return []*FieldError{c.fieldErr("upstream.origin", "required unless upstream.shields or sites are set: give -origin http://host:port, or -config FILE (docs/config.md)")}
	}
	return nil
}

// checkCache checks the rule between the store's and the handler's
// options, and the floor of cache.memory; each library checks its own
// (libraryProblems).
func (c *Config) checkCache() []*FieldError {
	var errs []*FieldError
	k := c.Cache
	// A budget under 1 MiB is a unit left out ("memory: 512" is 512
	// bytes): its eighth for bodies is smaller than most objects, and such
	// a node stored them, then passed every later request for them to the
	// origin, saying so only in Cache-Status (detail=memory-budget).
	if k.Memory > 0 && k.Memory < 1<<20 {
		got := k.Memory.String()
		if k.Memory < 1<<16 { // small enough to be a count of MiB
			got = fmt.Sprintf("%d bytes: a number without a unit counts bytes (%dMiB?)", int64(k.Memory), int64(k.Memory))
		}
		errs = append(errs, c.fieldErr("cache.memory", "must be 0 (no memory tier) or at least 1MiB, got %s", got))
	}
	if k.Disk > 0 && k.MaxObject > k.Disk {
		// Near: left out of the file, max_object is at its default.
		errs = append(errs, c.fieldErrNear("cache.max_object", "must not exceed cache.disk (%s), got %s", k.Disk, k.MaxObject))
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
