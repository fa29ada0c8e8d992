package origin

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"edged/internal/fielderr"
)

// defaultRetries is the default of PoolOptions.Retries.
const defaultRetries = 2

// algorithms are the names accepted in PoolOptions.Algorithm.
var algorithms = []string{RoundRobin, WeightedRoundRobin, LeastConn, ConsistentHash, ClientIPHash}

// DefaultPoolOptions returns the values NewPool gives the fields of
// PoolOptions left zero: a caller
// that validates before NewPool starts from them, since
// [PoolOptions.Validate] takes every field as given.
func DefaultPoolOptions() PoolOptions { return PoolOptions{}.withDefaults() }

// withDefaults returns opts with zero fields replaced by their defaults:
// the one place that knows them.
func (opts PoolOptions) withDefaults() PoolOptions {
	opts.Algorithm = cmp.Or(opts.Algorithm, RoundRobin)
	opts.Retries = cmp.Or(opts.Retries, defaultRetries)
	if opts.NoRetries {
		opts.Retries = 0
	}
	opts.ConnectTimeout = cmp.Or(opts.ConnectTimeout, defaultConnectTimeout)
	opts.HeaderTimeout = cmp.Or(opts.HeaderTimeout, defaultHeaderTimeout)
	opts.BodyTimeout = cmp.Or(opts.BodyTimeout, defaultBodyTimeout)
	opts.MaxIdlePerHost = cmp.Or(opts.MaxIdlePerHost, defaultMaxIdlePerHost)
	opts.Logger = cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	opts.Servers = slices.Clone(opts.Servers)
	for i := range opts.Servers {
		opts.Servers[i].Weight = cmp.Or(opts.Servers[i].Weight, 1)
	}
	opts.Health = opts.Health.withDefaults()
	opts.Ejection = opts.Ejection.withDefaults()
	return opts
}

// transport returns the connection settings of opts; metrics are the
// caller's.
func (opts PoolOptions) transport() transportConfig {
	return transportConfig{
		connect: opts.ConnectTimeout, header: opts.HeaderTimeout, body: opts.BodyTimeout,
		maxIdle: opts.MaxIdlePerHost, maxConns: opts.MaxConnsPerHost, tls: opts.TLSClientConfig,
		log: opts.Logger,
	}
}

// Validate reports every field of opts that is out of range, each a
// [*fielderr.Error] naming the field ("Health.Interval",
// "Servers[1].URL"), joined. It takes the fields as given, zero included:
// start from [DefaultPoolOptions] (NewPool fills zero fields first, then
// validates).
func (opts PoolOptions) Validate() error {
	var l fielderr.List
	l.Check(opts.Name != "", "Name", "required")
	validateServers(&l, opts.Servers)
	l.Check(slices.Contains(algorithms, opts.Algorithm), "Algorithm", "unknown algorithm %q (want %s)", opts.Algorithm, strings.Join(algorithms, ", "))
	l.Check(opts.Retries >= 0, "Retries", "must not be negative (NoRetries turns retries off), got %d", opts.Retries)
	l.Check(opts.RetryTimeout >= 0, "RetryTimeout", "must not be negative, got %v", opts.RetryTimeout)
	opts.transport().validate(&l)
	l.Nest("Health", opts.Health.Validate())
	l.Nest("Ejection", opts.Ejection.Validate())
	return l.Err()
}

// validateServers checks a pool's servers: at least one, each URL valid
// and different from the others, each weight at least 1.
func validateServers(l *fielderr.List, servers []Server) {
	if len(servers) == 0 {
		l.Addf("Servers", "empty: a pool needs at least one server")
	}
	seen := make(map[string]int, len(servers))
	for i, s := range servers {
		path := fmt.Sprintf("Servers[%d]", i)
		if err := CheckURL(s.URL); err != nil {
			l.Addf(path+".URL", "%v", err)
		} else if j, dup := seen[serverIdentity(s.URL)]; dup {
			l.Addf(path+".URL", "repeated server %q (same as servers[%d])", s.URL, j)
		} else {
			seen[serverIdentity(s.URL)] = i
		}
		l.Check(s.Weight >= 1, path+".Weight", "must be at least 1, got %d (remove the server to take it out)", s.Weight)
	}
}
