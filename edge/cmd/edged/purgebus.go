package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/config"
	"edged/internal/netaddr"
	"edged/purge"
)

// startTimeout bounds the catch-up on purges missed while the node was down.
const purgeStartTimeout = 30 * time.Second

// minPurgeTokenLen is the shortest purge token started without a warning on
// a reachable admin listener: 16 random characters are beyond offline guessing.
const minPurgeTokenLen = 16

// guessableToken reports whether the purge token is short enough to guess
// offline while the admin listener at admin is reachable from elsewhere:
// the listener answers a challenge with an HMAC under the token, and every
// purge event carries one, so whoever reaches it or reads the bus can test
// guesses without asking the node.
func guessableToken(token, admin string) bool {
	return len(token) < minPurgeTokenLen && !loopbackOnly(admin)
}

// loopbackOnly reports whether addr (host:port) listens on a loopback
// address alone; an empty host listens on every interface.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	return netaddr.IsLoopbackHost(host)
}

// openPurgeBus starts the purge bus and applies every purge this node missed
// before the public listener serves from the cache. If NATS cannot be
// reached the node serves anyway (the bus keeps reconnecting and catches up
// when it can; purge requests get 503 meanwhile), since refusing to start
// would turn a bus outage into a site outage.
func (n *node) openPurgeBus(reg prometheus.Registerer) error {
	opts, err := purgeOptions(n.cfg)
	if err != nil {
		return err
	}
	opts.Invalidator = storeInvalidator{store: n.store, log: n.log.With("component", "purge"), router: n.router,
		shield: n.cfg.Role == config.RoleShield}
	opts.Logger, opts.Registerer = n.log.With("component", "purge"), reg
	bus, err := purge.New(opts)
	if err != nil {
		return fmt.Errorf("purge bus: %w", err)
	}
	n.bus = bus
	ctx, cancel := context.WithTimeout(context.Background(), purgeStartTimeout)
	defer cancel()
	if err := bus.Start(ctx); err != nil {
		if errors.Is(err, purge.ErrUnavailable) {
			// The bus logs the cause (a refused NATS token is named) as
			// it retries.
			n.log.Error("purge bus not connected; serving and reconnecting (purges get 503 meanwhile)", "err", err)
			return nil
		}
		return fmt.Errorf("purge bus: %w", err)
	}
	n.ensureACMEBuckets()
	return nil
}

// purgeOptions are the purge bus's options from cfg and the secrets in the
// environment, without the Invalidator, Logger and Registerer, which the
// node wires.
func purgeOptions(cfg *config.Config) (purge.Options, error) {
	pc := cfg.Purge
	signingKey, err := purgeSecret("purge.signing_key_env", pc.SigningKeyEnv)
	if err != nil {
		return purge.Options{}, err
	}
	natsToken, err := purgeSecret("purge.nats.token_env", pc.NATS.TokenEnv)
	if err != nil {
		return purge.Options{}, err
	}
	if pc.NATS.TokenEnv == "" {
		// As EDGED_PURGE_TOKEN for the API: a fleet of flags alone
		// (-nats-listen, -nats) shares an authenticated bus.
		natsToken = os.Getenv(config.NATSTokenEnv)
	}
	return purge.Options{
		NATSURL:                  strings.Join(pc.NATS.Servers(), ","),
		NATSListen:               pc.NATS.Listen,
		StoreDir:                 filepath.Join(cfg.Data, "nats"),
		Credentials:              pc.NATS.Credentials,
		NKeySeed:                 pc.NATS.NKeySeed,
		Replicas:                 pc.NATS.Replicas,
		MaxLag:                   pc.MaxLag.Std(),
		NATSToken:                natsToken,
		AllowUnauthenticatedNATS: pc.NATS.AllowUnauthenticated,
		SigningKey:               signingKey, // empty: the purge token
		Token:                    purgeTokenOf(cfg),
		Node:                     cfg.CacheName(),
		Retention:                pc.Retention.Std(),
		// The embedded server lets only this node change the ACME
		// buckets' streams (ensureACMEBuckets).
		GuardStreams: acmeKVOptions(cfg, nil).Streams(),
		ApplyTimeout: pc.ApplyTimeout.Std(),
	}, nil
}

// privateBusWarning says loudly when this node is part of a tier (it has
// shields, or is one) but its purge bus is an in-process NATS that no other
// node can reach: a purge sent to it then leaves the other tier's copies in
// place, and the next miss refills the purged object from them.
func privateBusWarning(cfg *config.Config) (startWarning, bool) {
	if !inProcessNATS(cfg) {
		return startWarning{}, false
	}
	switch {
	case cfg.Role == config.RoleShield:
		return startWarning{msg: "purge bus is private to this shield: purges sent to its edges never reach it, and they refill purged objects from its copy; " +
			"share one bus: -nats-listen ADDR here (with " + config.NATSTokenEnv + " set) and -nats nats://ADDR on the edges (purge.nats.listen, purge.nats.url)"}, true
	case hasShields(cfg):
		return startWarning{msg: "purge bus is private to this edge: purges sent to it never reach its shields, which keep serving the purged objects to it; " +
			"share one bus: -nats-listen ADDR on one node (with " + config.NATSTokenEnv + " set) and -nats nats://ADDR on the others (purge.nats.listen, purge.nats.url)"}, true
	}
	return startWarning{}, false
}

// inProcessNATS reports whether cfg's NATS (the purge bus, and tls.acme's
// storage: nats) is the embedded server alone, which no other node reaches:
// no server URL and no listener.
func inProcessNATS(cfg *config.Config) bool {
	nc := cfg.Purge.NATS
	return len(nc.Servers()) == 0 && nc.Listen == ""
}

// hasShields reports whether any of cfg's misses go through shields.
func hasShields(cfg *config.Config) bool {
	if len(cfg.Upstream.Shields) > 0 {
		return true
	}
	for _, s := range cfg.Sites {
		if shields, _ := cfg.SiteShields(s); len(shields) > 0 {
			return true
		}
	}
	return false
}

// purgeSecret reads the secret held by the environment variable that field
// names; "" when field names none. Config validation already refused an
// unset variable, but the environment may have changed since: a protection
// must never turn itself off silently.
func purgeSecret(field, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("purge bus: %s names %s, which is not set", field, name)
}

// writeBusHealth adds the purge bus's state to /healthz: the server it is
// connected to, its applied sequence against the stream's, and a warning
// line for each problem. The node serves, so it stays healthy for a load
// balancer (200), but what its bus saw is named here, where an operator
// looks first: a fleet misconfiguration (issue 12: purges silently
// ignored), or a node fallen behind its purges, which may be serving
// objects purged elsewhere (issue 18; edged_purge_behind says it too).
func (n *node) writeBusHealth(w io.Writer) {
	h := n.bus.Health()
	_, _ = io.WriteString(w, h.String()+"\n")
	if h.Behind {
		_, _ = io.WriteString(w, "warning: purge bus behind: "+h.Reason+"\n")
	}
	if p := n.bus.Problem(); p != "" {
		_, _ = io.WriteString(w, "warning: "+p+"\n")
	}
}
