package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/caddyserver/certmagic"
	"github.com/nats-io/nats.go/jetstream"

	"edged/edge/acme"
	"edged/edge/config"
)

// openACME sets up automatic certificates (tls.acme) once the listeners
// are bound, whose addresses the challenges are answered on, and the purge
// bus started, whose NATS holds the fleet's certificates with storage:
// nats. Nothing is asked of the CA until serve starts the manager.
func (n *node) openACME() error {
	s := n.cfg.ACMESettings()
	if !s.Enabled {
		return nil
	}
	roots, err := n.cfg.ACMERoots()
	if err != nil {
		return err
	}
	var storage certmagic.Storage
	switch s.Storage {
	case config.ACMEStorageNATS:
		nc := n.bus.Conn()
		if nc == nil {
			return errors.New("tls.acme.storage: nats, but the purge bus has no NATS connection")
		}
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("tls.acme.storage: %w", err)
		}
		storage = acme.NewKVStorage(js, acmeKVOptions(n.cfg, n.log))
	default:
		storage = &certmagic.FileStorage{Path: filepath.Join(n.cfg.Data, "acme")}
	}
	hosts := acmeHosts(n.cfg, n.certs.covers)
	n.acmeHosts = hosts // a reload may not change them (reload.go)
	if len(hosts) == 0 {
		n.log.Warn(acmeCoveredWarning)
		return nil
	}
	m, err := acme.New(acme.Options{
		Hosts: hosts, CA: s.CA, Email: s.Email, Roots: roots,
		HTTP01:    slices.Contains(s.Challenges, config.ChallengeHTTP01),
		TLSALPN01: slices.Contains(s.Challenges, config.ChallengeTLSALPN01),
		HTTPAddr:  n.publicLn.Addr().String(), TLSAddr: n.tlsLn.Addr().String(),
		Storage: storage, Logger: n.log.With("component", "acme"),
	})
	if err != nil {
		return fmt.Errorf("tls.acme: %w", err)
	}
	n.acme = m
	n.certs.managed = m
	n.log.Info("tls.acme: certificates managed", "hosts", hosts, "ca", s.CA, "storage", s.Storage, "challenges", s.Challenges)
	return nil
}

// acmeKVOptions are the NATS buckets' options of tls.acme's storage: nats,
// for cfg's node; log (nil: discard) is the node's. Both what stores in
// the buckets and the embedded server that guards their streams
// (purgeOptions) take them from here, so the streams guarded are the
// streams used, whatever the options come to name.
func acmeKVOptions(cfg *config.Config, log *slog.Logger) acme.KVOptions {
	if log != nil {
		log = log.With("component", "acme")
	}
	return acme.KVOptions{Replicas: cfg.Purge.NATS.Replicas, Owner: cfg.CacheName(), Logger: log}
}

// ensureACMEBuckets creates the ACME buckets in the embedded NATS server
// that listens for other nodes, or sets their settings to this node's,
// whether or not this node uses them: the server lets no other node do
// either (purge.Options.GuardStreams), since a client holding the NATS
// token could otherwise make them first with settings of its own. A
// failure is logged: the nodes that use the buckets say so too.
func (n *node) ensureACMEBuckets() {
	if n.bus.ClientURL() == "" {
		return // no embedded server, or no other node reaches it
	}
	js, err := jetstream.New(n.bus.Conn())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), purgeStartTimeout)
		defer cancel()
		err = acme.NewKVStorage(js, acmeKVOptions(n.cfg, n.log)).Ensure(ctx)
	}
	if err != nil {
		n.log.Warn("tls.acme: cannot prepare the NATS buckets for the fleet's certificates", "err", err)
	}
}

// acmeHosts are the hosts tls.acme asks certificates for: tls.acme.hosts,
// or by default the sites' hosts that no certificate of tls.certificates
// covers (covers): those are served with their own certificate anyway, and
// asking the CA would only spend its rate limits.
func acmeHosts(cfg *config.Config, covers func(string) bool) []string {
	hosts := cfg.ACMESettings().Hosts
	if len(cfg.TLS.ACME.Hosts) == 0 {
		hosts = slices.DeleteFunc(slices.Clone(hosts), covers)
	}
	return hosts
}

// acmeCoveredWarning is logged when tls.acme has no host to ask a
// certificate for.
const acmeCoveredWarning = "tls.acme: every site host is covered by tls.certificates; no certificate is asked for"

// managedCerts is what the certificate store asks of automatic
// certificates (acme.Manager).
type managedCerts interface {
	// Manages reports whether name's certificate comes from it.
	Manages(name string) bool
	// GetCertificate is tls.Config.GetCertificate for those names.
	GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error)
}

var _ managedCerts = (*acme.Manager)(nil)

// offersOnlyACME reports whether hello is a tls-alpn-01 validation: the CA
// offers the single protocol acme-tls/1 (RFC 8737 §3).
func offersOnlyACME(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto
}
